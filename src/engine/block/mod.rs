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
//!   run, every waiting lane is released past its barrier (ISA.md section 5:
//!   exited lanes do not count).
//! - **Steps**: a group counts its steps once per instruction; each lane keeps
//!   only its offset from its group's count, adjusted when groups merge. The
//!   rule is the reference engine's: every instruction a lane reaches is one
//!   step, guarded-off ones included; the step that would exceed the budget
//!   faults. (Budgets above `i64::MAX` behave as `i64::MAX`: unreachable.)
//! - **Faults** carry the same context as the reference engine's. When several
//!   lanes of a group fault on one instruction, the lowest lane is reported.

mod alu;
mod lanes;
mod mem;

use std::cell::Cell;
use std::ops::Range;

use lanes::{LaneSet, View};

use crate::engine::LaunchSpec;
use crate::kernel::{Instr, Kernel, Op, PredOp, Space, Special, Src};
use crate::launch::{Dim3, Fault, FaultKind};
use crate::memory::{AccessError, SharedMemory};

/// A kernel prepared for the block engine: registers renumbered densely.
#[derive(Debug, Clone)]
pub struct BlockProgram {
    instrs: Vec<Instr>,
    nregs: usize,
}

fn for_each_reg(op: &mut Op, f: &mut impl FnMut(&mut u8)) {
    let src = |s: &mut Src, f: &mut dyn FnMut(&mut u8)| {
        if let Src::Reg(r) = s {
            f(r)
        }
    };
    let addr = |a: &mut crate::kernel::Address, f: &mut dyn FnMut(&mut u8)| {
        if let Some(r) = &mut a.reg {
            f(r)
        }
    };
    match op {
        Op::Mov { d, a, .. }
        | Op::Cvt { d, a, .. }
        | Op::Not { d, a, .. }
        | Op::Sign { d, a, .. }
        | Op::Math { d, a, .. } => {
            f(d);
            src(a, f);
        }
        Op::Load { d, addr: ad, .. } => {
            f(d);
            addr(ad, f);
        }
        Op::Store { addr: ad, a, .. } => {
            addr(ad, f);
            src(a, f);
        }
        Op::Arith { d, a, b, .. } | Op::Div { d, a, b, .. } | Op::Bit { d, a, b, .. } => {
            f(d);
            src(a, f);
            src(b, f);
        }
        Op::Fma { d, a, b, c, .. } => {
            f(d);
            src(a, f);
            src(b, f);
            src(c, f);
        }
        Op::Setp { a, b, .. } => {
            src(a, f);
            src(b, f);
        }
        Op::Selp { d, a, b, .. } => {
            f(d);
            src(a, f);
            src(b, f);
        }
        Op::Atom { d, addr: ad, a, .. } => {
            f(d);
            addr(ad, f);
            src(a, f);
        }
        Op::Cas {
            d, addr: ad, a, b, ..
        } => {
            f(d);
            addr(ad, f);
            src(a, f);
            src(b, f);
        }
        Op::PredLogic { .. } | Op::PredNot { .. } | Op::Bra { .. } | Op::Bar | Op::Exit => {}
    }
}

impl BlockProgram {
    /// Prepares `kernel`.
    pub fn new(kernel: &Kernel) -> BlockProgram {
        let mut map = [u16::MAX; 256];
        let mut nregs = 0usize;
        let mut instrs = kernel.instrs.clone();
        for i in &mut instrs {
            for_each_reg(&mut i.op, &mut |r| {
                let slot = &mut map[*r as usize];
                if *slot == u16::MAX {
                    *slot = nregs as u16;
                    nregs += 1;
                }
                // At most 256 distinct registers, so the dense index fits u8.
                *r = *slot as u8;
            });
        }
        BlockProgram { instrs, nregs }
    }
}

/// One launch as the block engine sees it; shared by all workers.
#[derive(Debug)]
pub struct BlockLaunch<'a> {
    spec: &'a LaunchSpec<'a>,
    prog: BlockProgram,
    lanes: usize,
    /// `%tid.x/y/z` and `%laneid` per lane: the same in every block.
    tid: [Vec<u64>; 4],
    max_steps: u64,
}

