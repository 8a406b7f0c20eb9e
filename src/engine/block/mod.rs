//! The lane-block engine: runs whole blocks in lockstep inside one worker.
//!
//! - **Registers** are structure-of-arrays (`reg[r][lane]`), compacted to the
//!   registers the kernel actually uses, and owned by the worker's
//!   [`BlockState`], which is reused for every block and launch it runs (no
//!   allocation per lane or block once warm).
//! - **Lockstep with divergence**: lanes that share a pc form a *group*. The
//!   engine always advances the group with the smallest pc by one
//!   instruction, over all its lanes; a guarded branch splits a group, and
//!   groups that reach the same pc merge, so paths reconverge by themselves.
//!   A converged block is one group covering every lane, and its loops run
//!   over contiguous lane ranges.
//! - **Barriers**: a group that reaches `bar.sync` waits. When no group can
//!   run, every waiting lane is released past its barrier (docs/LANGUAGE.md section 6:
//!   exited lanes do not count).
//! - **Steps**: a group counts its steps once per instruction; each lane keeps
//!   only its offset from its group's count, adjusted when groups merge. The
//!   rule is the reference engine's: every instruction a lane reaches is one
//!   step, guarded-off ones included; the step that would exceed the budget
//!   faults. (Budgets above `i64::MAX` behave as `i64::MAX`: unreachable.)
//! - **Faults** carry the same context as the reference engine's. When several
//!   lanes of a group fault on one instruction, the lowest lane is reported.
//! - **Units**: a kernel with no `bar.sync` and no shared memory runs up to
//!   8192 lanes (`UNIT_LANES`) of consecutive blocks as one lockstep unit (lane `L`
//!   is lane `L % n` of block `first + L / n`); blocks of such kernels cannot
//!   observe each other, so only the order of their side effects changes, as
//!   it does between workers. The step limit stays per lane, faults name the
//!   lane's own block, and the launch's stop flag is checked before each
//!   unit and at every backward branch.
//! - **Representations**: a register's lanes are a 64-bit vector, or symbolic
//!   (`affine.rs`: uniform or affine in the lane, for index arithmetic and
//!   addresses), or a 32-bit vector (`narrow.rs`: `f32`/`u32`/`i32` data). An
//!   instruction the whole unit runs tries the symbolic, then the 32-bit path;
//!   any other instruction first materializes the registers it reads (and its
//!   destination when only some lanes write it) as exact 64-bit slots.

mod affine;
mod alu;
mod lanes;
mod mem;
mod narrow;

use std::ops::Range;

use affine::{Affine, Shape};
use lanes::{LaneSet, View};

use crate::engine::{BufferAccess, LaunchSpec, Slot};
use crate::kernel::flow::{StorageSet, for_each_reg, for_each_use, pred_id, successors};
use crate::kernel::{Instr, Kernel, NUM_PREDS, Op, PredOp, Space, Special, Src};
use crate::launch::{Dim3, Fault, FaultKind};
use crate::memory::{AccessError, SharedMemory};

/// A kernel prepared for the block engine: registers renumbered densely.
#[derive(Debug, Clone)]
pub struct BlockProgram {
    instrs: Vec<Instr>,
    nregs: usize,
    /// Registers that must be zeroed when a block starts.
    zeroed: Vec<u8>,
    /// Predicates that must be cleared when a block starts.
    cleared_preds: Vec<u8>,
    /// No barrier and no shared memory: blocks cannot observe each other's
    /// progress, so consecutive blocks may run fused in lockstep.
    fusable: bool,
    /// No backward branch.
    straight_line: bool,
}

/// The registers and predicates some path may read before writing them.
/// Only those must be cleared when a block starts (docs/LANGUAGE.md: registers start at
/// zero, predicates false); everything else is written before any read on
/// every path, so its stale contents from the previous block are never seen.
///
/// A forward must-analysis: `written[pc]` is the set written by an unguarded
/// instruction on every path from the entry to `pc`.
fn read_before_write(instrs: &[Instr]) -> (Vec<u8>, Vec<u8>) {
    let n = instrs.len();
    let mut written = vec![StorageSet::ALL; n + 1];
    written[0] = StorageSet::EMPTY;
    let mut changed = true;
    while changed {
        changed = false;
        for pc in 0..n {
            let mut out = written[pc];
            if instrs[pc].guard.is_none() {
                for_each_use(&instrs[pc], &mut |id, w| {
                    if w {
                        out.insert(id);
                    }
                });
            }
            for s in successors(&instrs[pc], pc).into_iter().flatten() {
                let mut next = written[s];
                next.intersect(&out);
                if next != written[s] {
                    written[s] = next;
                    changed = true;
                }
            }
        }
    }
    let mut needs = StorageSet::EMPTY;
    for (pc, instr) in instrs.iter().enumerate() {
        let before = written[pc];
        for_each_use(instr, &mut |id, w| {
            if !w && !before.contains(id) {
                needs.insert(id);
            }
        });
    }
    let regs = (0..=255u8).filter(|&r| needs.contains(r as u16)).collect();
    let preds = (0..NUM_PREDS as u8)
        .filter(|&p| needs.contains(pred_id(p)))
        .collect();
    (regs, preds)
}

