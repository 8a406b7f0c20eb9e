//! `lanes check FILE.lasm`: validate, then print the canonical text.

use std::path::PathBuf;

use clap::Args;

use super::{CliError, emit, read_source};

/// Arguments of `lanes check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The LASM source file.
    pub(crate) file: PathBuf,
}

/// Validates the file; on success prints `asm::print` of it to stdout.
pub fn execute(args: &CheckArgs) -> Result<(), CliError> {
    let source = read_source(&args.file)?;
    crate::compile(&args.file.display().to_string(), &source)?;
    let (module, _) = crate::asm::parse(&source);
    emit(&crate::asm::print(&module));
    Ok(())
}
