//! Direct convolution kernels: the three products of [`super::kernels`] (same
//! [`Window`], same NCHW slices in and out) computed without im2col, col2im or a general
//! gemm.
//!
//! Each product is a correlation over a channels-last copy of its input, zero-padded so
//! that no tap ever needs a bounds check:
//!
//! - [`grid_from_image`] (conv forward, transposed-conv input gradient): one grid position
//!   reads `kernel x kernel` taps of the padded image.
//! - [`image_from_grid`] (conv input gradient, transposed-conv forward): split into
//!   `stride x stride` sub-pixel phases; each phase is a stride-1 correlation of the
//!   padded grid with the taps that land on it (no zero taps, nothing scattered).
//! - [`weight_grad`]: per tap, `dW_tap (image ch x grid ch) = sum over positions of
//!   image^T grid`, the taps split over the threads so no reduction pass is needed.
//!
//! The inner loops keep a tile of `R` output positions (or image channels) by `V`
//! vectors of 16 output channels in registers and stream one packed weight row per
//! reduced channel; the ISA is picked once at run time (AVX-512, AVX2 + FMA, or a
//! portable 16-lane loop), see [`Isa`]. Every output value is summed by one thread in a
//! fixed order: the result does not depend on the thread count or on work stealing.

// The tiles index their register arrays by position and vector on purpose: the loops
// are unrolled over const bounds and the arrays live in registers.
#![allow(clippy::needless_range_loop)]

use super::kernels::Window;
use rayon::prelude::*;
use std::sync::OnceLock;

/// Lanes of one logical vector.
const LANES: usize = 16;

/// Weights a correlation streams over every position before moving to the next taps:
/// what stays in a core's L1 data cache (32-48 KiB) beside the image rows being read.
const L1_WEIGHT_BYTES: usize = 24 * 1024;

/// Grid positions per weight-gradient chunk: the packed grid and image of a chunk stay in
/// a core's L2 while every tap of the chunk reads them.
const WGRAD_CHUNK_POSITIONS: usize = 512;

/// `n` rounded up to a whole number of vectors.
fn padded(n: usize) -> usize {
    n.div_ceil(LANES) * LANES
}

/// 16 lanes of f32 on one instruction set.
trait Vec16: Copy {
    /// Accumulator vectors a tile may hold in registers.
    const REGS: usize;
    /// Vectors of output channels per tile (at most 4).
    const MAX_V: usize;
    /// All zeros.
    unsafe fn zero() -> Self;
    /// 16 values from `p` (unaligned).
    unsafe fn load(p: *const f32) -> Self;
    /// `x` in every lane.
    unsafe fn splat(x: f32) -> Self;
    /// `self + a * b`.
    unsafe fn fma(self, a: Self, b: Self) -> Self;
    /// `*p += self` (16 values, unaligned).
    unsafe fn add_to(self, p: *mut f32);
    /// `*p = self` (16 values, unaligned).
    unsafe fn store(self, p: *mut f32);
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::Vec16;
    use std::arch::x86_64::*;

    #[derive(Clone, Copy)]
    pub struct Avx512(__m512);

    impl Vec16 for Avx512 {
        const REGS: usize = 24;
        const MAX_V: usize = 4;
        #[inline(always)]
        unsafe fn zero() -> Self {
            Avx512(_mm512_setzero_ps())
        }
        #[inline(always)]
        unsafe fn load(p: *const f32) -> Self {
            Avx512(_mm512_loadu_ps(p))
        }
        #[inline(always)]
        unsafe fn splat(x: f32) -> Self {
            Avx512(_mm512_set1_ps(x))
        }
        #[inline(always)]
        unsafe fn fma(self, a: Self, b: Self) -> Self {
            Avx512(_mm512_fmadd_ps(a.0, b.0, self.0))
        }
        #[inline(always)]
        unsafe fn add_to(self, p: *mut f32) {
            _mm512_storeu_ps(p, _mm512_add_ps(_mm512_loadu_ps(p), self.0));
        }
        #[inline(always)]
        unsafe fn store(self, p: *mut f32) {
            _mm512_storeu_ps(p, self.0);
        }
    }

    #[derive(Clone, Copy)]
    pub struct Avx2(__m256, __m256);

