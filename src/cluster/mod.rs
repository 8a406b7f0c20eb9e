//! Launches split across processes and machines, on MPI.
//!
//! The model is Celerity's (distributed SYCL): every rank (process) runs the
//! same host program; a launch's grid is cut into contiguous ranges of
//! linear block indices, one per rank ([`partition`]), each run on the
//! rank's own [`crate::Runtime`] pool; and each buffer argument declares
//! what the blocks do with it ([`Access`]), so the runtime knows what to
//! move between ranks:
//!
//! | declaration | blocks may | before the launch | after it |
//! |---|---|---|---|
//! | `all` | read anything, write nothing | every rank fetches what it lacks | nothing |
//! | `blocks:K[:halo=H]` | write elements `b*K..(b+1)*K`, read `H` more each side | each rank fetches its range and halo | each rank holds what it wrote |
//! | `tiles:WxH:ROW[:halo=H]` | block `(x, y)` writes the `W` x `H` tile at `(x*W, y*H)` of a row-major array of `ROW` elements per row, reads `H` more rows and columns around it | each rank fetches its tiles and halo | each rank holds what it wrote |
//! | `reduce:add\|min\|max` | only `atom.OP` whose result is unused | rank 0 fetches the buffer | partials combined along a fixed tree; rank 0 holds the result |
//! | `one:B` | block `B` writes (and reads) it | every rank fetches it | the rank running `B` holds it |
//!
//! Data moves lazily by default ([`Movement::Lazy`]): a rank fetches bytes
//! when a launch or a host read needs them; [`Movement::Eager`] copies every
//! written buffer to every rank after each launch. Who holds what is
//! tracked by a [`Planner`] that every rank runs identically, so the plan
//! needs no communication; the dry run (`lanes run --dry-run-ranks N`) runs
//! the same planner for any number of ranks without MPI.
//!
//! The distributed runtime itself, `Cluster`, needs the cargo feature
//! `mpi` (rsmpi, and an MPI library to link). Only the thread that created
//! it calls MPI; the pool's workers never do.
//!
//! # Never silently wrong
//!
//! - Before anything runs, the kernel's code is checked against the
//!   declarations ([`resolve`]): a buffer the kernel writes must be
//!   declared writable; a reduced buffer may only be updated by the
//!   declared atomic, with its returned value unused.
//! - Before every launch, the accesses whose addresses are affine in the
//!   block and lane indices are checked against each rank's declaration
//!   ([`analyze`], [`check_affine`]; [`ClusterError::Reach`]).
//! - Every launch starts with an exchange of a hash of its kernel, shape,
//!   scalar arguments, buffer lengths and declarations, and of what the
//!   host wrote into buffers since the previous operation: ranks whose
//!   host programs diverged all fail with [`ClusterError::Diverged`], ranks
//!   whose inputs differ with [`ClusterError::HostInputs`].
//! - A fault on one rank fails the launch on every rank
//!   ([`ClusterError::Remote`] names the rank and its error).
//! - With [`Verify::Changes`], each rank compares each written buffer
//!   before and after the launch: a change outside the rank's declared
//!   range (which includes writes overlapping another rank's range) and a
//!   change inside the halo another rank read are errors
//!   ([`ClusterError::Violation`]) naming the kernel, buffer and bytes. A
//!   write that stores the value already there is not seen.
//! - With [`Verify::Words`], each rank runs its blocks on the reference
//!   interpreter recording every byte written and read; overlapping
//!   writes ([`ClusterError::Overlap`]), writes outside the range and
//!   reads of another rank's writes are errors, whatever the values.
//! - Every wait for another rank has a deadline
//!   (`ClusterConfig::timeout`); past it the rank prints what it waited
//!   for and aborts the job (`MPI_Abort`), so nothing hangs.

// Byte sets are lists of ranges here: `vec![0..len]` is a list of one.
#![allow(clippy::single_range_in_vec_init)]

mod access;
mod affine;
mod dry_run;
mod plan;
mod ranges;
mod reduce;
mod verify;
#[cfg(feature = "mpi")]
mod world;

pub use access::{Access, AccessError, AccessSpec, ReduceOp, Resolved, by_slot, resolve};
pub use affine::{Affine, AffineAccess, Escape, analyze, check as check_affine, reach};
pub use dry_run::{DryBuffer, DryRun, DryRunResult, PhaseVolume, summary_line};
pub use plan::{
    LaunchPlan, Movement, PlannedBuffer, Planner, Transfer, owner_of, partition, reduce_tree,
    volume,
};
pub use ranges::{block_bytes, complement, first_outside, intersect, merge};
pub use verify::{Finding, Footprint, Verify, judge};
#[cfg(feature = "mpi")]
pub use world::{Cluster, ClusterConfig, ClusterStats, DistributedLaunch};

