//! `--threads` and `--placement`: settings for the worker pool, and the one
//! place where they meet the runtime ([`make_runtime`]).

use std::fmt;
use std::str::FromStr;

use crate::Runtime;

use super::CliError;

/// Where the pool's workers run (`--placement`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Placement {
    /// No pinning; the OS schedules the workers.
    None,
    /// Pin workers to neighbouring CPUs (sharing caches).
    Close,
    /// Pin workers spread out over cores and sockets.
    Spread,
    /// Pin worker `i` to the `i`-th CPU of this list (`cpus:0,2,3`).
    Cpus(Vec<usize>),
}

impl FromStr for Placement {
    type Err = String;

    fn from_str(s: &str) -> Result<Placement, String> {
        match s {
            "none" => return Ok(Placement::None),
            "close" => return Ok(Placement::Close),
            "spread" => return Ok(Placement::Spread),
            _ => {}
        }
        let Some(list) = s.strip_prefix("cpus:") else {
            return Err(format!(
                "`{s}` is not a placement; use none, close, spread or cpus:LIST (cpus:0,2,3)"
            ));
        };
        let mut cpus = Vec::new();
        for item in list.split(',') {
            let cpu: usize = item
                .trim()
                .parse()
                .map_err(|_| format!("`{item}` in `{s}` is not a CPU number"))?;
            if cpus.contains(&cpu) {
                return Err(format!("CPU {cpu} appears twice in `{s}`"));
            }
            cpus.push(cpu);
        }
        Ok(Placement::Cpus(cpus))
    }
}

impl fmt::Display for Placement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Placement::None => f.write_str("none"),
            Placement::Close => f.write_str("close"),
            Placement::Spread => f.write_str("spread"),
            Placement::Cpus(cpus) => {
                let list: Vec<String> = cpus.iter().map(|c| c.to_string()).collect();
                write!(f, "cpus:{}", list.join(","))
            }
        }
    }
}

/// Worker-pool settings from the command line; `None` means the pool's own
/// default.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PoolSettings {
    /// Number of worker threads (`--threads`, at least 1).
    pub threads: Option<usize>,
    /// Where the workers run (`--placement`).
    pub placement: Option<Placement>,
}

/// Parses `--threads`: a whole number of at least 1.
pub(crate) fn parse_threads(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(0) => Err("the pool needs at least 1 thread".to_string()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("`{s}` is not a thread count (a whole number >= 1)")),
    }
}

impl From<&Placement> for lanes_scheduler::Placement {
    fn from(p: &Placement) -> Self {
        match p {
            Placement::None => lanes_scheduler::Placement::None,
            Placement::Close => lanes_scheduler::Placement::Close,
            Placement::Spread => lanes_scheduler::Placement::Spread,
            Placement::Cpus(c) => lanes_scheduler::Placement::Cpus(c.clone()),
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
        b = b.placement(p.into());
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
        for bad in ["0", "-1", "x", ""] {
            assert!(parse_threads(bad).is_err(), "{bad}");
        }
    }
}
