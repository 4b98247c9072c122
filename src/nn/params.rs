//! Walks a model's named tensors: model summaries, weight histograms, gradient checks.

use crate::device::{DeviceKind, ModelDevice};
use dfdx::nn::tensor_collection::{
    RecursiveWalker, TensorCollection, TensorOptions, TensorVisitor, ViewTensorMut, ViewTensorName, ViewTensorRef,
};
use dfdx::prelude::*;

/// One named tensor of a model.
#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    /// Dotted path, e.g. `up1.weight`.
    pub name: String,
    /// Dimensions.
    pub shape: Vec<usize>,
    /// Whether the optimiser updates it (BatchNorm's running statistics are not).
    pub trainable: bool,
    /// Its values, or its gradient when collected with [`grads`].
    pub values: Vec<f32>,
}

struct Collect<'g, D: Device<f32>> {
    grads: Option<&'g Gradients<f32, D>>,
    out: Vec<Param>,
}

impl<D: Device<f32>> TensorVisitor<f32, D> for Collect<'_, D> {
    type Viewer = (ViewTensorRef, ViewTensorName);
    type Err = D::Err;
    type E2 = f32;
    type D2 = D;

    fn visit<S: Shape>(
        &mut self,
        opts: TensorOptions<S, f32, D>,
        (t, name): (&Tensor<S, f32, D>, String),
    ) -> Result<Option<Tensor<S, f32, D>>, Self::Err> {
        let values = match self.grads {
            Some(g) if opts.do_gradient_update => g.get(t).as_vec(),
            Some(_) => return Ok(None),
            None => t.as_vec(),
        };
        self.out.push(Param {
            name,
            shape: t.shape().concrete().into_iter().collect(),
            trainable: opts.do_gradient_update,
            values,
        });
        Ok(None)
    }
}

fn walk<M: TensorCollection<f32, D>, D: Device<f32>>(model: &M, grads: Option<&Gradients<f32, D>>) -> Vec<Param> {
    let mut c = Collect { grads, out: Vec::new() };
    // Visiting by reference cannot fail on any device.
    let _ = M::iter_tensors(&mut RecursiveWalker {
        m: (model, String::new()),
        f: &mut c,
    });
    c.out
}

/// Every tensor of `model` with its values, in declaration order.
pub fn params<M: TensorCollection<f32, D>, D: Device<f32>>(model: &M) -> Vec<Param> {
    walk(model, None)
}

/// The gradient of every trainable tensor of `model` in `grads` (which must come from
/// `model.alloc_grads()`, so every trainable tensor has an entry).
pub fn grads<M: TensorCollection<f32, D>, D: Device<f32>>(model: &M, grads: &Gradients<f32, D>) -> Vec<Param> {
    walk(model, Some(grads))
}

/// Number of trainable scalars.
pub fn trainable_count<M: TensorCollection<f32, D>, D: Device<f32>>(model: &M) -> usize {
    count(&params(model))
}

/// Number of trainable scalars among `ps`.
pub fn count(ps: &[Param]) -> usize {
    ps.iter().filter(|p| p.trainable).map(|p| p.values.len()).sum()
}

/// A table of the tensors `ps` of a model: name, shape, count, and the trainable total.
pub fn summary(title: &str, ps: &[Param]) -> String {
    let mut out = format!("{title}\n");
    for p in ps {
        let shape: Vec<String> = p.shape.iter().map(|d| d.to_string()).collect();
        let note = if p.trainable { "" } else { " (not trained)" };
        out += &format!("  {:<24} [{}] {}{note}\n", p.name, shape.join(", "), p.values.len());
    }
    out += &format!("  trainable parameters: {}\n", count(ps));
    out
}

struct Blend<'a> {
    source: std::slice::Iter<'a, Param>,
    decay: f32,
    buf: Vec<f32>,
}

