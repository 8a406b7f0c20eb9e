//! Barriers met in lockstep (`shape::lockstep`): every live lane of the
//! block waits at the same `bar.sync` whenever it waits, so a pass over
//! the block's gangs runs one stretch between barriers (PoCL's regions):
//!
//! ```text
//! for phase in 0..:
//!     for gang in gangs with live lanes:
//!         restore what crosses the barrier, resume after barrier `at`
//!         (the start in phase 0), run until the gang's live lanes reach
//!         barrier `next` (all of them: keep the gang's live lanes and
//!         what crosses it) or exit (the gang is done)
//!     no gang waits: next block; else at = next
//! ```
//!
//! An exit works the same way at the block's end: when a gang's run since
//! it resumed was pure and all its live lanes take an exit whose guard
//! compares the lane's index with an invariant so that every later lane
//! takes it too (`%tid.x >= s`; `%tid.x != 0` once past lane 0; no guard),
//! the later gangs would run the same code to it and exit: the block's
//! gangs end at this one (`gangs`) and the pass ends. block_sum's last
//! pass, where every lane but lane 0 exits, visits two gangs instead of
//! all 64. A run that passed a branch that may shorten the pass does not
//! count (the later gangs may have taken that branch to a barrier).
//!
//! A tree level written with guards rather than a branch (the library's
//! reductions: `@p ld`, `@p add`, `@p st` with `p = %tid.x < h`, then
//! `bar.sync`) ends a pass the same way (`Trips::guarded`): when the
//! block's unguarded instructions write nothing that crosses the barrier
//! (but invariants) and a gang whose run since it resumed was pure reaches
//! the barrier without any live lane having run the guarded ones, every
//! later gang would do the same, so the pass ends there. `sum` 1M 0.94-0.95
//! -> 0.42 ms, softmax 1M 5.2-5.3 -> 4.3 ms (`lanes bench`, two rounds,
//! old and new binaries in turns).
//!
//! A gang's record keeps its live lanes (one word, not one per barrier)
//! and its registers that cross a barrier, except block-invariant ones:
//! those are the same for every gang, so they stay in machine registers,
//! copied (`next`) when a gang reaches the barrier and given back to each
//! gang at the start of the next pass (`snap`): a gang may redefine them
//! before the next one runs, or exit before it defines them. Registers
//! that hold a function of the lane's index alone wherever a gang resumes
//! (block_sum's `%tid.x` and `%tid.x * 4`: `Remat`) stay out of the record
//! too: a resuming gang runs their instructions again (block_sum 1M on one
//! thread 2.2 -> 1.9 ms: every visit of a gang stored both at its barrier
//! and loaded them when it resumed).
//!
//! A block's first pass, when the kernel's first basic block ends at an
//! unguarded barrier (straight-line code up to it: block_sum's loads into
//! shared memory), runs in a gang loop of its own (`first_stretch_loop`):
//! every gang starts there, so the loop has no test of whether the pass
//! resumes and no resume dispatch, and since every gang reaches that one
//! barrier with the same invariants, the pass state is written once after
//! the loop rather than by every gang. A gang that leaves the full version
//! (a run that fails its check, a partial last gang) goes on in the
//! general version and the pass's later gangs in the shared loop, whose
//! arrivals write the pass state as before. block_sum 2.10M -> 1.92M
//! instructions a launch of 256 blocks (`benches/jit_count.sh`).
//!
//! Lockstep needs no step counting (the kernel's loops provably end within
//! the budget): a lane's steps would be its gang's, but lanes that wait
//! inside a stretch would need the per-lane bookkeeping of the general
//! scheme.

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{
    BlockCall, InstBuilder, JumpTableData, MemFlagsData, StackSlot, Value, types,
};
use cranelift_frontend::Variable;

use super::vector;
use super::{GPred, Gang, Slot};
use crate::engine::jit::analysis::Analysis;
use crate::engine::jit::loops::writes_pred;
use crate::engine::jit::shape::Invariant;
use crate::kernel::flow::{pred_id, written_reg};
use crate::kernel::{ArithOp, BitOp, CmpOp, Kernel, Op, Reg, Special, Src};
use crate::launch::Dim3;

/// The lockstep state of a translation.
pub(super) struct Lockstep {
    /// Per block-invariant register that crosses a barrier: the register,
    /// its value for the current pass (`snap`), and the offset in `pass`
    /// of the value the gangs that reached the barrier left.
    pub snaps: Vec<(Reg, Variable, i32)>,
    /// The barrier the current pass resumes after (`I32`).
    pub at: Variable,
    /// What the gangs of a pass leave for the next one, in memory rather
    /// than in variables (each gang's arrival a store or two, where
    /// variables set by every gang became values carried around the gang
    /// loop, which the register allocator spilled and copied on every
    /// visit): whether any gang reached a barrier (`I8` at
    /// [`PASS_ANY`]), the barrier (`I32` at [`PASS_NEXT`]), the invariant
    /// registers' values (`snaps`); and whether the pass resumes gangs
    /// ([`PASS_RESUMING`]), tested at every gang's start.
    pub pass: StackSlot,
    /// Per basic block: pure (see the module docs).
    pub pure: Vec<bool>,
    /// Per basic block ending in a branch that may shorten the pass: its
    /// target and the barrier that target is.
    pub skips: Vec<Option<(usize, usize)>>,
    /// Per basic block ending in an unguarded barrier whose effects are
    /// all guarded by one comparison of the lane's index that later lanes
    /// fail (a tree level written with guards instead of a branch): the
    /// guard and the barrier ([`Trips::guarded`]).
    pub guarded: Vec<Option<(crate::kernel::Guard, usize)>>,
    /// The gang has run only pure blocks since it resumed (`I8`).
    pub pure_run: Variable,
    /// Per basic block ending in an exit that may end the block's later
    /// gangs: which lanes take it.
    pub tails: Vec<Option<Taken>>,
    /// The gang has run only pure blocks and such exits since it resumed,
    /// and no branch that may shorten the pass (`I8`).
    pub tail_run: Variable,
    /// After the pass over the block's gangs.
    pub pass_end: cranelift_codegen::ir::Block,
    /// What a gang runs again when it resumes ([`Remat::defs`]).
    pub remat: Vec<usize>,
    /// Arrivals leave the pass state to the end of the loop being
    /// emitted (`Gang::first_stretch_loop`).
    pub reach_after_loop: bool,
}