impl BlockProgram {
    /// Prepares `kernel`.
    pub fn new(kernel: &Kernel) -> BlockProgram {
        let mut map = [u16::MAX; 256];
        let mut nregs = 0usize;
        let mut instrs = kernel.instrs.clone();
        for i in &mut instrs {
            for_each_reg(&mut i.op, &mut |r, _| {
                let slot = &mut map[*r as usize];
                if *slot == u16::MAX {
                    *slot = nregs as u16;
                    nregs += 1;
                }
                // At most 256 distinct registers, so the dense index fits u8.
                *r = *slot as u8;
            });
        }
        let (zeroed, cleared_preds) = read_before_write(&instrs);
        let fusable = kernel.shared_bytes == 0
            && instrs.iter().all(|i| match i.op {
                Op::Bar => false,
                Op::Load { space, .. }
                | Op::Store { space, .. }
                | Op::Atom { space, .. }
                | Op::Cas { space, .. } => space == Space::Global,
                _ => true,
            });
        let straight_line = instrs
            .iter()
            .enumerate()
            .all(|(pc, i)| !matches!(i.op, Op::Bra { target } if target as usize <= pc));
        BlockProgram {
            instrs,
            nregs,
            zeroed,
            cleared_preds,
            fusable,
            straight_line,
        }
    }
}

/// Steps a looping group runs before the other groups of its unit get a
/// turn: far beyond the trip counts of divergent loops that converge (which
/// should stay together), small beside the step limit.
const YIELD_STEPS: u64 = 1 << 16;

/// How many lanes a fused unit aims at: enough to amortize the per-unit
/// bookkeeping, few enough that the registers of a unit stay in cache.
const UNIT_LANES: usize = 8192;

/// The unit size for kernels with backward branches.
const LOOP_UNIT_LANES: usize = 1024;

/// The most spare lane lists a worker keeps: more than a unit can have
/// groups (one per lane) plus the guard's two scratch lists.
const MAX_SPARE_LISTS: usize = UNIT_LANES + 2;

/// One launch as the block engine sees it; shared by all workers.
#[derive(Debug)]
pub struct BlockLaunch<'a> {
    spec: &'a LaunchSpec<'a>,
    prog: &'a BlockProgram,
    lanes: usize,
    /// Blocks per fused unit (1 when the kernel cannot be fused).
    fuse: u64,
    max_steps: u64,
    /// Written buffers registered, read-only ones frozen where possible.
    access: BufferAccess<'a>,
}

impl<'a> BlockLaunch<'a> {
    /// Prepares a launch. The kernel's prepared program is made once, on its
    /// first launch, and reused. Registers the buffers the kernel writes
    /// (waiting while another launch has one frozen) and freezes the others
    /// where it can, for the launch's lifetime: see [`BufferAccess`].
    pub fn new(spec: &'a LaunchSpec<'a>) -> BlockLaunch<'a> {
        let prog = spec
            .kernel
            .derived
            .get_or_init(Slot::Block as usize, || BlockProgram::new(spec.kernel))
            .expect("the block engine owns its slot");
        let lanes = spec.lanes_per_block();
        // Kernels with loops diverge and keep their lanes longer: smaller
        // units keep their registers and lane lists in cache.
        let unit = if prog.straight_line {
            UNIT_LANES
        } else {
            LOOP_UNIT_LANES
        };
        let fuse = if prog.fusable {
            (unit / lanes.max(1)).max(1) as u64
        } else {
            1
        };
        BlockLaunch {
            spec,
            prog,
            lanes,
            fuse,
            max_steps: spec.max_steps.min(i64::MAX as u64),
            access: BufferAccess::acquire(spec, true),
        }
    }

    /// The launch's spec.
    pub fn spec(&self) -> &LaunchSpec<'a> {
        self.spec
    }

    /// The kernel has no backward branch: every lane runs each instruction
    /// at most once, so blocks cost about the same.
    pub fn straight_line(&self) -> bool {
        self.prog.straight_line
    }
}

#[derive(Debug, Default)]
struct Group {
    pc: usize,
    /// Sorted, distinct lane indices.
    lanes: Vec<u16>,
    /// Steps taken by the group; a lane's steps are `count + step_off[lane]`.
    count: u64,
    /// Upper bound of `step_off` over the group's lanes.
    max_off: i64,
}

