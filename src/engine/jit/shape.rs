//! Shapes for the gang tier: how a register's values vary across the four
//! consecutive lanes of a gang (ISPC's uniform / varying, plus affine).
//!
//! - **Uniform**: every lane of the gang holds the same value (parameters,
//!   `%ntid`, `%ctaid`, arithmetic on them): one machine scalar.
//! - **Affine(s)**: lane `k` holds `base + k * s` in the register's integer
//!   type (`%gid`, `%laneid`, `gid * 4 + 16`): one scalar, the base. Adds,
//!   multiplies by constants and shifts keep the form exact modulo `2^w`;
//!   only widening (`u32` read as `u64`) can break it, so values carry a
//!   range (of the mathematical lane values), and a widening stays affine
//!   only when the range proves no lane wrapped.
//! - **Varying**: anything else: a vector.
//!
//! The analysis is flow-insensitive (one shape per register for the whole
//! kernel) and optimistic: it starts from "all uniform" and raises shapes
//! until nothing changes. A write makes its register varying when only some
//! of the live lanes may execute it: under a varying guard, or in a
//! *partial* block, one that may run while other live lanes of the gang
//! wait elsewhere after a branch whose predicate is varying (or at a
//! barrier), unless the write cannot fault and no waiting lane can read
//! it: the register is live into no basic block (every read follows a
//! write in the same block: `add r6, tid, s` / `shl r6, r6, 2` /
//! `ld.shared [r6]` in a tree's `tid < s` block stays affine), or into no
//! block where a lane may wait while this one runs: lanes wait only at
//! later blocks (the gang runs the lowest block with waiting lanes first)
//! and after barriers. The op library's gather loops, which lanes leave
//! at different trips, keep their index affine and their count uniform
//! that way (`sum` 1M 1.4-1.5 -> 1.0-1.1 ms on 2 threads).

use crate::engine::jit::analysis::{Analysis, Kind};
use crate::kernel::flow::{StorageSet, for_each_src, pred_id, written_reg};
use crate::kernel::{ArithOp, BitOp, Instr, Kernel, NUM_PREDS, NUM_REGS, Op, SignOp, Special, Src};
use crate::launch::Dim3;
use crate::types::ScalarType;

/// Lanes per gang: one 128-bit vector of 32-bit values.
pub(super) const GANG: u32 = 4;

/// How a value varies across a gang.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Shape {
    /// The same in every lane.
    Uniform,
    /// `base + k * stride` in lane `k` (integers only; stride not 0).
    Affine(i64),
    /// Anything.
    Varying,
}

impl Shape {
    fn join(self, o: Shape) -> Shape {
        match (self, o) {
            (a, b) if a == b => a,
            _ => Shape::Varying,
        }
    }
}

/// Lane values `lo..=hi`, as mathematical integers (no wrap happened).
pub(super) type Range = Option<(i128, i128)>;

/// The shapes of one kernel for one block shape.
#[derive(Debug)]
pub(super) struct Shapes {
    /// Per register.
    pub regs: [Shape; NUM_REGS],
    /// Per predicate: the same in every lane of a gang.
    pub uniform_preds: [bool; NUM_PREDS],
    /// Per basic block: may run while other live lanes wait elsewhere.
    pub partial: Vec<bool>,
    ctx: Ctx,
}

/// Why a kernel does not run on the gang tier (it runs one lane at a time).
pub(super) type NotGang = &'static str;

/// Whether `%gid` fits 32 bits: the launch has at most `2^32` lanes.
pub(super) fn gid_fits_u32(grid: Dim3, block: Dim3) -> bool {
    grid.count() * block.count() <= 1u128 << 32
}

impl Shapes {
    /// The shapes of `kernel` run in blocks of shape `block`, `%gid` below
    /// `2^32` when `gid32`.
    pub fn new(kernel: &Kernel, an: &Analysis, facts: &Facts) -> Result<Shapes, NotGang> {
        let (block, gid32) = (facts.block, facts.gid32);
        if block.count() < GANG as u128 {
            return Err("blocks smaller than a gang");
        }
        if an.blocks.len() > 64 {
            return Err("more than 64 basic blocks");
        }
        let ctx = Ctx {
            kinds: an.kinds,
            block,
            gid32,
            ranges: facts.ranges,
            base_zeros: gang_base_zeros(kernel, block),
        };
        // `written[r]`: the join of the shapes of `r`'s writes so far
        // (`None`: none yet); `regs` is what readers see (no write yet:
        // uniform, the optimistic start).
        let mut written: [Option<Shape>; NUM_REGS] = [None; NUM_REGS];
        if let Some(live) = an.live_in.first() {
            for &r in &an.regs {
                if live.contains(r as u16) {
                    written[r as usize] = Some(Shape::Uniform); // zero
                }
            }
        }
        // Lanes of a gang wait only at blocks after the one that runs (the
        // gang runs the lowest block with waiting lanes first, and running
        // lanes that would pass waiting ones wait too) or at barriers:
        // `later[b]` is what some lane waiting while block `b` runs may
        // read before writing. A register or predicate outside it is read
        // by no waiting lane (a block-local one, whose every read follows a
        // write in the same block, is outside every `later[b]`).
        let later: Vec<StorageSet> = {
            let mut acc = StorageSet::EMPTY;
            for &pc in &an.barriers {
                if let Some(rb) = an.block_starting(pc + 1) {
                    acc.union(&an.live_in[rb]);
                }
            }
            let mut later = vec![StorageSet::EMPTY; an.blocks.len()];
            for b in (0..an.blocks.len()).rev() {
                later[b] = acc;
                acc.union(&an.live_in[b]);
            }
            later
        };
        let mut regs = [Shape::Uniform; NUM_REGS];
        let mut preds = [true; NUM_PREDS];
        let mut partial = vec![false; an.blocks.len()];
        let block_of: Vec<usize> = {
            let mut v = vec![0; kernel.instrs.len()];
            for (bi, b) in an.blocks.iter().enumerate() {
                v[b.start..b.end].fill(bi);
            }
            v
        };
        // Optimistic: everything uniform, then raise until stable (shapes
        // only rise, so this ends).
        loop {
            let mut changed = false;
            for (pc, i) in kernel.instrs.iter().enumerate() {
                let bi = block_of[pc];
                let part = partial[bi];
                let guard_varying = i.guard.is_some_and(|g| !preds[g.pred as usize]);
                if let Some((d, ty)) = written_reg(&i.op) {
                    // In a partial block, a write by an instruction that
                    // cannot fault of a register no waiting lane reads
                    // (live into none of the blocks where lanes may wait:
                    // `later`) keeps its shape: the gang computes it once
                    // whichever lanes run.
                    let keeps = !later[bi].contains(d as u16)
                        && !matches!(
                            i.op,
                            Op::Load { .. } | Op::Div { .. } | Op::Atom { .. } | Op::Cas { .. }
                        );
                    let shape = if (part && !keeps) || guard_varying {
                        Shape::Varying
                    } else {
                        ctx.result(i, &regs, &preds)
                    };
                    // The register holds the value extended to 32 or 64
                    // bits: lanes that wrapped at the type's width are not
                    // affine there, unless the range rules wrapping out.
                    let held = match an.kinds[d as usize] {
                        Kind::I64 | Kind::F64 => 64,
                        _ => 32,
                    };
                    let (lo, hi) = type_range(ty);
                    let fits = ctx.ranges[d as usize].is_some_and(|(a, b)| a >= lo && b <= hi);
                    let shape = match shape {
                        Shape::Affine(st)
                            if ty.bits() < held
                                && !fits
                                && !aligned_in_gang(st, ctx.base_zeros[d as usize], ty.bits()) =>
                        {
                            Shape::Varying
                        }
                        other => other,
                    };
                    let slot = &mut written[d as usize];
                    let new = slot.map_or(shape, |old| old.join(shape));
                    if Some(new) != *slot {
                        *slot = Some(new);
                        regs[d as usize] = new;
                        changed = true;
                    }
                }
                let p = match i.op {
                    Op::Setp { p, a, b, .. } => Some((
                        p,
                        ctx.src(a, &regs).0 == Shape::Uniform
                            && ctx.src(b, &regs).0 == Shape::Uniform,
                    )),
                    Op::PredLogic { d, a, b, .. } => {
                        Some((d, preds[a as usize] && preds[b as usize]))
                    }
                    Op::PredNot { d, a } => Some((d, preds[a as usize])),
                    _ => None,
                };
                if let Some((p, uniform)) = p {
                    let seen_waiting = part && later[bi].contains(pred_id(p));
                    if preds[p as usize] && !(uniform && !seen_waiting && !guard_varying) {
                        preds[p as usize] = false;
                        changed = true;
                    }
                }
            }
            for (bi, bb) in an.blocks.iter().enumerate() {
                let last = &kernel.instrs[bb.end - 1];
                let varying = last.guard.is_some_and(|g| !preds[g.pred as usize]);
                match last.op {
                    Op::Bar if varying => return Err("a bar.sync under a varying guard"),
                    Op::Bra { target } if varying && (target as usize) < kernel.instrs.len() => {
                        for b in divergent_region(an, bi, target as usize) {
                            if !partial[b] {
                                partial[b] = true;
                                changed = true;
                            }
                        }
                    }
                    _ => {}
                }
            }
            if !changed {
                break;
            }
        }
        for (shape, kind) in regs.iter_mut().zip(an.kinds) {
            // Floats are never affine.
            if matches!(*shape, Shape::Affine(_)) && matches!(kind, Kind::F32 | Kind::F64) {
                *shape = Shape::Varying;
            }
        }
        Ok(Shapes {
            regs,
            uniform_preds: preds,
            partial,
            ctx,
        })
    }

