//! lanes-scheduler: a pinned work-stealing pool with worker-owned state,
//! mailboxes and latency histograms.
//!
//! * [`Pool<S>`]: worker threads, each owning a state `S` made on its own
//!   thread by a factory, a work-stealing deque (crossbeam-deque) and a
//!   mailbox (crossbeam-channel) for control messages.
//! * [`Pool::run`]: a batch of `n` tasks, `job(&mut S, TaskId)`; each worker
//!   starts on its own contiguous share, idle workers steal. The job may
//!   borrow from the caller's stack.
//! * Placement with OpenMP `proc_bind` meaning ([`Placement`]), from the OS
//!   topology ([`Topology`]).
//! * Per-worker metrics (HdrHistogram), merged into a [`Report`]: text
//!   table, `.hgrm` percentile distribution, JSON.
//!
//! ```
//! use lanes_scheduler::{Pool, Placement};
//!
//! let pool: Pool<u64> = Pool::builder()
//!     .threads(2)
//!     .placement(Placement::None)
//!     .build(|_worker| 0)
//!     .unwrap();
//! let data = vec![1u32; 4096];
//! let stats = pool
//!     .run(64, |count: &mut u64, task| {
//!         *count += data[task * 64..(task + 1) * 64].iter().map(|&x| u64::from(x)).sum::<u64>();
//!         Ok::<(), std::convert::Infallible>(())
//!     })
//!     .unwrap();
//! assert_eq!(stats.tasks, 64);
//! let report = pool.report();
//! assert_eq!(report.total.tasks, 64);
//! println!("{}", report.to_table());
//! ```
//!
//! See the crate README for the design, the protocols and measurements.

#![warn(missing_docs)]

mod batch;
mod builder;
mod error;
mod latch;
mod metrics;
mod placement;
mod registry;
mod report;
mod sleep;
mod spin;
mod sync;
mod topology;

#[cfg(all(test, loom))]
mod loom_models;

pub use builder::{DEFAULT_SPIN, MAX_THREADS, PoolBuilder};
pub use error::{BatchError, BuildError};
/// The histogram crate the reports are made of.
pub use hdrhistogram;
pub use metrics::TaskTiming;
pub use placement::{Placement, PlacementPlan};
pub use registry::{BatchStats, Pool};
pub use report::{Affinity, LatencySummary, Metric, Report, WorkerAffinity, WorkerReport, hgrm};
pub use topology::{Cpu, Topology, TopologySource, parse_cpu_list};

/// Compiles and runs the README's example as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

/// The index of a task within its batch: `0..tasks`.
pub type TaskId = usize;
