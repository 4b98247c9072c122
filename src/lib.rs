//! cgan: a test-first experiment harness for the matching-aware conditional GAN of the
//! article (GAN-CLS on MNIST), built on dfdx with the convolutions the project owns.

/// Every binary that links the library (the CLI, the benchmark, the tests) allocates
/// through mimalloc, kept from handing freed memory back to the kernel (see [`allocator`]).
#[global_allocator]
static ALLOCATOR: allocator::Allocator = allocator::Allocator;

pub mod allocator;
pub mod arithmetic;
pub mod checkpoint;
pub mod cli;
pub mod config;
pub mod dashboards;
pub mod data;
pub mod dataset;
pub mod device;
pub mod eval;
pub mod evaluate;
pub mod gan;
pub mod generate;
pub mod grid;
pub mod history;
pub mod interrupt;
pub mod judge;
pub mod layers;
pub mod models;
pub mod ops;
pub mod optim;
pub mod params;
pub mod regress;
pub mod rng;
pub mod sample;
pub mod summary;
pub mod sweep;
pub mod tags;
pub mod train;
pub mod trainee;