use std::ops::Range;

use crate::launch::LaunchError;
use crate::memory::MemoryError;

/// What went wrong in a distributed launch. Every rank gets an error for
/// the same launch (the same kind, except that the rank that failed gets
/// its own error and the others [`ClusterError::Remote`]).
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// This rank's part of the launch failed.
    #[error("rank {rank}: {source}")]
    Launch {
        /// This rank.
        rank: u32,
        /// The error.
        #[source]
        source: LaunchError,
    },
    /// Another rank's part of the launch failed.
    #[error("rank {rank} failed: {message}")]
    Remote {
        /// The rank that failed.
        rank: u32,
        /// Its error.
        message: String,
    },
    /// The declarations do not fit the kernel.
    #[error(transparent)]
    Access(#[from] AccessError),
    /// The ranks' host programs diverged.
    #[error(
        "the ranks' launch sequences diverged at operation {seq}: rank 0 {ours}, but rank {rank} {theirs}"
    )]
    Diverged {
        /// The operation's number (launches and host reads, from 1).
        seq: u64,
        /// What rank 0 did.
        ours: String,
        /// The first rank that did something else.
        rank: u32,
        /// What it did.
        theirs: String,
    },
    /// A write outside the declared range, overlapping writes, or a read of
    /// another rank's writes in the same launch.
    #[error("kernel `{kernel}`, buffer `{buffer}`: rank {rank} {what} bytes {}..{}{}", bytes.start, bytes.end, owner.map(|o| format!(", which belong to rank {o}")).unwrap_or_default())]
    Violation {
        /// The kernel.
        kernel: String,
        /// The buffer parameter.
        buffer: String,
        /// The rank that did it.
        rank: u32,
        /// What it did.
        what: &'static str,
        /// The first and last byte concerned (as a range).
        bytes: Range<u64>,
        /// The rank whose range the bytes are in, if any.
        owner: Option<u32>,
    },
    /// Before the launch: an access whose address is affine in the block
    /// index can reach bytes outside its rank's declaration.
    #[error(
        "kernel `{kernel}`, buffer `{buffer}`: the {} at line {line} can reach bytes {}..{} on rank {rank} (its address is affine in the block index), outside what the rank declared{}; declare what the kernel uses (a halo for its neighbours' elements), or turn this check off if guards keep those lanes away (ClusterConfig::affine_check, --no-affine-check)",
        if *write { "store" } else { "load" }, bytes.start, bytes.end,
        owner.map(|o| format!(" (in rank {o}'s range)")).unwrap_or_default()
    )]
    Reach {
        /// The kernel.
        kernel: String,
        /// The buffer parameter.
        buffer: String,
        /// The rank whose blocks make the access.
        rank: u32,
        /// The access's source line.
        line: u32,
        /// A store or atomic (else a load).
        write: bool,
        /// The first run of bytes it can reach outside the declaration.
        bytes: Range<u64>,
        /// The rank whose range holds them, if any.
        owner: Option<u32>,
    },
    /// Two ranks wrote the same bytes in one launch ([`Verify::Words`]).
    #[error(
        "kernel `{kernel}`, buffer `{buffer}`: ranks {first} and {second} both wrote bytes {}..{} in the same launch{}",
        bytes.start, bytes.end, owner.map(|o| format!(" (declared as rank {o}'s)")).unwrap_or_default()
    )]
    Overlap {
        /// The kernel.
        kernel: String,
        /// The buffer parameter.
        buffer: String,
        /// The lower rank.
        first: u32,
        /// The other rank.
        second: u32,
        /// The first run of bytes both wrote.
        bytes: Range<u64>,
        /// The rank whose declared range holds them, if any.
        owner: Option<u32>,
    },
    /// The ranks' hosts wrote different bytes into buffers (the same
    /// program read different input files, or computed its inputs
    /// differently): they would compute different things.
    #[error(
        "before operation {seq}, the host of rank {rank} wrote other bytes than rank 0's into buffer{} {} (alloc_from, write or host_wrote since the previous operation): every rank must give every buffer the same contents",
        if buffers.len() == 1 { "" } else { "s" },
        buffers.iter().map(|b| format!("#{b}")).collect::<Vec<_>>().join(", ")
    )]
    HostInputs {
        /// The operation that found it.
        seq: u64,
        /// The first rank whose writes differ from rank 0's.
        rank: u32,
        /// The buffers this rank's host wrote since the previous operation.
        buffers: Vec<u64>,
    },
    /// A buffer operation failed.
    #[error(transparent)]
    Memory(#[from] MemoryError),
    /// MPI could not be used.
    #[error("MPI: {0}")]
    Mpi(String),
    /// An earlier error left the ranks out of step; the cluster refuses
    /// further work.
    #[error("the cluster stopped after an earlier error: {0}")]
    Stopped(String),
}