/// A worker's reusable state for running blocks.
#[derive(Debug, Default)]
pub struct BlockState {
    /// `regs[r][lane]`, for the kernel's dense registers.
    regs: Vec<Vec<u64>>,
    /// `preds[p][lane]`.
    preds: Vec<Vec<bool>>,
    step_off: Vec<i64>,
    /// Materialized operands, one vector per source position.
    scratch: Vec<Vec<u64>>,
    /// `%tid.x/y/z` and `%laneid` per lane for the block shape `tid_shape`:
    /// the same in every block of a launch, and usually across launches.
    tid: [Vec<u64>; 4],
    /// The block shape and blocks per unit `tid` was made for.
    tid_shape: Option<(Dim3, usize)>,
    /// `aff[r]`: register `r` is symbolic; its vector in `regs` is stale.
    aff: Vec<Option<Affine>>,
    /// 32-bit vectors of registers kept narrow (see `narrow`).
    regs32: Vec<Vec<u64>>,
    /// `narrow[r]`: register `r` lives in `regs32[r]` (its `regs` vector is
    /// stale); `Some(true)` when its slots are sign-extended (`i32`).
    narrow: Vec<Option<bool>>,
    /// `frozen32[r] = Some((slot, first))`: narrow register `r`'s lanes are
    /// not in `regs32[r]` but elements `first..` of the frozen buffer bound
    /// to `slot`, which it was loaded from: nothing writes that buffer for
    /// the whole launch, so the load need not copy (see `lanes32_of`).
    frozen32: Vec<Option<(u16, usize)>>,
    scratch32: Vec<u64>,
    /// `pred_uniform[p]`: predicate `p` has this value in every lane of the
    /// unit (its vector is up to date too); guards on it need no count.
    pred_uniform: [Option<bool>; NUM_PREDS],
    /// Some `step_off` entry may be non-zero.
    offsets_dirty: bool,
    shared: SharedMemory,
    groups: Vec<Group>,
    waiting: Vec<Group>,
    filter: Vec<u16>,
    /// The lanes of the current group that the guard holds back.
    rest: Vec<u16>,
    spare: Vec<Vec<u16>>,
    /// `0..n` for the last unit size, when a unit ended converged.
    all_lanes: Vec<u16>,
    /// The running group's step count when it was picked.
    slice_start: u64,
    /// After a group looped for a slice, the next pick takes the group
    /// after this pc (round robin) instead of the lowest pc.
    rotate_after: Option<usize>,
}

/// Splits `blocks` into fused units: `(first block, blocks in the unit)`.
fn units(launch: &BlockLaunch<'_>, blocks: Range<u64>) -> impl Iterator<Item = (u64, usize)> {
    let fuse = launch.fuse;
    let end = blocks.end;
    blocks
        .step_by(fuse as usize)
        .map(move |first| (first, (end - first).min(fuse) as usize))
}

/// A unit: `shape.k` consecutive blocks from linear block `first`, run
/// together (lane `L` is lane `L % n` of block `first + L / n`).
#[derive(Clone, Copy)]
struct Unit {
    first: u64,
    shape: Shape,
}

/// A lane's fault inside an instruction.
type LaneFault = (usize, FaultKind);

/// How a unit ended, short of a fault.
enum UnitEnd {
    /// Every lane exited.
    Finished,
    /// The launch's stop flag was seen at a backward branch.
    Stopped,
}

impl BlockState {
    /// Fresh state; buffers grow to fit the first launch.
    pub fn new() -> BlockState {
        BlockState::default()
    }

    /// Runs blocks `blocks` (linear indices) of `launch`.
    ///
    /// Polls the launch's stop flag before each unit and at every backward
    /// branch; once it is set, records the blocks of the range not finished
    /// yet as unfinished and returns `Ok`. A fault sets the flag, so it
    /// stops the other tasks of the launch, including the units they are
    /// running.
    pub fn run_blocks(
        &mut self,
        launch: &BlockLaunch<'_>,
        blocks: Range<u64>,
    ) -> Result<(), Box<Fault>> {
        let stop = launch.spec.stop;
        let end = blocks.end;
        for (first, k) in units(launch, blocks) {
            if stop.is_set() {
                stop.record_unfinished(first..end);
                return Ok(());
            }
            match self.run_unit(launch, first, k) {
                Ok(UnitEnd::Finished) => {}
                Ok(UnitEnd::Stopped) => {
                    stop.record_unfinished(first..end);
                    return Ok(());
                }
                Err(f) => {
                    stop.set();
                    return Err(f);
                }
            }
        }
        Ok(())
    }

    /// Takes back the lane list of a group that exited; a list of all `n`
    /// lanes is kept for the next unit.
    fn retire(&mut self, lanes: Vec<u16>, n: usize) {
        if lanes.len() == n {
            let old = std::mem::replace(&mut self.all_lanes, lanes);
            self.recycle(old);
        } else {
            self.recycle(lanes);
        }
    }

    /// Keeps a lane list for reuse. Lists that own no memory are dropped
    /// (keeping them made `spare` grow by one empty list per unit, so a
    /// launch's memory grew with its grid), and so are lists beyond
    /// [`MAX_SPARE_LISTS`]: a unit never has more groups than lanes.
    fn recycle(&mut self, lanes: Vec<u16>) {
        if lanes.capacity() > 0 && self.spare.len() < MAX_SPARE_LISTS {
            self.spare.push(lanes);
        }
    }

    fn take_vec(&mut self) -> Vec<u16> {
        let mut v = self.spare.pop().unwrap_or_default();
        v.clear();
        v
    }

