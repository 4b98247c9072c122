//! `conv2d` and `conv_transpose2d` as custom dfdx ops (PyTorch semantics: weights
//! `(out, in, k, k)` for a conv and `(in, out, k, k)` for a transposed conv, zero padding,
//! output padding added at the bottom and right).

use super::direct::{self, Isa};
use super::kernels::{self, Window};
use super::{put_grad, take_grad, to_vec, with_grad, Img, OpsDevice};
use dfdx::prelude::*;
use rayon::prelude::*;

/// Which kernels compute a convolution's three window products.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConvKernels {
    /// im2col / col2im + gemm ([`kernels`]).
    Gemm,
    /// The direct kernels ([`direct`]) on an instruction set this CPU has.
    Direct(Isa),
}

impl ConvKernels {
    /// The direct kernels on this CPU's best instruction set.
    pub fn direct() -> Self {
        ConvKernels::Direct(Isa::best())
    }

    /// The kernels for one layer: the direct ones hand layers whose image side has a
    /// single channel (G's output, D's first conv) to gemm, which is 3-20x faster there
    /// (`cargo bench --bench layers`): their direct tiles hold one accumulator.
    fn for_window(self, win: &Window) -> Self {
        match self {
            ConvKernels::Direct(_) if win.channels < 2 => ConvKernels::Gemm,
            how => how,
        }
    }

    fn grid_from_image(
        self,
        win: &Window,
        image: &[f32],
        weight: &[f32],
        bias: Option<&[f32]>,
        ch: usize,
        grid: &mut [f32],
    ) {
        match self {
            ConvKernels::Gemm => kernels::grid_from_image(win, image, weight, bias, ch, grid),
            ConvKernels::Direct(isa) => direct::grid_from_image(isa, win, image, weight, bias, ch, grid),
        }
    }

    fn image_from_grid(self, win: &Window, grid: &[f32], weight: &[f32], ch: usize, image: &mut [f32]) {
        match self {
            ConvKernels::Gemm => kernels::image_from_grid(win, grid, weight, ch, image),
            ConvKernels::Direct(isa) => direct::image_from_grid(isa, win, grid, weight, ch, image),
        }
    }

    fn weight_grad(self, win: &Window, image: &[f32], grid: &[f32], ch: usize, dweight: &mut [f32]) {
        match self {
            ConvKernels::Gemm => kernels::weight_grad(win, image, grid, ch, dweight),
            ConvKernels::Direct(isa) => direct::weight_grad(isa, win, image, grid, ch, dweight),
        }
    }

    /// The weight gradient and `dgrid += weight * image` (a transposed conv's backward).
    fn weight_and_grid_grad(
        self,
        win: &Window,
        image: &[f32],
        grid: &[f32],
        ch: usize,
        dweight: &mut [f32],
        (weight, dgrid): (&[f32], &mut [f32]),
    ) {
        match self {
            ConvKernels::Gemm => kernels::weight_and_grid_grad(win, image, grid, ch, dweight, Some((weight, dgrid))),
            ConvKernels::Direct(isa) => {
                direct::weight_grad(isa, win, image, grid, ch, dweight);
                direct::grid_from_image(isa, win, image, weight, None, ch, dgrid);
            }
        }
    }
}

/// Output side of a strided convolution: `(size + 2 pad - kernel) / stride + 1`.
///
/// # Panics
/// If the padded input is smaller than the kernel: the model's shapes are fixed, so
/// this is a programming error, never a user's.
pub fn conv_out_size(size: usize, kernel: usize, stride: usize, pad: usize) -> usize {
    assert!(
        size + 2 * pad >= kernel && stride > 0,
        "conv: input side {size} (pad {pad}) is smaller than kernel {kernel}"
    );
    (size + 2 * pad - kernel) / stride + 1
}

/// Output side of a transposed convolution:
/// `(size - 1) stride - 2 pad + kernel + output_pad`.
///
/// # Panics
/// If `output_pad >= stride` or the result would be empty (programming errors).
pub fn conv_transpose_out_size(size: usize, kernel: usize, stride: usize, pad: usize, output_pad: usize) -> usize {
    assert!(
        output_pad < stride,
        "conv_transpose: output padding {output_pad} must be below stride {stride}"
    );
    let full = (size - 1) * stride + kernel + output_pad;
    assert!(full > 2 * pad, "conv_transpose: padding {pad} leaves an empty output");
    full - 2 * pad
}

