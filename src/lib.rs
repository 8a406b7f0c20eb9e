//! lanes: runs GPU-style kernel programs (LASM) on CPU cores.

pub mod asm;
pub mod bench;
pub mod buffer;
pub mod engine;
pub mod exec;
pub mod kernel;
pub mod launch;
pub mod memory;
pub mod runtime;
pub mod typed;
pub mod types;

pub use buffer::{Buffer, Element, Float, Signed};
pub use kernel::{Kernel, Program, compile};
pub use lanes_scheduler::{Metric, Placement, Report};
pub use launch::{Arg, Dim3, Fault, FaultKind, LaunchError, Scalar};
pub use memory::BufferId;
pub use runtime::{Engine, LaunchOptions, LaunchStats, PoolConfig, Runtime, RuntimeBuilder};
pub use typed::{LaunchArg, LaunchBuilder};
pub mod cli;
pub mod npy;
pub mod ops;
