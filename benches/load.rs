//! Loading MNIST: cgan's reader (`cgan::data::load`: checked IDX files, grey levels kept as
//! bytes) against the `mnist` crate's `MnistBuilder`, for docs/data.md's choice between
//! them. One loader per process, so that each peak RSS is its own:
//! `cargo bench --bench load -- ours` and `cargo bench --bench load -- crate`.

use std::time::Instant;

/// The process's peak resident set (VmHWM), in MiB; 0 where /proc is missing.
fn peak_rss_mib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0, |kb| kb / 1024)
}

fn main() {
    let which = std::env::args().skip(1).find(|a| a == "ours" || a == "crate");
    let Some(which) = which else {
        eprintln!("usage: cargo bench --bench load -- ours|crate   (needs data/mnist: make data)");
        std::process::exit(2);
    };
    let t = Instant::now();
    let bytes = if which == "ours" {
        let m = cgan::data::load_mnist("data/mnist".as_ref(), (-1.0, 1.0)).unwrap_or_else(|e| panic!("{e}"));
        m.train.pixels.len() + m.train.labels.len() + m.test.pixels.len() + m.test.labels.len()
    } else {
        let m = mnist::MnistBuilder::new()
            .base_path("data/mnist")
            .training_set_length(60_000)
            .validation_set_length(0)
            .test_set_length(10_000)
            .finalize();
        m.trn_img.len() + m.trn_lbl.len() + m.tst_img.len() + m.tst_lbl.len()
    };
    println!(
        "load {which}: {bytes} bytes in {:.1} ms, peak RSS {} MiB",
        t.elapsed().as_secs_f64() * 1e3,
        peak_rss_mib()
    );
}
