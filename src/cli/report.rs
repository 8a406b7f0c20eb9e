//! Shared pieces of the measuring subcommands: `--report` (the scheduler's
//! per-worker table), the progress bar, output files and number formats.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressStyle};
use lanes_scheduler::Report;

use super::CliError;

/// The scheduler's report under a title line: per worker, the tasks,
/// steals, parks and wake-ups, task run time and queue wait percentiles;
/// then batch latency and where each worker runs.
pub(crate) fn scheduler_table(title: &str, report: &Report) -> String {
    format!("scheduler report: {title}\n{}", report.to_table())
}

/// A progress bar on stderr. indicatif draws nothing when stderr is not a
/// terminal, so logs and tests see no bar.
pub(crate) struct Progress(ProgressBar);

impl Progress {
    pub(crate) fn new(len: usize) -> Progress {
        let bar = ProgressBar::new(len as u64);
        if let Ok(style) =
            ProgressStyle::with_template("[{elapsed_precise}] {bar:30} {pos}/{len} {msg}")
        {
            bar.set_style(style);
        }
        Progress(bar)
    }

    /// Moves to step `index` (0-based), showing `msg`.
    pub(crate) fn at(&self, index: usize, msg: String) {
        self.0.set_position(index as u64);
        self.0.set_message(msg);
    }

    /// Prints `text` to stdout without tearing the bar.
    pub(crate) fn print(&self, text: &str) {
        self.0.suspend(|| super::emit(text));
    }

    pub(crate) fn finish(&self) {
        self.0.finish_and_clear();
    }
}

/// An output file named by an option, created (truncated) before the long
/// measurement starts so that a bad path fails at once.
pub(crate) struct OutputFile {
    pub(crate) path: PathBuf,
    file: File,
}

impl OutputFile {
    /// Creates `path` for `--option`; `extension`, if given, is required.
    pub(crate) fn create(
        option: &str,
        path: &Path,
        extension: Option<&str>,
    ) -> Result<OutputFile, CliError> {
        if let Some(ext) = extension {
            let ok = path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case(ext));
            if !ok {
                return Err(CliError::Usage(format!(
                    "--{option} {}: the file name must end in .{ext}",
                    path.display()
                )));
            }
        }
        let file = File::create(path).map_err(|e| {
            CliError::Usage(format!(
                "--{option} {}: cannot create it: {e}",
                path.display()
            ))
        })?;
        Ok(OutputFile {
            path: path.to_path_buf(),
            file,
        })
    }

    pub(crate) fn write(mut self, option: &str, text: &str) -> Result<(), CliError> {
        self.file
            .write_all(text.as_bytes())
            .and_then(|()| self.file.flush())
            .map_err(|e| {
                CliError::Usage(format!(
                    "--{option} {}: cannot write it: {e}",
                    self.path.display()
                ))
            })
    }
}

/// Checks that two output options do not name the same file.
pub(crate) fn distinct_outputs(outputs: &[(&str, Option<&PathBuf>)]) -> Result<(), CliError> {
    for (i, (a, pa)) in outputs.iter().enumerate() {
        for (b, pb) in &outputs[i + 1..] {
            if let (Some(pa), Some(pb)) = (pa, pb) {
                if pa == pb {
                    return Err(CliError::Usage(format!(
                        "--{a} and --{b} name the same file `{}`",
                        pa.display()
                    )));
                }
            }
        }
    }
    Ok(())
}

/// A rate with an SI prefix and 3 significant digits: `812 k`, `1.23 G`.
pub(crate) fn si(v: f64) -> String {
    const PREFIXES: [(&str, f64); 4] = [("G", 1e9), ("M", 1e6), ("k", 1e3), ("", 1.0)];
    for (p, scale) in PREFIXES {
        if v >= scale || scale == 1.0 {
            let x = v / scale;
            let digits = if x >= 100.0 {
                0
            } else if x >= 10.0 {
                1
            } else {
                2
            };
            return format!("{x:.digits$} {p}").trim_end().to_string();
        }
    }
    unreachable!("the last prefix always returns")
}

/// `2.15x`, or `-` when there is no ratio.
pub(crate) fn ratio(r: Option<f64>) -> String {
    match r {
        Some(r) if r >= 100.0 => format!("{r:.0}x"),
        Some(r) if r >= 10.0 => format!("{r:.1}x"),
        Some(r) => format!("{r:.2}x"),
        None => "-".to_string(),
    }
}

/// Checks that `--json` and `--plot` name different files and creates both
/// (when given) before a long run, so a bad path fails at once.
pub(crate) fn json_and_plot_outputs(
    json: Option<&PathBuf>,
    plot: Option<&PathBuf>,
) -> Result<(Option<OutputFile>, Option<OutputFile>), CliError> {
    distinct_outputs(&[("json", json), ("plot", plot)])?;
    let json = json
        .map(|p| OutputFile::create("json", p, None))
        .transpose()?;
    let plot = plot
        .map(|p| OutputFile::create("plot", p, Some("svg")))
        .transpose()?;
    Ok((json, plot))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_and_ratios() {
        assert_eq!(si(1.234e9), "1.23 G");
        assert_eq!(si(812_000.0), "812 k");
        assert_eq!(si(45.6e6), "45.6 M");
        assert_eq!(si(3.0), "3.00");
        assert_eq!(ratio(Some(2.154)), "2.15x");
        assert_eq!(ratio(Some(123.4)), "123x");
        assert_eq!(ratio(None), "-");
    }
}