    /// The shape of source operand `s` read as type `ty` (what the code
    /// generator must produce for it).
    pub fn read(&self, s: Src, ty: ScalarType) -> Shape {
        self.ctx.read(s, ty, &self.regs)
    }

    /// Whether source `s` read as integer type `ty` is affine and its four
    /// lanes' values never wrap in `ty` (as signed or unsigned, per `ty`):
    /// then they are strictly monotone across a gang of real lanes, and so
    /// is any order comparison of them with a uniform value.
    pub fn monotone(&self, s: Src, ty: ScalarType) -> bool {
        if ty.is_float() {
            return false;
        }
        let Shape::Affine(st) = self.read(s, ty) else {
            return false;
        };
        let (shape, range) = self.ctx.src(s, &self.regs);
        let Shape::Affine(held_st) = shape else {
            return false;
        };
        let (lo, hi) = type_range(ty);
        range.is_some_and(|(a, b)| a >= lo && b <= hi)
            || (st == held_st && self.ctx.aligned(s, st, ty.bits()))
    }
}

/// Registers and predicates that hold the same value in every lane of a
/// block at the same point of its run (*block-invariant*): written only
/// from parameters, immediates, `%ntid`, `%nctaid`, `%ctaid` and other
/// invariant values, never from memory, by writes every live lane of the
/// block runs (unguarded or under an invariant guard, outside
/// block-partial blocks). Gang-uniform values need not be: `%tid.y`
/// differs between gangs of a block, and so may a load from one address
/// (other gangs store between).
#[derive(Debug)]
pub(super) struct Invariant {
    /// Per register.
    pub regs: [bool; NUM_REGS],
    /// Per predicate.
    pub preds: [bool; NUM_PREDS],
    /// Per basic block: may run while other live lanes *of the block* are
    /// elsewhere: partial blocks, and the blocks a branch on a
    /// gang-uniform but not invariant predicate may send some gangs
    /// through and not others (the same regions as for varying branches).
    pub partial: Vec<bool>,
}

impl Invariant {
    /// The block-invariant registers and predicates of `kernel`, whose
    /// partial blocks `sh` gives (optimistic, lowered until stable).
    pub fn new(kernel: &Kernel, an: &Analysis, sh: &Shapes) -> Invariant {
        let mut inv = Invariant {
            regs: [true; NUM_REGS],
            preds: [true; NUM_PREDS],
            partial: sh.partial.clone(),
        };
        loop {
            let mut changed = false;
            for (bi, bb) in an.blocks.iter().enumerate() {
                let last = &kernel.instrs[bb.end - 1];
                if let (Op::Bra { target }, Some(g)) = (last.op, last.guard) {
                    let p = g.pred as usize;
                    if sh.uniform_preds[p]
                        && !inv.preds[p]
                        && (target as usize) < kernel.instrs.len()
                    {
                        for b in divergent_region(an, bi, target as usize) {
                            changed |= !std::mem::replace(&mut inv.partial[b], true);
                        }
                    }
                }
                for i in &kernel.instrs[bb.start..bb.end] {
                    let mut ok = !inv.partial[bi]
                        && i.guard.is_none_or(|g| inv.preds[g.pred as usize])
                        && !matches!(i.op, Op::Load { .. } | Op::Atom { .. } | Op::Cas { .. });
                    for_each_src(&i.op, |s| ok &= inv.src(s));
                    ok &= match i.op {
                        Op::Selp { p, .. } => inv.preds[p as usize],
                        Op::PredLogic { a, b, .. } => {
                            inv.preds[a as usize] && inv.preds[b as usize]
                        }
                        Op::PredNot { a, .. } => inv.preds[a as usize],
                        _ => true,
                    };
                    if ok {
                        continue;
                    }
                    let slot = match i.op {
                        Op::Setp { p, .. }
                        | Op::PredLogic { d: p, .. }
                        | Op::PredNot { d: p, .. } => &mut inv.preds[p as usize],
                        _ => match written_reg(&i.op) {
                            Some((d, _)) => &mut inv.regs[d as usize],
                            None => continue,
                        },
                    };
                    changed |= std::mem::replace(slot, false);
                }
            }
            if !changed {
                return inv;
            }
        }
    }