    fn run_unit(
        &mut self,
        launch: &BlockLaunch<'_>,
        first: u64,
        k: usize,
    ) -> Result<UnitEnd, Box<Fault>> {
        let shape = Shape { n: launch.lanes, k };
        let n = shape.lanes();
        let pos = Unit { first, shape };
        // Registers hold the previous unit's values; zero only those that
        // may be read before they are written (symbolically: no fill).
        self.regs.resize_with(launch.prog.nregs, Vec::new);
        for r in &mut self.regs {
            r.resize(n, 0);
        }
        self.aff.clear();
        self.aff.resize(launch.prog.nregs, None);
        self.regs32.resize_with(launch.prog.nregs, Vec::new);
        self.narrow.clear();
        self.narrow.resize(launch.prog.nregs, None);
        self.frozen32.clear();
        self.frozen32.resize(launch.prog.nregs, None);
        for &r in &launch.prog.zeroed {
            self.aff[r as usize] = Some(Affine::uniform(0));
        }
        self.preds.resize_with(NUM_PREDS, Vec::new);
        for p in &mut self.preds {
            p.resize(n, false);
        }
        self.pred_uniform = [None; NUM_PREDS];
        for &p in &launch.prog.cleared_preds {
            self.preds[p as usize].fill(false);
            self.pred_uniform[p as usize] = Some(false);
        }
        // Step offsets only move when groups with different counts merge.
        if self.offsets_dirty || self.step_off.len() != n {
            self.step_off.clear();
            self.step_off.resize(n, 0);
            self.offsets_dirty = false;
        }
        self.scratch.resize_with(4, Vec::new);
        if self.tid_shape != Some((launch.spec.block, k)) {
            for t in &mut self.tid {
                t.clear();
            }
            for lane in 0..n {
                let l = lane % shape.n;
                let t = launch.spec.block.unflatten(l as u64);
                self.tid[0].push(t.x as u64);
                self.tid[1].push(t.y as u64);
                self.tid[2].push(t.z as u64);
                self.tid[3].push(l as u64);
            }
            self.tid_shape = Some((launch.spec.block, k));
        }
        self.shared.reset(launch.spec.kernel.shared_bytes as usize);
        while let Some(g) = self.groups.pop() {
            self.recycle(g.lanes);
        }
        while let Some(g) = self.waiting.pop() {
            self.recycle(g.lanes);
        }
        // Every lane, in order: kept from the last unit of this size that
        // ended converged (a group of `n` sorted distinct lanes of `0..n` is
        // exactly `0..n`), else built.
        let all = match std::mem::take(&mut self.all_lanes) {
            v if v.len() == n => v,
            v => {
                self.recycle(v);
                let mut all = self.take_vec();
                all.extend(0..n as u16);
                all
            }
        };
        self.groups.push(Group {
            pc: 0,
            lanes: all,
            count: 0,
            max_off: 0,
        });
        let instrs = &launch.prog.instrs;
        // The group that ran last stays in `g` (`held`) when it may run on:
        // while it is the only runnable group (a converged block, or one
        // lane looping alone) it is not moved through `groups` for every
        // instruction.
        let mut g = Group::default();
        let mut held = false;
        loop {
            if !(held && self.groups.is_empty()) {
                // Which lanes ran last (only compared, never read).
                let was = g.lanes.as_ptr();
                if held {
                    self.insert(std::mem::take(&mut g));
                }
                if self.groups.is_empty() {
                    if self.waiting.is_empty() {
                        return Ok(UnitEnd::Finished);
                    }
                    // Every live lane waits at a barrier: release them all.
                    let waiting = std::mem::take(&mut self.waiting);
                    for mut w in waiting {
                        w.pc += 1;
                        self.insert(w);
                    }
                    held = false;
                    continue;
                }
                let lowest = |groups: &[Group], above: usize| {
                    (0..groups.len())
                        .filter(|&i| groups[i].pc > above)
                        .min_by_key(|&i| groups[i].pc)
                };
                let gi = self
                    .rotate_after
                    .take()
                    .and_then(|pc| lowest(&self.groups, pc))
                    .or_else(|| (0..self.groups.len()).min_by_key(|&i| self.groups[i].pc))
                    .unwrap_or(0);
                g = self.groups.swap_remove(gi);
                // A held group goes through `groups` whenever others wait:
                // its slice goes on while the same lanes are picked again.
                if g.lanes.as_ptr() != was {
                    self.slice_start = g.count;
                }
            }
            // `g` is consumed below unless it runs on.
            held = false;
            let Some(instr) = instrs.get(g.pc) else {
                // Ran past the end: these lanes exit.
                self.retire(std::mem::take(&mut g.lanes), n);
                continue;
            };
            if let Err((lane, kind)) = self.count_step(&mut g, launch.max_steps) {
                return Err(self.fault(launch, pos, lane, g.pc, kind));
            }
            // Which lanes of the group the guard lets through.
            let partial = match instr.guard {
                None => false,
                Some(guard) => {
                    // Count first (a vectorizable scan); only a guard that
                    // splits the group sorts its lanes into those it lets
                    // through and the rest, in one branch-free pass, or,
                    // when the whole block splits into a prefix and a suffix
                    // (a guard on `%tid.x < bound`), as two ranges.
                    let p = &self.preds[guard.pred as usize];
                    let want = !guard.negated;
                    let len = g.lanes.len();
                    let passing = if let Some(v) = self.pred_uniform[guard.pred as usize] {
                        if v == want { len } else { 0 }
                    } else if len == n {
                        p[..n].iter().filter(|&&v| v == want).count()
                    } else {
                        g.lanes.iter().filter(|&&l| p[l as usize] == want).count()
                    };
                    if passing == 0 {
                        g.pc += 1;
                        held = true;
                        continue;
                    }
                    if passing < len {
                        let mut pass = std::mem::take(&mut self.filter);
                        let mut fail = std::mem::take(&mut self.rest);
                        // The whole block's lanes are exactly `0..n`.
                        let (n16, k16) = (n as u16, passing as u16);
                        if len == n && p[..passing].iter().all(|&v| v == want) {
                            pass.clear();
                            pass.extend(0..k16);
                            fail.clear();
                            fail.extend(k16..n16);
                        } else if len == n && p[n - passing..n].iter().all(|&v| v == want) {
                            pass.clear();
                            pass.extend(n16 - k16..n16);
                            fail.clear();
                            fail.extend(0..n16 - k16);
                        } else {
                            pass.resize(len, 0);
                            fail.resize(len, 0);
                            let (mut kp, mut kf) = (0, 0);
                            for &l in &g.lanes {
                                let through = (p[l as usize] == want) as usize;
                                pass[kp] = l;
                                fail[kf] = l;
                                kp += through;
                                kf += 1 - through;
                            }
                            pass.truncate(kp);
                            fail.truncate(kf);
                        }
                        self.filter = pass;
                        self.rest = fail;
                    }
                    passing < len
                }
            };
            match instr.op {
                Op::Bra { target } => {
                    // A loop: the step count was just checked, and so is the
                    // stop flag (one relaxed load per backward branch).
                    if target as usize <= g.pc && launch.spec.stop.is_set() {
                        self.recycle(std::mem::take(&mut g.lanes));
                        return Ok(UnitEnd::Stopped);
                    }
                    // The lowest pc runs first, so that divergent lanes meet
                    // again; but a group that has looped for a whole slice
                    // lets the others run (round robin by pc), or lanes that
                    // spin would starve the rest of the unit: a lane that
                    // faults further on would wait for their step limit.
                    if target as usize <= g.pc
                        && g.count - self.slice_start >= YIELD_STEPS
                        && !self.groups.is_empty()
                    {
                        self.rotate_after = Some(target as usize);
                    }
                    if partial {
                        let taken = self.split_off(&mut g);
                        self.insert(Group {
                            pc: target as usize,
                            lanes: taken,
                            count: g.count,
                            max_off: g.max_off,
                        });
                        g.pc += 1;
                    } else {
                        g.pc = target as usize;
                    }
                    held = true;
                }
                Op::Exit => {
                    if partial {
                        let gone = self.split_off(&mut g);
                        self.recycle(gone);
                        g.pc += 1;
                        held = true;
                    } else {
                        self.retire(std::mem::take(&mut g.lanes), n);
                    }
                }
                Op::Bar => {
                    if partial {
                        let at_bar = self.split_off(&mut g);
                        self.wait(Group {
                            pc: g.pc,
                            lanes: at_bar,
                            count: g.count,
                            max_off: g.max_off,
                        });
                        g.pc += 1;
                        held = true;
                    } else {
                        self.wait(std::mem::take(&mut g));
                    }
                }
                op => {
                    // Move the lane lists out so `exec` can borrow the rest
                    // of the state mutably.
                    let lanes = std::mem::take(&mut g.lanes);
                    let filter = std::mem::take(&mut self.filter);
                    let set = if partial {
                        LaneSet::Some(&filter)
                    } else if lanes.len() == n {
                        LaneSet::All(n)
                    } else {
                        LaneSet::Some(&lanes)
                    };
                    let r = self.exec(launch, pos, op, set);
                    self.filter = filter;
                    g.lanes = lanes;
                    if let Err((lane, kind)) = r {
                        return Err(self.fault(launch, pos, lane, g.pc, kind));
                    }
                    g.pc += 1;
                    held = true;
                }
            }
        }
    }

