//! The `lanes` command line.
//!
//! Each subcommand lives in its own file and is one variant of [`Command`]:
//! adding one (`bench`, `affinity`, `soak`) means a new file with an `Args`
//! struct and an `execute` function, a variant here and one arm in
//! [`execute`]. Every subcommand reports failure as a [`CliError`], which
//! decides the exit status (docs/LANGUAGE.md section 8): 0 success, 1 a fault while
//! running, 2 a usage, file, syntax or validation error. Errors go to stderr
//! prefixed `error: `; compile errors as `FILE:LINE:COL: message` lines.
//!
//! Where the language contract was silent (docs/LANGUAGE.md, section 9):
//! - `--quiet` drops the one-line summary only; `--repeat` still prints its
//!   percentile lines, so `--quiet --repeat N` prints exactly those.
//! - Latencies print with one decimal in the largest of ns, µs, ms, s that
//!   keeps the value at least 1 (`p50 3.2 µs`, `max 850.0 ns`).
//! - `--save NAME=PATH:TYPE` takes TYPE from the text after the last `:`
//!   when that text has no `/` and no `.`; otherwise the whole text is the
//!   path. An unknown TYPE there is a usage error.
//! - Nothing is saved when a launch faults.
//! - Numeric options take negative numbers as values, so that `--grid -1`
//!   is answered with what the option accepts rather than clap's "unexpected
//!   argument"; errors shorten the input they quote (see [`spec::quote`]).

mod affinity;
mod bench;
mod check;
mod error;
mod generate;
mod latency;
mod pool;
mod report;
mod run;
mod soak;
mod spec;

use std::ffi::OsString;
use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use error::CliError;
pub use pool::{Placement, PoolSettings, make_runtime};

/// `lanes`: runs GPU-style kernel programs (LASM) on CPU cores.
#[derive(Debug, Parser)]
#[command(name = "lanes", version, about, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Compile a LASM file and run one of its kernels.
    #[command(allow_negative_numbers = true)]
    Run(run::RunArgs),
    /// Validate a LASM file and print its canonical text.
    #[command(allow_negative_numbers = true)]
    Check(check::CheckArgs),
    /// Run the benchmark suite: launch latency percentiles, throughput, and
    /// ratios to native Rust and rayon.
    #[command(allow_negative_numbers = true)]
    Bench(bench::BenchArgs),
    /// Sweep thread counts x placements x workloads: throughput, latency,
    /// steals, parks, and where each worker ran.
    #[command(allow_negative_numbers = true)]
    Affinity(affinity::AffinityArgs),
    /// Launch a random mix of kernels, some faulting, from many host
    /// threads for a bounded time; check every result, that no launch is
    /// lost and that memory stays flat.
    #[command(allow_negative_numbers = true)]
    Soak(soak::SoakArgs),
}

/// Runs the command line with the process's arguments and returns the exit
/// status.
pub fn main() -> ExitCode {
    main_with(std::env::args_os())
}

/// Runs the command line with `args` (the first is the program name).
pub fn main_with<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            // clap prints help and version to stdout (exit 0) and usage errors
            // to stderr (exit 2); errors quote the offending value, which
            // may be huge: shorten it.
            if e.use_stderr() {
                let text = crate::text::shorten_quoted_by(&e.render().to_string(), '\'');
                eprint!("{text}");
            } else {
                let _ = e.print();
            }
            return ExitCode::from(e.exit_code().clamp(0, 255) as u8);
        }
    };
    match execute(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            e.report();
            ExitCode::from(e.exit_code())
        }
    }
}

/// Runs one subcommand.
pub fn execute(command: Command) -> Result<(), CliError> {
    match command {
        Command::Run(args) => run::execute(&args),
        Command::Check(args) => check::execute(&args),
        Command::Bench(args) => bench::execute(&args),
        Command::Affinity(args) => affinity::execute(&args),
        Command::Soak(args) => soak::execute(&args),
    }
}

/// Writes `text` to stdout. A closed pipe (`lanes check f | head`) is not
/// an error worth a panic, so write errors are ignored.
fn emit(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

/// The largest LASM source file the command line reads, in bytes (a
/// kernel of a million instructions is about 25 MB).
pub const MAX_SOURCE_BYTES: u64 = 64 << 20;

/// Reads a LASM source file, naming it as given on the command line; at
/// most [`MAX_SOURCE_BYTES`], so that `/dev/zero` or a huge file is an
/// error, not all of the memory.
fn read_source(file: &std::path::Path) -> Result<String, CliError> {
    use std::io::Read;

    let cannot =
        |e: std::io::Error| CliError::Usage(format!("cannot read `{}`: {e}", file.display()));
    let too_big = || {
        CliError::Usage(format!(
            "`{}` is larger than {} MiB, the most a LASM source file may have",
            file.display(),
            MAX_SOURCE_BYTES >> 20
        ))
    };
    let f = std::fs::File::open(file).map_err(cannot)?;
    let meta = f.metadata().map_err(cannot)?;
    if meta.is_file() && meta.len() > MAX_SOURCE_BYTES {
        return Err(too_big());
    }
    let mut bytes = Vec::new();
    if meta.is_file() {
        // Exactly the file's size, not a doubling buffer's.
        bytes.reserve_exact(meta.len() as usize + 1);
    }
    f.take(MAX_SOURCE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(cannot)?;
    if bytes.len() as u64 > MAX_SOURCE_BYTES {
        return Err(too_big());
    }
    String::from_utf8(bytes).map_err(|e| {
        CliError::Usage(format!(
            "`{}` is not UTF-8 text (invalid byte at offset {})",
            file.display(),
            e.utf8_error().valid_up_to()
        ))
    })
}