// Offsets in [`Lockstep::pass`]:
/// Whether any gang of the pass reached a barrier (`I8`).
pub(super) const PASS_ANY: i32 = 0;
/// Whether the pass resumes gangs after a barrier (`I8`; zero in a
/// block's first pass, whose gangs start).
pub(super) const PASS_RESUMING: i32 = 1;
/// The barrier the pass's gangs reached (`I32`).
pub(super) const PASS_NEXT: i32 = 4;
/// The block's gangs that may still have live lanes: `0..gangs` (`I64`;
/// set once an exit ends the later ones), the bound of every gang loop.
pub(super) const PASS_GANGS: i32 = 8;
/// The first invariant register's value (8 bytes each).
pub(super) const PASS_SNAPS: i32 = 16;

/// The lanes that take a branch or an exit whose guard compares the
/// lane's index with a block-invariant value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Taken {
    /// Every lane (no guard).
    All,
    /// The lanes from some index on.
    Upward,
    /// Every lane but the one whose index is this constant.
    Except(u64),
}

/// What [`shortened_trips`] finds, per basic block.
pub(super) struct Trips {
    /// Pure (see the module docs).
    pub pure: Vec<bool>,
    /// Ending in a branch that may shorten the pass: its target and the
    /// barrier that target is.
    pub skips: Vec<Option<(usize, usize)>>,
    /// Ending in an exit that may end the block's later gangs: which
    /// lanes take it.
    pub tails: Vec<Option<Taken>>,
    /// Ending in an unguarded barrier, every instruction before it either
    /// harmless (unguarded) or guarded by one guard, after the last write
    /// of its predicate, that the lanes from some index on fail: the guard
    /// and the barrier. A gang of such a block none of whose lanes runs
    /// the guarded instructions, after a pure run, reaches the barrier
    /// having changed nothing that crosses it, and so would every later
    /// gang: the pass ends there (the library's reductions: a tree level
    /// visits the gangs that hold its lanes and one more, not all 64).
    pub guarded: Vec<Option<(crate::kernel::Guard, usize)>>,
}

/// Which blocks are pure, which end in a branch that may shorten a pass,
/// and which in an exit that may end the block's later gangs (see the
/// module docs).
pub(super) fn shortened_trips(
    kernel: &Kernel,
    an: &Analysis,
    inv: &Invariant,
    block: Dim3,
) -> Trips {
    let spilled = |id: u16| {
        an.spilled.iter().any(|&r| r as u16 == id)
            || an.spilled_preds.iter().any(|&p| pred_id(p) == id)
    };
    let harmless = |i: &crate::kernel::Instr| {
        if matches!(
            i.op,
            Op::Load { .. }
                | Op::Store { .. }
                | Op::Atom { .. }
                | Op::Cas { .. }
                | Op::Div { .. }
                | Op::Bar
                | Op::Exit
                | Op::Bra { .. }
        ) {
            return false;
        }
        let written = match i.op {
            Op::Setp { p, .. } | Op::PredLogic { d: p, .. } | Op::PredNot { d: p, .. } => {
                Some((pred_id(p), inv.preds[p as usize]))
            }
            _ => written_reg(&i.op).map(|(d, _)| (d as u16, inv.regs[d as usize])),
        };
        written.is_none_or(|(id, invariant)| invariant || !spilled(id))
    };
    let pure: Vec<bool> = an
        .blocks
        .iter()
        .map(|bb| {
            let last = &kernel.instrs[bb.end - 1];
            kernel.instrs[bb.start..bb.end - 1].iter().all(harmless)
                && match last.op {
                    Op::Bra { .. } => last.guard.is_none_or(|g| inv.preds[g.pred as usize]),
                    _ => harmless(last),
                }
        })
        .collect();
    let lane_index = |s: Src| match s {
        Src::Special(Special::LaneId) => true,
        Src::Special(Special::Tid(0)) => block.y == 1 && block.z == 1,
        Src::Reg(r) => lane_index_reg(kernel, an, r, block),
        _ => false,
    };
    // Where the lanes that take guard `g` at the end of `body` lie, when
    // the guard is a comparison of the lane's index with an invariant.
    let taken = |body: &[crate::kernel::Instr], g: crate::kernel::Guard| {
        let set = body.iter().rposition(|i| writes_pred(&i.op, g.pred))?;
        let Op::Setp { cmp, ty, a, b, .. } = body[set].op else {
            return None;
        };
        if body[set].guard.is_some() || !ty.is_int() || ty.bits() < 32 {
            return None;
        }
        let (lane_first, other) = match (lane_index(a) && inv.src(b), lane_index(b) && inv.src(a)) {
            (true, _) => (true, b),
            (_, true) => (false, a),
            _ => return None,
        };
        // Whether the lanes where p holds are those from some index on.
        let p_upward = matches!(
            (lane_first, cmp),
            (true, CmpOp::Gt | CmpOp::Ge) | (false, CmpOp::Lt | CmpOp::Le)
        );
        let p_downward = matches!(cmp, CmpOp::Lt | CmpOp::Le | CmpOp::Gt | CmpOp::Ge) && !p_upward;
        // Taken where the guard holds: p, or not p.
        let (upward, except) = if g.negated {
            (p_downward, cmp == CmpOp::Eq)
        } else {
            (p_upward, cmp == CmpOp::Ne)
        };
        match other {
            _ if upward => Some(Taken::Upward),
            // Every lane but the one whose index is the constant `u`.
            Src::Imm(u) if except => Some(Taken::Except(u)),
            _ => None,
        }
    };
    let skips = an
        .blocks
        .iter()
        .map(|bb| {
            let last = &kernel.instrs[bb.end - 1];
            let (Op::Bra { target }, Some(g)) = (last.op, last.guard) else {
                return None;
            };
            let body = &kernel.instrs[bb.start..bb.end - 1];
            if !body.iter().all(harmless) {
                return None;
            }
            let s = an.block_starting(target as usize)?;
            let bar = &kernel.instrs[an.blocks[s].start];
            if !matches!(bar.op, Op::Bar) || bar.guard.is_some() {
                return None;
            }
            let j = an.barriers.iter().position(|&b| b == an.blocks[s].start)?;
            (taken(body, g)? == Taken::Upward).then_some((s, j))
        })
        .collect();
    let leaves = |t: u32| t as usize >= kernel.instrs.len();
    let tails = an
        .blocks
        .iter()
        .map(|bb| {
            let last = &kernel.instrs[bb.end - 1];
            match last.op {
                Op::Exit => {}
                Op::Bra { target } if leaves(target) => {}
                _ => return None,
            }
            let body = &kernel.instrs[bb.start..bb.end - 1];
            if !body.iter().all(harmless) {
                return None;
            }
            match last.guard {
                None => Some(Taken::All),
                Some(g) => taken(body, g),
            }
        })
        .collect();
    let guarded = an
        .blocks
        .iter()
        .map(|bb| {
            let last = &kernel.instrs[bb.end - 1];
            if !matches!(last.op, Op::Bar) || last.guard.is_some() {
                return None;
            }
            let j = an.barriers.iter().position(|&b| b == bb.end - 1)?;
            let body = &kernel.instrs[bb.start..bb.end - 1];
            let first = body.iter().position(|i| i.guard.is_some())?;
            let g = body[first].guard?;
            let fits = body.iter().enumerate().all(|(at, i)| match i.guard {
                // The same guard, its predicate no longer written.
                Some(h) => h == g && !writes_pred(&i.op, g.pred),
                None => harmless(i) && (at < first || !writes_pred(&i.op, g.pred)),
            });
            if !fits {
                return None;
            }
            // The lanes that skip the guarded instructions: from some
            // index on.
            let skip = crate::kernel::Guard {
                pred: g.pred,
                negated: !g.negated,
            };
            (taken(&body[..first], skip)? == Taken::Upward).then_some((g, j))
        })
        .collect();
    Trips {
        pure,
        skips,
        tails,
        guarded,
    }
}