impl<D: Device<f32>> TensorVisitor<f32, D> for Blend<'_> {
    type Viewer = ViewTensorMut;
    type Err = D::Err;
    type E2 = f32;
    type D2 = D;

    fn visit<S: Shape>(
        &mut self,
        _: TensorOptions<S, f32, D>,
        t: &mut Tensor<S, f32, D>,
    ) -> Result<Option<Tensor<S, f32, D>>, Self::Err> {
        if let Some(src) = self.source.next() {
            self.buf.resize(src.values.len(), 0.0);
            t.copy_into(&mut self.buf);
            for (a, s) in self.buf.iter_mut().zip(&src.values) {
                *a = self.decay * *a + (1.0 - self.decay) * s;
            }
            t.copy_from(&self.buf);
        }
        Ok(None)
    }
}

/// The decay the moving average uses after update `step` (0-based): `decay`, warmed up
/// as `(1 + step) / (10 + step)` so that early on the average follows G instead of
/// holding on to the random initial weights (as TensorFlow's `num_updates`).
pub fn ema_decay(decay: f64, step: u64) -> f64 {
    decay.min((1.0 + step as f64) / (10.0 + step as f64))
}

/// `target = decay * target + (1 - decay) * source`, tensor by tensor (running statistics
/// included): an exponential moving average of a model's weights. Both must be the same
/// architecture. On the CPU through host copies, elsewhere on the device.
pub fn blend<M: TensorCollection<f32, D>, D: ModelDevice>(target: &mut M, source: &M, decay: f32) {
    if D::KIND != DeviceKind::Cpu {
        return blend_on_device(target, source, decay);
    }
    let src = params(source);
    let mut v = Blend {
        source: src.iter(),
        decay,
        buf: Vec::new(),
    };
    // Visiting CPU tensors fails only when memory runs out.
    let _ = M::iter_tensors(&mut RecursiveWalker { m: target, f: &mut v });
}

/// [`blend`] without the host: one in-place `axpy` per tensor on the device (a GPU's
/// path; any device runs it, so the CPU checks it against [`blend`]).
///
/// # Panics
/// If the device runs out of memory.
pub fn blend_on_device<M: TensorCollection<f32, D>, D: Device<f32>>(target: &mut M, source: &M, decay: f32) {
    let mut sources = Flatten(Vec::new());
    let _ = M::iter_tensors(&mut RecursiveWalker {
        m: source,
        f: &mut sources,
    });
    let mut v = BlendOnDevice {
        source: sources.0.into_iter(),
        decay,
    };
    M::iter_tensors(&mut RecursiveWalker { m: target, f: &mut v }).expect("device memory for the moving average");
}

/// Every tensor of a model as a flat view (no copy), in visit order.
struct Flatten<D: Device<f32>>(Vec<Tensor<(usize,), f32, D>>);

impl<D: Device<f32>> TensorVisitor<f32, D> for Flatten<D> {
    type Viewer = ViewTensorRef;
    type Err = D::Err;
    type E2 = f32;
    type D2 = D;

    fn visit<S: Shape>(
        &mut self,
        _: TensorOptions<S, f32, D>,
        t: &Tensor<S, f32, D>,
    ) -> Result<Option<Tensor<S, f32, D>>, Self::Err> {
        self.0.push(t.clone().reshape_like(&(t.shape().num_elements(),)));
        Ok(None)
    }
}

struct BlendOnDevice<D: Device<f32>> {
    source: std::vec::IntoIter<Tensor<(usize,), f32, D>>,
    decay: f32,
}

impl<D: Device<f32>> TensorVisitor<f32, D> for BlendOnDevice<D> {
    type Viewer = ViewTensorMut;
    type Err = D::Err;
    type E2 = f32;
    type D2 = D;

    fn visit<S: Shape>(
        &mut self,
        _: TensorOptions<S, f32, D>,
        t: &mut Tensor<S, f32, D>,
    ) -> Result<Option<Tensor<S, f32, D>>, Self::Err> {
        if let Some(src) = self.source.next() {
            t.try_axpy(self.decay, &src.reshape_like(t.shape()), 1.0 - self.decay)?;
        }
        Ok(None)
    }
}