    /// Whether source operand `s` is block-invariant.
    pub fn src(&self, s: Src) -> bool {
        match s {
            Src::Reg(r) => self.regs[r as usize],
            Src::Imm(_) | Src::Param(_) => true,
            Src::Special(sp) => matches!(
                sp,
                Special::Ntid(_) | Special::Nctaid(_) | Special::Ctaid(_)
            ),
        }
    }
}

/// Whether every lane of a block meets every barrier in *lockstep*: no
/// `bar.sync` in a block-partial block ([`Invariant::partial`]), and none
/// under a guard that is not invariant, so the block's live lanes all
/// wait at the same barrier whenever they wait (lanes that branch apart
/// meet again before any barrier; the only branches on values that may
/// differ between gangs are such). The gang tier then runs each stretch
/// between barriers as one pass over the block's gangs that all resume at
/// the same place, and keeps invariant registers in machine registers
/// across barriers (PoCL's regions).
pub(super) fn lockstep(kernel: &Kernel, an: &Analysis, inv: &Invariant) -> bool {
    !an.barriers.is_empty()
        && an.blocks.iter().enumerate().all(|(bi, bb)| {
            let last = &kernel.instrs[bb.end - 1];
            !matches!(last.op, Op::Bar)
                || (!inv.partial[bi] && last.guard.is_none_or(|g| inv.preds[g.pred as usize]))
        })
}

/// What the shape rules read.
#[derive(Debug)]
struct Ctx {
    kinds: [Kind; NUM_REGS],
    block: Dim3,
    gid32: bool,
    /// Value ranges of the registers (independent of shapes).
    ranges: [Range; NUM_REGS],
    /// Known low zero bits of each register's value in a gang's first lane.
    base_zeros: [u32; NUM_REGS],
}

impl Ctx {
    /// The shape and range of a source operand as its register holds it.
    fn src(&self, s: Src, regs: &[Shape; NUM_REGS]) -> (Shape, Range) {
        match s {
            Src::Reg(r) => (regs[r as usize], self.ranges[r as usize]),
            Src::Special(sp) => special_shape(sp, self.block, self.gid32),
            other => (
                Shape::Uniform,
                src_range(other, &self.ranges, self.block, self.gid32),
            ),
        }
    }

    /// Whether affine source `s` of stride `st` never wraps at `bits` bits
    /// inside a gang, by the alignment of its gang base.
    fn aligned(&self, s: Src, st: i64, bits: u32) -> bool {
        let zeros = match s {
            Src::Reg(r) => self.base_zeros[r as usize],
            Src::Special(sp) => gang_base_zeros_of_special(sp, self.block),
            Src::Imm(v) => v.trailing_zeros(),
            Src::Param(_) => 0,
        };
        aligned_in_gang(st, zeros, bits)
    }

    /// A source operand's shape read as type `ty`: a widening keeps an
    /// affine value affine only when its range, or the alignment of its
    /// gang base, proves no lane wrapped.
    fn read(&self, s: Src, ty: ScalarType, regs: &[Shape; NUM_REGS]) -> Shape {
        let (shape, range) = self.src(s, regs);
        if ty.is_float() {
            return uniform_or_varying(shape);
        }
        let Shape::Affine(st) = shape else {
            return shape;
        };
        let held_bits = match s {
            Src::Reg(r) => match self.kinds[r as usize] {
                Kind::I64 | Kind::F64 => 64,
                _ => 32,
            },
            Src::Special(Special::Gid) => 64,
            _ => 32,
        };
        let (lo, hi) = type_range(ty);
        let fits = range.is_some_and(|(a, b)| a >= lo && b <= hi);
        if ty.bits() > held_bits && !fits && !self.aligned(s, st, held_bits) {
            return Shape::Varying;
        }
        match wrap_stride(st, ty.bits()) {
            0 => Shape::Uniform,
            st => Shape::Affine(st),
        }
    }

    /// The shape of what instruction `i` writes when every live lane runs
    /// it.
    fn result(&self, i: &Instr, regs: &[Shape; NUM_REGS], preds: &[bool; NUM_PREDS]) -> Shape {
        let rd = |s: Src, ty| self.read(s, ty, regs);
        match i.op {
            Op::Mov { ty, a, .. } => rd(a, ty),
            Op::Cvt { to, from, a, .. } => {
                if from.is_float() || to.is_float() {
                    uniform_or_varying(rd(a, from))
                } else {
                    // The value read as `from`, then as `to`: a widening
                    // needs the range, a truncation stays affine modulo 2^w.
                    match rd(a, from) {
                        Shape::Affine(st) => {
                            // Widening is exact when no lane's value wrapped
                            // as `from`: its range fits `from`.
                            let (lo, hi) = type_range(from);
                            let fits = src_range(a, &self.ranges, self.block, self.gid32)
                                .is_some_and(|(x, y)| x >= lo && y <= hi);
                            if to.bits() > from.bits() && !fits && !self.aligned(a, st, from.bits())
                            {
                                Shape::Varying
                            } else {
                                match wrap_stride(st, to.bits()) {
                                    0 => Shape::Uniform,
                                    st => Shape::Affine(st),
                                }
                            }
                        }
                        other => other,
                    }
                }
            }
            Op::Arith { op, ty, a, b, .. } if !ty.is_float() => {
                let (x, y) = (rd(a, ty), rd(b, ty));
                match op {
                    ArithOp::Add => add_shapes(x, y, 1),
                    ArithOp::Sub => add_shapes(x, y, -1),
                    ArithOp::Mul => match (x, y) {
                        (Shape::Uniform, Shape::Uniform) => Shape::Uniform,
                        (Shape::Affine(st), Shape::Uniform) => scale(st, constant(b)),
                        (Shape::Uniform, Shape::Affine(st)) => scale(st, constant(a)),
                        _ => Shape::Varying,
                    },
                    ArithOp::Min | ArithOp::Max => uniform_or_varying2(x, y),
                }
            }
            Op::Bit { op, ty, a, b, .. } => {
                let ty = ty.scalar();
                let (x, y) = (rd(a, ty), rd(b, ty));
                // The count is taken modulo the width.
                match (op, x, constant(b).map(|c| c % ty.bits() as u64)) {
                    (BitOp::Shl, Shape::Affine(st), Some(c)) if c < 63 => {
                        scale(st, Some(1u64 << c))
                    }
                    _ => uniform_or_varying2(x, y),
                }
            }
            Op::Sign {
                op: SignOp::Neg,
                ty,
                a,
                ..
            } if !ty.scalar().is_float() => match rd(a, ty.scalar()) {
                Shape::Affine(st) => st.checked_neg().map_or(Shape::Varying, Shape::Affine),
                other => other,
            },
            Op::Fma { ty, a, b, c, .. } if !ty.is_float() => {
                let m = match (rd(a, ty), rd(b, ty)) {
                    (Shape::Uniform, Shape::Uniform) => Shape::Uniform,
                    (Shape::Affine(st), Shape::Uniform) => scale(st, constant(b)),
                    (Shape::Uniform, Shape::Affine(st)) => scale(st, constant(a)),
                    _ => Shape::Varying,
                };
                add_shapes(m, rd(c, ty), 1)
            }
            Op::Load { addr, .. } => match addr.reg {
                None => Shape::Uniform,
                Some(r) => uniform_or_varying(regs[r as usize]),
            },
            Op::Atom { .. } | Op::Cas { .. } => Shape::Varying,
            Op::Selp { ty, a, b, p, .. } => {
                if preds[p as usize] {
                    rd(a, ty).join(rd(b, ty))
                } else {
                    Shape::Varying
                }
            }
            _ => {
                // Everything else: uniform when its operands are.
                let ty = written_reg(&i.op).map_or(ScalarType::U64, |(_, t)| t);
                let mut all = true;
                for_each_src(&i.op, |s| all &= rd(s, ty) == Shape::Uniform);
                if all { Shape::Uniform } else { Shape::Varying }
            }
        }
    }
}

