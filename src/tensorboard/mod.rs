//! What TensorBoard reads: the event-file writer and its records (scalars, images, text,
//! histograms, HPARAMS, CUSTOM SCALARS layout), and every tag name, declared once. It
//! knows nothing of models or runs; they hand it names and values.

pub mod tags;
pub mod writer;
