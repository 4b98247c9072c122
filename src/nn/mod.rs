//! Building blocks of every network, above the devices and below the models and the
//! judge: convolution layers with PyTorch's initialisation, Adam with state that can be
//! saved, and walks over a model's named tensors (summaries, histograms, moving averages).

pub mod layers;
pub mod optim;
pub mod params;
