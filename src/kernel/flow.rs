//! Storage uses and control flow of lowered instructions: what every engine
//! that analyses a kernel (liveness, registers read before written, basic
//! blocks) needs, in one place.

use super::instr::{Address, Instr, Op, Reg, Src};
use crate::types::ScalarType;

/// Calls `f(reg, written)` for every register operand of `op`: `written`
/// is true for the destination.
pub(crate) fn for_each_reg(op: &mut Op, f: &mut impl FnMut(&mut u8, bool)) {
    let src = |s: &mut Src, f: &mut dyn FnMut(&mut u8, bool)| {
        if let Src::Reg(r) = s {
            f(r, false)
        }
    };
    let addr = |a: &mut Address, f: &mut dyn FnMut(&mut u8, bool)| {
        if let Some(r) = &mut a.reg {
            f(r, false)
        }
    };
    match op {
        Op::Mov { d, a, .. }
        | Op::Cvt { d, a, .. }
        | Op::Not { d, a, .. }
        | Op::Sign { d, a, .. }
        | Op::Math { d, a, .. } => {
            src(a, f);
            f(d, true);
        }
        Op::Load { d, addr: ad, .. } => {
            addr(ad, f);
            f(d, true);
        }
        Op::Store { addr: ad, a, .. } => {
            addr(ad, f);
            src(a, f);
        }
        Op::Arith { d, a, b, .. } | Op::Div { d, a, b, .. } | Op::Bit { d, a, b, .. } => {
            src(a, f);
            src(b, f);
            f(d, true);
        }
        Op::Fma { d, a, b, c, .. } => {
            src(a, f);
            src(b, f);
            src(c, f);
            f(d, true);
        }
        Op::Setp { a, b, .. } => {
            src(a, f);
            src(b, f);
        }
        Op::Selp { d, a, b, .. } => {
            src(a, f);
            src(b, f);
            f(d, true);
        }
        Op::Atom { d, addr: ad, a, .. } => {
            addr(ad, f);
            src(a, f);
            f(d, true);
        }
        Op::Cas {
            d, addr: ad, a, b, ..
        } => {
            addr(ad, f);
            src(a, f);
            src(b, f);
            f(d, true);
        }
        Op::PredLogic { .. } | Op::PredNot { .. } | Op::Bra { .. } | Op::Bar | Op::Exit => {}
    }
}

/// A set of storage ids: registers `0..256`, predicates `256..272`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct StorageSet(pub(crate) [u64; 5]);

/// The storage id of predicate `p`.
pub(crate) const fn pred_id(p: u8) -> u16 {
    256 + p as u16
}

impl StorageSet {
    pub(crate) const EMPTY: StorageSet = StorageSet([0; 5]);
    pub(crate) const ALL: StorageSet = StorageSet([u64::MAX; 5]);
    pub(crate) fn insert(&mut self, id: u16) {
        self.0[id as usize / 64] |= 1 << (id % 64);
    }
    pub(crate) fn remove(&mut self, id: u16) {
        self.0[id as usize / 64] &= !(1 << (id % 64));
    }
    pub(crate) fn contains(&self, id: u16) -> bool {
        self.0[id as usize / 64] & (1 << (id % 64)) != 0
    }
    pub(crate) fn intersect(&mut self, o: &StorageSet) {
        for (a, b) in self.0.iter_mut().zip(o.0) {
            *a &= b;
        }
    }
    pub(crate) fn union(&mut self, o: &StorageSet) {
        for (a, b) in self.0.iter_mut().zip(o.0) {
            *a |= b;
        }
    }
    pub(crate) fn subtract(&mut self, o: &StorageSet) {
        for (a, b) in self.0.iter_mut().zip(o.0) {
            *a &= !b;
        }
    }
}

/// Calls `f(id, written)` for every register and predicate an instruction
/// reads or writes (its guard included).
pub(crate) fn for_each_use(instr: &Instr, f: &mut impl FnMut(u16, bool)) {
    if let Some(g) = instr.guard {
        f(pred_id(g.pred), false);
    }
    let mut op = instr.op;
    for_each_reg(&mut op, &mut |r, w| f(*r as u16, w));
    match instr.op {
        Op::Setp { p, .. } => f(pred_id(p), true),
        Op::Selp { p, .. } => f(pred_id(p), false),
        Op::PredLogic { d, a, b, .. } => {
            f(pred_id(a), false);
            f(pred_id(b), false);
            f(pred_id(d), true);
        }
        Op::PredNot { d, a } => {
            f(pred_id(a), false);
            f(pred_id(d), true);
        }
        _ => {}
    }
}

/// The instructions that may run after `instr` at `pc` in the same lane:
/// the branch target and the next instruction (for a guarded branch), the
/// next one for everything else, nothing after an unguarded `exit` or
/// branch. A successor equal to the program length means the lane ends.
/// `bar.sync` falls through to the next instruction (after the release).
pub(crate) fn successors(instr: &Instr, pc: usize) -> [Option<usize>; 2] {
    let guarded = instr.guard.is_some();
    match instr.op {
        Op::Bra { target } => [Some(target as usize), guarded.then_some(pc + 1)],
        Op::Exit => [guarded.then_some(pc + 1), None],
        _ => [Some(pc + 1), None],
    }
}

/// The register `op` writes and the type of the value written there (which
/// fixes how it is extended to 64 bits), if it writes one.
pub(crate) fn written_reg(op: &Op) -> Option<(Reg, ScalarType)> {
    Some(match *op {
        Op::Mov { ty, d, .. }
        | Op::Load { ty, d, .. }
        | Op::Arith { ty, d, .. }
        | Op::Div { ty, d, .. }
        | Op::Fma { ty, d, .. }
        | Op::Selp { ty, d, .. } => (d, ty),
        Op::Cvt { to, d, .. } => (d, to),
        Op::Bit { ty, d, .. } | Op::Not { ty, d, .. } => (d, ty.scalar()),
        Op::Sign { ty, d, .. } => (d, ty.scalar()),
        Op::Math { ty, d, .. } => (d, ty.scalar()),
        Op::Atom { ty, d, .. } => (d, ty.scalar()),
        Op::Cas { ty, d, .. } => (d, ty.scalar()),
        Op::Store { .. }
        | Op::Setp { .. }
        | Op::PredLogic { .. }
        | Op::PredNot { .. }
        | Op::Bra { .. }
        | Op::Bar
        | Op::Exit => return None,
    })
}

/// Calls `f` on every source operand of `op` (address registers are not
/// source operands: see [`for_each_reg`]).
pub(crate) fn for_each_src(op: &Op, mut f: impl FnMut(Src)) {
    match *op {
        Op::Mov { a, .. }
        | Op::Cvt { a, .. }
        | Op::Not { a, .. }
        | Op::Sign { a, .. }
        | Op::Math { a, .. }
        | Op::Store { a, .. }
        | Op::Atom { a, .. } => f(a),
        Op::Arith { a, b, .. }
        | Op::Div { a, b, .. }
        | Op::Bit { a, b, .. }
        | Op::Setp { a, b, .. }
        | Op::Selp { a, b, .. }
        | Op::Cas { a, b, .. } => {
            f(a);
            f(b)
        }
        Op::Fma { a, b, c, .. } => {
            f(a);
            f(b);
            f(c)
        }
        Op::Load { .. }
        | Op::PredLogic { .. }
        | Op::PredNot { .. }
        | Op::Bra { .. }
        | Op::Bar
        | Op::Exit => {}
    }
}
