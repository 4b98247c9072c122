//! The `cgan` command line: parses arguments and calls the library.

fn main() {
    std::process::exit(cgan::cli::main());
}