impl<'a> BlockLaunch<'a> {
    /// Prepares a launch.
    pub fn new(spec: &'a LaunchSpec<'a>) -> BlockLaunch<'a> {
        let lanes = spec.lanes_per_block();
        let mut tid: [Vec<u64>; 4] = Default::default();
        for l in 0..lanes {
            let t = spec.block.unflatten(l as u64);
            tid[0].push(t.x as u64);
            tid[1].push(t.y as u64);
            tid[2].push(t.z as u64);
            tid[3].push(l as u64);
        }
        BlockLaunch {
            spec,
            prog: BlockProgram::new(spec.kernel),
            lanes,
            tid,
            max_steps: spec.max_steps.min(i64::MAX as u64),
        }
    }

    /// The launch's spec.
    pub fn spec(&self) -> &LaunchSpec<'a> {
        self.spec
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
    regs: Vec<u64>,
    preds: Vec<u16>,
    step_off: Vec<i64>,
    scratch: Vec<u64>,
    shared: SharedMemory,
    groups: Vec<Group>,
    waiting: Vec<Group>,
    filter: Vec<u16>,
    spare: Vec<Vec<u16>>,
}

/// Where in the grid a block is.
#[derive(Clone, Copy)]
struct BlockPos {
    linear: u64,
    ctaid: Dim3,
}

/// A lane's fault inside an instruction.
type LaneFault = (usize, FaultKind);

impl BlockState {
    /// Fresh state; buffers grow to fit the first launch.
    pub fn new() -> BlockState {
        BlockState::default()
    }

    /// Runs blocks `blocks` (linear indices) of `launch`.
    pub fn run_blocks(
        &mut self,
        launch: &BlockLaunch<'_>,
        blocks: Range<u64>,
    ) -> Result<(), Box<Fault>> {
        for b in blocks {
            self.run_block(launch, b)?;
        }
        Ok(())
    }

    fn take_vec(&mut self) -> Vec<u16> {
        let mut v = self.spare.pop().unwrap_or_default();
        v.clear();
        v
    }

