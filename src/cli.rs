//! Command-line interface (clap): `cgan train`, ... Each subcommand is a thin call into
//! the library; errors print as one line and exit non-zero.

use clap::{Parser, Subcommand};

/// cgan: train and inspect the article's matching-aware conditional GAN on MNIST.
#[derive(Debug, Parser)]
#[command(name = "cgan", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Train the GAN (not built yet).
    Train,
}

/// Runs the CLI; returns the process exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    match cli.command {
        Command::Train => {
            eprintln!("cgan: training is not built yet");
            1
        }
    }
}
