//! `cargo bench --bench peak`: the machine's measured f32 FMA peak, one core and all cores,
//! the yardstick the convolution layers' GFLOP/s are judged against (`make bench` prints
//! it before the layers, and the layers as a share of it).

#[path = "support/fma.rs"]
mod fma;

fn main() {
    match fma::peak() {
        Some((name, one, all, cores)) => {
            println!("peak {name}: 1 core {one:.1} GFLOP/s, {cores} cores {all:.1} GFLOP/s (f32 FMA, best of 5)")
        }
        None => println!("peak: no AVX2/AVX-512 FMA on this CPU; no peak measured"),
    }
}
