//! Where workers run: OpenMP `proc_bind` semantics over the topology.
//!
//! The *places* are the CPUs this process may run on, in close order
//! ([`Topology::places`]: package by package, core by core, SMT siblings
//! adjacent). With `T` workers and `P` places:
//!
//! * [`Placement::None`]: no pinning; the OS schedules workers anywhere in
//!   the process's affinity mask.
//! * [`Placement::Close`]: worker `i` on place `i` (filling SMT siblings of a
//!   core, then the next core, then the next package).
//! * [`Placement::Spread`]: the places are cut into `T` equal runs and worker
//!   `i` takes the first place of run `i` (`i * P / T`), so workers are as far
//!   apart as the topology allows: other packages first, then other cores,
//!   SMT siblings last.
//! * [`Placement::Cpus`]: worker `i` on the `i`-th CPU of the list.
//!
//! With more workers than places (or than listed CPUs), placement wraps
//! around (worker `i` on place `i mod P`) and [`PlacementPlan::wrapped`] says
//! so. OpenMP would instead give consecutive threads the same place; wrapping
//! keeps neighbouring workers apart, which suits work stealing better.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::error::BuildError;
use crate::topology::Topology;

/// How workers are bound to CPUs (the meaning of OpenMP `proc_bind`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub enum Placement {
    /// Do not pin; the OS places the workers.
    #[default]
    None,
    /// Pin worker `i` to the `i`-th place in close order (fill cores in
    /// order, SMT siblings first).
    Close,
    /// Pin workers as far apart as the topology allows.
    Spread,
    /// Pin worker `i` to the `i`-th CPU of this list (by OS CPU number).
    /// A CPU that does not exist is a build error.
    Cpus(Vec<usize>),
}

/// The CPU each worker is bound to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlacementPlan {
    /// For each worker, the CPU it is pinned to (`None`: not pinned).
    pub cpus: Vec<Option<usize>>,
    /// Whether there were more workers than places, so some places hold
    /// several workers.
    pub wrapped: bool,
    /// The places the plan chose from.
    pub places: Vec<usize>,
}

impl Placement {
    /// Assigns `threads` workers to CPUs of `topology`.
    pub fn plan(&self, topology: &Topology, threads: usize) -> Result<PlacementPlan, BuildError> {
        let places = topology.places();
        let p = places.len().max(1);
        let (cpus, wrapped, places) = match self {
            Placement::None => (vec![None; threads], threads > p, places),
            Placement::Close => (
                (0..threads).map(|i| places.get(i % p).copied()).collect(),
                threads > p,
                places,
            ),
            Placement::Spread => {
                let cpus = if threads <= p {
                    (0..threads)
                        .map(|i| places.get(i * p / threads).copied())
                        .collect()
                } else {
                    (0..threads).map(|i| places.get(i % p).copied()).collect()
                };
                (cpus, threads > p, places)
            }
            Placement::Cpus(list) => {
                if list.is_empty() {
                    return Err(BuildError::EmptyCpuList);
                }
                if let Some(&cpu) = list.iter().find(|&&c| topology.cpu(c).is_none()) {
                    return Err(BuildError::UnknownCpu {
                        cpu,
                        available: topology.cpus().iter().map(|c| c.id).collect(),
                    });
                }
                let cpus = (0..threads).map(|i| Some(list[i % list.len()])).collect();
                (cpus, threads > list.len(), list.clone())
            }
        };
        Ok(PlacementPlan {
            cpus,
            wrapped,
            places,
        })
    }
}

/// Parses the command-line spelling: `none`, `close`, `spread` or
/// `cpus:0,2,3` (a CPU may appear once; whether it exists is checked when the
/// pool is built).
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Four CPUs, one core each. (The close order of SMT siblings and
    /// packages is tested with a fake sysfs in `topology.rs`.)
    fn flat4() -> Topology {
        Topology::fallback(vec![0, 1, 2, 3])
    }

    #[test]
    fn close_fills_in_order_and_wraps() {
        let topo = flat4();
        let plan = Placement::Close.plan(&topo, 2).unwrap();
        assert_eq!(plan.cpus, vec![Some(0), Some(1)]);
        assert!(!plan.wrapped);
        let plan = Placement::Close.plan(&topo, 6).unwrap();
        assert_eq!(
            plan.cpus,
            vec![Some(0), Some(1), Some(2), Some(3), Some(0), Some(1)]
        );
        assert!(plan.wrapped);
    }

    #[test]
    fn spread_keeps_workers_apart() {
        let topo = flat4();
        let plan = Placement::Spread.plan(&topo, 2).unwrap();
        assert_eq!(plan.cpus, vec![Some(0), Some(2)]);
        let plan = Placement::Spread.plan(&topo, 4).unwrap();
        assert_eq!(plan.cpus, vec![Some(0), Some(1), Some(2), Some(3)]);
        let plan = Placement::Spread.plan(&topo, 5).unwrap();
        assert!(plan.wrapped);
        assert_eq!(plan.cpus[4], Some(0));
    }

    #[test]
    fn explicit_cpus_are_checked() {
        let topo = flat4();
        let plan = Placement::Cpus(vec![3, 1]).plan(&topo, 3).unwrap();
        assert_eq!(plan.cpus, vec![Some(3), Some(1), Some(3)]);
        assert!(plan.wrapped);
        assert_eq!(
            Placement::Cpus(vec![1, 99]).plan(&topo, 2),
            Err(BuildError::UnknownCpu {
                cpu: 99,
                available: vec![0, 1, 2, 3]
            })
        );
        assert_eq!(
            Placement::Cpus(vec![]).plan(&topo, 2),
            Err(BuildError::EmptyCpuList)
        );
    }

    #[test]
    fn none_pins_nothing() {
        let plan = Placement::None.plan(&flat4(), 3).unwrap();
        assert_eq!(plan.cpus, vec![None, None, None]);
    }
}