    /// Counts one step for every lane of `g`, or reports the first lane that
    /// has no step left.
    fn count_step(&mut self, g: &mut Group, max_steps: u64) -> Result<(), LaneFault> {
        let limit = max_steps as i128;
        if g.count as i128 + g.max_off as i128 >= limit {
            let mut max_off = i64::MIN;
            for &l in &g.lanes {
                let off = self.step_off[l as usize];
                if g.count as i128 + off as i128 >= limit {
                    return Err((l as usize, FaultKind::StepLimit { limit: max_steps }));
                }
                max_off = max_off.max(off);
            }
            g.max_off = max_off;
        }
        g.count += 1;
        Ok(())
    }

    /// Moves the lanes in `self.filter` out of `g` into a new sorted list.
    fn split_off(&mut self, g: &mut Group) -> Vec<u16> {
        // The guard already sorted the lanes into `filter` (through) and
        // `rest`: swap lists instead of copying.
        let spare = self.take_vec();
        let taken = std::mem::replace(&mut self.filter, spare);
        let spare = self.take_vec();
        let rest = std::mem::replace(&mut self.rest, spare);
        self.recycle(std::mem::replace(&mut g.lanes, rest));
        taken
    }

    /// Adds a runnable group, merging it with one at the same pc.
    fn insert(&mut self, g: Group) {
        match self.groups.iter().position(|h| h.pc == g.pc) {
            Some(i) => {
                let mut h = std::mem::take(&mut self.groups[i]);
                self.merge(&mut h, g);
                self.groups[i] = h;
            }
            None => self.groups.push(g),
        }
    }

    /// Adds a group waiting at a barrier, merging it with one at the same pc.
    fn wait(&mut self, g: Group) {
        match self.waiting.iter().position(|h| h.pc == g.pc) {
            Some(i) => {
                let mut h = std::mem::take(&mut self.waiting[i]);
                self.merge(&mut h, g);
                self.waiting[i] = h;
            }
            None => self.waiting.push(g),
        }
    }

