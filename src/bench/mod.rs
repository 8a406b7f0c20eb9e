//! The benchmark suite behind `lanes bench` and the affinity sweep behind
//! `lanes affinity`, usable from Rust as well.
//!
//! * [`case`]: what is measured. A [`Case`] is a ready kernel
//!   ([`BenchKernel`]) at a size `n`; [`Prepared`] holds its buffers on a
//!   runtime, its inputs on the host, and the native Rust result it must
//!   match bit for bit.
//! * [`baseline`]: the same work as a plain single-threaded Rust loop and as
//!   rayon (`par_iter`, `par_chunks`, `ThreadPool::install`), the
//!   comparisons of the project's performance goals.
//! * [`measure`]: warm-up, then repetitions until a time budget and a
//!   minimum count are met; latencies go into an HdrHistogram.
//! * [`suite`]: runs the cases on one runtime and collects a [`SuiteReport`]
//!   (serde: the JSON of `lanes bench --json`).
//! * [`sweep`]: thread counts x placements x workloads, rebuilding the pool
//!   for each setting ([`SweepReport`], the JSON of `lanes affinity`).
//! * [`plot`]: SVG charts of both reports.
//!
//! Every kernel's output is checked once against the native loop before it
//! is timed; a wrong result is an error, never a number in a table.
//!
//! ```
//! use lanes::bench::{Budget, Case, BenchKernel, SuiteOptions, run_suite};
//! use lanes::{Engine, Runtime};
//!
//! let rt = Runtime::builder().threads(1).build().unwrap();
//! let options = SuiteOptions {
//!     cases: vec![Case::new(BenchKernel::Add, 256)],
//!     budget: Budget::exact(Budget::QUICK, 3),
//!     rayon: false,
//!     engine: Engine::Jit,
//! };
//! let report = run_suite(&rt, &options, |_| {}).unwrap();
//! assert_eq!(report.cases[0].lanes.runs, 3);
//! assert!(report.cases[0].vs_native.is_some());
//! ```

pub mod baseline;
pub mod case;
pub mod measure;
pub mod plot;
pub mod suite;
pub mod sweep;

pub use case::{BenchKernel, Case, Prepared};
pub use measure::{Budget, Latency, Samples};
pub use suite::{CaseResult, Progress, SchedulerCounters, SuiteOptions, SuiteReport, run_suite};
pub use sweep::{SettingResult, SweepOptions, SweepReport, Workload, WorkloadResult, run_sweep};

use crate::LaunchError;
use crate::memory::MemoryError;
use crate::runtime::PoolError;

/// Why a benchmark could not produce its numbers.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// A launch failed (a fault, or a launch the runtime refused).
    #[error("{case}: {source}")]
    Launch {
        /// The case, `kernel/n`.
        case: String,
        /// What went wrong.
        #[source]
        source: LaunchError,
    },
    /// The kernel's output differs from the native Rust loop's.
    #[error(
        "{case}: wrong result: element {index} is {got} from lanes but {expected} from the native Rust loop"
    )]
    Mismatch {
        /// The case, `kernel/n`.
        case: String,
        /// The first element that differs.
        index: usize,
        /// What lanes computed (its bits, printed as the element type).
        got: String,
        /// What the native loop computed.
        expected: String,
    },
    /// A buffer could not be made, read or freed.
    #[error("{case}: {source}")]
    Memory {
        /// The case, `kernel/n`.
        case: String,
        /// What went wrong.
        #[source]
        source: MemoryError,
    },
    /// The worker pool could not be (re)built for a setting.
    #[error("{setting}: {source}")]
    Pool {
        /// The setting, `threads T, placement P`.
        setting: String,
        /// What went wrong.
        #[source]
        source: PoolError,
    },
    /// The rayon pool of the baseline could not be built.
    #[error("cannot build the rayon baseline's thread pool: {0}")]
    Rayon(String),
    /// A chart could not be drawn or written.
    #[error("cannot write the plot `{path}`: {message}")]
    Plot {
        /// The output file.
        path: String,
        /// What went wrong.
        message: String,
    },
}

/// The name of a placement as the command line writes it: `none`, `close`,
/// `spread`, `cpus:0,2`.
pub fn placement_name(p: &crate::Placement) -> String {
    match p {
        crate::Placement::None => "none".to_string(),
        crate::Placement::Close => "close".to_string(),
        crate::Placement::Spread => "spread".to_string(),
        crate::Placement::Cpus(cpus) => {
            let list: Vec<String> = cpus.iter().map(|c| c.to_string()).collect();
            format!("cpus:{}", list.join(","))
        }
    }
}

/// The CPUs this process may run on (its affinity mask), ascending.
pub fn allowed_cpus() -> Vec<usize> {
    lanes_scheduler::Topology::detect().allowed().to_vec()
}