/// The only instruction that writes register `r`, if one does.
fn single_def(kernel: &Kernel, r: Reg) -> Option<usize> {
    let mut writes = kernel
        .instrs
        .iter()
        .enumerate()
        .filter(|(_, i)| written_reg(&i.op).is_some_and(|(d, _)| d == r))
        .map(|(pc, _)| pc);
    match (writes.next(), writes.next()) {
        (Some(pc), None) => Some(pc),
        _ => None,
    }
}

/// Whether register `r` holds the lane's index in the block wherever it is
/// read: written once, unguarded, in the entry block, from `%laneid` (or
/// `%tid.x` in a flat block), as a type of at least 32 bits.
fn lane_index_reg(kernel: &Kernel, an: &Analysis, r: Reg, block: Dim3) -> bool {
    lane_index_def(kernel, an, r, block).is_some()
}

/// The instruction that writes lane-index register `r` ([`lane_index_reg`]).
fn lane_index_def(kernel: &Kernel, an: &Analysis, r: Reg, block: Dim3) -> Option<usize> {
    let pc = single_def(kernel, r)?;
    let i = kernel.instrs[pc];
    let entry = an.blocks.first().is_some_and(|b| pc < b.end);
    let from_lane = match i.op {
        Op::Mov {
            ty,
            a: Src::Special(sp),
            ..
        } => {
            ty.is_int()
                && ty.bits() >= 32
                && (sp == Special::LaneId
                    || (sp == Special::Tid(0) && block.y == 1 && block.z == 1))
        }
        _ => false,
    };
    (entry && i.guard.is_none() && from_lane).then_some(pc)
}

/// Whether every path from the kernel's start to a barrier runs
/// instruction `pc` first.
fn runs_before_every_barrier(an: &Analysis, pc: usize) -> bool {
    let Some(d) = an.block_of(pc) else {
        return false;
    };
    if d == 0 {
        return true;
    }
    // The blocks reached from the start without passing `d`: none may
    // end at a barrier.
    let mut seen = vec![false; an.blocks.len()];
    let mut todo = vec![0];
    seen[0] = true;
    while let Some(b) = todo.pop() {
        if an.ends_at_barrier(b) {
            return false;
        }
        for s in an.succs[b].iter().flatten().copied() {
            if s != d && !seen[s] {
                seen[s] = true;
                todo.push(s);
            }
        }
    }
    true
}

/// Whether every path from block `to` back to block `from` passes a
/// barrier: then, in lockstep, a gang takes the back edge `from -> to` at
/// most once a pass (it stops at the barrier, and the pass ends), and the
/// pass's own stop-flag check stands for the edge's.
pub(super) fn barrier_on_every_cycle(an: &Analysis, from: usize, to: usize) -> bool {
    let mut seen = vec![false; an.blocks.len()];
    let mut todo = vec![to];
    seen[to] = true;
    while let Some(b) = todo.pop() {
        if an.ends_at_barrier(b) {
            continue; // the gang stops here until the next pass
        }
        if b == from {
            return false;
        }
        for s in an.succs[b].iter().flatten().copied() {
            if !seen[s] {
                seen[s] = true;
                todo.push(s);
            }
        }
    }
    true
}

