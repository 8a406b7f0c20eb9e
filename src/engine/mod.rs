//! Engines: what runs a launch.
//!
//! [`reference`](mod@reference) is the oracle: one lane at a time, exactly as docs/LANGUAGE.md says.
//! Faster engines are checked against it bit for bit.

pub mod block;
pub mod jit;
pub mod reference;
mod stop;

pub use stop::{StopFlag, Unfinished, with_deadline};

use std::sync::Arc;

use smallvec::SmallVec;

use crate::kernel::{Kernel, Op, Space, Special};
use crate::launch::{BoundArgs, Dim3};
use crate::memory::{Buffer, Frozen, Writing};

/// A pool worker's state: what each engine reuses from launch to launch.
#[derive(Debug, Default)]
pub struct WorkerState {
    /// The block engine's registers, lane lists and shared memory.
    pub block: block::BlockState,
    /// The JIT's spill area, lane states and shared memory.
    pub jit: jit::JitState,
}

/// The slot of each engine in a kernel's derived data
/// (`crate::kernel::Kernel::derived`): what an engine makes from a kernel
/// once and keeps beside it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Slot {
    /// [`block::BlockProgram`].
    Block = 0,
    /// The JIT's compiled variants.
    Jit = 1,
}

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
    /// The launch's stop flag, shared by everything that runs its blocks.
    /// Every engine polls it before each block and at every backward
    /// branch (with the step count) and then stops within a bounded number
    /// of steps; generated code loads it through a pointer (a `bool`-sized
    /// atomic at the flag's address, nonzero: stop). See [`StopFlag`].
    pub stop: &'a StopFlag,
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

/// A launch's hold on its buffers (see "Frozen buffers" in
/// [`crate::memory`]): every buffer the kernel may write (through any
/// parameter bound to it) is registered as written for the whole launch,
/// waiting for launches that have it frozen; then, with `freeze`, every
/// other bound buffer is frozen if no writer holds it, so the launch may read
/// it with plain loads. Writers first, freezes after, and freezes never wait:
/// a launch holding a freeze waits for nothing, so launches cannot wait for
/// each other in a cycle.
#[derive(Debug, Default)]
pub struct BufferAccess<'a> {
    _writing: SmallVec<[Writing<'a>; 4]>,
    frozen: Vec<Frozen<'a>>,
    /// `slot_frozen[slot]`: index into `frozen`.
    slot_frozen: Vec<Option<usize>>,
}

impl<'a> BufferAccess<'a> {
    /// Registers the buffers of `spec`.
    pub fn acquire(spec: &LaunchSpec<'a>, freeze: bool) -> BufferAccess<'a> {
        let buffers: &'a [Arc<Buffer>] = &spec.args.buffers;
        if buffers.is_empty() {
            return BufferAccess::default();
        }
        let written = written_slots(spec.kernel, buffers.len());
        // The first slot bound to each distinct buffer stands for it.
        let first_of = |i: usize| {
            buffers
                .iter()
                .position(|b| Arc::ptr_eq(b, &buffers[i]))
                .unwrap_or(i)
        };
        let mut access = BufferAccess::default();
        let mut buffer_written: Slots = smallvec::smallvec![false; buffers.len()];
        for (i, &w) in written.iter().enumerate() {
            if w {
                buffer_written[first_of(i)] = true;
            }
        }
        for (i, b) in buffers.iter().enumerate() {
            if first_of(i) == i && buffer_written[i] {
                access._writing.push(b.begin_write());
            }
        }
        if freeze {
            access.slot_frozen = vec![None; buffers.len()];
            for (i, b) in buffers.iter().enumerate() {
                let first = first_of(i);
                if buffer_written[first] {
                    continue;
                }
                if first == i {
                    if let Some(f) = b.try_freeze() {
                        access.frozen.push(f);
                        access.slot_frozen[i] = Some(access.frozen.len() - 1);
                    }
                } else {
                    access.slot_frozen[i] = access.slot_frozen[first];
                }
            }
        }
        access
    }

    /// The freeze of the buffer bound to `slot`, if the launch holds one.
    pub fn frozen(&self, slot: usize) -> Option<&Frozen<'a>> {
        let i = (*self.slot_frozen.get(slot)?)?;
        self.frozen.get(i)
    }
}

/// A flag per buffer slot (kernels rarely have more than 16).
type Slots = SmallVec<[bool; 16]>;

