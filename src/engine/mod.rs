//! Engines: what runs a launch.
//!
//! [`reference`] is the oracle: one lane at a time, exactly as ISA.md says.
//! Faster engines are checked against it bit for bit.

pub mod block;
pub mod reference;

use crate::kernel::{Kernel, Special};
use crate::launch::{BoundArgs, Dim3};

/// Everything an engine needs to run one launch.
#[derive(Clone, Copy, Debug)]
pub struct LaunchSpec<'a> {
    /// The kernel.
    pub kernel: &'a Kernel,
    /// Blocks in the grid.
    pub grid: Dim3,
    /// Lanes in a block.
    pub block: Dim3,
    /// Bound buffers and scalar values.
    pub args: &'a BoundArgs,
    /// Per-lane step budget.
    pub max_steps: u64,
}

impl LaunchSpec<'_> {
    /// Lanes per block.
    pub fn lanes_per_block(&self) -> usize {
        self.block.count() as usize
    }

    /// Blocks in the grid (the launch shape was checked, so it fits).
    pub fn block_count(&self) -> u64 {
        self.grid.count() as u64
    }
}

/// The value of a special register for one lane.
#[inline]
pub fn special_value(
    s: Special,
    grid: Dim3,
    block: Dim3,
    ctaid: Dim3,
    linear_block: u64,
    laneid: u32,
) -> u64 {
    let tid = || block.unflatten(laneid as u64);
    match s {
        Special::Tid(a) => tid().get(a) as u64,
        Special::Ntid(a) => block.get(a) as u64,
        Special::Ctaid(a) => ctaid.get(a) as u64,
        Special::Nctaid(a) => grid.get(a) as u64,
        Special::LaneId => laneid as u64,
        Special::Gid => linear_block
            .wrapping_mul(block.count() as u64)
            .wrapping_add(laneid as u64),
    }
}
