//! Spectral normalisation of a weight (Miyato et al. 2018): the layer uses W / sigma(W),
//! sigma the largest singular value of W seen as a `rows x cols` matrix (rows = output
//! channels), estimated by power iteration. As in PyTorch's `spectral_norm`, u and v are
//! constants to the gradient: sigma = u^T W v, so dL/dW = (G - <G, W> / sigma * u v^T) / sigma
//! with G = dL/d(W / sigma).

use super::{put_grad, take_grad, to_vec, with_grad, OpsDevice};
use dfdx::prelude::*;

/// Power iterations run when the state is created (PyTorch's parametrization runs 15),
/// so sigma is a good estimate from the first step on.
pub const INITIAL_ITERATIONS: usize = 15;

fn normalise(v: &mut [f32]) {
    let norm = v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt().max(1e-12) as f32;
    v.iter_mut().for_each(|x| *x /= norm);
}

/// The power-iteration vectors of one weight: `u` (rows) and `v` (cols), unit length.
#[derive(Clone, Debug, PartialEq)]
pub struct PowerIteration {
    /// Left singular vector estimate, one entry per row (output channel).
    pub u: Vec<f32>,
    /// Right singular vector estimate, one entry per column (input x kernel).
    pub v: Vec<f32>,
}

impl PowerIteration {
    /// Starts from a random unit `u` (drawn with `rng`) and runs [`INITIAL_ITERATIONS`] on `w`
    /// (row-major, `rows` rows).
    pub fn new(w: &[f32], rows: usize, rng: &mut impl rand::Rng) -> Self {
        let mut u: Vec<f32> = (0..rows).map(|_| rng.sample(rand_distr::StandardNormal)).collect();
        normalise(&mut u);
        let mut it = Self {
            u,
            v: vec![0.0; w.len() / rows.max(1)],
        };
        for _ in 0..INITIAL_ITERATIONS {
            it.step(w);
        }
        it
    }

    /// One iteration on the current weight: v = W^T u / |W^T u|, u = W v / |W v|.
    pub fn step(&mut self, w: &[f32]) {
        let cols = self.v.len();
        self.v.iter_mut().for_each(|x| *x = 0.0);
        for (row, ui) in w.chunks_exact(cols).zip(&self.u) {
            for (vj, wij) in self.v.iter_mut().zip(row) {
                *vj += wij * ui;
            }
        }
        normalise(&mut self.v);
        for (ui, row) in self.u.iter_mut().zip(w.chunks_exact(cols)) {
            *ui = row.iter().zip(&self.v).map(|(a, b)| a * b).sum();
        }
        normalise(&mut self.u);
    }

    /// sigma = u^T W v.
    pub fn sigma(&self, w: &[f32]) -> f32 {
        w.chunks_exact(self.v.len())
            .zip(&self.u)
            .map(|(row, ui)| ui * row.iter().zip(&self.v).map(|(a, b)| a * b).sum::<f32>())
            .sum()
    }
}

/// A layer's input (with its tape) and the weight to use on it.
pub type WithWeight<XS, S, D, T> = (Tensor<XS, f32, D, T>, Tensor<S, f32, D>);

/// `w / sigma(w)` as a new tensor, its backward registered on `x`'s tape (the input of
/// the layer that will use it), which is returned unchanged. The caller uses the
/// returned weight in place of `w`; the gradient reaches `w` through this op.
pub fn spectral_normalize<XS: Shape, S: Shape, D: OpsDevice, T: Tape<f32, D>>(
    x: Tensor<XS, f32, D, T>,
    w: &Tensor<S, f32, D>,
    it: &PowerIteration,
) -> WithWeight<XS, S, D, T> {
    let wv = to_vec(w);
    let sigma = it.sigma(&wv).max(1e-12);
    let out: Vec<f32> = wv.iter().map(|x| x / sigma).collect();
    let (x, mut tape) = x.split_tape();
    let w_sn = w.device().tensor_from_vec(out, *w.shape());
    if T::OWNS_TAPE {
        let (w_key, out_key) = (w.clone(), w_sn.clone());
        let (u, v) = (it.u.clone(), it.v.clone());
        tape.add_backward_op(move |grads| {
            let g = take_grad(grads, &out_key)?;
            let inner: f32 = g.iter().zip(&wv).map(|(a, b)| a * b).sum::<f32>() / sigma;
            with_grad(grads, &w_key, |gw| {
                for ((gw_row, g_row), ui) in gw.chunks_exact_mut(v.len()).zip(g.chunks_exact(v.len())).zip(&u) {
                    for ((gw, g), vj) in gw_row.iter_mut().zip(g_row).zip(&v) {
                        *gw += (g - inner * ui * vj) / sigma;
                    }
                }
            })?;
            put_grad(grads, &out_key, g)
        });
    }
    (x.put_tape(tape), w_sn)
}
