//! `--threads` and `--placement`: settings for the worker pool, and the one
//! place where they meet the runtime ([`make_runtime`]).

use crate::Runtime;

use super::CliError;

/// Where the pool's workers run (`--placement`): the scheduler's own type,
/// which parses `none`, `close`, `spread` and `cpus:0,2,3`.
pub use lanes_scheduler::Placement;

/// Worker-pool settings from the command line; `None` means the pool's own
/// default.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PoolSettings {
    /// Number of worker threads (`--threads`, at least 1).
    pub threads: Option<usize>,
    /// Where the workers run (`--placement`).
    pub placement: Option<Placement>,
}

/// Parses `--threads`: a whole number from 1 to
/// [`lanes_scheduler::MAX_THREADS`] (1024), the pool's limit.
pub(crate) fn parse_threads(s: &str) -> Result<usize, String> {
    let max = lanes_scheduler::MAX_THREADS;
    let t = s.trim();
    match t.parse::<u64>() {
        Ok(0) => Err("the pool needs at least 1 thread".to_string()),
        Ok(n) if n <= max as u64 => Ok(n as usize),
        Ok(n) => Err(format!("{n} threads: a pool has at most {max} threads")),
        Err(_) => {
            let why = if t.starts_with('-') {
                " (it is negative)"
            } else {
                ""
            };
            Err(format!(
                "`{}` is not a thread count{why}: give a whole number from 1 to {max}",
                super::spec::quote(s)
            ))
        }
    }
}

/// The runtime a subcommand runs on, built with the pool settings. A pool
/// that cannot be built (a CPU that does not exist, say) is a usage error.
pub fn make_runtime(settings: &PoolSettings) -> Result<Runtime, CliError> {
    let mut b = Runtime::builder();
    if let Some(t) = settings.threads {
        b = b.threads(t);
    }
    if let Some(p) = &settings.placement {
        // Pinning means every thread that computes is a pinned worker: the
        // (unpinned) launching thread then only waits.
        b = b
            .placement(p.clone())
            .submitter_helps(*p == Placement::None);
    }
    b.build().map_err(|e| CliError::Usage(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placements_parse_and_print() {
        for text in ["none", "close", "spread", "cpus:0,2,3", "cpus:7"] {
            let p: Placement = text.parse().unwrap();
            assert_eq!(p.to_string(), text);
        }
        assert_eq!(
            "cpus:1, 4".parse::<Placement>(),
            Ok(Placement::Cpus(vec![1, 4]))
        );
        for bad in [
            "",
            "packed",
            "cpus:",
            "cpus:1,,2",
            "cpus:-1",
            "cpus:1,1",
            "cpus:a",
        ] {
            assert!(bad.parse::<Placement>().is_err(), "{bad}");
        }
    }

    #[test]
    fn threads_must_be_positive() {
        assert_eq!(parse_threads("8"), Ok(8));
        for bad in ["0", "-1", "x", "", "1025", "100000"] {
            assert!(parse_threads(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_threads("1024"), Ok(1024));
        assert!(parse_threads("-1").unwrap_err().contains("negative"));
    }
}