    impl Vec16 for Avx2 {
        const REGS: usize = 6;
        const MAX_V: usize = 2;
        #[inline(always)]
        unsafe fn zero() -> Self {
            Avx2(_mm256_setzero_ps(), _mm256_setzero_ps())
        }
        #[inline(always)]
        unsafe fn load(p: *const f32) -> Self {
            Avx2(_mm256_loadu_ps(p), _mm256_loadu_ps(p.add(8)))
        }
        #[inline(always)]
        unsafe fn splat(x: f32) -> Self {
            Avx2(_mm256_set1_ps(x), _mm256_set1_ps(x))
        }
        #[inline(always)]
        unsafe fn fma(self, a: Self, b: Self) -> Self {
            Avx2(_mm256_fmadd_ps(a.0, b.0, self.0), _mm256_fmadd_ps(a.1, b.1, self.1))
        }
        #[inline(always)]
        unsafe fn add_to(self, p: *mut f32) {
            _mm256_storeu_ps(p, _mm256_add_ps(_mm256_loadu_ps(p), self.0));
            _mm256_storeu_ps(p.add(8), _mm256_add_ps(_mm256_loadu_ps(p.add(8)), self.1));
        }
        #[inline(always)]
        unsafe fn store(self, p: *mut f32) {
            _mm256_storeu_ps(p, self.0);
            _mm256_storeu_ps(p.add(8), self.1);
        }
    }
}

/// The fallback: plain 16-lane loops (not fused: `a * b + c` rounds twice).
#[derive(Clone, Copy)]
struct Portable([f32; LANES]);

impl Vec16 for Portable {
    const REGS: usize = 4;
    const MAX_V: usize = 1;
    #[inline(always)]
    unsafe fn zero() -> Self {
        Portable([0.0; LANES])
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self {
        Portable(std::ptr::read_unaligned(p as *const [f32; LANES]))
    }
    #[inline(always)]
    unsafe fn splat(x: f32) -> Self {
        Portable([x; LANES])
    }
    #[inline(always)]
    unsafe fn fma(self, a: Self, b: Self) -> Self {
        let mut r = self.0;
        for l in 0..LANES {
            r[l] += a.0[l] * b.0[l];
        }
        Portable(r)
    }
    #[inline(always)]
    unsafe fn add_to(self, p: *mut f32) {
        for l in 0..LANES {
            *p.add(l) += self.0[l];
        }
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32) {
        std::ptr::write_unaligned(p as *mut [f32; LANES], self.0);
    }
}

/// The instruction set the kernels run on, detected once per process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isa {
    /// AVX-512F: 16 lanes per register, 32 registers.
    Avx512,
    /// AVX2 and FMA: two 8-lane registers per vector.
    Avx2,
    /// Neither (or not x86-64): portable loops.
    Portable,
}

impl Isa {
    /// The instruction sets this CPU runs, best first (detected once per process).
    pub fn supported() -> &'static [Isa] {
        static SUPPORTED: OnceLock<Vec<Isa>> = OnceLock::new();
        SUPPORTED.get_or_init(|| {
            let mut isas = Vec::new();
            #[cfg(target_arch = "x86_64")]
            {
                if is_x86_feature_detected!("avx512f") {
                    isas.push(Isa::Avx512);
                }
                if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
                    isas.push(Isa::Avx2);
                }
            }
            isas.push(Isa::Portable);
            isas
        })
    }

    /// The best instruction set this CPU has.
    pub fn best() -> Isa {
        Isa::supported()[0]
    }

    /// Panics unless this CPU runs `self`: running a kernel built for an instruction set
    /// the CPU lacks would be undefined behaviour.
    fn check(self) {
        assert!(Isa::supported().contains(&self), "this CPU cannot run {self:?} kernels");
    }
}

/// Pairs of offsets: a tap's (input, weight) or a position's (input, output).
type Offsets = Vec<(usize, usize)>;