    fn run_block(&mut self, launch: &BlockLaunch<'_>, linear: u64) -> Result<(), Box<Fault>> {
        let n = launch.lanes;
        let pos = BlockPos {
            linear,
            ctaid: launch.spec.grid.unflatten(linear),
        };
        self.regs.clear();
        self.regs.resize(launch.prog.nregs * n, 0);
        self.preds.clear();
        self.preds.resize(n, 0);
        self.step_off.clear();
        self.step_off.resize(n, 0);
        self.scratch.resize(3 * n, 0);
        self.shared.reset(launch.spec.kernel.shared_bytes as usize);
        while let Some(g) = self.groups.pop() {
            self.spare.push(g.lanes);
        }
        while let Some(g) = self.waiting.pop() {
            self.spare.push(g.lanes);
        }
        let mut all = self.take_vec();
        all.extend(0..n as u16);
        self.groups.push(Group {
            pc: 0,
            lanes: all,
            count: 0,
            max_off: 0,
        });
        let instrs = &launch.prog.instrs;
        loop {
            if self.groups.is_empty() {
                if self.waiting.is_empty() {
                    return Ok(());
                }
                // Every live lane waits at a barrier: release them all.
                let waiting = std::mem::take(&mut self.waiting);
                for mut g in waiting {
                    g.pc += 1;
                    self.insert(g);
                }
                continue;
            }
            let gi = (0..self.groups.len())
                .min_by_key(|&i| self.groups[i].pc)
                .unwrap_or(0);
            let mut g = self.groups.swap_remove(gi);
            let Some(instr) = instrs.get(g.pc) else {
                // Ran past the end: these lanes exit.
                self.spare.push(g.lanes);
                continue;
            };
            if let Err((lane, kind)) = self.count_step(&mut g, launch.max_steps) {
                return Err(self.fault(launch, pos, lane, g.pc, kind));
            }
            // Which lanes of the group the guard lets through.
            let partial = match instr.guard {
                None => false,
                Some(guard) => {
                    let mut f = std::mem::take(&mut self.filter);
                    f.clear();
                    f.extend(
                        g.lanes
                            .iter()
                            .copied()
                            .filter(|&l| guard.passes(self.preds[l as usize])),
                    );
                    let partial = f.len() != g.lanes.len();
                    self.filter = f;
                    if partial && self.filter.is_empty() {
                        g.pc += 1;
                        self.insert(g);
                        continue;
                    }
                    partial
                }
            };
            match instr.op {
                Op::Bra { target } => {
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
                    self.insert(g);
                }
                Op::Exit => {
                    if partial {
                        let gone = self.split_off(&mut g);
                        self.spare.push(gone);
                        g.pc += 1;
                        self.insert(g);
                    } else {
                        self.spare.push(g.lanes);
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
                        self.insert(g);
                    } else {
                        self.wait(g);
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
                    self.insert(g);
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
        let mut taken = self.take_vec();
        taken.extend_from_slice(&self.filter);
        let filter = &self.filter;
        let mut fi = 0;
        g.lanes.retain(|&l| {
            if fi < filter.len() && filter[fi] == l {
                fi += 1;
                false
            } else {
                true
            }
        });
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
        for &l in &from.lanes {
            self.step_off[l as usize] += delta;
        }
        into.max_off = into.max_off.max(from.max_off + delta);
        let mut merged = self.take_vec();
        let (a, b) = (&into.lanes, &from.lanes);
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
        self.spare.push(old);
        self.spare.push(from.lanes);
    }

    fn fault(
        &self,
        launch: &BlockLaunch<'_>,
        pos: BlockPos,
        lane: usize,
        pc: usize,
        kind: FaultKind,
    ) -> Box<Fault> {
        let k = launch.spec.kernel;
        let src = &k.lines[pc.min(k.lines.len().saturating_sub(1))];
        Box::new(Fault {
            kernel: k.name.clone(),
            block: pos.ctaid,
            lane: launch.spec.block.unflatten(lane as u64),
            instr: pc,
            line: src.line,
            source: src.text.clone(),
            kind,
        })
    }

    /// Runs one non-control instruction for the lanes in `set`.
    fn exec(
        &mut self,
        launch: &BlockLaunch<'_>,
        pos: BlockPos,
        op: Op,
        set: LaneSet<'_>,
    ) -> Result<(), LaneFault> {
        let n = launch.lanes;
        let spec = launch.spec;
        let regs = Cell::from_mut(&mut self.regs[..]).as_slice_of_cells();
        let scratch = Cell::from_mut(&mut self.scratch[..]).as_slice_of_cells();
        let preds = &mut self.preds;
        let reg = |r: u8| &regs[r as usize * n..(r as usize + 1) * n];
        let mut slot = 0;
        let mut view = |s: Src| -> View<'_> {
            match s {
                Src::Reg(r) => View::Lanes(reg(r)),
                Src::Imm(v) => View::Splat(v),
                Src::Param(p) => View::Splat(spec.args.scalars[p as usize]),
                Src::Special(sp) => {
                    let out = &scratch[slot * n..(slot + 1) * n];
                    slot += 1;
                    match sp {
                        Special::Tid(a) => View::Splat(0).fill_from(out, &launch.tid[a as usize]),
                        Special::LaneId => View::Splat(0).fill_from(out, &launch.tid[3]),
                        Special::Gid => {
                            let base = pos.linear.wrapping_mul(n as u64);
                            for (l, c) in out.iter().enumerate() {
                                c.set(base.wrapping_add(l as u64));
                            }
                            View::Lanes(out)
                        }
                        Special::Ntid(a) => View::Splat(spec.block.get(a) as u64),
                        Special::Ctaid(a) => View::Splat(pos.ctaid.get(a) as u64),
                        Special::Nctaid(a) => View::Splat(spec.grid.get(a) as u64),
                    }
                }
            }
        };
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
        let shared = &self.shared;
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
                .map_err(|e| access_fault($space, $addr.buffer, e))?
            };
        }
        let offsets = |addr: crate::kernel::Address| match addr.reg {
            Some(r) => View::Lanes(reg(r)),
            None => View::Splat(0),
        };
        match op {
            Op::Mov { ty, d, a } => alu::mov(set, ty, reg(d), view(a)),
            Op::Arith { op, ty, d, a, b } => {
                let (a, b) = (view(a), view(b));
                alu::arith(set, op, ty, reg(d), a, b)
            }
            Op::Div { op, ty, d, a, b } => {
                let (a, b) = (view(a), view(b));
                alu::div(set, op, ty, reg(d), a, b).map_err(|l| (l, FaultKind::DivisionByZero))?
            }
            Op::Fma { ty, d, a, b, c } => {
                let (a, b, c) = (view(a), view(b), view(c));
                alu::fma(set, ty, reg(d), a, b, c)
            }
            Op::Bit { op, ty, d, a, b } => {
                let (a, b) = (view(a), view(b));
                alu::bit(set, op, ty, reg(d), a, b)
            }
            Op::Not { ty, d, a } => alu::not(set, ty, reg(d), view(a)),
            Op::Sign { op, ty, d, a } => alu::sign(set, op, ty, reg(d), view(a)),
            Op::Math { op, ty, d, a } => alu::math(set, op, ty, reg(d), view(a)),
            Op::Cvt { to, from, d, a } => alu::cvt(set, to, from, reg(d), view(a)),
            Op::Setp { cmp, ty, p, a, b } => {
                let (a, b) = (view(a), view(b));
                alu::setp(set, cmp, ty, preds, p, a, b)
            }
            Op::Selp { ty, d, a, b, p } => {
                let (a, b) = (view(a), view(b));
                alu::selp(set, ty, reg(d), a, b, preds, p)
            }
            Op::PredLogic { op, d, a, b } => set.for_each(|l| {
                let w = preds[l];
                let (x, y) = ((w >> a) & 1, (w >> b) & 1);
                let v = match op {
                    PredOp::And => x & y,
                    PredOp::Or => x | y,
                    PredOp::Xor => x ^ y,
                };
                preds[l] = (w & !(1 << d)) | (v << d);
            }),
            Op::PredNot { d, a } => set.for_each(|l| {
                let w = preds[l];
                let v = !(w >> a) & 1;
                preds[l] = (w & !(1 << d)) | (v << d);
            }),
            Op::Load { space, ty, d, addr } => {
                on_memory!(space, addr, |m| mem::load(
                    set,
                    m,
                    addr,
                    offsets(addr),
                    ty,
                    reg(d)
                ))
            }
            Op::Store { space, ty, addr, a } => {
                let a = view(a);
                on_memory!(space, addr, |m| mem::store(
                    set,
                    m,
                    addr,
                    offsets(addr),
                    ty,
                    a
                ))
            }
            Op::Atom {
                space,
                op,
                ty,
                d,
                addr,
                a,
            } => {
                let a = view(a);
                let d = reg(d);
                on_memory!(space, addr, |m| mem::atom(
                    set,
                    m,
                    addr,
                    offsets(addr),
                    op,
                    ty,
                    d,
                    a
                ))
            }
            Op::Cas {
                space,
                ty,
                d,
                addr,
                a,
                b,
            } => {
                let (a, b) = (view(a), view(b));
                let d = reg(d);
                on_memory!(space, addr, |m| mem::cas(
                    set,
                    m,
                    addr,
                    offsets(addr),
                    ty,
                    d,
                    a,
                    b
                ))
            }
            Op::Bra { .. } | Op::Bar | Op::Exit => {}
        }
        Ok(())
    }
}

impl<'a> View<'a> {
    /// Copies `values` into `out` and views it.
    fn fill_from(self, out: &'a [Cell<u64>], values: &[u64]) -> View<'a> {
        for (c, &v) in out.iter().zip(values) {
            c.set(v);
        }
        View::Lanes(out)
    }
}

/// Runs a whole launch on the calling thread with one [`BlockState`].
pub fn run(spec: &LaunchSpec<'_>) -> Result<(), Box<Fault>> {
    let launch = BlockLaunch::new(spec);
    let mut state = BlockState::new();
    state.run_blocks(&launch, 0..spec.block_count())
}