/// The range of a non-register source operand, or a register's.
fn src_range(s: Src, ranges: &[Range; NUM_REGS], block: Dim3, gid32: bool) -> Range {
    match s {
        Src::Reg(r) => ranges[r as usize],
        Src::Imm(v) => (v < 1 << 63).then_some((v as i128, v as i128)),
        Src::Param(_) => None,
        Src::Special(sp) => special_shape(sp, block, gid32).1,
    }
}

/// What is known of every register's values whatever the lane: their range
/// and how many low bits are zero. Both tiers use them to drop bounds-check
/// parts that cannot fail (an offset that cannot overflow, an alignment
/// that always holds).
#[derive(Debug)]
pub(super) struct Facts {
    ranges: [Range; NUM_REGS],
    zeros: [u32; NUM_REGS],
    block: Dim3,
    gid32: bool,
}

impl Facts {
    /// The facts of `kernel` in blocks of shape `block`, `%gid` below
    /// `2^32` when `gid32`.
    pub fn new(kernel: &Kernel, an: &Analysis, block: Dim3, gid32: bool) -> Facts {
        Facts {
            ranges: value_ranges(kernel, an, block, gid32),
            zeros: low_zeros(kernel, block, |_| 0),
            block,
            gid32,
        }
    }

    /// The range of a source operand's values, when known.
    pub fn range(&self, s: Src) -> Range {
        src_range(s, &self.ranges, self.block, self.gid32)
    }

    /// The block shape the facts hold for.
    pub fn block(&self) -> Dim3 {
        self.block
    }

    /// How many low bits of register `r`'s value are known to be zero.
    pub fn low_zeros(&self, r: crate::kernel::Reg) -> u32 {
        self.zeros[r as usize]
    }
}

/// Known low zero bits of every register's values (64 for zero): a
/// fixpoint from "all zero bits" down. `special` gives a special
/// register's: of every lane's value, or of a gang's first lane only (see
/// [`gang_base_zeros`]).
fn low_zeros(kernel: &Kernel, block: Dim3, special: impl Fn(Special) -> u32) -> [u32; NUM_REGS] {
    let mut z = [64u32; NUM_REGS];
    loop {
        let mut changed = false;
        for i in &kernel.instrs {
            let Some((d, ty)) = written_reg(&i.op) else {
                continue;
            };
            let of = |s: Src| -> u32 {
                match s {
                    Src::Reg(r) => z[r as usize],
                    Src::Imm(v) => v.trailing_zeros(),
                    Src::Special(Special::Ntid(a)) => block.get(a).trailing_zeros(),
                    Src::Special(sp) => special(sp),
                    Src::Param(_) => 0,
                }
            };
            let bits = ty.bits();
            let new = if ty.is_float() {
                0
            } else {
                match i.op {
                    Op::Mov { a, .. } | Op::Cvt { a, .. } => of(a),
                    Op::Arith {
                        op: ArithOp::Add | ArithOp::Sub,
                        a,
                        b,
                        ..
                    }
                    | Op::Bit {
                        op: BitOp::Or | BitOp::Xor,
                        a,
                        b,
                        ..
                    } => of(a).min(of(b)),
                    Op::Arith {
                        op: ArithOp::Mul,
                        a,
                        b,
                        ..
                    } => of(a) + of(b),
                    Op::Bit {
                        op: BitOp::And,
                        a,
                        b,
                        ..
                    } => of(a).max(of(b)),
                    Op::Bit {
                        op: BitOp::Shl,
                        a,
                        b: Src::Imm(c),
                        ..
                    } => of(a) + (c % bits as u64) as u32,
                    Op::Fma { a, b, c, .. } => (of(a) + of(b)).min(of(c)),
                    _ => 0,
                }
            }
            .min(bits);
            if new < z[d as usize] {
                z[d as usize] = new;
                changed = true;
            }
        }
        if !changed {
            return z;
        }
    }
}

/// Known low zero bits of the value in the *first lane of each gang* of
/// every register. Gangs are four consecutive linear lanes starting at a
/// multiple of four, so there `%laneid` and `%tid.x` (when gangs fit the
/// rows) are multiples of 4 and `%gid` a multiple of `gcd(4, lanes per
/// block)`; the usual rules carry that through arithmetic. It proves that
/// an affine value of stride `2^j` whose gang base has `j + 2` low zero
/// bits never wraps inside a gang (see [`aligned_in_gang`]).
fn gang_base_zeros(kernel: &Kernel, block: Dim3) -> [u32; NUM_REGS] {
    low_zeros(kernel, block, |sp| gang_base_zeros_of_special(sp, block))
}

/// Known low zero bits of special register `sp` in a gang's first lane.
fn gang_base_zeros_of_special(sp: Special, block: Dim3) -> u32 {
    let flat = block.y == 1 && block.z == 1;
    let g = GANG.trailing_zeros();
    match sp {
        Special::LaneId => g,
        Special::Tid(0) if flat || block.x % GANG == 0 => g,
        Special::Gid => g.min(block.count().trailing_zeros()),
        Special::Ntid(a) => block.get(a).trailing_zeros(),
        _ => 0,
    }
}