/// A correlation: for each position `(x_off, out_off)`,
/// `out[out_off + o] = sum over taps (tx, tw) and reduced channels c of
/// x[x_off + tx + c] * w[tw + c * wld + o]` for `o` in `0..wld`.
struct Correlation<'a> {
    /// `(x offset, weight offset)` of each tap.
    taps: &'a [(usize, usize)],
    /// `(x offset, output offset)` of each output position.
    positions: &'a [(usize, usize)],
    /// Channels reduced over (contiguous in `x`).
    cin: usize,
    /// Output channels, padded to whole vectors: the weight's and the output's row length.
    wld: usize,
}

/// One tile: `R` positions by `V` vectors of output channels from `v0`, over `taps`;
/// added to what `out` holds when `accumulate`, else stored.
///
/// # Safety
/// Every offset the correlation names, plus `cin` (x) or `wld` rows (w, out), is in bounds.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn correlation_tile<S: Vec16, const R: usize, const V: usize>(
    job: &Correlation,
    taps: &[(usize, usize)],
    accumulate: bool,
    pos: &[(usize, usize)],
    v0: usize,
    x: *const f32,
    w: *const f32,
    out: *mut f32,
) {
    let mut acc = [[S::zero(); V]; R];
    if accumulate {
        for r in 0..R {
            for v in 0..V {
                acc[r][v] = S::load(out.add(pos[r].1 + (v0 + v) * LANES));
            }
        }
    }
    for &(tx, tw) in taps {
        let xs: [*const f32; R] = std::array::from_fn(|r| x.add(pos[r].0 + tx));
        let wt = w.add(tw + v0 * LANES);
        for c in 0..job.cin {
            let wc = wt.add(c * job.wld);
            let wv: [S; V] = std::array::from_fn(|v| S::load(wc.add(v * LANES)));
            for r in 0..R {
                let b = S::splat(*xs[r].add(c));
                for v in 0..V {
                    acc[r][v] = acc[r][v].fma(b, wv[v]);
                }
            }
        }
    }
    for r in 0..R {
        for v in 0..V {
            acc[r][v].store(out.add(pos[r].1 + (v0 + v) * LANES));
        }
    }
}

/// One weight-gradient tile: `R` image channels from `c0` by `V` vectors of grid channels
/// from `v0`, summed over `positions` `(image offset, grid offset)` and added to `out`
/// (row length `gld`).
///
/// # Safety
/// Every offset plus `tx + c0 + R` (image) or `gld` (grid) is in bounds; so is `out`'s tile.
#[inline(always)]
unsafe fn weight_tile<S: Vec16, const R: usize, const V: usize>(
    positions: &[(usize, usize)],
    tx: usize,
    v0: usize,
    image: *const f32,
    grid: *const f32,
    out: *mut f32,
    gld: usize,
) {
    let mut acc = [[S::zero(); V]; R];
    let (image, grid) = (image.add(tx), grid.add(v0 * LANES));
    for &(xo, go) in positions {
        let gv: [S; V] = std::array::from_fn(|v| S::load(grid.add(go + v * LANES)));
        let xp = image.add(xo);
        for r in 0..R {
            let b = S::splat(*xp.add(r));
            for v in 0..V {
                acc[r][v] = acc[r][v].fma(b, gv[v]);
            }
        }
    }
    for r in 0..R {
        for v in 0..V {
            acc[r][v].add_to(out.add(r * gld + (v0 + v) * LANES));
        }
    }
}

/// Calls `$f::<$S, R, V>(args)` for run-time `r` in 1..=8 and `v` in 1..=4.
macro_rules! by_tile {
    ($f:ident, $S:ty, $r:expr, $v:expr, $args:tt) => {
        match $v {
            1 => by_tile!(@r $f, $S, 1, $r, $args),
            2 => by_tile!(@r $f, $S, 2, $r, $args),
            3 => by_tile!(@r $f, $S, 3, $r, $args),
            _ => by_tile!(@r $f, $S, 4, $r, $args),
        }
    };
    (@r $f:ident, $S:ty, $V:literal, $r:expr, ($($a:expr),*)) => {
        match $r {
            1 => $f::<$S, 1, $V>($($a),*),
            2 => $f::<$S, 2, $V>($($a),*),
            3 => $f::<$S, 3, $V>($($a),*),
            4 => $f::<$S, 4, $V>($($a),*),
            5 => $f::<$S, 5, $V>($($a),*),
            6 => $f::<$S, 6, $V>($($a),*),
            7 => $f::<$S, 7, $V>($($a),*),
            _ => $f::<$S, 8, $V>($($a),*),
        }
    };
}

