//! lanes: runs GPU-style kernel programs (LASM) on CPU cores.
//!
//! A kernel is written in LASM, a small assembly language with per-lane
//! registers, global and shared memory, predicates, branches, barriers and
//! atomics (`docs/LANGUAGE.md` in the repository is its reference). A launch
//! runs it over a grid of lane blocks on a pool of worker threads.
//!
//! ```
//! use lanes::{Dim3, Runtime};
//!
//! let rt = Runtime::builder().threads(2).build()?;
//! let program = rt.compile(
//!     "scale.lasm",
//!     ".kernel scale\n.param x buf\n.param s f32\n.param n u32\n\
//!      mov.u32 r0, %gid\n setp.ge.u32 p0, r0, n\n @p0 exit\n\
//!      shl.u64 r1, r0, 2\n ld.global.f32 r2, [x + r1]\n\
//!      mul.f32 r2, r2, s\n st.global.f32 [x + r1], r2\n",
//! )?;
//! let scale = program.kernel("scale").ok_or("no kernel `scale`")?;
//! let x = rt.buffer_from(&[1.0f32, 2.0, 3.0])?;          // a Buffer<f32>
//! scale.launch(Dim3::x(1), Dim3::x(256)).arg(&x).arg(10.0f32).arg(3u32).run(&rt)?;
//! assert_eq!(x.read()?, [10.0, 20.0, 30.0]);
//!
//! // Ready kernels: the op library.
//! assert_eq!(rt.ops().sum(&x)?, 60.0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Where to look: [`Runtime`] (buffers, compilation, launches, the pool),
//! [`Buffer`] (typed buffers), [`LaunchBuilder`] (launch arguments and their
//! checks), [`ops`] (the op library), [`bench`] (the benchmark suite),
//! [`memory`] (why racing lanes are sound), [`engine`] (the engines).

pub mod asm;
pub mod bench;
pub mod buffer;
pub mod cluster;
pub mod engine;
pub mod exec;
pub mod kernel;
pub mod launch;
pub mod memory;
pub mod runtime;
pub mod text;
pub mod typed;
pub mod types;

pub use buffer::{Buffer, Element, Float, Signed};
pub use kernel::{Kernel, Program, compile};
pub use lanes_scheduler::{Metric, Placement, Report};
pub use launch::{Arg, Dim3, Fault, FaultKind, LaunchError, Scalar};
pub use memory::BufferId;
pub use runtime::{
    DEFAULT_JIT_WAIT, Engine, LaunchOptions, LaunchStats, PoolConfig, Runtime, RuntimeBuilder,
};
pub use typed::{BufferUsage, LaunchArg, LaunchBuilder};
pub mod cli;
pub mod npy;
pub mod ops;