    fn merge(&mut self, into: &mut Group, from: Group) {
        // A lane's steps stay `count + step_off`: re-base `from`'s lanes.
        let delta = from.count as i64 - into.count as i64;
        if delta != 0 {
            self.offsets_dirty = true;
            for &l in &from.lanes {
                self.step_off[l as usize] += delta;
            }
        }
        into.max_off = into.max_off.max(from.max_off + delta);
        let (a, b) = (&into.lanes, &from.lanes);
        // Lanes of a block split into a prefix and a suffix come back
        // together as two runs: no interleaving to do.
        if a.last().is_none_or(|&x| b.first().is_none_or(|&y| x < y)) {
            into.lanes.extend_from_slice(&from.lanes);
            self.recycle(from.lanes);
            return;
        }
        let mut merged = self.take_vec();
        if b.last().is_some_and(|&y| y < a[0]) {
            merged.extend_from_slice(b);
            merged.extend_from_slice(a);
            let old = std::mem::replace(&mut into.lanes, merged);
            self.recycle(old);
            self.recycle(from.lanes);
            return;
        }
        let (mut i, mut j) = (0, 0);
        while i < a.len() && j < b.len() {
            if a[i] < b[j] {
                merged.push(a[i]);
                i += 1;
            } else {
                merged.push(b[j]);
                j += 1;
            }
        }
        merged.extend_from_slice(&a[i..]);
        merged.extend_from_slice(&b[j..]);
        let old = std::mem::replace(&mut into.lanes, merged);
        self.recycle(old);
        self.recycle(from.lanes);
    }

    fn fault(
        &self,
        launch: &BlockLaunch<'_>,
        pos: Unit,
        lane: usize,
        pc: usize,
        kind: FaultKind,
    ) -> Box<Fault> {
        let k = launch.spec.kernel;
        let src = &k.lines[pc.min(k.lines.len().saturating_sub(1))];
        let n = pos.shape.n;
        Box::new(Fault {
            kernel: k.name.clone(),
            block: launch.spec.grid.unflatten(pos.first + (lane / n) as u64),
            lane: launch.spec.block.unflatten((lane % n) as u64),
            instr: pc,
            line: src.line,
            source: src.text.clone(),
            kind,
        })
    }

    /// Runs one non-control instruction for the lanes in `set`: on symbolic
    /// values when the whole unit runs it and its operands allow, else lane
    /// by lane on materialized registers.
    fn exec(
        &mut self,
        launch: &BlockLaunch<'_>,
        pos: Unit,
        op: Op,
        set: LaneSet<'_>,
    ) -> Result<(), LaneFault> {
        if let Op::Setp { p, .. } | Op::PredLogic { d: p, .. } | Op::PredNot { d: p, .. } = op {
            self.pred_uniform[p as usize] = None;
        }
        let full = matches!(set, LaneSet::All(_));
        if full && (self.exec_affine(launch, pos, op)? || self.exec_narrow(launch, pos, op)) {
            return Ok(());
        }
        // Registers the lane loops read must hold their values; so must the
        // destination when only some lanes overwrite it.
        let mut dest = None;
        let mut op_regs = op;
        for_each_reg(&mut op_regs, &mut |r, written| {
            if written {
                dest = Some(*r);
            }
            if !written || !full {
                self.materialize(launch, pos.shape, *r);
            }
        });
        let r = self.exec_lanes(launch, pos, op, set);
        if let Some(d) = dest {
            self.aff[d as usize] = None;
            self.narrow[d as usize] = None;
        }
        r
    }

    /// Writes symbolic register `r`'s lanes into its vector.
    fn materialize(&mut self, launch: &BlockLaunch<'_>, shape: Shape, r: u8) {
        let r = r as usize;
        if let Some(a) = self.aff[r].take() {
            a.materialize(shape, &mut self.regs[r]);
        }
        if let Some(signed) = self.narrow[r].take() {
            let n = shape.lanes();
            let (wide, low) = (
                &mut self.regs[r][..n],
                &lanes32_of(&self.regs32, &self.frozen32, launch, r)[..n],
            );
            if signed {
                for (w, &v) in wide.iter_mut().zip(low) {
                    *w = v as i32 as i64 as u64;
                }
            } else {
                for (w, &v) in wide.iter_mut().zip(low) {
                    *w = v as u64;
                }
            }
        }
    }