/// Tile sides for `S`: vectors per tile `v` (given the vectors left) and rows per tile.
fn tile_shape<S: Vec16>(vectors_left: usize) -> (usize, usize) {
    let v = vectors_left.min(S::MAX_V);
    (v, (S::REGS / v).clamp(1, 8))
}

/// Runs every tile of `job`: per block of output-channel vectors, per block of taps whose
/// weights fit [`L1_WEIGHT_BYTES`], every position (so those weights are read from L1).
///
/// # Safety
/// As [`correlation_tile`], for every position of the job.
#[inline(always)]
unsafe fn correlate<S: Vec16>(job: &Correlation, x: *const f32, w: *const f32, out: *mut f32) {
    let vectors = job.wld / LANES;
    let mut v0 = 0;
    while v0 < vectors {
        let (v, rows) = tile_shape::<S>(vectors - v0);
        let tap_bytes = job.cin * v * LANES * std::mem::size_of::<f32>();
        let per_block = (L1_WEIGHT_BYTES / tap_bytes.max(1)).max(1);
        if job.taps.is_empty() {
            for pos in job.positions.chunks(rows) {
                by_tile!(correlation_tile, S, pos.len(), v, (job, &[], false, pos, v0, x, w, out));
            }
        }
        for (b, taps) in job.taps.chunks(per_block).enumerate() {
            for pos in job.positions.chunks(rows) {
                by_tile!(
                    correlation_tile,
                    S,
                    pos.len(),
                    v,
                    (job, taps, b > 0, pos, v0, x, w, out)
                );
            }
        }
        v0 += v;
    }
}

/// Adds `sum over positions of image^T grid` for the taps `taps` `(tap index, image
/// offset)` into `out` (`[tap][image ch][gld]`), image channels in blocks.
///
/// # Safety
/// As [`weight_tile`] for every tap, channel block and position.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn weight_taps<S: Vec16>(
    positions: &[(usize, usize)],
    taps: &[(usize, usize)],
    channels: usize,
    gld: usize,
    image: *const f32,
    grid: *const f32,
    out: *mut f32,
) {
    let vectors = gld / LANES;
    for &(t, tx) in taps {
        let mut v0 = 0;
        while v0 < vectors {
            let (v, rows) = tile_shape::<S>(vectors - v0);
            let mut c0 = 0;
            while c0 < channels {
                let r = rows.min(channels - c0);
                let dst = out.add((t * channels + c0) * gld);
                by_tile!(weight_tile, S, r, v, (positions, tx + c0, v0, image, grid, dst, gld));
                c0 += r;
            }
            v0 += v;
        }
    }
}

/// Defines `$name(isa, args)` that runs `$generic::<S>(args)` compiled for the ISA.
macro_rules! on_isa {
    ($name:ident, $generic:ident, ($($a:ident: $t:ty),*)) => {
        /// Dispatches to the ISA's build of the generic kernel.
        ///
        /// # Safety
        /// As the generic kernel.
        #[allow(clippy::too_many_arguments)]
        unsafe fn $name(isa: Isa, $($a: $t),*) {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn avx512($($a: $t),*) {
                    $generic::<x86::Avx512>($($a),*)
                }
                #[target_feature(enable = "avx2,fma")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn avx2($($a: $t),*) {
                    $generic::<x86::Avx2>($($a),*)
                }
                match isa {
                    Isa::Avx512 => return avx512($($a),*),
                    Isa::Avx2 => return avx2($($a),*),
                    Isa::Portable => {}
                }
            }
            let _ = isa;
            $generic::<Portable>($($a),*)
        }
    };
}

on_isa!(correlate_on, correlate, (job: &Correlation, x: *const f32, w: *const f32, out: *mut f32));
on_isa!(
    weight_taps_on,
    weight_taps,
    (
        positions: &[(usize, usize)],
        taps: &[(usize, usize)],
        channels: usize,
        gld: usize,
        image: *const f32,
        grid: *const f32,
        out: *mut f32
    )
);

