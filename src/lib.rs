//! cgan: a test-first experiment harness for the matching-aware conditional GAN of the
//! article (GAN-CLS on MNIST), built on dfdx with the convolutions the project owns.

/// Every binary that links the library (the CLI, the benchmark, the tests) allocates
/// through mimalloc, kept from handing freed memory back to the kernel (see [`support::allocator`]).
#[global_allocator]
static ALLOCATOR: support::allocator::Allocator = support::allocator::Allocator;

pub mod cli;
pub mod config;
pub mod data;
pub mod device;
pub mod judge;
pub mod models;
pub mod nn;
pub mod ops;
pub mod run;
pub mod support;
pub mod tensorboard;
pub mod tools;