    /// Runs one non-control instruction for the lanes in `set`, on
    /// materialized registers.
    fn exec_lanes(
        &mut self,
        launch: &BlockLaunch<'_>,
        pos: Unit,
        op: Op,
        set: LaneSet<'_>,
    ) -> Result<(), LaneFault> {
        let spec = launch.spec;
        let BlockState {
            regs,
            preds,
            scratch,
            shared,
            tid,
            ..
        } = self;
        let ctx = SrcCtx {
            launch,
            pos,
            tid: &*tid,
        };
        let shared = &*shared;
        let access_fault =
            |space: Space, buffer: u16, (lane, e): (usize, AccessError)| -> LaneFault {
                let name = match space {
                    Space::Global => spec.kernel.buffer_param(buffer).map(|p| p.name.clone()),
                    Space::Shared => None,
                };
                let kind = match e {
                    AccessError::OutOfBounds { offset, size, len } => FaultKind::OutOfBounds {
                        space,
                        buffer: name,
                        offset,
                        size,
                        len,
                    },
                    AccessError::Misaligned { offset, size } => FaultKind::Misaligned {
                        space,
                        buffer: name,
                        offset,
                        size,
                    },
                };
                (lane, kind)
            };
        // Runs a memory family on the instruction's memory, monomorphized
        // for global buffers and shared memory.
        macro_rules! on_memory {
            ($space:expr, $addr:expr, |$m:ident| $body:expr) => {
                match $space {
                    Space::Global => {
                        let $m = &*spec.args.buffers[$addr.buffer as usize];
                        $body
                    }
                    Space::Shared => {
                        let $m = shared;
                        $body
                    }
                }
                .map_err(|e| access_fault($space, $addr.buffer, e))
            };
        }
        let addr_src = |a: crate::kernel::Address| a.reg.map_or(Src::Imm(0), Src::Reg);
        // Instructions that write register `d`: move it out of the file,
        // run, and put it back (also when the instruction faults).
        macro_rules! with_dest {
            ($d:expr, [$($s:expr),*], |$dv:ident, $views:pat_param| $body:expr) => {{
                let d = $d;
                let mut dest = std::mem::take(&mut regs[d as usize]);
                let result = {
                    let $views = views(&ctx, regs, scratch, Some(d), [$($s),*]);
                    let $dv = &mut dest[..];
                    $body
                };
                regs[d as usize] = dest;
                result
            }};
        }
        match op {
            Op::Mov { ty, d, a } => with_dest!(d, [a], |dv, [a]| {
                alu::mov(set, ty, dv, a);
                Ok(())
            }),
            Op::Arith { op, ty, d, a, b } => {
                with_dest!(d, [a, b], |dv, [a, b]| {
                    alu::arith(set, op, ty, dv, a, b);
                    Ok(())
                })
            }
            Op::Div { op, ty, d, a, b } => {
                with_dest!(d, [a, b], |dv, [a, b]| alu::div(set, op, ty, dv, a, b)
                    .map_err(|l| (l, FaultKind::DivisionByZero)))
            }
            Op::Fma { ty, d, a, b, c } => {
                with_dest!(d, [a, b, c], |dv, [a, b, c]| {
                    alu::fma(set, ty, dv, a, b, c);
                    Ok(())
                })
            }
            Op::Bit { op, ty, d, a, b } => {
                with_dest!(d, [a, b], |dv, [a, b]| {
                    alu::bit(set, op, ty, dv, a, b);
                    Ok(())
                })
            }
            Op::Not { ty, d, a } => with_dest!(d, [a], |dv, [a]| {
                alu::not(set, ty, dv, a);
                Ok(())
            }),
            Op::Sign { op, ty, d, a } => {
                with_dest!(d, [a], |dv, [a]| {
                    alu::sign(set, op, ty, dv, a);
                    Ok(())
                })
            }
            Op::Math { op, ty, d, a } => {
                with_dest!(d, [a], |dv, [a]| {
                    alu::math(set, op, ty, dv, a);
                    Ok(())
                })
            }
            Op::Cvt { to, from, d, a } => {
                with_dest!(d, [a], |dv, [a]| {
                    alu::cvt(set, to, from, dv, a);
                    Ok(())
                })
            }
            Op::Selp { ty, d, a, b, p } => with_dest!(d, [a, b], |dv, [a, b]| {
                alu::selp(set, ty, dv, a, b, &preds[p as usize]);
                Ok(())
            }),
            Op::Setp { cmp, ty, p, a, b } => {
                let [a, b] = views(&ctx, regs, scratch, None, [a, b]);
                alu::setp(set, cmp, ty, &mut preds[p as usize], a, b);
                Ok(())
            }
            Op::PredLogic { op, d, a, b } => {
                let mut dv = std::mem::take(&mut preds[d as usize]);
                let get = |dv: &[bool], p: u8, l: usize| {
                    if p == d { dv[l] } else { preds[p as usize][l] }
                };
                set.for_each(|l| {
                    let (x, y) = (get(&dv, a, l), get(&dv, b, l));
                    dv[l] = match op {
                        PredOp::And => x & y,
                        PredOp::Or => x | y,
                        PredOp::Xor => x ^ y,
                    };
                });
                preds[d as usize] = dv;
                Ok(())
            }
            Op::PredNot { d, a } => {
                let mut dv = std::mem::take(&mut preds[d as usize]);
                set.for_each(|l| {
                    let x = if a == d { dv[l] } else { preds[a as usize][l] };
                    dv[l] = !x;
                });
                preds[d as usize] = dv;
                Ok(())
            }
            Op::Load { space, ty, d, addr } => {
                with_dest!(d, [addr_src(addr)], |dv, [offs]| on_memory!(
                    space,
                    addr,
                    |m| mem::load(set, m, addr, offs, ty, dv)
                ))
            }
            Op::Store { space, ty, addr, a } => {
                let [offs, a] = views(&ctx, regs, scratch, None, [addr_src(addr), a]);
                on_memory!(space, addr, |m| mem::store(set, m, addr, offs, ty, a))
            }
            Op::Atom {
                space,
                op,
                ty,
                d,
                addr,
                a,
            } => with_dest!(d, [addr_src(addr), a], |dv, [offs, a]| on_memory!(
                space,
                addr,
                |m| mem::atom(set, m, addr, offs, op, ty, dv, a)
            )),
            Op::Cas {
                space,
                ty,
                d,
                addr,
                a,
                b,
            } => with_dest!(d, [addr_src(addr), a, b], |dv, [offs, a, b]| on_memory!(
                space,
                addr,
                |m| mem::cas(set, m, addr, offs, ty, dv, a, b)
            )),
            Op::Bra { .. } | Op::Bar | Op::Exit => Ok(()),
        }
    }
}

