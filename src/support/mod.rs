//! The bottom layer: what every other layer may use and which uses none of them. The
//! counter-based random streams every draw comes from, and the allocator.

pub mod allocator;
pub mod rng;
