//! The commands built on trained runs and on the run layer: `cgan generate`, `cgan eval`,
//! DCGAN's vector arithmetic, grid regression against golden PNGs, samples made elsewhere
//! (`cgan eval --from`), and sweeps.

pub mod arithmetic;
pub mod eval;
pub mod generate;
pub mod regress;
pub mod samples;
pub mod sweep;
