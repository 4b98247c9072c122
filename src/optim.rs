//! Adam with state the project can save: dfdx 0.13 keeps its Adam moments private and
//! keyed by in-process tensor ids, so they could never go into a checkpoint.

use crate::device::ModelDevice;
use dfdx::nn::tensor_collection::{
    RecursiveWalker, TensorCollection, TensorOptions, TensorVisitor, ViewTensorMut, ViewTensorName,
};
use dfdx::prelude::*;

/// Adam (Kingma & Ba), as PyTorch computes it.
#[derive(Clone, Debug, PartialEq)]
pub struct Adam {
    /// Learning rate.
    pub lr: f32,
    /// First-moment decay (the article and DCGAN: 0.5).
    pub beta1: f32,
    /// Second-moment decay.
    pub beta2: f32,
    /// Denominator guard.
    pub eps: f32,
    /// Updates done so far.
    pub t: u64,
    /// First and second moments per trainable tensor, by name, in visit order.
    pub moments: Vec<(String, Vec<f32>, Vec<f32>)>,
}

impl Adam {
    /// A fresh optimiser (no moments yet: they are created on the first update).
    pub fn new(lr: f32, beta1: f32, beta2: f32) -> Self {
        Self {
            lr,
            beta1,
            beta2,
            eps: 1e-8,
            t: 0,
            moments: Vec::new(),
        }
    }

    /// One update of every trainable tensor of `model` from `grads` (which must hold an
    /// entry for each, as `model.alloc_grads()` guarantees).
    pub fn update<M: TensorCollection<f32, D>, D: ModelDevice>(
        &mut self,
        model: &mut M,
        grads: &mut Gradients<f32, D>,
    ) -> Result<(), D::Err> {
        self.t += 1;
        let mut v = Visit {
            adam: self,
            grads,
            index: 0,
            buf: Vec::new(),
        };
        M::iter_tensors(&mut RecursiveWalker {
            m: (model, String::new()),
            f: &mut v,
        })?;
        Ok(())
    }
}

struct Visit<'a, D: ModelDevice> {
    adam: &'a mut Adam,
    grads: &'a mut Gradients<f32, D>,
    index: usize,
    buf: Vec<f32>,
}

impl<D: ModelDevice> TensorVisitor<f32, D> for Visit<'_, D> {
    type Viewer = (ViewTensorMut, ViewTensorName);
    type Err = D::Err;
    type E2 = f32;
    type D2 = D;

    fn visit<S: Shape>(
        &mut self,
        opts: TensorOptions<S, f32, D>,
        (t, name): (&mut Tensor<S, f32, D>, String),
    ) -> Result<Option<Tensor<S, f32, D>>, Self::Err> {
        if !opts.do_gradient_update {
            return Ok(None);
        }
        let n = t.shape().num_elements();
        let a = &mut *self.adam;
        if a.moments.len() <= self.index {
            a.moments.push((name, vec![0.0; n], vec![0.0; n]));
        }
        let (_, m, v) = &mut a.moments[self.index];
        self.index += 1;
        self.buf.resize(n, 0.0);
        t.copy_into(&mut self.buf);
        let (b1, b2) = (a.beta1, a.beta2);
        let step = a.lr / (1.0 - b1.powi(a.t as i32));
        let bias2 = (1.0 - b2.powi(a.t as i32)).sqrt();
        let (eps, buf) = (a.eps, &mut self.buf);
        D::with_host_grad(self.grads, t, |g| {
            for (((p, g), m), v) in buf.iter_mut().zip(g.iter()).zip(m.iter_mut()).zip(v.iter_mut()) {
                *m = b1 * *m + (1.0 - b1) * g;
                *v = b2 * *v + (1.0 - b2) * g * g;
                *p -= step * *m / (v.sqrt() / bias2 + eps);
            }
        })?;
        t.copy_from(&self.buf);
        Ok(None)
    }
}