/// What sources need to be read: the launch and the block's position.
struct SrcCtx<'l, 'a> {
    launch: &'l BlockLaunch<'a>,
    pos: Unit,
    tid: &'l [Vec<u64>; 4],
}

/// Narrow register `r`'s 32-bit lanes: its vector, or the frozen buffer it
/// was loaded from.
fn lanes32_of<'s>(
    regs32: &'s [Vec<u64>],
    frozen32: &[Option<(u16, usize)>],
    launch: &'s BlockLaunch<'_>,
    r: usize,
) -> &'s [u32] {
    match frozen32[r] {
        Some((slot, first)) => {
            let elems = launch
                .access
                .frozen(slot as usize)
                .and_then(|f| f.elements32())
                .expect("a register is only a view of a buffer the launch froze");
            &elems[first..]
        }
        None => narrow::lanes32(&regs32[r]),
    }
}

/// Views of `K` source operands. A source that is the destination register
/// (which the caller has moved out of the file) is [`View::Dest`]; sources
/// that vary per lane but live nowhere in the register file (the special
/// registers `%tid`, `%laneid`, `%gid`) are computed into `scratch` first.
fn views<'s, const K: usize>(
    ctx: &SrcCtx<'_, '_>,
    regs: &'s [Vec<u64>],
    scratch: &'s mut [Vec<u64>],
    dest: Option<u8>,
    srcs: [Src; K],
) -> [View<'s>; K] {
    let launch = ctx.launch;
    let shape = ctx.pos.shape;
    let n = shape.lanes();
    for (k, s) in srcs.iter().enumerate() {
        let out = &mut scratch[k];
        match *s {
            Src::Special(Special::Tid(a)) => {
                out.clear();
                out.extend_from_slice(&ctx.tid[a as usize]);
            }
            Src::Special(Special::LaneId) => {
                out.clear();
                out.extend_from_slice(&ctx.tid[3]);
            }
            Src::Special(Special::Gid) => {
                // Lane L is lane L % n of block first + L / n.
                let base = ctx.pos.first.wrapping_mul(shape.n as u64);
                out.resize(n, 0);
                for (l, o) in out.iter_mut().enumerate() {
                    *o = base.wrapping_add(l as u64);
                }
            }
            Src::Special(Special::Ctaid(a)) if shape.k > 1 => {
                out.clear();
                for j in 0..shape.k as u64 {
                    let c = launch.spec.grid.unflatten(ctx.pos.first + j).get(a);
                    out.extend(std::iter::repeat_n(c as u64, shape.n));
                }
            }
            _ => {}
        }
    }
    let scratch: &'s [Vec<u64>] = scratch;
    let spec = launch.spec;
    std::array::from_fn(|k| match srcs[k] {
        Src::Reg(r) if dest == Some(r) => View::Dest,
        Src::Reg(r) => View::Lanes(&regs[r as usize]),
        Src::Imm(v) => View::Splat(v),
        Src::Param(p) => View::Splat(spec.args.scalars[p as usize]),
        Src::Special(Special::Tid(_) | Special::LaneId | Special::Gid) => View::Lanes(&scratch[k]),
        Src::Special(Special::Ntid(a)) => View::Splat(spec.block.get(a) as u64),
        Src::Special(Special::Ctaid(_)) if shape.k > 1 => View::Lanes(&scratch[k]),
        Src::Special(Special::Ctaid(a)) => {
            View::Splat(spec.grid.unflatten(ctx.pos.first).get(a) as u64)
        }
        Src::Special(Special::Nctaid(a)) => View::Splat(spec.grid.get(a) as u64),
    })
}

/// Runs a whole launch on the calling thread with one [`BlockState`].
pub fn run(spec: &LaunchSpec<'_>) -> Result<(), Box<Fault>> {
    let launch = BlockLaunch::new(spec);
    let mut state = BlockState::new();
    state.run_blocks(&launch, 0..spec.block_count())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::StopFlag;
    use crate::launch::BoundArgs;

    #[test]
    fn a_workers_state_does_not_grow_with_the_grid() {
        // One unit per 8 blocks of 1024 lanes; before, every unit that
        // ended converged left one more (empty) spare lane list behind, so
        // a launch's memory grew with its grid and with every launch.
        let program = crate::compile("t.lasm", ".kernel k\n    exit\n").unwrap();
        let args = BoundArgs {
            buffers: vec![],
            scalars: vec![],
        };
        let stop = StopFlag::new();
        let spec = LaunchSpec {
            kernel: &program.kernels[0],
            grid: Dim3::x(4096),
            block: Dim3::x(1024),
            args: &args,
            max_steps: 10,
            stop: &stop,
        };
        let launch = BlockLaunch::new(&spec);
        let mut state = BlockState::new();
        for _ in 0..4 {
            state.run_blocks(&launch, 0..4096).unwrap();
        }
        assert!(state.spare.len() <= 4, "{} spare lists", state.spare.len());
        assert!(state.groups.is_empty() && state.waiting.is_empty());
    }
}
