//! Shuffled GAN-CLS batches of a split: image, right label, wrong label. Batch `step` is a
//! pure function of (seed, step), so a resumed run draws what it would have drawn.

use crate::data::idx::Split;
use crate::support::rng::{stream_rng, Stream};
use rand::seq::SliceRandom;
use rand::Rng;

/// One GAN-CLS batch: real images, their labels and wrong labels (never equal to the
/// right one, uniform over the other nine).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Batch {
    /// `n * 784` pixels.
    pub images: Vec<f32>,
    /// Right labels.
    pub labels: Vec<u8>,
    /// Wrong labels.
    pub wrong_labels: Vec<u8>,
}

/// Serves batches of a split in an order reshuffled every epoch. Batch `step` is a pure
/// function of (seed, step): resuming at a step needs no other state.
#[derive(Clone, Debug)]
pub struct Dataset {
    split: Split,
    batch_size: usize,
    seed: u64,
    order: Vec<usize>,
    order_epoch: Option<u64>,
}

impl Dataset {
    /// A dataset over `split` giving batches of `batch_size` (1..=len; the remainder of
    /// each epoch is dropped so every batch is full).
    pub fn new(split: Split, batch_size: usize, seed: u64) -> Result<Self, String> {
        if batch_size == 0 || batch_size > split.len() {
            return Err(format!(
                "batch size {batch_size} must be between 1 and the {} training images",
                split.len()
            ));
        }
        Ok(Self {
            order: (0..split.len()).collect(),
            split,
            batch_size,
            seed,
            order_epoch: None,
        })
    }

    /// Full batches in one epoch.
    pub fn batches_per_epoch(&self) -> u64 {
        (self.split.len() / self.batch_size) as u64
    }

    /// Fills `out` with the batch of training step `step` (0-based).
    pub fn batch_into(&mut self, step: u64, out: &mut Batch) {
        let epoch = step / self.batches_per_epoch();
        if self.order_epoch != Some(epoch) {
            self.order.iter_mut().enumerate().for_each(|(i, o)| *o = i);
            self.order.shuffle(&mut stream_rng(self.seed, Stream::Shuffle, epoch));
            self.order_epoch = Some(epoch);
        }
        let start = (step % self.batches_per_epoch()) as usize * self.batch_size;
        let idx = &self.order[start..start + self.batch_size];
        out.images.clear();
        out.labels.clear();
        out.wrong_labels.clear();
        let mut rng = stream_rng(self.seed, Stream::WrongLabels, step);
        for &i in idx {
            out.images.extend(self.split.image(i));
            let label = self.split.labels[i];
            out.labels.push(label);
            out.wrong_labels.push((label + rng.gen_range(1..10)) % 10);
        }
    }

    /// The batch of training step `step`.
    pub fn batch(&mut self, step: u64) -> Batch {
        let mut b = Batch::default();
        self.batch_into(step, &mut b);
        b
    }
}