/// Side of the padded image that every window position reads: `(grid - 1) stride + kernel`.
fn padded_image_side(grid: usize, win: &Window) -> usize {
    (grid - 1) * win.stride + win.kernel
}

/// One image (NCHW, `win.channels x height x width`) into `dst`, channels-last and
/// shifted by the padding: `dst[(y + pad, x + pad, c)]`; rows and columns no window
/// reaches are dropped. `dst` must be zeroed where the padding lies.
fn pack_image(win: &Window, img: &[f32], dst: &mut [f32]) {
    let (hp, wp) = (padded_image_side(win.grid_h, win), padded_image_side(win.grid_w, win));
    let ch = win.channels;
    let rows = win.height.min(hp - win.pad);
    let cols = win.width.min(wp - win.pad);
    for c in 0..ch {
        let plane = &img[c * win.height * win.width..];
        for y in 0..rows {
            let src = &plane[y * win.width..][..cols];
            let row = &mut dst[((y + win.pad) * wp + win.pad) * ch + c..];
            for (x, v) in src.iter().enumerate() {
                row[x * ch] = *v;
            }
        }
    }
}

/// Adds `src` (`positions x ld`, channels-last) to `dst` (`channels x positions`, NCHW),
/// plus `bias` per channel.
fn unpack_add(src: &[f32], ld: usize, channels: usize, bias: Option<&[f32]>, dst: &mut [f32]) {
    let positions = dst.len() / channels;
    for (c, plane) in dst.chunks_exact_mut(positions).enumerate() {
        let b = bias.map_or(0.0, |b| b[c]);
        for (p, v) in plane.iter_mut().enumerate() {
            *v += src[p * ld + c] + b;
        }
    }
}

thread_local! {
    static SCRATCH: std::cell::RefCell<(Vec<f32>, Vec<f32>)> = Default::default();
}

/// Runs `f` with this thread's two scratch buffers, the first zeroed to `zeroed` values,
/// the second grown to `stale` values (its contents are stale: `f` overwrites them).
fn with_scratch<R>(zeroed: usize, stale: usize, f: impl FnOnce(&mut [f32], &mut [f32]) -> R) -> R {
    SCRATCH.with(|s| {
        let (a, b) = &mut *s.borrow_mut();
        a.clear();
        a.resize(zeroed, 0.0);
        if b.len() < stale {
            b.resize(stale, 0.0);
        }
        f(a, &mut b[..stale])
    })
}

/// Conv forward / transposed-conv input gradient, as [`super::kernels::grid_from_image`]:
/// `grid[n, g, p] += bias[g] + sum over channels c and taps t of
/// weight[g, c, t] * image[n, c, p stride + t - pad]`; `weight` is `(out_ch, channels, k, k)`.
pub fn grid_from_image(
    isa: Isa,
    win: &Window,
    image: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    out_ch: usize,
    grid: &mut [f32],
) {
    let (ch, k, cols, il) = (win.channels, win.kernel, win.cols(), win.image_len());
    let (hp, wp) = (padded_image_side(win.grid_h, win), padded_image_side(win.grid_w, win));
    let gld = padded(out_ch);
    // Weights as [tap][channel][out_ch padded].
    let mut packed = vec![0.0f32; k * k * ch * gld];
    for g in 0..out_ch {
        for c in 0..ch {
            for t in 0..k * k {
                packed[(t * ch + c) * gld + g] = weight[(g * ch + c) * k * k + t];
            }
        }
    }
    let taps: Vec<(usize, usize)> = (0..k * k)
        .map(|t| (((t / k) * wp + t % k) * ch, t * ch * gld))
        .collect();
    let positions: Vec<(usize, usize)> = (0..cols)
        .map(|p| {
            let (gy, gx) = (p / win.grid_w, p % win.grid_w);
            ((gy * win.stride * wp + gx * win.stride) * ch, p * gld)
        })
        .collect();
    let job = Correlation {
        taps: &taps,
        positions: &positions,
        cin: ch,
        wld: gld,
    };
    isa.check();
    grid.par_chunks_mut(out_ch * cols)
        .zip(image.par_chunks(il))
        .for_each(|(grid_n, img)| {
            with_scratch(hp * wp * ch, cols * gld, |x, out| {
                pack_image(win, img, x);
                // SAFETY: the padded image holds every tap of every position (its side
                // is the last position's window end); packed and out hold every row.
                unsafe { correlate_on(isa, &job, x.as_ptr(), packed.as_ptr(), out.as_mut_ptr()) };
                unpack_add(out, gld, out_ch, bias, grid_n);
            })
        });
}