/// What a gang recomputes when it resumes instead of keeping it in its
/// record: the registers that cross a barrier and hold a function of the
/// lane's index alone wherever a gang resumes (block_sum's `%tid.x` and
/// `%tid.x * 4`), and the instructions that compute them.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Remat {
    /// Left out of the record.
    pub regs: Vec<Reg>,
    /// Run again, in this order, when a gang resumes: each is the only
    /// write of its register, unguarded, of the lane's index (a lane-index
    /// register: `lane_index_reg`) or of a lane-index register and an
    /// immediate or a parameter (`shl`, `mul`, `add`), and every path from
    /// the kernel's start to a barrier runs it (so wherever a gang
    /// resumes, it ran, and the register holds what it computes).
    pub defs: Vec<usize>,
}

/// The registers a gang recomputes when it resumes ([`Remat`]).
pub(super) fn rematerialized(kernel: &Kernel, an: &Analysis, block: Dim3) -> Remat {
    let mut remat = Remat::default();
    for &r in &an.spilled {
        if let Some(pc) = lane_index_def(kernel, an, r, block) {
            remat.regs.push(r);
            remat.defs.push(pc);
            continue;
        }
        let Some(pc) = single_def(kernel, r) else {
            continue;
        };
        let i = kernel.instrs[pc];
        let operands = match i.op {
            Op::Bit {
                op: BitOp::Shl,
                a,
                b,
                ..
            } => Some((a, b)),
            Op::Arith {
                op: ArithOp::Mul | ArithOp::Add,
                ty,
                a,
                b,
                ..
            } if ty.is_int() => Some((a, b)),
            _ => None,
        };
        let Some((a, b)) = operands else {
            continue;
        };
        let lane = |s: Src| match s {
            Src::Reg(t) if t != r => lane_index_def(kernel, an, t, block).filter(|&d| d < pc),
            _ => None,
        };
        let fixed = |s: Src| matches!(s, Src::Imm(_) | Src::Param(_));
        let source = match (lane(a), lane(b)) {
            (Some(d), _) if fixed(b) => Some(d),
            (_, Some(d)) if fixed(a) && !matches!(i.op, Op::Bit { .. }) => Some(d),
            _ => None,
        };
        if let Some(d) = source
            && i.guard.is_none()
            && runs_before_every_barrier(an, pc)
        {
            remat.regs.push(r);
            remat.defs.extend([d, pc]);
        }
    }
    remat.defs.sort_unstable();
    remat.defs.dedup();
    remat
}

