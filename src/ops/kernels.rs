//! The convolution hot path over plain NCHW slices: im2col / col2im + gemm.
//!
//! A convolution and a transposed convolution are the same three products seen from
//! either side of a [`Window`]: the *image* is the large side (input of a conv, output
//! of a transposed conv), the *grid* the small side (one value per window position).
//!
//! - [`grid_from_image`]: grid = W x im2col(image) (conv forward, transposed-conv dx)
//! - [`image_from_grid`]: image += col2im(W^T x grid) (conv dx, transposed-conv forward)
//! - [`weight_grad`]: dW += grid x im2col(image)^T (both weight gradients)
//!
//! Work is split over the batch with rayon; small per-sample products are grouped so
//! gemm sees at least [`MIN_GEMM_COLS`] columns; scratch buffers live per thread.

use gemm::Parallelism;
use rayon::prelude::*;
use std::cell::RefCell;
use std::ops::Range;

/// Per-sample products narrower than this are grouped with their neighbours: gemm's
/// microkernels are far from peak on a handful of columns (D's last conv has 4).
pub const MIN_GEMM_COLS: usize = 512;

/// The im2col matrix is produced and consumed in row blocks of about this size, so it
/// stays in a core's L2 cache between the gemm and col2im (or im2col and the gemms)
/// instead of making a round trip through L3 (a whole one is 2.3 MB for G's up3).
pub const COL_BLOCK_BYTES: usize = 384 * 1024;

/// Grids smaller than this (G's up1: 4 x 4) are not blocked: they come in groups of many
/// samples behind few channels, and blocking only multiplies their already thin gemms
/// (measured: up1 4.9 -> 6.9 ms forward when blocked).
const MIN_BLOCKED_COLS: usize = 64;

/// Row blocks are multiples of this: the height of gemm's AVX-512 microkernel.
const ROW_BLOCK_STEP: usize = 64;

/// A `kernel x kernel` window sliding over an image of `channels x height x width`
/// with `stride` and zero padding `pad`, giving a `grid_h x grid_w` grid of positions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// Channels of the image side.
    pub channels: usize,
    /// Image height.
    pub height: usize,
    /// Image width.
    pub width: usize,
    /// Square kernel side.
    pub kernel: usize,
    /// Step between window positions.
    pub stride: usize,
    /// Zero padding on every border of the image.
    pub pad: usize,
    /// Grid height (window positions down).
    pub grid_h: usize,
    /// Grid width (window positions across).
    pub grid_w: usize,
}

impl Window {
    /// Rows of the im2col matrix: one per (channel, kernel row, kernel column).
    pub fn rows(&self) -> usize {
        self.channels * self.kernel * self.kernel
    }

    /// Columns of the im2col matrix for one sample: one per window position.
    pub fn cols(&self) -> usize {
        self.grid_h * self.grid_w
    }

    /// Values in one image.
    pub fn image_len(&self) -> usize {
        self.channels * self.height * self.width
    }
}