/// The grid as [`image_from_grid`] reads it: each phase a stride-1 correlation over the
/// grid zero-padded by `lead` rows and columns in front.
struct Phases {
    /// Taps per phase at most: `ceil(kernel / stride)`.
    lead: usize,
    /// Rows and columns of the padded grid.
    side_h: usize,
    side_w: usize,
}

impl Phases {
    fn new(win: &Window) -> Self {
        let s = win.stride;
        let lead = win.kernel.div_ceil(s) - 1;
        // The last image row reads grid row (height - 1 + pad) / stride at the most.
        let last_h = (win.height - 1 + win.pad) / s;
        let last_w = (win.width - 1 + win.pad) / s;
        Self {
            lead,
            side_h: last_h.max(win.grid_h - 1) + 1 + lead,
            side_w: last_w.max(win.grid_w - 1) + 1 + lead,
        }
    }

    /// One grid (NCHW, `channels x grid_h x grid_w`) channels-last into zeroed `dst`,
    /// shifted by `lead`.
    fn pack(&self, win: &Window, channels: usize, grid: &[f32], dst: &mut [f32]) {
        let cols = win.cols();
        for c in 0..channels {
            for y in 0..win.grid_h {
                let src = &grid[c * cols + y * win.grid_w..][..win.grid_w];
                let row = &mut dst[((y + self.lead) * self.side_w + self.lead) * channels + c..];
                for (x, v) in src.iter().enumerate() {
                    row[x * channels] = *v;
                }
            }
        }
    }
}

/// Conv input gradient / transposed-conv forward, as [`super::kernels::image_from_grid`]:
/// `image[n, c, q] += sum over grid channels g and taps t with q = p stride + t - pad of
/// weight[g, c, t] * grid[n, g, p]`; `weight` is `(grid_ch, channels, k, k)`.
pub fn image_from_grid(isa: Isa, win: &Window, grid: &[f32], weight: &[f32], grid_ch: usize, image: &mut [f32]) {
    let (ch, k, s, il) = (win.channels, win.kernel, win.stride, win.image_len());
    let plane = win.height * win.width;
    let cld = padded(ch);
    let ph = Phases::new(win);
    // Weights as [tap][grid channel][image channel padded].
    let mut packed = vec![0.0f32; k * k * grid_ch * cld];
    for g in 0..grid_ch {
        for c in 0..ch {
            for t in 0..k * k {
                packed[(t * grid_ch + g) * cld + c] = weight[(g * ch + c) * k * k + t];
            }
        }
    }
    // Per phase (image row and column mod stride, after the padding): its taps and the
    // image positions it writes. Tap (ky, kx) = (phase + stride j) reads grid position
    // (m - j) for image position (m stride + phase - pad).
    let mut phases: Vec<(Offsets, Offsets)> = Vec::new();
    for fy in 0..s {
        for fx in 0..s {
            let taps: Vec<(usize, usize)> = (fy..k)
                .step_by(s)
                .flat_map(|ky| (fx..k).step_by(s).map(move |kx| (ky, kx)))
                .map(|(ky, kx)| {
                    let (jy, jx) = (ky / s, kx / s);
                    (
                        ((ph.lead - jy) * ph.side_w + ph.lead - jx) * grid_ch,
                        (ky * k + kx) * grid_ch * cld,
                    )
                })
                .collect();
            let rows = (0..win.height).filter(|y| (y + win.pad) % s == fy);
            let positions: Vec<(usize, usize)> = rows
                .flat_map(|y| (0..win.width).filter(|x| (x + win.pad) % s == fx).map(move |x| (y, x)))
                .map(|(y, x)| {
                    let (my, mx) = ((y + win.pad) / s, (x + win.pad) / s);
                    ((my * ph.side_w + mx) * grid_ch, (y * win.width + x) * cld)
                })
                .collect();
            phases.push((taps, positions));
        }
    }
    isa.check();
    image
        .par_chunks_mut(il)
        .zip(grid.par_chunks(grid_ch * win.cols()))
        .for_each(|(img, grid_n)| {
            with_scratch(ph.side_h * ph.side_w * grid_ch, plane * cld, |x, out| {
                ph.pack(win, grid_ch, grid_n, x);
                for (taps, positions) in &phases {
                    let job = Correlation {
                        taps,
                        positions,
                        cin: grid_ch,
                        wld: cld,
                    };
                    // SAFETY: the padded grid covers m - j + lead for every position's m
                    // and tap's j (side = last m + 1 + lead); every phase writes its own
                    // image positions, each a full padded row of `out`.
                    unsafe { correlate_on(isa, &job, x.as_ptr(), packed.as_ptr(), out.as_mut_ptr()) };
                }
                unpack_add(out, cld, ch, None, img);
            })
        });
}

