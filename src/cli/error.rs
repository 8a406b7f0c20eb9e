//! The command line's errors and the exit status each one gives.

use std::fmt;

use crate::asm::Diagnostics;
use crate::launch::Fault;

/// Why a subcommand failed.
#[derive(Debug)]
pub enum CliError {
    /// A usage, file, argument or launch-validation error (exit 2).
    Usage(String),
    /// Syntax or validation errors in a LASM file (exit 2).
    Compile(Diagnostics),
    /// A lane faulted while running (exit 1).
    Fault(Box<Fault>),
    /// The run completed but a check of its results failed (exit 1): a
    /// benchmark's output differed from the native loop's, a soak found a
    /// wrong or lost result.
    Failed(String),
}

impl CliError {
    /// The process exit status for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Fault(_) | CliError::Failed(_) => 1,
            CliError::Usage(_) | CliError::Compile(_) => 2,
        }
    }

    /// Prints the error to stderr.
    pub fn report(&self) {
        eprintln!("{self}");
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Usage(message) => write!(f, "error: {message}"),
            CliError::Compile(diags) => {
                // One `FILE:LINE:COL: message` line per error, then a summary.
                writeln!(f, "{diags}")?;
                let n = diags.errors.len();
                write!(
                    f,
                    "error: `{}` has {n} error{}",
                    diags.file,
                    if n == 1 { "" } else { "s" }
                )
            }
            CliError::Fault(fault) => write!(f, "error: {fault}"),
            CliError::Failed(message) => write!(f, "error: {message}"),
        }
    }
}

impl std::error::Error for CliError {}

impl From<Diagnostics> for CliError {
    fn from(d: Diagnostics) -> CliError {
        CliError::Compile(d)
    }
}

impl From<crate::LaunchError> for CliError {
    fn from(e: crate::LaunchError) -> CliError {
        match e {
            crate::LaunchError::Fault(f) => CliError::Fault(f),
            // Like a fault, it happened while running (exit status 1).
            e @ (crate::LaunchError::Timeout { .. } | crate::LaunchError::Cancelled { .. }) => {
                CliError::Failed(e.to_string())
            }
            other => CliError::Usage(other.to_string()),
        }
    }
}

impl From<crate::npy::NpyError> for CliError {
    fn from(e: crate::npy::NpyError) -> CliError {
        CliError::Usage(e.to_string())
    }
}