/// 2-D convolution: `x (n, I, h, w)`, `weight (O, I, K, K)`, `bias (O)` ->
/// `(n, O, h', w')` with the `how` kernels. `x` must be contiguous (see [`to_vec`]).
pub fn conv2d<const I: usize, const O: usize, const K: usize, D: OpsDevice, T: Tape<f32, D>>(
    how: ConvKernels,
    x: Tensor<Img<I>, f32, D, T>,
    weight: &Tensor<Rank4<O, I, K, K>, f32, D>,
    bias: &Tensor<Rank1<O>, f32, D>,
    stride: usize,
    pad: usize,
) -> Tensor<Img<O>, f32, D, T> {
    let (n, _, h, w) = *x.shape();
    let win = Window {
        channels: I,
        height: h,
        width: w,
        kernel: K,
        stride,
        pad,
        grid_h: conv_out_size(h, K, stride, pad),
        grid_w: conv_out_size(w, K, stride, pad),
    };
    let (xv, wv, bv) = (to_vec(&x), to_vec(weight), to_vec(bias));
    let how = how.for_window(&win);
    let mut yv = vec![0.0; n * O * win.cols()];
    how.grid_from_image(&win, &xv, &wv, Some(&bv), O, &mut yv);
    let (x, mut tape) = x.split_tape();
    let y = x.device().tensor_from_vec(yv, (n, Const::<O>, win.grid_h, win.grid_w));
    if T::OWNS_TAPE {
        let (y_key, w_key, b_key) = (y.clone(), weight.clone(), bias.clone());
        tape.add_backward_op(move |grads| {
            let gy = take_grad(grads, &y_key)?;
            with_grad(grads, &x, |gx| how.image_from_grid(&win, &gy, &wv, O, gx))?;
            with_grad(grads, &w_key, |gw| how.weight_grad(&win, &xv, &gy, O, gw))?;
            with_grad(grads, &b_key, |gb| kernels::bias_grad(&gy, O, win.cols(), gb))?;
            put_grad(grads, &y_key, gy)
        });
    }
    y.put_tape(tape)
}

/// 2-D transposed convolution: `x (n, I, h, w)`, `weight (I, O, K, K)`, `bias (O)` ->
/// `(n, O, h', w')` with `h' = (h - 1) stride - 2 pad + K + output_pad`. Computed as
/// the `how` kernels, never by inserting zeros. `x` must be contiguous.
pub fn conv_transpose2d<const I: usize, const O: usize, const K: usize, D: OpsDevice, T: Tape<f32, D>>(
    how: ConvKernels,
    x: Tensor<Img<I>, f32, D, T>,
    weight: &Tensor<Rank4<I, O, K, K>, f32, D>,
    bias: &Tensor<Rank1<O>, f32, D>,
    stride: usize,
    pad: usize,
    output_pad: usize,
) -> Tensor<Img<O>, f32, D, T> {
    let (n, _, h, w) = *x.shape();
    let win = Window {
        channels: O,
        height: conv_transpose_out_size(h, K, stride, pad, output_pad),
        width: conv_transpose_out_size(w, K, stride, pad, output_pad),
        kernel: K,
        stride,
        pad,
        grid_h: h,
        grid_w: w,
    };
    let (xv, wv, bv) = (to_vec(&x), to_vec(weight), to_vec(bias));
    let how = how.for_window(&win);
    let plane = win.height * win.width;
    let mut yv = vec![0.0f32; n * O * plane];
    yv.par_chunks_mut(plane)
        .enumerate()
        .for_each(|(k, p)| p.fill(bv[k % O]));
    how.image_from_grid(&win, &xv, &wv, I, &mut yv);
    let (x, mut tape) = x.split_tape();
    let y = x.device().tensor_from_vec(yv, (n, Const::<O>, win.height, win.width));
    if T::OWNS_TAPE {
        let (y_key, w_key, b_key) = (y.clone(), weight.clone(), bias.clone());
        tape.add_backward_op(move |grads| {
            let gy = take_grad(grads, &y_key)?;
            let mut gw = take_grad(grads, &w_key)?;
            with_grad(grads, &x, |gx| {
                how.weight_and_grid_grad(&win, &gy, &xv, I, &mut gw, (&wv, gx))
            })?;
            put_grad(grads, &w_key, gw)?;
            with_grad(grads, &b_key, |gb| kernels::bias_grad(&gy, O, plane, gb))?;
            put_grad(grads, &y_key, gy)
        });
    }
    y.put_tape(tape)
}
