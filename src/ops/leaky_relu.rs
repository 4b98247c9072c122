//! LeakyReLU as one op: dfdx 0.13's `prelu` with a scalar slope broadcasts the slope to a
//! tensor and runs a strided binary op (and a gradient for the constant) on every call,
//! which made the default preset's D forward cost 1.7x the article's.

use super::{put_grad, take_grad, to_vec, with_grad, OpsDevice};
use dfdx::prelude::*;
use rayon::prelude::*;

/// Values per parallel work item.
const CHUNK: usize = 1 << 14;

/// `max(x, 0) + slope * min(x, 0)`, elementwise, any shape (`x` contiguous).
pub fn leaky_relu<S: Shape, D: OpsDevice, T: Tape<f32, D>>(
    x: Tensor<S, f32, D, T>,
    slope: f32,
) -> Tensor<S, f32, D, T> {
    let shape = *x.shape();
    let xv = to_vec(&x);
    let mut yv = vec![0.0f32; xv.len()];
    yv.par_chunks_mut(CHUNK).zip(xv.par_chunks(CHUNK)).for_each(|(ys, xs)| {
        for (y, &v) in ys.iter_mut().zip(xs) {
            *y = if v > 0.0 { v } else { slope * v };
        }
    });
    let (x, mut tape) = x.split_tape();
    let y = x.device().tensor_from_vec(yv, shape);
    if T::OWNS_TAPE {
        let y_key = y.clone();
        tape.add_backward_op(move |grads| {
            let gy = take_grad(grads, &y_key)?;
            with_grad(grads, &x, |gx| {
                gx.par_chunks_mut(CHUNK)
                    .zip(gy.par_chunks(CHUNK).zip(xv.par_chunks(CHUNK)))
                    .for_each(|(gs, (dys, xs))| {
                        for ((g, &dy), &v) in gs.iter_mut().zip(dys).zip(xs) {
                            *g += if v > 0.0 { dy } else { slope * dy };
                        }
                    });
            })?;
            put_grad(grads, &y_key, gy)
        });
    }
    y.put_tape(tape)
}
