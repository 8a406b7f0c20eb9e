//! The `lanes` command; everything lives in [`lanes::cli`].

fn main() -> std::process::ExitCode {
    lanes::cli::main()
}