/// Which buffer slots `kernel` stores to or updates atomically.
fn written_slots(kernel: &Kernel, slots: usize) -> Slots {
    let mut written: Slots = smallvec::smallvec![false; slots];
    for instr in &kernel.instrs {
        let (Op::Store {
            space: Space::Global,
            addr,
            ..
        }
        | Op::Atom {
            space: Space::Global,
            addr,
            ..
        }
        | Op::Cas {
            space: Space::Global,
            addr,
            ..
        }) = instr.op
        else {
            continue;
        };
        match written.get_mut(addr.buffer as usize) {
            Some(w) => *w = true,
            // A slot the launch does not bind cannot be written; be
            // conservative anyway.
            None => written.iter_mut().for_each(|w| *w = true),
        }
    }
    written
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

#[cfg(test)]
mod tests {
    use super::*;

    /// `copy`: reads `a`, writes `b`; `bump`: atomically updates `a`.
    const SRC: &str = ".kernel copy\n.param a buf\n.param b buf\n\
        mov.u32 r0, %gid\n shl.u64 r1, r0, 2\n\
        ld.global.f32 r2, [a + r1]\n st.global.f32 [b + r1], r2\n\
        .kernel bump\n.param a buf\n\
        atom.global.add.u32 r0, [a], 1\n";

    fn spec<'a>(kernel: &'a Kernel, args: &'a BoundArgs, stop: &'a StopFlag) -> LaunchSpec<'a> {
        LaunchSpec {
            kernel,
            grid: Dim3::x(1),
            block: Dim3::x(4),
            args,
            max_steps: 1000,
            stop,
        }
    }

    #[test]
    fn read_only_buffers_freeze_and_written_ones_register() {
        let p = crate::compile("t.lasm", SRC).unwrap();
        let copy = p.kernel("copy").unwrap();
        let (a, b) = (
            Arc::new(Buffer::zeroed(16).unwrap()),
            Arc::new(Buffer::zeroed(16).unwrap()),
        );
        let args = BoundArgs {
            buffers: vec![a.clone(), b.clone()],
            scalars: vec![],
        };
        let stop = StopFlag::new();
        let s = spec(copy, &args, &stop);
        let access = BufferAccess::acquire(&s, true);
        assert!(access.frozen(0).is_some(), "a is only read");
        assert!(access.frozen(1).is_none(), "b is written");
        // b has a registered writer: nobody else may freeze it.
        assert!(b.try_freeze().is_none());
        // a is frozen, but may be frozen again by another reader.
        assert!(a.try_freeze().is_some());
        drop(access);
        assert!(b.try_freeze().is_some());
        // Without `freeze` (the reference engine), nothing is frozen.
        let access = BufferAccess::acquire(&s, false);
        assert!(access.frozen(0).is_none());
        assert!(b.try_freeze().is_none());
    }

    #[test]
    fn the_block_engine_reads_frozen_buffers_in_place() {
        // `copy` loads `a` (frozen: the register is a view of it) and stores
        // it into `b`, in both engines; small enough for Miri.
        let p = crate::compile("t.lasm", SRC).unwrap();
        let copy = p.kernel("copy").unwrap();
        let n = 20usize;
        let bytes: Vec<u8> = (0..n as u32 * 4).map(|i| (i * 7 + 3) as u8).collect();
        let a = Arc::new(Buffer::from_bytes(&bytes).unwrap());
        for engine in 0..2 {
            let b = Arc::new(Buffer::zeroed(n * 4).unwrap());
            let args = BoundArgs {
                buffers: vec![a.clone(), b.clone()],
                scalars: vec![],
            };
            let s = LaunchSpec {
                kernel: copy,
                grid: Dim3::x(2),
                block: Dim3::x(n as u32 / 2),
                args: &args,
                max_steps: 1000,
                stop: &StopFlag::new(),
            };
            match engine {
                0 => reference::run(&s).unwrap(),
                _ => block::run(&s).unwrap(),
            }
            assert_eq!(b.to_bytes(), bytes, "engine {engine}");
        }
    }

    #[test]
    fn a_buffer_bound_twice_and_written_once_is_not_frozen() {
        let p = crate::compile("t.lasm", SRC).unwrap();
        let copy = p.kernel("copy").unwrap();
        let a = Arc::new(Buffer::zeroed(16).unwrap());
        let args = BoundArgs {
            buffers: vec![a.clone(), a.clone()],
            scalars: vec![],
        };
        let stop = StopFlag::new();
        let s = spec(copy, &args, &stop);
        let access = BufferAccess::acquire(&s, true);
        assert!(access.frozen(0).is_none());
        assert!(access.frozen(1).is_none());
        assert!(a.try_freeze().is_none(), "registered as written");
    }

    #[test]
    fn atomics_count_as_writes() {
        let p = crate::compile("t.lasm", SRC).unwrap();
        let bump = p.kernel("bump").unwrap();
        let a = Arc::new(Buffer::zeroed(4).unwrap());
        let args = BoundArgs {
            buffers: vec![a.clone()],
            scalars: vec![],
        };
        let stop = StopFlag::new();
        let s = spec(bump, &args, &stop);
        let access = BufferAccess::acquire(&s, true);
        assert!(access.frozen(0).is_none());
        assert!(a.try_freeze().is_none());
    }
}