/// Whether the lanes of an affine value of stride `st` whose gang base has
/// `base_zeros` known low zero bits stay inside one aligned run of `2^bits`
/// values (so reading them in a wider type, or keeping them in a wider
/// register, keeps them affine): the stride is a positive power of two
/// `2^j`, the base a multiple of `4 * 2^j`, and `4 * 2^j` divides `2^bits`.
/// Then the gang's values `base + k * 2^j` (k < 4) never cross a multiple
/// of `2^bits`, nor, for signed types, of `2^(bits-1)`.
fn aligned_in_gang(st: i64, base_zeros: u32, bits: u32) -> bool {
    let span = st.trailing_zeros() + GANG.trailing_zeros();
    st > 0 && st.count_ones() == 1 && base_zeros >= span && span < bits
}

/// The ranges of every register's values (mathematical integers, no wrap),
/// where known: a fixpoint over all writes from the bottom up, widened to
/// unknown when a range keeps growing (a loop counter).
fn value_ranges(kernel: &Kernel, an: &Analysis, block: Dim3, gid32: bool) -> [Range; NUM_REGS] {
    // `None`: no write seen yet; `Some(None)`: unknown.
    let mut state: [Option<Range>; NUM_REGS] = [None; NUM_REGS];
    if let Some(live) = an.live_in.first() {
        for &r in &an.regs {
            if live.contains(r as u16) {
                state[r as usize] = Some(Some((0, 0)));
            }
        }
    }
    let mut changes = [0u8; NUM_REGS];
    loop {
        let mut changed = false;
        for i in &kernel.instrs {
            let Some((d, ty)) = written_reg(&i.op) else {
                continue;
            };
            let cur = |s: Src| -> Option<Range> {
                match s {
                    Src::Reg(r) => state[r as usize],
                    other => Some(src_range(other, &[None; NUM_REGS], block, gid32)),
                }
            };
            let Some(r) = def_range(&i.op, ty, &cur) else {
                continue; // an operand has no value yet
            };
            let slot = &mut state[d as usize];
            let new = match *slot {
                None => Some(r),
                Some(old) => Some(hull(old, r)),
            };
            if new != *slot {
                changes[d as usize] += 1;
                *slot = match (changes[d as usize], *slot, new) {
                    (0..=3, _, _) => new,
                    // Widening: a bound that still moves goes to the type's
                    // end (`s >>= 1` in a loop: `0..=s0`), the other stays.
                    (4..=5, Some(Some((a, b))), Some(Some((c, e)))) => {
                        let (lo, hi) = type_range(ty);
                        Some(Some((
                            if c < a { lo.min(c) } else { a },
                            if e > b { hi.max(e) } else { b },
                        )))
                    }
                    _ => Some(None),
                };
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    state.map(Option::flatten)
}

/// The range of what `op` writes (as type `ty`), `None` when an operand has
/// no value yet.
fn def_range(op: &Op, ty: ScalarType, cur: &dyn Fn(Src) -> Option<Range>) -> Option<Range> {
    // An operand is read as the instruction's type (a conversion's: its
    // source type): a register's range holds for that read only where it
    // lies inside that type's range (otherwise the read truncates the
    // value or reinterprets its sign: `cvt.u32.i8` of 255 is 4294967295).
    let read = |s: Src, t: ScalarType| -> Option<Range> { Some(within(cur(s)?, t)) };
    let r = match *op {
        Op::Mov { a, .. } => read(a, ty)?,
        Op::Cvt { from, a, .. } => read(a, from)?,
        Op::Arith { op, a, b, .. } => {
            let (x, y) = (read(a, ty)?, read(b, ty)?);
            match op {
                ArithOp::Add => add_ranges(x, y, 1),
                ArithOp::Sub => add_ranges(x, y, -1),
                ArithOp::Mul => mul_ranges(x, y),
                ArithOp::Min | ArithOp::Max => hull(x, y),
            }
        }
        Op::Bit { op, a, b, .. } => {
            // (The count's range is used only when it is one immediate.)
            let (x, y) = (read(a, ty)?, cur(b)?);
            // Shift counts are taken modulo the width.
            let bits = ty.bits() as i128;
            match (op, y) {
                (BitOp::Shl, Some((c, c2))) if c == c2 && c % bits < 63 => {
                    let c = c % bits;
                    mul_ranges(x, Some((1i128 << c, 1i128 << c)))
                }
                (BitOp::Shr, Some((c, c2))) if c == c2 && !ty.is_signed_int() => {
                    let c = c % bits;
                    x.map(|(lo, hi)| (lo >> c, hi >> c))
                }
                (BitOp::And, Some((c, c2))) if c == c2 => Some((0, c)),
                _ => None,
            }
        }
        Op::Load { ty, .. } if !ty.is_signed_int() && !ty.is_float() => Some(type_range(ty)),
        _ => None,
    };
    Some(within(r, ty))
}

/// `r` where it lies inside `ty`'s values (unknown for floats, and where
/// a value would not fit: it wraps, or is truncated when read).
fn within(r: Range, ty: ScalarType) -> Range {
    if ty.is_float() {
        return None;
    }
    let (lo, hi) = type_range(ty);
    r.filter(|&(a, b)| a >= lo && b <= hi)
}

fn uniform_or_varying(s: Shape) -> Shape {
    if s == Shape::Uniform {
        s
    } else {
        Shape::Varying
    }
}

fn uniform_or_varying2(a: Shape, b: Shape) -> Shape {
    if a == Shape::Uniform && b == Shape::Uniform {
        a
    } else {
        Shape::Varying
    }
}

/// `a + sign * b`.
fn add_shapes(a: Shape, b: Shape, sign: i64) -> Shape {
    let st = |s: Shape| match s {
        Shape::Uniform => Some(0i64),
        Shape::Affine(st) => Some(st),
        Shape::Varying => None,
    };
    match (st(a), st(b)) {
        (Some(x), Some(y)) => match y.checked_mul(sign).and_then(|y| x.checked_add(y)) {
            Some(0) => Shape::Uniform,
            Some(s) => Shape::Affine(s),
            None => Shape::Varying,
        },
        _ => Shape::Varying,
    }
}

/// An affine stride times a constant (unknown constant: varying).
fn scale(st: i64, c: Option<u64>) -> Shape {
    match c
        .and_then(|c| i64::try_from(c).ok())
        .and_then(|c| st.checked_mul(c))
    {
        Some(0) => Shape::Uniform,
        Some(s) => Shape::Affine(s),
        None => Shape::Varying,
    }
}

/// A stride as it acts on `bits`-bit values (the lane difference modulo
/// `2^bits`, as a signed number).
pub(super) fn wrap_stride(st: i64, bits: u32) -> i64 {
    if bits >= 64 {
        st
    } else {
        let m = 1i128 << bits;
        let r = (st as i128).rem_euclid(m);
        (if r >= m / 2 { r - m } else { r }) as i64
    }
}

pub(super) fn constant(s: Src) -> Option<u64> {
    match s {
        Src::Imm(v) => Some(v),
        _ => None,
    }
}

fn hull(a: Range, b: Range) -> Range {
    match (a, b) {
        (Some((l1, h1)), Some((l2, h2))) => Some((l1.min(l2), h1.max(h2))),
        _ => None,
    }
}

fn add_ranges(a: Range, b: Range, sign: i128) -> Range {
    let ((l1, h1), (l2, h2)) = (a?, b?);
    let r = if sign > 0 {
        (l1 + l2, h1 + h2)
    } else {
        (l1 - h2, h1 - l2)
    };
    (r.0 >= 0).then_some(r)
}

fn mul_ranges(a: Range, b: Range) -> Range {
    let ((l1, h1), (l2, h2)) = (a?, b?);
    if l1 < 0 || l2 < 0 {
        return None;
    }
    Some((l1.checked_mul(l2)?, h1.checked_mul(h2)?))
}

/// The values of an integer type.
pub(super) fn type_range(ty: ScalarType) -> (i128, i128) {
    let b = ty.bits();
    if ty.is_signed_int() {
        (-(1i128 << (b - 1)), (1i128 << (b - 1)) - 1)
    } else {
        (0, (1i128 << b) - 1)
    }
}

/// The shape and range of a special register in blocks of shape `block`.
fn special_shape(sp: Special, block: Dim3, gid32: bool) -> (Shape, Range) {
    let g = GANG;
    let flat = block.y == 1 && block.z == 1;
    let lanes = block.count() as i128;
    match sp {
        Special::LaneId => (Shape::Affine(1), Some((0, lanes - 1))),
        Special::Gid => (
            Shape::Affine(1),
            Some((
                0,
                if gid32 {
                    (1i128 << 32) - 1
                } else {
                    u64::MAX as i128
                },
            )),
        ),
        Special::Tid(0) if flat || block.x % g == 0 => {
            (Shape::Affine(1), Some((0, block.x as i128 - 1)))
        }
        Special::Tid(1) if flat => (Shape::Uniform, Some((0, 0))),
        Special::Tid(1) if block.x % g == 0 => (Shape::Uniform, Some((0, block.y as i128 - 1))),
        Special::Tid(2) if flat || (block.x * block.y) % g == 0 => {
            (Shape::Uniform, Some((0, block.z as i128 - 1)))
        }
        Special::Tid(_) => (Shape::Varying, None),
        Special::Ntid(a) => {
            let v = block.get(a) as i128;
            (Shape::Uniform, Some((v, v)))
        }
        Special::Ctaid(_) => (Shape::Uniform, Some((0, u32::MAX as i128))),
        Special::Nctaid(_) => (Shape::Uniform, Some((1, u32::MAX as i128))),
    }
}

/// The blocks that may run while lanes that took the other side of the
/// varying branch ending block `b` (to `target`) wait: everything
/// reachable from the side that runs first without passing the block where
/// the others wait; and when such a path jumps over that block or stops at
/// a barrier, everything reachable from it too (the waiting lanes then run
/// while the others wait further on or at the barrier: lanes may wait at
/// different `bar.sync`s).
fn divergent_region(an: &Analysis, b: usize, target: usize) -> Vec<usize> {
    let next = an.blocks[b].end;
    let (first, waits) = if target > next {
        (next, target)
    } else {
        (target, next)
    };
    let (Some(first), Some(wait)) = (an.block_starting(first), an.block_starting(waits)) else {
        return Vec::new();
    };
    let mut seen = vec![false; an.blocks.len()];
    let mut stack = vec![first];
    let mut jumps_over = false;
    while let Some(x) = stack.pop() {
        if x == wait || seen[x] {
            continue;
        }
        seen[x] = true;
        if an.ends_at_barrier(x) {
            jumps_over = true;
        }
        for s in an.succs[x].iter().flatten().copied() {
            if s > wait && an.blocks[x].start < an.blocks[wait].start {
                jumps_over = true;
            }
            stack.push(s);
        }
    }
    if jumps_over {
        let mut stack = vec![wait];
        while let Some(x) = stack.pop() {
            if seen[x] {
                continue;
            }
            seen[x] = true;
            stack.extend(an.succs[x].iter().flatten().copied());
        }
    }
    seen.iter()
        .enumerate()
        .filter(|(_, s)| **s)
        .map(|(i, _)| i)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A straight-line integer kernel from `picks` (op, type, operands),
    /// storing each written register's 64-bit contents after it.
    fn ranges_program(picks: &[(u8, u8, u8, u8, u16)]) -> String {
        const TYPES: [&str; 8] = ["u8", "u16", "u32", "u64", "i8", "i16", "i32", "i64"];
        const SPECIALS: [&str; 6] = ["%tid.x", "%laneid", "%gid", "%ctaid.x", "%ntid.x", "%tid.y"];
        let n = picks.len();
        let mut src = format!(".kernel k\n.param out buf\n mul.u64 r31, %gid, {}\n", 8 * n);
        for (i, &(op, ty, a, b, imm)) in picks.iter().enumerate() {
            let t = TYPES[ty as usize % TYPES.len()];
            // Immediates fit the type.
            let imm = imm % if t.ends_with('8') { 100 } else { 300 };
            let d = i % 6;
            let reg = |x: u8| format!("r{}", x % 6);
            let opnd = |x: u8| match x % 4 {
                0 | 1 => reg(x / 4),
                2 => SPECIALS[(x / 4) as usize % SPECIALS.len()].to_string(),
                _ => imm.to_string(),
            };
            let line = match op % 10 {
                0 => format!("mov.{t} r{d}, {}", opnd(a)),
                1 => format!("add.{t} r{d}, {}, {}", opnd(a), opnd(b)),
                2 => format!("sub.{t} r{d}, {}, {}", opnd(a), opnd(b)),
                3 => format!("mul.{t} r{d}, {}, {}", opnd(a), opnd(b)),
                4 => format!("shl.{t} r{d}, {}, {}", opnd(a), imm % 70),
                5 => format!("shr.{t} r{d}, {}, {}", opnd(a), imm % 70),
                6 => format!("and.{t} r{d}, {}, {imm}", opnd(a)),
                7 => format!("min.{t} r{d}, {}, {}", opnd(a), opnd(b)),
                8 => format!("max.{t} r{d}, {}, {}", opnd(a), opnd(b)),
                _ => {
                    let from = TYPES[b as usize % TYPES.len()];
                    format!("cvt.{t}.{from} r{d}, {}", reg(a))
                }
            };
            src += &format!(" {line}\n st.global.u64 [out + r31 + {}], r{d}\n", 8 * i);
        }
        src
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 256, ..Default::default() })]

        /// Every value the reference engine writes to a register lies in
        /// the register's range, as the JIT computes it on the kernel it
        /// compiles (renamed): the ranges decide which bounds tests the
        /// generated code leaves out (an offset that cannot overflow, a
        /// shared-memory access that cannot leave it).
        #[test]
        fn value_ranges_hold_every_value_the_reference_engine_writes(
            picks in proptest::collection::vec(
                (0u8..10, 0u8..8, proptest::prelude::any::<u8>(), proptest::prelude::any::<u8>(), 0u16..1000),
                1..14,
            ),
            bx in 1u32..40,
            by in 1u32..3,
            gx in 1u32..4,
        ) {
            let src = ranges_program(&picks);
            let p = crate::compile("t.lasm", &src).unwrap();
            let k = crate::engine::jit::rename::rename(&p.kernels[0], &Analysis::new(&p.kernels[0]));
            let an = Analysis::new(&k);
            let block = Dim3::new(bx, by, 1);
            let grid = Dim3::x(gx);
            let facts = Facts::new(&k, &an, block, true);
            let lanes = (block.count() * grid.count()) as usize;
            let out = std::sync::Arc::new(crate::memory::Buffer::zeroed(8 * picks.len() * lanes).unwrap());
            let args = crate::launch::BoundArgs { buffers: vec![out.clone()], scalars: vec![] };
            let spec = crate::engine::LaunchSpec {
                kernel: &k,
                grid,
                block,
                args: &args,
                max_steps: 1 << 20,
                stop: &crate::engine::StopFlag::new(),
            };
            crate::engine::reference::run(&spec).unwrap();
            // The stores in program order: the i-th stores instruction i's
            // register, as renamed.
            let stored: Vec<crate::kernel::Reg> = k.instrs.iter().filter_map(|ins| match ins.op {
                Op::Store { a: Src::Reg(r), .. } => Some(r),
                _ => None,
            }).collect();
            proptest::prop_assert_eq!(stored.len(), picks.len());
            for lane in 0..lanes {
                for (i, &r) in stored.iter().enumerate() {
                    let Some((lo, hi)) = facts.range(Src::Reg(r)) else { continue };
                    let bits = out.load((8 * (lane * picks.len() + i)) as u64, 8).unwrap();
                    // The contents extend the written type's value: read
                    // as signed where that type is.
                    let ty = match written_reg(&k.instrs[2 * i + 1].op) {
                        Some((_, ty)) => ty,
                        None => unreachable!("instruction {i} writes its register"),
                    };
                    let v = if ty.is_signed_int() { bits as i64 as i128 } else { bits as i128 };
                    proptest::prop_assert!(
                        lo <= v && v <= hi,
                        "lane {lane}, instruction {i}: {v} outside {lo}..={hi}\n{src}"
                    );
                }
            }
        }
    }

    fn shapes(src: &str, block: Dim3) -> Result<Shapes, NotGang> {
        let p = crate::compile("t.lasm", src).unwrap();
        let k = &p.kernels[0];
        let an = Analysis::new(k);
        Shapes::new(k, &an, &Facts::new(k, &an, block, true))
    }

    #[test]
    fn element_wise_indices_are_affine_and_data_varies() {
        let s = shapes(include_str!("../../ops/vector_add.lasm"), Dim3::x(256)).unwrap();
        assert_eq!(s.regs[0], Shape::Affine(1), "r0 = gid as u32");
        assert_eq!(s.regs[1], Shape::Affine(4), "r1 = r0 * 4 as u64");
        assert_eq!(s.regs[2], Shape::Varying);
        assert!(!s.uniform_preds[0], "gid >= n differs by lane");
        assert!(
            s.partial.iter().all(|p| !p),
            "an exit does not leave lanes waiting"
        );
        // Without the bound on %gid, `r0` (u32) read as u64 still cannot
        // wrap inside a gang: its gang base is a multiple of 4.
        let facts = |src: &str| {
            let p = crate::compile("t.lasm", src).unwrap();
            let k = &p.kernels[0];
            let an = Analysis::new(k);
            let s = Shapes::new(k, &an, &Facts::new(k, &an, Dim3::x(256), false)).unwrap();
            (s.regs[0], s.regs[1])
        };
        let add = include_str!("../../ops/vector_add.lasm");
        assert_eq!(facts(add), (Shape::Affine(1), Shape::Affine(4)));
        // `gid + 1` may: lanes 4m - 1 .. 4m + 2 straddle 2^32.
        let shifted = ".kernel k\n.param x buf\n mov.u32 r0, %gid\n add.u32 r0, r0, 1\n\
                       shl.u64 r1, r0, 2\n st.global.u32 [x + r1], r0\n";
        assert_eq!(facts(shifted), (Shape::Affine(1), Shape::Varying));
        // So may a stride that is not a power of two.
        let odd = ".kernel k\n.param x buf\n mov.u32 r2, %gid\n mul.u32 r0, r2, 3\n\
                   shl.u64 r1, r0, 2\n st.global.u32 [x + r1], r0\n";
        assert_eq!(facts(odd), (Shape::Affine(3), Shape::Varying));
    }

    #[test]
    fn gang_aligned_widening_needs_a_power_of_two_stride_and_an_aligned_base() {
        // Base multiple of 4 * stride, stride a power of two below the width.
        assert!(aligned_in_gang(1, 2, 32));
        assert!(aligned_in_gang(4, 4, 32));
        assert!(!aligned_in_gang(4, 3, 32));
        assert!(!aligned_in_gang(3, 8, 32));
        assert!(!aligned_in_gang(-1, 8, 32));
        assert!(aligned_in_gang(16, 6, 8) && !aligned_in_gang(64, 8, 8));
        // 2-D blocks: tid.x bases are multiples of 4 only when gangs fit
        // the rows; ctaid.x * ntid.x + tid.x then too (16 x 16 blocks).
        let col = ".kernel k\n.param x buf\n mov.u32 r2, %ctaid.x\n mul.u32 r3, r2, %ntid.x\n\
                   add.u32 r0, r3, %tid.x\n shl.u64 r1, r0, 2\n st.global.u32 [x + r1], r0\n";
        let p = crate::compile("t.lasm", col).unwrap();
        let k = &p.kernels[0];
        assert_eq!(gang_base_zeros(k, Dim3::new(16, 16, 1))[0], 2);
        assert_eq!(gang_base_zeros(k, Dim3::new(6, 2, 1))[0], 0);
    }

    #[test]
    fn uniform_loops_stay_uniform_and_divergent_loops_are_partial() {
        let src = ".kernel k\n.param n u32\n.param out buf\n mov.u32 r0, 0\n mov.u32 r1, %tid.x\n\
                   l: add.u32 r0, r0, 1\n setp.lt.u32 p0, r0, n\n @p0 bra l\n\
                   m: add.u32 r1, r1, 1\n setp.lt.u32 p1, r1, n\n @p1 bra m\n\
                   mul.u64 r2, r1, 4\n st.global.u32 [out + r2], r0\n";
        let s = shapes(src, Dim3::x(64)).unwrap();
        assert_eq!(s.regs[0], Shape::Uniform, "counted by every lane alike");
        assert!(s.uniform_preds[0]);
        assert!(!s.uniform_preds[1]);
        assert_eq!(
            s.regs[1],
            Shape::Varying,
            "written where only some lanes run"
        );
        let p = crate::compile("t.lasm", src).unwrap();
        let an = Analysis::new(&p.kernels[0]);
        let m = an.block_starting(5).unwrap();
        assert!(s.partial[m], "the second loop runs with some lanes waiting");
        assert!(!s.partial[an.block_starting(2).unwrap()]);
    }

    /// The shapes and ranges of the registers that the instructions at
    /// `pcs` write, in the kernel renamed as the JIT runs it.
    fn renamed_shapes(src: &str, block: Dim3, pcs: &[usize]) -> (Vec<Shape>, Vec<Range>) {
        let p = crate::compile("t.lasm", src).unwrap();
        let k = &p.kernels[0];
        let k = crate::engine::jit::rename::rename(k, &Analysis::new(k));
        let an = Analysis::new(&k);
        let facts = Facts::new(&k, &an, block, true);
        let s = Shapes::new(&k, &an, &facts).unwrap();
        let dest = |pc: usize| written_reg(&k.instrs[pc].op).unwrap().0 as usize;
        (
            pcs.iter().map(|&pc| s.regs[dest(pc)]).collect(),
            pcs.iter().map(|&pc| facts.ranges[dest(pc)]).collect(),
        )
    }

    #[test]
    fn block_local_registers_keep_their_shape_in_partial_blocks() {
        // block_sum's tree: `@!p2 bra skip` on `tid < s` leaves lanes
        // waiting, so its body is partial; `r6 = tid + s` and
        // `r6 = r6 << 2` are read only in that block.
        let src = include_str!("../../ops/block_sum.lasm");
        let (sh, ranges) = renamed_shapes(src, Dim3::x(256), &[15, 16, 17, 19, 22]);
        assert_eq!(sh[..2], [Shape::Affine(1), Shape::Affine(4)]);
        assert_eq!(sh[2..4], [Shape::Varying, Shape::Varying], "loaded, summed");
        // `s >>= 1` in the loop: the range widens down to 0 instead of
        // being lost, so `tid + s` cannot wrap and `<< 2` as u64 is affine.
        assert_eq!(ranges[4], Some((0, 128)));
        assert_eq!(ranges[0], Some((0, 255 + 128)));
        // Read after the partial block: lanes that skipped it keep their
        // old value.
        let live_out = ".kernel k\n.param x buf\n mov.u32 r0, %tid.x\n setp.lt.u32 p0, r0, 5\n\
                        @p0 bra done\n add.u32 r1, r0, 7\n done:\n shl.u64 r2, r1, 2\n\
                        st.global.u32 [x + r2], r0\n";
        let (sh, _) = renamed_shapes(live_out, Dim3::x(64), &[3]);
        assert_eq!(sh[0], Shape::Varying);
        // A uniform load or a division there may fault: only for the lanes
        // that run it, so it stays varying (the lane-by-lane path finds
        // the lane). An add cannot.
        for (op, want) in [
            ("ld.global.u32 r1, [x]", Shape::Varying),
            ("div.u32 r1, 7, n", Shape::Varying),
            ("add.u32 r1, r0, 7", Shape::Affine(1)),
        ] {
            let src = format!(
                ".kernel k\n.param x buf\n.param n u32\n mov.u32 r0, %tid.x\n\
                 setp.lt.u32 p0, r0, 5\n @p0 bra done\n {op}\n shl.u64 r2, r1, 2\n st.global.u32 [x + r2], r0\n\
                 done:\n st.global.u32 [x], r0\n"
            );
            let (sh, _) = renamed_shapes(&src, Dim3::x(64), &[3]);
            assert_eq!(sh[0], want, "{op}");
        }
    }

    #[test]
    fn loop_registers_no_waiting_lane_reads_keep_their_shape_in_partial_blocks() {
        // The op library's gather loop: lanes leave it at different trips
        // (`r2 >= n`), so its body is partial, but no lane waiting after
        // it reads its index or its count: `r2` stays affine, `r4` and
        // `p1` uniform.
        let gather = ".kernel k\n.param x buf\n.param n u32\n mov.u64 r0, %tid.x\n mov.u64 r2, r0\n\
                      mov.u32 r4, 8\n mov.u32 r3, 0\ng:\n setp.ge.u64 p0, r2, n\n @p0 bra t\n\
                      shl.u64 r5, r2, 2\n ld.global.u32 r6, [x + r5]\n add.u32 r3, r3, r6\n\
                      add.u64 r2, r2, 256\n sub.u32 r4, r4, 1\n setp.ne.u32 p1, r4, 0\n @p1 bra g\n\
                      t:\n shl.u64 r7, r0, 2\n st.global.u32 [x + r7], r3\n";
        let (sh, _) = renamed_shapes(gather, Dim3::x(256), &[9, 10]);
        assert_eq!(sh, [Shape::Affine(1), Shape::Uniform]);
        let k = crate::compile("t.lasm", gather).unwrap().kernels[0].clone();
        let an = Analysis::new(&k);
        let s = Shapes::new(&k, &an, &Facts::new(&k, &an, Dim3::x(256), true)).unwrap();
        assert!(s.uniform_preds[1] && !s.uniform_preds[0]);
        // Read after the loop by the lanes that left it early: varying.
        let read_after = gather.replace("st.global.u32 [x + r7], r3", "st.global.u32 [x + r7], r4");
        let (sh, _) = renamed_shapes(&read_after, Dim3::x(256), &[10]);
        assert_eq!(sh, [Shape::Varying]);
        // Lanes 2 and 3 wait at the first barrier, before the block where
        // lanes 0 and 1 write `r1`, and read it after that barrier.
        let barrier = ".kernel k\n.param x buf\n mov.u32 r0, %laneid\n setp.lt.u32 p0, r0, 2\n\
                       @p0 bra a\n bar.sync\n shl.u32 r2, r0, 2\n st.global.u32 [x + r2], r1\n exit\n\
                       a:\n mov.u32 r1, 5\n bar.sync\n";
        let (sh, _) = renamed_shapes(barrier, Dim3::x(64), &[7]);
        assert_eq!(sh, [Shape::Varying]);
    }

    #[test]
    fn two_d_blocks_keep_rows_uniform_when_gangs_fit_a_row() {
        let src = ".kernel k\n mov.u32 r0, %tid.x\n mov.u32 r1, %tid.y\n";
        let s = shapes(src, Dim3::new(16, 16, 1)).unwrap();
        assert_eq!((s.regs[0], s.regs[1]), (Shape::Affine(1), Shape::Uniform));
        let s = shapes(src, Dim3::new(6, 4, 1)).unwrap();
        assert_eq!((s.regs[0], s.regs[1]), (Shape::Varying, Shape::Varying));
        assert!(
            shapes(src, Dim3::new(1, 2, 1)).is_err(),
            "smaller than a gang"
        );
    }
}