impl Gang<'_> {
    fn lock(&self) -> &Lockstep {
        self.lock
            .as_ref()
            .expect("lockstep code is emitted only in lockstep")
    }

    fn lock_mut(&mut self) -> &mut Lockstep {
        self.lock
            .as_mut()
            .expect("lockstep code is emitted only in lockstep")
    }

    /// Whether a lockstep block's first pass runs a loop of its own
    /// ([`Gang::first_stretch_loop`]): the kernel's first basic block ends
    /// at an unguarded barrier (the first stretch is straight-line code)
    /// and there is a full version.
    pub(super) fn first_stretch(&self) -> bool {
        let Some(bb) = self.an.blocks.first() else {
            return false;
        };
        let last = &self.kernel.instrs[bb.end - 1];
        self.lock.is_some()
            && !self.bbs_full.is_empty()
            && self.part != super::Part::Hot
            && matches!(last.op, Op::Bar)
            && last.guard.is_none()
    }

    /// A block's first pass when its first stretch is straight-line code
    /// ending at a barrier ([`Gang::first_stretch`]): a loop over the
    /// gangs of its own, with no test of whether the pass resumes gangs
    /// and no resume dispatch. A gang that leaves the full version goes
    /// on in the general one, and the rest of the pass in the shared gang
    /// loop (its gangs start: the pass does not resume).
    pub(super) fn first_stretch_loop(
        &mut self,
        l: &super::GangLoop,
        pass_end: cranelift_codegen::ir::Block,
    ) {
        self.b.switch_to_block(l.start);
        self.lockstep_runs(false);
        let blocks = self
            .an
            .blocks
            .iter()
            .map(|_| self.b.create_block())
            .collect();
        let saved = std::mem::replace(&mut self.bbs_full, blocks);
        // (The stretch has no exit; were there one, a gang whose lanes all
        // left would end as in the shared loop, `gang_end`.)
        let shared_next = std::mem::replace(&mut self.gang_next, l.gang_next);
        // Every gang reaches the same barrier with the same invariants:
        // the pass state is written once, after the loop, unless the
        // barrier's block may end the pass itself (`Lockstep::guarded`).
        let k = self
            .an
            .barriers
            .iter()
            .position(|&b| b == self.an.blocks[0].end - 1);
        let once = k.filter(|_| self.lock().guarded[0].is_none());
        self.lock_mut().reach_after_loop = once.is_some();
        self.full = true;
        self.start_gang(true);
        self.basic_block(0);
        self.full = false;
        self.lock_mut().reach_after_loop = false;
        self.gang_next = shared_next;
        self.bbs_full = saved;
        self.b.switch_to_block(l.gang_next);
        // (The first pass: no exit has ended gangs yet.)
        let gang = self.advance_gang();
        let more = self.within_block(gang);
        match once {
            Some(k) => {
                let last = self.b.create_block();
                self.b.ins().brif(more, l.start, &[], last, &[]);
                self.b.switch_to_block(last);
                self.lockstep_reach(k);
                self.b.ins().jump(pass_end, &[]);
            }
            None => {
                self.b.ins().brif(more, l.start, &[], pass_end, &[]);
            }
        }
    }

    /// A gang's run begins: `pure_run` and `tail_run` start as `resumed`
    /// (a gang resuming after a barrier begins a run that may shorten the
    /// pass; one that starts does not).
    pub(super) fn lockstep_runs(&mut self, resumed: bool) {
        let (pure_run, tail_run) = (self.lock().pure_run, self.lock().tail_run);
        let v = self.b.ins().iconst(types::I8, i64::from(resumed));
        self.b.def_var(pure_run, v);
        self.b.def_var(tail_run, v);
    }

    /// Before a block's first pass: every variable of the scheme defined.
    pub(super) fn lockstep_block_start(&mut self) {
        let lock = self.lock();
        let (snaps, at) = (lock.snaps.clone(), lock.at);
        let z = self.b.ins().iconst(types::I32, 0);
        self.b.def_var(at, z);
        let gangs = self.gangs();
        let gangs = self.b.ins().iconst(types::I64, gangs);
        self.pass_store(gangs, PASS_GANGS);
        for (r, snap, _) in snaps {
            let kind = self.an.kinds[r as usize];
            let zero = super::zero_of(&mut self.b, kind);
            self.b.def_var(snap, zero);
        }
        let no = self.b.ins().iconst(types::I8, 0);
        self.pass_store(no, PASS_RESUMING);
    }

    /// Stores `v` in the pass state at `offset`.
    pub(super) fn pass_store(&mut self, v: Value, offset: i32) {
        let pass = self.lock().pass;
        self.b.ins().stack_store(types::I64, v, pass, offset);
    }

    /// Loads a `ty` from the pass state at `offset`.
    pub(super) fn pass_load(&mut self, ty: types::Type, offset: i32) -> Value {
        let pass = self.lock().pass;
        self.b.ins().stack_load(types::I64, ty, pass, offset)
    }

    /// Between passes: the values the gangs left become the next pass's.
    pub(super) fn lockstep_next_pass(&mut self) {
        let lock = self.lock();
        let (snaps, at) = (lock.snaps.clone(), lock.at);
        let k = self.pass_load(types::I32, PASS_NEXT);
        self.b.def_var(at, k);
        let yes = self.b.ins().iconst(types::I8, 1);
        self.pass_store(yes, PASS_RESUMING);
        for (r, snap, offset) in snaps {
            let t = super::super::values::kind_type(self.an.kinds[r as usize]);
            let v = self.pass_load(t, offset);
            self.b.def_var(snap, v);
        }
    }

    /// A gang resumes in a later pass: with no live lane it is done;
    /// otherwise its live lanes go on after barrier `at`.
    pub(super) fn lockstep_resume(&mut self) {
        let at = self.record_addr();
        let flags = MemFlagsData::new().with_notrap();
        let live = self.b.ins().load(types::I32, flags, at, self.record.waits);
        let go = self.b.create_block();
        self.b.ins().brif(live, go, &[], self.gang_next, &[]);
        self.b.switch_to_block(go);
        // With a full version the general one's bookkeeping of waiting
        // lanes starts on the way there, not on every resume: defined
        // here, its zeros were values the full version carried along (and
        // the register allocator spilled) for the general one.
        let full_version = !self.bbs_full.is_empty();
        if full_version {
            self.define_fresh_regs();
        } else {
            self.define_fresh();
        }
        self.restore_record(at);
        for (r, snap, _) in self.lock().snaps.clone() {
            let Slot::Scalar(v) = self.slot(r) else {
                unreachable!("invariant registers are uniform")
            };
            let x = self.b.use_var(snap);
            self.b.def_var(v, x);
        }
        self.b.def_var(self.mask, live);
        for pc in self.lock().remat.clone() {
            self.operation(pc, live);
        }
        self.lockstep_runs(true);
        // Where each barrier's waiting lanes go on (past the end: they exit).
        let targets: Vec<_> = (0..self.an.barriers.len())
            .map(|k| {
                let t = self.b.create_block();
                (k, t)
            })
            .collect();
        if let [(_, only)] = targets[..] {
            self.b.ins().jump(only, &[]);
        } else if let [(_, first), (_, second)] = targets[..] {
            // (A test and a branch: cheaper than a jump table.)
            let k = self.b.use_var(self.lock().at);
            self.b.ins().brif(k, second, &[], first, &[]);
        } else {
            let k = self.b.use_var(self.lock().at);
            let pool = &mut self.b.func.dfg.value_lists;
            let table: Vec<BlockCall> = targets
                .iter()
                .map(|&(_, t)| BlockCall::new(t, [], pool))
                .collect();
            let default = BlockCall::new(targets[0].1, [], pool);
            let jt = self
                .b
                .create_jump_table(JumpTableData::new(default, &table));
            self.b.ins().br_table(k, jt);
        }
        for (k, t) in targets {
            self.b.switch_to_block(t);
            match self.an.block_starting(self.an.barriers[k] + 1) {
                // With all four lanes live, in the full version.
                Some(rb) if full_version => {
                    let whole = self.b.ins().icmp_imm_s(IntCC::Equal, live, 0xF);
                    let start = self.an.blocks[rb].start;
                    let general = self.handover(super::Resume::At(start));
                    let full = self.bbs_full[rb];
                    let to_general = self.b.create_block();
                    self.b.set_cold_block(to_general);
                    self.b.ins().brif(whole, full, &[], to_general, &[]);
                    self.b.switch_to_block(to_general);
                    self.define_fresh_waiting();
                    self.b.ins().jump(general, &[]);
                }
                Some(rb) => {
                    let bb = self.bbs[rb];
                    self.b.ins().jump(bb, &[]);
                }
                None => {
                    if full_version {
                        self.define_fresh_waiting();
                    }
                    self.leave_all()
                }
            }
        }
    }

    /// The gang's live lanes (all running: the barrier's block is not
    /// partial) reach barrier `k`. At the end of a guarded
    /// block `bi` (`Lockstep::guarded`): when none of them ran its guarded
    /// instructions and the gang ran only pure blocks since it resumed
    /// (`pure_run`: no block with effects; `tail_run`: no branch or exit
    /// that later gangs may take elsewhere), the pass ends here.
    pub(super) fn lockstep_arrive(&mut self, k: usize, bi: Option<usize>) {
        let at = self.record_addr();
        let flags = MemFlagsData::new().with_notrap();
        let mask = self.live_bits();
        self.b.ins().store(flags, mask, at, self.record.waits);
        self.store_record(at);
        if !self.lock().reach_after_loop {
            self.lockstep_reach(k);
        }
        let guarded = bi.and_then(|bi| self.lock().guarded[bi]);
        match guarded {
            Some((g, j)) if j == k => {
                // No live lane runs the guarded instructions (the lanes
                // that skip them being those from some index on, the
                // gang's last live lane skipping them is enough, whatever
                // the lanes that exited hold).
                let none = match self.monotone(g.pred) {
                    // In the full version one scalar comparison decided it.
                    Some((_, all, _)) if g.negated => all,
                    Some((_, _, any)) => self.b.ins().bxor_imm_s(any, 1),
                    None => match self.guard_value(g.pred, g.negated) {
                        GPred::Vec(m) => {
                            let bits = vector::mask_to_bits(&mut self.b, m);
                            let run = self.b.ins().band(bits, mask);
                            self.b.ins().icmp_imm_s(IntCC::Equal, run, 0)
                        }
                        GPred::Uni(p) => self.b.ins().bxor_imm_s(p, 1),
                    },
                };
                let (pure_run, tail_run) = (self.lock().pure_run, self.lock().tail_run);
                let pure = self.b.use_var(pure_run);
                let tail = self.b.use_var(tail_run);
                let pure = self.b.ins().band(pure, tail);
                let ends = self.b.ins().band(none, pure);
                let pass_end = self.lock().pass_end;
                self.b.ins().brif(ends, pass_end, &[], self.gang_next, &[]);
            }
            _ => {
                self.b.ins().jump(self.gang_next, &[]);
            }
        }
    }

    /// The gangs of this pass reach barrier `k` (the ones after this one
    /// as it does): the next pass resumes after it, with the invariant
    /// registers' values now.
    pub(super) fn lockstep_reach(&mut self, k: usize) {
        for (r, _, offset) in self.lock().snaps.clone() {
            let Slot::Scalar(v) = self.slot(r) else {
                unreachable!("invariant registers are uniform")
            };
            let x = self.b.use_var(v);
            self.pass_store(x, offset);
        }
        let k = self.b.ins().iconst(types::I32, k as i64);
        self.pass_store(k, PASS_NEXT);
        let yes = self.b.ins().iconst(types::I8, 1);
        self.pass_store(yes, PASS_ANY);
    }

    /// At the start of basic block `bi`: a block that is not pure ends the
    /// gang's pure run (a block ending in a branch that may shorten the
    /// pass is pure up to that branch; when its lanes part there, the run
    /// ends: [`Gang::lockstep_lanes_part`]).
    pub(super) fn lockstep_block_entry(&mut self, bi: usize) {
        let lock = self.lock();
        let (pure, skip, tail, guarded) = (
            lock.pure[bi],
            lock.skips[bi].is_some(),
            lock.tails[bi].is_some(),
            lock.guarded[bi].is_some(),
        );
        let (pure_run, tail_run) = (lock.pure_run, lock.tail_run);
        // (A guarded block ends at its barrier, where its own test is
        // made: `lockstep_arrive`.)
        if !pure && !skip && !guarded {
            let no = self.b.ins().iconst(types::I8, 0);
            self.b.def_var(pure_run, no);
        }
        if !pure && !tail && !guarded {
            let no = self.b.ins().iconst(types::I8, 0);
            self.b.def_var(tail_run, no);
        }
    }

    /// All live lanes of the gang take the branch ending block `bi`: when
    /// it may shorten the pass and the gang's run was pure, the pass ends.
    pub(super) fn lockstep_all_take(&mut self, bi: usize) {
        let Some((_, j)) = self.lock().skips[bi] else {
            return;
        };
        let pure_run = self.b.use_var(self.lock().pure_run);
        let (rest, on) = (self.b.create_block(), self.b.create_block());
        self.b.ins().brif(pure_run, rest, &[], on, &[]);
        self.b.switch_to_block(rest);
        self.lockstep_reach(j);
        let end = self.lock().pass_end;
        self.b.ins().jump(end, &[]);
        self.b.switch_to_block(on);
    }

    /// The gang's lanes part at a varying branch: lanes wait elsewhere,
    /// so the run is no longer one that may shorten the pass.
    /// (`tail_run` ended at the block's entry already: a block ending in a
    /// varying branch is neither pure nor one of `tails`.)
    pub(super) fn lockstep_lanes_part(&mut self) {
        let v = self.lock().pure_run;
        let no = self.b.ins().iconst(types::I8, 0);
        self.b.def_var(v, no);
    }

    /// Before the exit ending block `bi`, when it may end the block's
    /// later gangs (`Lockstep::tails`): if the gang's run since it resumed
    /// was pure and every live lane takes the exit, every later gang would
    /// run the same pure code to it and all their lanes would take it too
    /// (the lanes from some index on, or all but one lane before this
    /// gang): the block's gangs end at this one and the pass ends.
    pub(super) fn lockstep_tail(&mut self, bi: usize, guard: Option<crate::kernel::Guard>) {
        let Some(taken) = self.lock().tails[bi] else {
            return;
        };
        let tail_run = self.b.use_var(self.lock().tail_run);
        let (check, on) = (self.b.create_block(), self.b.create_block());
        self.b.ins().brif(tail_run, check, &[], on, &[]);
        self.b.switch_to_block(check);
        let live = self.live_bits();
        let leaving = match guard {
            None => live,
            Some(g) => match self.guard_value(g.pred, g.negated) {
                GPred::Uni(p) => {
                    let z = self.b.ins().iconst(types::I32, 0);
                    self.b.ins().select(p, live, z)
                }
                GPred::Vec(m) => vector::mask_to_bits(&mut self.b, m),
            },
        };
        let stay = self.b.ins().band_not(live, leaving);
        let mut ends = self.b.ins().icmp_imm_s(IntCC::Equal, stay, 0);
        if let Taken::Except(u) = taken {
            // The lane that stays lies before this gang.
            let lane0 = self.lane0();
            let u = self.b.ins().iconst(types::I64, u as i64);
            let before = self.b.ins().icmp(IntCC::UnsignedLessThan, u, lane0);
            ends = self.b.ins().band(ends, before);
        }
        let end = self.b.create_block();
        self.b.set_cold_block(end);
        self.b.ins().brif(ends, end, &[], on, &[]);
        self.b.switch_to_block(end);
        let gang = self.b.use_var(self.gang);
        self.pass_store(gang, PASS_GANGS);
        let pass_end = self.lock().pass_end;
        self.b.ins().jump(pass_end, &[]);
        self.b.switch_to_block(on);
    }

    /// The gang's lanes all exited: it is done for the rest of the block.
    pub(super) fn lockstep_gang_end(&mut self) {
        let at = self.record_addr();
        let flags = MemFlagsData::new().with_notrap();
        let z = self.b.ins().iconst(types::I32, 0);
        self.b.ins().store(flags, z, at, self.record.waits);
        self.b.ins().jump(self.gang_next, &[]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::jit::shape::Shapes;

    fn trips(src: &str, block: Dim3) -> Trips {
        let k = crate::compile("t.lasm", src).unwrap().kernels[0].clone();
        let an = Analysis::new(&k);
        let facts = crate::engine::jit::shape::Facts::new(&k, &an, block, true);
        let sh = Shapes::new(&k, &an, &facts).unwrap();
        let inv = Invariant::new(&k, &an, &sh);
        shortened_trips(&k, &an, &inv, block)
    }

    /// The registers `rematerialized` finds in `src` (blocks of 64).
    fn remat(src: &str) -> Vec<Reg> {
        let k = crate::compile("t.lasm", src).unwrap().kernels[0].clone();
        let an = Analysis::new(&k);
        rematerialized(&k, &an, Dim3::x(64)).regs
    }

    /// Per back edge of `src` (from the block ending in a backward branch
    /// to its target): whether every way around passes a barrier.
    fn back_edges(src: &str) -> Vec<bool> {
        let k = crate::compile("t.lasm", src).unwrap().kernels[0].clone();
        let an = Analysis::new(&k);
        let mut found = Vec::new();
        for (b, bb) in an.blocks.iter().enumerate() {
            for t in an.succs[b].iter().flatten().copied() {
                if an.blocks[t].start < bb.end {
                    found.push(barrier_on_every_cycle(&an, b, t));
                }
            }
        }
        found
    }

    #[test]
    fn back_edges_around_a_barrier_leave_the_stop_check_to_the_pass() {
        // block_sum's halving loop: its barrier is on the way back.
        assert_eq!(
            back_edges(include_str!("../../../../ops/block_sum.lasm")),
            [true]
        );
        let k = ".kernel k
.param x buf
 ld.global.u32 r1, [x]
";
        // A loop without a barrier, one whose barrier only one way around
        // passes, and a loop inside a loop with a barrier: each keeps its
        // check; the outer loop of the last does not need one.
        assert_eq!(
            back_edges(&format!(
                "{k}a: sub.u32 r1, r1, 1
 setp.ne.u32 p0, r1, 0
 @p0 bra a
 bar.sync
"
            )),
            [false]
        );
        assert_eq!(
            back_edges(&format!(
                "{k}a: sub.u32 r1, r1, 1
 setp.eq.u32 p1, r1, 5
 @p1 bra b
 bar.sync
                 b: setp.ne.u32 p0, r1, 0
 @p0 bra a
"
            )),
            [false]
        );
        assert_eq!(
            back_edges(&format!(
                "{k}a: mov.u32 r2, 3
b: sub.u32 r2, r2, 1
 setp.ne.u32 p1, r2, 0
 @p1 bra b
                 bar.sync
 sub.u32 r1, r1, 1
 setp.ne.u32 p0, r1, 0
 @p0 bra a
"
            )),
            [false, true]
        );
    }

    #[test]
    fn block_sums_lane_index_and_slot_are_recomputed_when_gangs_resume() {
        let k = crate::compile("t.lasm", include_str!("../../../../ops/block_sum.lasm")).unwrap();
        let k = &k.kernels[0];
        let an = Analysis::new(k);
        let r = rematerialized(k, &an, Dim3::x(256));
        // r1 = %tid.x, r4 = r1 << 2: both read after the barriers.
        assert_eq!(r.regs, [1, 4]);
        assert_eq!(r.defs.len(), 2);
    }

    #[test]
    fn only_unguarded_single_writes_from_the_lane_before_every_barrier_are_recomputed() {
        let head = ".kernel k\n.param x buf\n mov.u32 r1, %laneid\n ld.global.u32 r9, [x]\n";
        let tail = " bar.sync\n st.global.u32 [x], r2\n";
        let with = |body: &str| remat(&format!("{head}{body}{tail}"));
        assert_eq!(with(" shl.u64 r2, r1, 3\n"), [2]);
        assert_eq!(with(" mul.u32 r2, 12, r1\n"), [2]);
        // In a block of its own that every path to the barrier runs.
        assert_eq!(with(" bra a\na: add.u32 r2, r1, 5\n"), [2]);
        // From data, guarded, on one side of a branch, written twice, of a
        // register written after it (the entry block may run again), or
        // shifted by the lane: kept in the record.
        assert!(with(" shl.u64 r2, r9, 3\n").is_empty());
        assert!(with(" setp.eq.u32 p0, r9, 0\n @p0 shl.u64 r2, r1, 3\n").is_empty());
        assert!(with(" setp.eq.u32 p0, r9, 0\n @p0 bra a\n shl.u64 r2, r1, 3\na:\n").is_empty());
        assert!(with(" shl.u64 r2, r1, 3\n add.u32 r2, r2, 1\n").is_empty());
        assert!(with(" shl.u64 r2, 3, r1\n").is_empty());
        let later = ".kernel k\n.param x buf\ntop: shl.u64 r2, r3, 2\n mov.u32 r3, %laneid\n \
                     bar.sync\n st.global.u32 [x], r2\n ld.global.u32 r9, [x]\n \
                     setp.eq.u32 p0, r9, 0\n @p0 bra top\n";
        // (r3 itself is the lane's index wherever a gang resumes.)
        assert_eq!(remat(later), [3]);
        // After a barrier: the barrier before it is reached without it
        // (r1, read after that barrier, is the lane's index).
        let after = format!("{head} bar.sync\n shl.u64 r2, r1, 3\n{tail}");
        assert_eq!(remat(&after), [1]);
    }

    #[test]
    fn block_sums_last_exit_ends_the_later_gangs_and_its_tree_test_shortens_passes() {
        let t = trips(include_str!("../../../../ops/block_sum.lasm"), Dim3::x(256));
        // `@p3 exit` with p3 = %tid.x != 0: every lane but lane 0.
        let tails: Vec<Taken> = t.tails.iter().flatten().copied().collect();
        assert_eq!(tails, [Taken::Except(0)]);
        assert_eq!(t.skips.iter().flatten().count(), 1);
    }

    #[test]
    fn guarded_tree_levels_whose_later_lanes_skip_them_may_end_passes() {
        let src = |setp: &str, guard: &str| {
            format!(
                ".kernel k\n.param x buf\n.shared 2048\n mov.u32 r1, %tid.x\n \
                 shl.u32 r4, r1, 3\n ld.global.u64 r3, [x]\n st.shared.u64 [r4], r3\n \
                 bar.sync\n mov.u32 r5, 128\ntop:\n setp.eq.u32 p6, r5, 0\n @p6 bra end\n \
                 {setp}\n add.u32 r6, r1, r5\n shl.u32 r6, r6, 3\n \
                 {guard} ld.shared.u64 r7, [r6]\n {guard} add.u64 r3, r3, r7\n \
                 {guard} st.shared.u64 [r4], r3\n bar.sync\n shr.u32 r5, r5, 1\n bra top\n\
                 end:\n st.global.u64 [x], r3\n"
            )
        };
        let guarded = |src: &str| trips(src, Dim3::x(256)).guarded.iter().flatten().count();
        // Lanes below s run the level: the later lanes skip it.
        assert_eq!(guarded(&src("setp.lt.u32 p2, r1, r5", "@p2")), 1);
        assert_eq!(guarded(&src("setp.ge.u32 p2, r1, r5", "@!p2")), 1);
        assert_eq!(guarded(&src("setp.gt.u32 p2, r5, r1", "@p2")), 1);
        // Lanes from s on run it: the later lanes do not skip it.
        assert_eq!(guarded(&src("setp.lt.u32 p2, r1, r5", "@!p2")), 0);
        // Another guard among them, or an unguarded effect.
        let below = src("setp.lt.u32 p2, r1, r5", "@p2");
        assert_eq!(guarded(&below.replacen("@p2 add.u64", "@p3 add.u64", 1)), 0);
        assert_eq!(guarded(&below.replacen("@p2 st.shared", "st.shared", 1)), 0);
        // The op library's reductions (the family's first kernel:
        // reduce_sum).
        let lib = crate::ops::Family::Reduce
            .source(crate::types::ScalarType::F32)
            .expect("the library has reductions of f32");
        assert_eq!(guarded(&lib), 1);
    }

    #[test]
    fn exits_on_data_or_downward_lane_tests_end_nothing() {
        let head =
            ".kernel k\n.param x buf\n mov.u32 r1, %tid.x\n ld.global.u32 r2, [x]\n bar.sync\n";
        let tail = |test: &str| {
            let t = trips(
                &format!("{head}{test}\n st.global.u32 [x], r1\n"),
                Dim3::x(64),
            );
            t.tails.iter().flatten().copied().collect::<Vec<_>>()
        };
        assert_eq!(tail(" setp.ge.u32 p0, r1, 5\n @p0 exit"), [Taken::Upward]);
        assert_eq!(tail(" setp.lt.u32 p0, r1, 5\n @!p0 exit"), [Taken::Upward]);
        assert_eq!(
            tail(" setp.eq.u32 p0, r1, 3\n @!p0 exit"),
            [Taken::Except(3)]
        );
        // Lanes below 5 exit: the later ones do not.
        assert_eq!(tail(" setp.lt.u32 p0, r1, 5\n @p0 exit"), []);
        // A comparison of data, or of the lane with a register that varies.
        assert_eq!(tail(" setp.ge.u32 p0, r2, 5\n @p0 exit"), []);
        assert_eq!(tail(" setp.ne.u32 p0, r1, r2\n @p0 exit"), []);
        // Not pure before the exit: a store.
        assert_eq!(
            tail(" setp.ge.u32 p0, r1, 5\n st.global.u32 [x], r1\n @p0 exit"),
            []
        );
    }
}