/// Weight gradient of both convolutions, as [`super::kernels::weight_grad`]:
/// `dweight[g, c, t] += sum over samples and positions p of
/// grid[n, g, p] * image[n, c, p stride + t - pad]`.
pub fn weight_grad(isa: Isa, win: &Window, image: &[f32], grid: &[f32], grid_ch: usize, dweight: &mut [f32]) {
    let (ch, k, cols, il) = (win.channels, win.kernel, win.cols(), win.image_len());
    let batch = image.len() / il;
    let (hp, wp) = (padded_image_side(win.grid_h, win), padded_image_side(win.grid_w, win));
    let (xl, gld) = (hp * wp * ch, padded(grid_ch));
    // Both sides channels-last: the image padded, the grid with its channels padded.
    let mut x = vec![0.0f32; batch * xl];
    let mut g = vec![0.0f32; batch * cols * gld];
    x.par_chunks_mut(xl)
        .zip(g.par_chunks_mut(cols * gld))
        .zip(image.par_chunks(il).zip(grid.par_chunks(grid_ch * cols)))
        .for_each(|((x, g), (img, grid_n))| {
            pack_image(win, img, x);
            for c in 0..grid_ch {
                for (p, v) in grid_n[c * cols..][..cols].iter().enumerate() {
                    g[p * gld + c] = *v;
                }
            }
        });
    // Taps split over the threads: each part owns its taps' rows of the packed gradient.
    let parts = (rayon::current_num_threads() * 2).min(k * k).max(1);
    let per_part = (k * k).div_ceil(parts);
    let chunk = WGRAD_CHUNK_POSITIONS.div_ceil(cols).max(1);
    isa.check();
    let mut dw = vec![0.0f32; k * k * ch * gld];
    dw.par_chunks_mut(per_part * ch * gld)
        .enumerate()
        .for_each(|(part, dw_part)| {
            let first = part * per_part;
            let taps: Vec<(usize, usize)> = (first..(first + per_part).min(k * k))
                .map(|t| (t - first, ((t / k) * wp + t % k) * ch))
                .collect();
            for n0 in (0..batch).step_by(chunk) {
                let positions: Vec<(usize, usize)> = (n0..(n0 + chunk).min(batch))
                    .flat_map(|n| (0..cols).map(move |p| (n, p)))
                    .map(|(n, p)| {
                        let (gy, gx) = (p / win.grid_w, p % win.grid_w);
                        (
                            n * xl + (gy * win.stride * wp + gx * win.stride) * ch,
                            (n * cols + p) * gld,
                        )
                    })
                    .collect();
                // SAFETY: every position's taps lie in its padded image; the channel
                // blocks stay under `ch`; dw_part holds its taps' rows.
                unsafe {
                    weight_taps_on(
                        isa,
                        &positions,
                        &taps,
                        ch,
                        gld,
                        x.as_ptr(),
                        g.as_ptr(),
                        dw_part.as_mut_ptr(),
                    )
                };
            }
        });
    for gc in 0..grid_ch {
        for c in 0..ch {
            for t in 0..k * k {
                dweight[(gc * ch + c) * k * k + t] += dw[(t * ch + c) * gld + gc];
            }
        }
    }
}