#[derive(Default)]
struct Scratch {
    col: Vec<f32>,
    tmp: Vec<f32>,
    out: Vec<f32>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

fn grown(v: &mut Vec<f32>, len: usize) -> &mut [f32] {
    if v.len() < len {
        v.resize(len, 0.0);
    }
    &mut v[..len]
}

/// Runs `f` with this thread's scratch buffers grown to `col_len` and `tmp_len`.
/// Their contents are stale: callers overwrite what they read.
fn with_scratch<R>(col_len: usize, tmp_len: usize, f: impl FnOnce(&mut [f32], &mut [f32]) -> R) -> R {
    SCRATCH.with(|s| {
        let s = &mut *s.borrow_mut();
        f(grown(&mut s.col, col_len), grown(&mut s.tmp, tmp_len))
    })
}

/// Like [`with_scratch`] with a third buffer of `out_len`.
fn with_scratch3<R>(
    (col_len, tmp_len, out_len): (usize, usize, usize),
    f: impl FnOnce(&mut [f32], &mut [f32], &mut [f32]) -> R,
) -> R {
    SCRATCH.with(|s| {
        let s = &mut *s.borrow_mut();
        f(
            grown(&mut s.col, col_len),
            grown(&mut s.tmp, tmp_len),
            grown(&mut s.out, out_len),
        )
    })
}

/// Samples per work item: enough that gemm sees `MIN_GEMM_COLS` columns, but never so
/// many that a thread would sit idle.
fn group_size(batch: usize, cols: usize) -> usize {
    let wanted = MIN_GEMM_COLS.div_ceil(cols.max(1));
    let fair = batch.div_ceil(rayon::current_num_threads()).max(1);
    wanted.min(fair).max(1)
}

/// Window positions `[lo, hi)` along one axis whose tap `kj` lands inside the image:
/// `0 <= pos * stride + kj - pad < size`.
fn valid_span(kj: usize, pad: usize, stride: usize, size: usize, positions: usize) -> (usize, usize) {
    let lo = pad.saturating_sub(kj).div_ceil(stride);
    let hi = (size + pad).saturating_sub(kj).div_ceil(stride).min(positions);
    (lo.min(hi), hi)
}

/// The im2col rows `rows` as `(row, channel, kernel row span, kernel column span, ki, kj)`,
/// where a span is [`valid_span`] of that tap: worked out once per call, not per row, since
/// G's small grids make the per-row work count.
fn taps(
    win: &Window,
    rows: Range<usize>,
) -> impl Iterator<Item = (usize, usize, (usize, usize), (usize, usize), usize, usize)> {
    let (k, s, p) = (win.kernel, win.stride, win.pad);
    let spans_i: Vec<(usize, usize)> = (0..k).map(|ki| valid_span(ki, p, s, win.height, win.grid_h)).collect();
    let spans_j: Vec<(usize, usize)> = (0..k).map(|kj| valid_span(kj, p, s, win.width, win.grid_w)).collect();
    rows.map(move |row| {
        let (c, ki, kj) = (row / (k * k), row / k % k, row % k);
        (row, c, spans_i[ki], spans_j[kj], ki, kj)
    })
}

/// Writes rows `rows` of the im2col view of one image into columns
/// `[col_off, col_off + cols)` of `col`, a row-major matrix with `ld` columns whose first
/// row is `rows.start`. Bounds are worked out per kernel tap, so the inner loop is a copy
/// (stride 1) or a strided gather, never a branch per pixel.
fn im2col(win: &Window, img: &[f32], rows: Range<usize>, col: &mut [f32], ld: usize, col_off: usize) {
    let (s, p) = (win.stride, win.pad);
    let (gh, gw) = (win.grid_h, win.grid_w);
    for (row, c, (oi_lo, oi_hi), (oj_lo, oj_hi), ki, kj) in taps(win, rows.clone()) {
        let plane = &img[c * win.height * win.width..][..win.height * win.width];
        let dst = &mut col[(row - rows.start) * ld + col_off..][..gh * gw];
        dst[..oi_lo * gw].fill(0.0);
        dst[oi_hi * gw..].fill(0.0);
        for oi in oi_lo..oi_hi {
            let out = &mut dst[oi * gw..][..gw];
            let src = &plane[(oi * s + ki - p) * win.width..][..win.width];
            out[..oj_lo].fill(0.0);
            out[oj_hi..].fill(0.0);
            let first = oj_lo * s + kj - p;
            if s == 1 {
                out[oj_lo..oj_hi].copy_from_slice(&src[first..first + oj_hi - oj_lo]);
            } else {
                for (o, v) in out[oj_lo..oj_hi].iter_mut().zip(src[first..].iter().step_by(s)) {
                    *o = *v;
                }
            }
        }
    }
}

/// The adjoint of [`im2col`]: adds rows `rows` of `col` (columns
/// `[col_off, col_off + cols)`) back into the image positions they were read from.
fn col2im(win: &Window, col: &[f32], rows: Range<usize>, ld: usize, col_off: usize, img: &mut [f32]) {
    let (s, p) = (win.stride, win.pad);
    let (gh, gw) = (win.grid_h, win.grid_w);
    for (row, c, (oi_lo, oi_hi), (oj_lo, oj_hi), ki, kj) in taps(win, rows.clone()) {
        let plane = &mut img[c * win.height * win.width..][..win.height * win.width];
        let src = &col[(row - rows.start) * ld + col_off..][..gh * gw];
        for oi in oi_lo..oi_hi {
            let vals = &src[oi * gw + oj_lo..oi * gw + oj_hi];
            let dst = &mut plane[(oi * s + ki - p) * win.width..][..win.width];
            let first = oj_lo * s + kj - p;
            if s == 1 {
                dst[first..first + vals.len()]
                    .iter_mut()
                    .zip(vals)
                    .for_each(|(d, v)| *d += v);
            } else {
                for (d, v) in dst[first..].iter_mut().step_by(s).zip(vals) {
                    *d += v;
                }
            }
        }
    }
}

/// Rows of an im2col block of `ld` columns that fit [`COL_BLOCK_BYTES`], a multiple of
/// [`ROW_BLOCK_STEP`] (at least one step); every row at once for grids of fewer than
/// [`MIN_BLOCKED_COLS`] positions `cols` per sample.
fn row_block(cols: usize, ld: usize) -> usize {
    if cols < MIN_BLOCKED_COLS {
        return usize::MAX;
    }
    let fit = COL_BLOCK_BYTES / (ld * std::mem::size_of::<f32>());
    (fit / ROW_BLOCK_STEP).max(1) * ROW_BLOCK_STEP
}

/// `0..total` in blocks of `block`.
fn blocks(total: usize, block: usize) -> impl Iterator<Item = Range<usize>> {
    (0..total).step_by(block).map(move |lo| lo..(lo + block).min(total))
}

/// Row-major `dst (m x n) = [dst +] a (m x k) * b (k x n)` where each operand is given
/// by its pointer and (row stride, column stride).
///
/// # Safety
/// Every pointer must address the whole matrix its strides describe.
#[allow(clippy::too_many_arguments)]
unsafe fn matmul(
    (m, n, k): (usize, usize, usize),
    dst: *mut f32,
    dst_rs: usize,
    accumulate: bool,
    (a, a_rs, a_cs): (*const f32, usize, usize),
    (b, b_rs, b_cs): (*const f32, usize, usize),
) {
    gemm::gemm(
        m,
        n,
        k,
        dst,
        1,
        dst_rs as isize,
        accumulate,
        a,
        a_cs as isize,
        a_rs as isize,
        b,
        b_cs as isize,
        b_rs as isize,
        1.0,
        1.0,
        false,
        false,
        false,
        Parallelism::None,
    );
}

/// Like [`matmul`], accumulating into a `dst` given by (pointer, row stride, column stride).
///
/// # Safety
/// Every pointer must address the whole matrix its strides describe.
unsafe fn matmul_add_strided(
    (m, n, k): (usize, usize, usize),
    (dst, dst_rs, dst_cs): (*mut f32, usize, usize),
    (a, a_rs, a_cs): (*const f32, usize, usize),
    (b, b_rs, b_cs): (*const f32, usize, usize),
) {
    gemm::gemm(
        m,
        n,
        k,
        dst,
        dst_cs as isize,
        dst_rs as isize,
        true,
        a,
        a_cs as isize,
        a_rs as isize,
        b,
        b_cs as isize,
        b_rs as isize,
        1.0,
        1.0,
        false,
        false,
        false,
        Parallelism::None,
    );
}

/// Copies `n` samples of a `(n, ch, cols)` grid into `(ch, n * cols)` layout.
fn gather_grid(grid: &[f32], ch: usize, cols: usize, out: &mut [f32]) {
    let n = grid.len() / (ch * cols);
    for i in 0..n {
        for c in 0..ch {
            out[c * n * cols + i * cols..][..cols].copy_from_slice(&grid[(i * ch + c) * cols..][..cols]);
        }
    }
}

/// The inverse of [`gather_grid`], adding: `(ch, n * cols)` into `(n, ch, cols)`.
fn scatter_add_grid(src: &[f32], ch: usize, cols: usize, grid: &mut [f32]) {
    let n = grid.len() / (ch * cols);
    for i in 0..n {
        for c in 0..ch {
            let from = &src[c * n * cols + i * cols..][..cols];
            let to = &mut grid[(i * ch + c) * cols..][..cols];
            to.iter_mut().zip(from).for_each(|(d, v)| *d += v);
        }
    }
}

/// `grid_g += weight (ch x rows) * col (rows x gn * cols)` for a group of `gn` samples
/// whose grid `grid_g` is `(gn, ch, cols)`: straight into place for one sample, through
/// `tmp` (`ch x gn * cols`) and a scatter for several.
fn add_weight_times_col(
    weight: &[f32],
    col: &[f32],
    (ch, rows, cols): (usize, usize, usize),
    tmp: &mut [f32],
    grid_g: &mut [f32],
) {
    let gn = grid_g.len() / (ch * cols);
    let ld = gn * cols;
    let dst = if gn == 1 { &mut *grid_g } else { &mut *tmp };
    // SAFETY: weight is ch x rows, col rows x ld, dst ch x ld.
    unsafe {
        matmul(
            (ch, ld, rows),
            dst.as_mut_ptr(),
            ld,
            gn == 1,
            (weight.as_ptr(), rows, 1),
            (col.as_ptr(), ld, 1),
        );
    }
    if gn > 1 {
        scatter_add_grid(tmp, ch, cols, grid_g);
    }
}

/// Conv forward / transposed-conv input gradient: for each of `batch` images,
/// `grid[n] += weight (out_ch x rows) * im2col(image[n])`, plus `bias` per channel.
/// `grid` has shape `(batch, out_ch, cols)` and is accumulated into.
pub fn grid_from_image(
    win: &Window,
    image: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    out_ch: usize,
    grid: &mut [f32],
) {
    let (rows, cols, il) = (win.rows(), win.cols(), win.image_len());
    let batch = image.len() / il;
    debug_assert_eq!(weight.len(), out_ch * rows);
    debug_assert_eq!(grid.len(), batch * out_ch * cols);
    let g = group_size(batch, cols);
    grid.par_chunks_mut(g * out_ch * cols)
        .zip(image.par_chunks(g * il))
        .for_each(|(grid_g, img_g)| {
            let gn = img_g.len() / il;
            let ld = gn * cols;
            let tmp_len = if gn == 1 { 0 } else { out_ch * ld };
            with_scratch(rows * ld, tmp_len, |col, tmp| {
                for i in 0..gn {
                    im2col(win, &img_g[i * il..], 0..rows, col, ld, i * cols);
                }
                add_weight_times_col(weight, col, (out_ch, rows, cols), tmp, grid_g);
                if let Some(bias) = bias {
                    for (chan, b) in grid_g.chunks_exact_mut(cols).zip(bias.iter().cycle()) {
                        chan.iter_mut().for_each(|v| *v += b);
                    }
                }
            });
        });
}

/// [`image_from_grid`] for stride 1 without padding (G's up3, up4 and out), with no
/// im2col matrix: each kernel tap `(ki, kj)` adds `W_tap^T x grid` straight into the image
/// shifted by `(ki, kj)`. The grid is first widened to the image's row length with zeros,
/// so a tap's target is one run of the image per channel (the zero columns add nothing
/// where a run wraps to the next row); that costs `width / grid_w` more multiplies and
/// saves the whole col2im.
fn image_from_grid_by_taps(win: &Window, grid: &[f32], weight: &[f32], grid_ch: usize, image: &mut [f32]) {
    let (rows, cols, il) = (win.rows(), win.cols(), win.image_len());
    let (k, width, plane) = (win.kernel, win.width, win.height * win.width);
    let (gh, gw) = (win.grid_h, win.grid_w);
    let wide = gh * width;
    image
        .par_chunks_mut(il)
        .zip(grid.par_chunks(grid_ch * cols))
        .for_each(|(img, g)| {
            with_scratch(grid_ch * wide, 0, |widened, _| {
                for c in 0..grid_ch {
                    for i in 0..gh {
                        let dst = &mut widened[c * wide + i * width..][..width];
                        dst[..gw].copy_from_slice(&g[c * cols + i * gw..][..gw]);
                        dst[gw..].fill(0.0);
                    }
                }
                for ki in 0..k {
                    for kj in 0..k {
                        let off = ki * width + kj;
                        // Columns past the plane's end are all widening zeros: drop them.
                        let run = wide.min(plane - off);
                        // SAFETY: dst^T is run x channels at img[off..] (strides 1, plane):
                        // off + run <= plane, channel c's run inside its plane; the widened
                        // grid^T is run x grid_ch (strides 1, wide); W_tap is grid_ch x
                        // channels (strides rows, k * k) from weight[ki * k + kj].
                        unsafe {
                            matmul_add_strided(
                                (run, win.channels, grid_ch),
                                (img.as_mut_ptr().add(off), 1, plane),
                                (widened.as_ptr(), 1, wide),
                                (weight.as_ptr().add(ki * k + kj), rows, k * k),
                            );
                        }
                    }
                }
            });
        });
}

/// Conv input gradient / transposed-conv forward: for each sample,
/// `image[n] += col2im(weight^T * grid[n])`, with `weight` of shape `(grid_ch, rows)`
/// and `grid` of shape `(batch, grid_ch, cols)`. `image` is accumulated into.
pub fn image_from_grid(win: &Window, grid: &[f32], weight: &[f32], grid_ch: usize, image: &mut [f32]) {
    let (rows, cols, il) = (win.rows(), win.cols(), win.image_len());
    let batch = image.len() / il;
    debug_assert_eq!(weight.len(), grid_ch * rows);
    debug_assert_eq!(grid.len(), batch * grid_ch * cols);
    if win.stride == 1 && win.pad == 0 {
        return image_from_grid_by_taps(win, grid, weight, grid_ch, image);
    }
    let g = group_size(batch, cols);
    image
        .par_chunks_mut(g * il)
        .zip(grid.par_chunks(g * grid_ch * cols))
        .for_each(|(img_g, grid_g)| {
            let gn = img_g.len() / il;
            let ld = gn * cols;
            let tmp_len = if gn == 1 { 0 } else { grid_ch * ld };
            let rb = row_block(cols, ld).min(rows);
            with_scratch(rb * ld, tmp_len, |col, tmp| {
                let rhs = if gn == 1 {
                    grid_g
                } else {
                    gather_grid(grid_g, grid_ch, cols, tmp);
                    &*tmp
                };
                for block in blocks(rows, rb) {
                    // SAFETY: weight^T's rows `block` are block.len() x grid_ch (strides 1,
                    // rows) from column block.start of weight; rhs is grid_ch x ld.
                    unsafe {
                        matmul(
                            (block.len(), ld, grid_ch),
                            col.as_mut_ptr(),
                            ld,
                            false,
                            (weight.as_ptr().add(block.start), 1, rows),
                            (rhs.as_ptr(), ld, 1),
                        );
                    }
                    for i in 0..gn {
                        col2im(win, col, block.clone(), ld, i * cols, &mut img_g[i * il..][..il]);
                    }
                }
            });
        });
}

/// Weight gradient of both convolutions: `dweight (grid_ch x rows) += sum over samples
/// of grid[n] * im2col(image[n])^T`.
pub fn weight_grad(win: &Window, image: &[f32], grid: &[f32], grid_ch: usize, dweight: &mut [f32]) {
    weight_and_grid_grad(win, image, grid, grid_ch, dweight, None);
}

/// [`weight_grad`], and with `also = Some((weight, dgrid))` in the same pass over
/// im2col(image): `dgrid[n] += weight * im2col(image[n])` (a transposed conv's input
/// gradient reads the same columns as its weight gradient).
pub fn weight_and_grid_grad(
    win: &Window,
    image: &[f32],
    grid: &[f32],
    grid_ch: usize,
    dweight: &mut [f32],
    also: Option<(&[f32], &mut [f32])>,
) {
    let (rows, cols, il) = (win.rows(), win.cols(), win.image_len());
    let batch = image.len() / il;
    let gl = grid_ch * cols;
    debug_assert_eq!(dweight.len(), grid_ch * rows);
    debug_assert_eq!(grid.len(), batch * gl);
    let g = group_size(batch, cols);
    let groups = batch.div_ceil(g);
    // A fixed split of the groups over the threads, summed in order: the result does not
    // depend on rayon's work stealing, so the same seed gives the same weights.
    let parts = rayon::current_num_threads().min(groups).max(1);
    let first_sample = |part: usize| (part * groups / parts * g).min(batch);
    let (weight, mut dgrid_parts) = match also {
        Some((w, mut dgrid)) => {
            let mut out = Vec::with_capacity(parts);
            for part in 0..parts {
                let (head, tail) = dgrid.split_at_mut((first_sample(part + 1) - first_sample(part)) * gl);
                out.push(Some(head));
                dgrid = tail;
            }
            (w, out)
        }
        None => (&[][..], (0..parts).map(|_| None).collect()),
    };
    let partials: Vec<Vec<f32>> = dgrid_parts
        .par_iter_mut()
        .enumerate()
        .map(|(part, dgrid_part)| {
            let mut acc = vec![0.0f32; grid_ch * rows];
            let base = first_sample(part);
            for grp in (part * groups / parts)..((part + 1) * groups / parts) {
                let first = grp * g;
                let gn = g.min(batch - first);
                let img_g = &image[first * il..(first + gn) * il];
                let grid_g = &grid[first * gl..(first + gn) * gl];
                let ld = gn * cols;
                let tmp_len = if gn == 1 { 0 } else { grid_ch * ld };
                let out_len = if gn > 1 && dgrid_part.is_some() {
                    grid_ch * ld
                } else {
                    0
                };
                let rb = row_block(cols, ld).min(rows);
                with_scratch3((rb * ld, tmp_len, out_len), |col, tmp, out| {
                    let lhs = if gn == 1 {
                        grid_g
                    } else {
                        gather_grid(grid_g, grid_ch, cols, tmp);
                        &*tmp
                    };
                    let mut dst_g = dgrid_part
                        .as_deref_mut()
                        .map(|dgrid| &mut dgrid[(first - base) * gl..(first - base + gn) * gl]);
                    for (b, block) in blocks(rows, rb).enumerate() {
                        for i in 0..gn {
                            im2col(win, &img_g[i * il..], block.clone(), col, ld, i * cols);
                        }
                        // SAFETY: lhs grid_ch x ld, the block's col^T ld x block.len() (strides
                        // 1, ld), acc's columns `block` grid_ch x block.len() (row stride rows).
                        unsafe {
                            matmul(
                                (grid_ch, block.len(), ld),
                                acc.as_mut_ptr().add(block.start),
                                rows,
                                true,
                                (lhs.as_ptr(), ld, 1),
                                (col.as_ptr(), 1, ld),
                            );
                        }
                        if let Some(dst) = dst_g.as_deref_mut() {
                            // One sample adds straight into its gradient; a group sums its
                            // blocks in `out` (grid_ch x ld) and scatters once.
                            let (dst, accumulate) = if gn == 1 { (dst, true) } else { (&mut *out, b > 0) };
                            // SAFETY: weight's columns `block` are grid_ch x block.len() (row
                            // stride rows), col block.len() x ld, dst grid_ch x ld.
                            unsafe {
                                matmul(
                                    (grid_ch, ld, block.len()),
                                    dst.as_mut_ptr(),
                                    ld,
                                    accumulate,
                                    (weight.as_ptr().add(block.start), rows, 1),
                                    (col.as_ptr(), ld, 1),
                                );
                            }
                        }
                    }
                    if gn > 1 {
                        if let Some(dst) = dst_g {
                            scatter_add_grid(out, grid_ch, cols, dst);
                        }
                    }
                });
            }
            acc
        })
        .collect();
    for partial in partials {
        dweight.iter_mut().zip(&partial).for_each(|(x, y)| *x += y);
    }
}

/// Bias gradient: `dbias[c] += sum over samples and positions of grid[n, c, :]`, for a
/// grid of shape `(batch, channels, cols)`. Planes are summed in parallel, then added to
/// their channel in sample order, so the result does not depend on the thread count.
pub fn bias_grad(grid: &[f32], channels: usize, cols: usize, dbias: &mut [f32]) {
    let sums: Vec<f32> = grid
        .par_chunks_exact(cols)
        .map(|chan| chan.iter().sum::<f32>())
        .collect();
    for (s, db) in sums.iter().zip((0..channels).cycle()) {
        dbias[db] += s;
    }
}
