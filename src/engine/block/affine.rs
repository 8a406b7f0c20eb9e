//! Symbolic registers: values that are an affine function of the lane.
//!
//! Index arithmetic in kernels is mostly uniform (`n`, `%ntid.x`,
//! `%ctaid.x * 256`) or affine in the lane (`%gid`, `%tid.x`, `gid * 4`).
//! Materializing such values lane by lane, and then scanning addresses built
//! from them to discover that they are contiguous, is most of the work of an
//! element-wise kernel. So a register written by the whole unit (every lane
//! of the fused blocks at once) may be kept as an [`Affine`] instead: lane
//! `L` of the unit, in block `j = L / n` at in-block lane `l = L % n`, holds
//! `base + stride * l + step * j` (wrapping 64-bit arithmetic on register
//! bits). Uniform values are `stride = step = 0`.
//!
//! Integer operations are carried out on [`Exact`] values: the *typed* value
//! of every lane as an unbounded (`i128`) integer. A result is kept symbolic
//! only when every lane's exact result lies in the type's range, so the
//! wrapping semantics of the instruction cannot differ from exact arithmetic;
//! otherwise the engine materializes the operands and runs the ordinary lane
//! loop. The extremes of an affine function over the box
//! `l in 0..n, j in 0..k` are at its corners, so four evaluations decide it.

use super::lanes::{LaneSet, View};
use super::mem::{affine_run_start, affine_runs, load_contiguous, store_contiguous};
use super::narrow::{is_narrow, lanes32_mut};
use super::{BlockLaunch, BlockState, LaneFault, Unit, alu, lanes32_of};

use crate::kernel::{ArithOp, BitOp, CmpOp, Op, SignOp, Space, Special, Src};
use crate::launch::{Dim3, FaultKind};
use crate::memory::{ByteMemory, check_access};
use crate::types::ScalarType;

/// Register bits of lane `(l, j)`: `base + stride * l + step * j`, wrapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Affine {
    pub base: u64,
    pub stride: u64,
    pub step: u64,
}

/// The shape of a unit: `k` fused blocks of `n` lanes each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    pub n: usize,
    pub k: usize,
}

impl Shape {
    /// All lanes of the unit.
    pub fn lanes(self) -> usize {
        self.n * self.k
    }
}

/// Typed lane values `base + stride * l + step * j`, exactly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exact {
    pub base: i128,
    pub stride: i128,
    pub step: i128,
}

impl Affine {
    /// The same value in every lane.
    pub const fn uniform(v: u64) -> Affine {
        Affine {
            base: v,
            stride: 0,
            step: 0,
        }
    }

    /// The unit's value if it is the same in every lane.
    pub fn as_uniform(self, shape: Shape) -> Option<u64> {
        let stride_matters = shape.n > 1 && self.stride != 0;
        let step_matters = shape.k > 1 && self.step != 0;
        (!stride_matters && !step_matters).then_some(self.base)
    }

    /// Lane `L`'s bits.
    #[cfg(test)]
    pub fn at(self, shape: Shape, lane: usize) -> u64 {
        let (l, j) = (lane % shape.n, lane / shape.n);
        self.base
            .wrapping_add(self.stride.wrapping_mul(l as u64))
            .wrapping_add(self.step.wrapping_mul(j as u64))
    }

    /// Writes every lane's bits into `out[..shape.lanes()]`.
    pub fn materialize(self, shape: Shape, out: &mut [u64]) {
        let out = &mut out[..shape.lanes()];
        for (j, block) in out.chunks_exact_mut(shape.n).enumerate() {
            let first = self.base.wrapping_add(self.step.wrapping_mul(j as u64));
            for (l, o) in block.iter_mut().enumerate() {
                *o = first.wrapping_add(self.stride.wrapping_mul(l as u64));
            }
        }
    }

    /// Lane `L` holds `base + stride * L` over the whole unit (a single
    /// run, not one per block).
    pub fn linear_in_unit(self, shape: Shape) -> bool {
        shape.k == 1 || self.step == self.stride.wrapping_mul(shape.n as u64)
    }
}

/// The range of an integer type's values; `None` for floats.
pub fn int_range(ty: ScalarType) -> Option<(i128, i128)> {
    if !ty.is_int() {
        return None;
    }
    let bits = ty.bits();
    Some(if ty.is_signed_int() {
        (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1)
    } else {
        (0, (1i128 << bits) - 1)
    })
}

/// The typed value of register bits `v` as an exact integer.
fn typed(ty: ScalarType, v: u64) -> i128 {
    let bits = ty.bits();
    let low = if bits == 64 {
        v as u128
    } else {
        (v as u128) & ((1u128 << bits) - 1)
    };
    if ty.is_signed_int() && low >> (bits - 1) & 1 == 1 {
        low as i128 - (1i128 << bits)
    } else {
        low as i128
    }
}

impl Exact {
    /// The smallest and largest value over the unit.
    fn extremes(self, shape: Shape) -> (i128, i128) {
        let (ln, lk) = ((shape.n - 1) as i128, (shape.k - 1) as i128);
        let (a0, a1) = (0i128.min(self.stride * ln), 0i128.max(self.stride * ln));
        let (b0, b1) = (0i128.min(self.step * lk), 0i128.max(self.step * lk));
        (self.base + a0 + b0, self.base + a1 + b1)
    }

    /// `self + other`, exactly (`None` only if `i128` overflows).
    pub fn add(self, o: Exact) -> Option<Exact> {
        Some(Exact {
            base: self.base.checked_add(o.base)?,
            stride: self.stride.checked_add(o.stride)?,
            step: self.step.checked_add(o.step)?,
        })
    }

    /// `-self`.
    pub fn neg(self) -> Option<Exact> {
        Some(Exact {
            base: self.base.checked_neg()?,
            stride: self.stride.checked_neg()?,
            step: self.step.checked_neg()?,
        })
    }

    /// `self * c` for a uniform `c`.
    pub fn scale(self, c: i128) -> Option<Exact> {
        Some(Exact {
            base: self.base.checked_mul(c)?,
            stride: self.stride.checked_mul(c)?,
            step: self.step.checked_mul(c)?,
        })
    }

    /// The value if it is the same in every lane.
    pub fn as_uniform(self, shape: Shape) -> Option<i128> {
        let (lo, hi) = self.extremes(shape);
        (lo == hi).then_some(lo)
    }
}

/// The typed values of `a`'s lanes as an exact affine function, if they are
/// one (no lane wraps around the type's range). Integer types only.
pub fn exact(a: Affine, ty: ScalarType, shape: Shape) -> Option<Exact> {
    let (lo, hi) = int_range(ty)?;
    // Strides are taken modulo the type's width as signed numbers: the
    // typed value of every lane is then congruent to the candidate below,
    // and equal to it when the candidate stays inside the type's range.
    let signed = |v: u64| typed(signed_of(ty), v);
    let e = Exact {
        base: typed(ty, a.base),
        stride: if shape.n > 1 { signed(a.stride) } else { 0 },
        step: if shape.k > 1 { signed(a.step) } else { 0 },
    };
    let (min, max) = e.extremes(shape);
    (min >= lo && max <= hi).then_some(e)
}

/// The signed integer type of `ty`'s width.
fn signed_of(ty: ScalarType) -> ScalarType {
    match ty.bits() {
        8 => ScalarType::I8,
        16 => ScalarType::I16,
        32 => ScalarType::I32,
        _ => ScalarType::I64,
    }
}

/// Register bits for exact typed values `e` of type `ty`, if every lane's
/// value is in the type's range (so it is what the instruction computes).
pub fn from_exact(e: Exact, ty: ScalarType, shape: Shape) -> Option<Affine> {
    let (lo, hi) = int_range(ty)?;
    let (min, max) = e.extremes(shape);
    if min < lo || max > hi {
        return None;
    }
    // Both sign- and zero-extension are congruent to the value modulo 2^64,
    // so the bits are the value's affine function taken modulo 2^64.
    let bits = |v: i128| ty.extend(v as u64);
    Some(Affine {
        base: bits(e.base),
        stride: e.stride as u64,
        step: e.step as u64,
    })
}

/// Comparison of exact values with zero: `d cmp 0`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sign {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

impl Sign {
    #[inline]
    fn holds(self, d: i128) -> bool {
        match self {
            Sign::Lt => d < 0,
            Sign::Le => d <= 0,
            Sign::Gt => d > 0,
            Sign::Ge => d >= 0,
            Sign::Eq => d == 0,
            Sign::Ne => d != 0,
        }
    }
}

/// `p[l] = (d0 + s * l) cmp 0` for every `l` of `p`, in O(log len) steps
/// plus the fill: the predicate of an affine sequence against zero switches
/// at most once (orderings) or holds or fails in at most one lane (`eq`,
/// `ne`). True when every lane got the same value.
pub fn fill_cmp(p: &mut [bool], d0: i128, s: i128, cmp: Sign) -> bool {
    let len = p.len();
    if len == 0 {
        return true;
    }
    let f = |l: usize| cmp.holds(d0 + s * l as i128);
    match cmp {
        Sign::Eq | Sign::Ne => {
            let off = cmp == Sign::Ne;
            p.fill(off);
            if s == 0 {
                if d0 == 0 {
                    p.fill(!off);
                }
            } else if (-d0) % s == 0 {
                let l = (-d0) / s;
                if (0..len as i128).contains(&l) {
                    p[l as usize] = !off;
                    return len == 1;
                }
            }
            true
        }
        _ => {
            // Monotone: find the first lane whose answer differs from lane 0's.
            let first = f(0);
            let (mut lo, mut hi) = (0usize, len);
            while lo + 1 < hi {
                let mid = lo + (hi - lo) / 2;
                if f(mid) == first { lo = mid } else { hi = mid }
            }
            p[..hi].fill(first);
            p[hi..].fill(!first);
            hi == len
        }
    }
}

/// Lane-independent or lane-affine special registers of a unit.
pub fn special(block: Dim3, grid: Dim3, first: u64, shape: Shape, sp: Special) -> Option<Affine> {
    // Axis `a` of a box `d` at linear index `i` is `(i / below) % d[a]`.
    let split = |d: Dim3, a: u8| {
        let dims = [d.x.max(1) as u64, d.y.max(1) as u64, d.z.max(1) as u64];
        let below: u64 = dims[..a as usize].iter().product();
        let above: u64 = dims[a as usize + 1..].iter().product();
        (below, dims[a as usize], above)
    };
    let lane = Affine {
        base: 0,
        stride: 1,
        step: 0,
    };
    Some(match sp {
        Special::Ntid(a) => Affine::uniform(block.get(a) as u64),
        Special::Nctaid(a) => Affine::uniform(grid.get(a) as u64),
        Special::LaneId => lane,
        Special::Gid => Affine {
            base: first.wrapping_mul(shape.n as u64),
            stride: 1,
            step: shape.n as u64,
        },
        Special::Tid(a) => {
            let (below, this, above) = split(block, a);
            if this == 1 {
                Affine::uniform(0)
            } else if below == 1 && above == 1 {
                lane
            } else {
                return None;
            }
        }
        Special::Ctaid(a) => {
            let (below, this, _) = split(grid, a);
            let last = first + shape.k as u64 - 1;
            if first / below == last / below {
                Affine::uniform((first / below) % this)
            } else if below == 1 && first / this == last / this {
                Affine {
                    base: first % this,
                    stride: 0,
                    step: 1,
                }
            } else {
                return None;
            }
        }
    })
}

/// The destination and sources of a register-to-register instruction whose
/// result depends on nothing but its sources.
fn alu_operands(op: Op) -> Option<(u8, [Option<Src>; 3])> {
    Some(match op {
        Op::Mov { d, a, .. }
        | Op::Not { d, a, .. }
        | Op::Sign { d, a, .. }
        | Op::Math { d, a, .. }
        | Op::Cvt { d, a, .. } => (d, [Some(a), None, None]),
        Op::Arith { d, a, b, .. } | Op::Div { d, a, b, .. } | Op::Bit { d, a, b, .. } => {
            (d, [Some(a), Some(b), None])
        }
        Op::Fma { d, a, b, c, .. } => (d, [Some(a), Some(b), Some(c)]),
        _ => return None,
    })
}

/// Runs a register-to-register instruction once, on uniform sources.
fn eval_uniform(op: Op, v: [u64; 3]) -> Result<u64, FaultKind> {
    let s = |i: usize| View::Splat(v[i]);
    let set = LaneSet::All(1);
    let mut d = [0u64];
    match op {
        Op::Mov { ty, .. } => alu::mov(set, ty, &mut d, s(0)),
        Op::Arith { op, ty, .. } => alu::arith(set, op, ty, &mut d, s(0), s(1)),
        Op::Div { op, ty, .. } => {
            alu::div(set, op, ty, &mut d, s(0), s(1)).map_err(|_| FaultKind::DivisionByZero)?
        }
        Op::Fma { ty, .. } => alu::fma(set, ty, &mut d, s(0), s(1), s(2)),
        Op::Bit { op, ty, .. } => alu::bit(set, op, ty, &mut d, s(0), s(1)),
        Op::Not { ty, .. } => alu::not(set, ty, &mut d, s(0)),
        Op::Sign { op, ty, .. } => alu::sign(set, op, ty, &mut d, s(0)),
        Op::Math { op, ty, .. } => alu::math(set, op, ty, &mut d, s(0)),
        Op::Cvt { to, from, .. } => alu::cvt(set, to, from, &mut d, s(0)),
        _ => unreachable!("not a register-to-register instruction"),
    }
    Ok(d[0])
}

impl BlockState {
    /// Source `s` as a symbolic value over the unit, if it is one.
    pub(super) fn aff_src(&self, launch: &BlockLaunch<'_>, pos: Unit, s: Src) -> Option<Affine> {
        let spec = launch.spec;
        match s {
            Src::Reg(r) => self.aff[r as usize],
            Src::Imm(v) => Some(Affine::uniform(v)),
            Src::Param(p) => Some(Affine::uniform(spec.args.scalars[p as usize])),
            Src::Special(sp) => special(spec.block, spec.grid, pos.first, pos.shape, sp),
        }
    }

    /// Runs `op` for the whole unit on symbolic values, if its operands
    /// allow: true when done (the result is symbolic, or stored, or loaded
    /// into a materialized destination), false when the lane loops must run
    /// it. Never partially done when it returns false.
    pub(super) fn exec_affine(
        &mut self,
        launch: &BlockLaunch<'_>,
        pos: Unit,
        op: Op,
    ) -> Result<bool, LaneFault> {
        let shape = pos.shape;
        let src = |s: Src| self.aff_src(launch, pos, s);
        let uni = |s: Src| src(s)?.as_uniform(shape);
        let ex = |s: Src, ty: ScalarType| exact(src(s)?, ty, shape);

        // Every source uniform: compute once.
        if let Some((d, srcs)) = alu_operands(op) {
            let mut vals = [0u64; 3];
            let mut all = true;
            for (v, s) in vals.iter_mut().zip(srcs) {
                match s.map(uni) {
                    Some(Some(x)) => *v = x,
                    Some(None) => all = false,
                    None => {}
                }
            }
            if all {
                // Every lane divides by the same zero: the lowest lane faults.
                let v = eval_uniform(op, vals).map_err(|k| (0, k))?;
                self.aff[d as usize] = Some(Affine::uniform(v));
                self.narrow[d as usize] = None;
                return Ok(true);
            }
        }

        // Integer index arithmetic on affine values.
        let fin = |e: Option<Exact>, ty: ScalarType| from_exact(e?, ty, shape);
        let product = |a: Src, b: Src, ty: ScalarType| -> Option<Exact> {
            let (x, y) = (ex(a, ty)?, ex(b, ty)?);
            match (x.as_uniform(shape), y.as_uniform(shape)) {
                (_, Some(c)) => x.scale(c),
                (Some(c), _) => y.scale(c),
                _ => None,
            }
        };
        let result = match op {
            Op::Mov { ty, d, a } => fin(ex(a, ty), ty).map(|r| (d, r)),
            Op::Arith { op, ty, d, a, b } => {
                let e = match op {
                    ArithOp::Add => ex(a, ty).zip(ex(b, ty)).and_then(|(x, y)| x.add(y)),
                    ArithOp::Sub => ex(a, ty)
                        .zip(ex(b, ty).and_then(Exact::neg))
                        .and_then(|(x, y)| x.add(y)),
                    ArithOp::Mul => product(a, b, ty),
                    ArithOp::Min | ArithOp::Max => None,
                };
                fin(e, ty).map(|r| (d, r))
            }
            Op::Fma { ty, d, a, b, c } if ty.is_int() => {
                let e = product(a, b, ty).zip(ex(c, ty)).and_then(|(x, y)| x.add(y));
                fin(e, ty).map(|r| (d, r))
            }
            Op::Bit {
                op: BitOp::Shl,
                ty,
                d,
                a,
                b,
            } => {
                let ty = ty.scalar();
                // `shl` shifts by the amount modulo the width.
                let e = uni(b).and_then(|k| {
                    let k = k as u32 & (ty.bits() - 1);
                    ex(a, ty)?.scale(1i128 << k)
                });
                fin(e, ty).map(|r| (d, r))
            }
            Op::Sign {
                op: SignOp::Neg,
                ty,
                d,
                a,
            } => {
                let ty = ty.scalar();
                fin(ex(a, ty).and_then(Exact::neg), ty).map(|r| (d, r))
            }
            Op::Cvt { to, from, d, a } if to.is_int() && from.is_int() => {
                // Integer conversions keep every value the target can hold.
                fin(ex(a, from), to).map(|r| (d, r))
            }
            _ => None,
        };
        if let Some((d, r)) = result {
            self.aff[d as usize] = Some(r);
            self.narrow[d as usize] = None;
            return Ok(true);
        }

        match op {
            Op::Setp { cmp, ty, p, a, b } => {
                let lanes = shape.lanes();
                if let (Some(x), Some(y)) = (uni(a), uni(b)) {
                    let mut out = [false];
                    alu::setp(
                        LaneSet::All(1),
                        cmp,
                        ty,
                        &mut out,
                        View::Splat(x),
                        View::Splat(y),
                    );
                    self.preds[p as usize][..lanes].fill(out[0]);
                    self.pred_uniform[p as usize] = Some(out[0]);
                    return Ok(true);
                }
                if !ty.is_int() {
                    return Ok(false);
                }
                // `a cmp b` is `(a - b) cmp 0` on exact values.
                let Some(diff) = ex(a, ty)
                    .zip(ex(b, ty).and_then(Exact::neg))
                    .and_then(|(x, y)| x.add(y))
                else {
                    return Ok(false);
                };
                let sign = match cmp {
                    CmpOp::Eq => Sign::Eq,
                    CmpOp::Ne => Sign::Ne,
                    CmpOp::Lt => Sign::Lt,
                    CmpOp::Le => Sign::Le,
                    CmpOp::Gt => Sign::Gt,
                    CmpOp::Ge => Sign::Ge,
                };
                let pv = &mut self.preds[p as usize][..lanes];
                let uniform = if shape.k == 1 || diff.step == diff.stride * shape.n as i128 {
                    fill_cmp(pv, diff.base, diff.stride, sign)
                } else {
                    let mut all = true;
                    for (j, block) in pv.chunks_exact_mut(shape.n).enumerate() {
                        all &=
                            fill_cmp(block, diff.base + diff.step * j as i128, diff.stride, sign);
                    }
                    // Uniform within every block, and the blocks agree.
                    all && pv.chunks_exact(shape.n).all(|b| b[0] == pv[0])
                };
                if uniform {
                    self.pred_uniform[p as usize] = pv.first().copied();
                }
                Ok(true)
            }
            Op::Load { space, ty, d, addr } => {
                let Some(off) = addr
                    .reg
                    .map_or(Some(Affine::uniform(0)), |r| self.aff[r as usize])
                else {
                    return Ok(false);
                };
                let spec = launch.spec;
                let BlockState {
                    regs,
                    regs32,
                    aff,
                    narrow,
                    frozen32,
                    shared,
                    ..
                } = self;
                macro_rules! on_memory {
                    (|$m:ident| $body:expr) => {
                        match space {
                            Space::Global => {
                                let $m = &*spec.args.buffers[addr.buffer as usize];
                                $body
                            }
                            Space::Shared => {
                                let $m = &*shared;
                                $body
                            }
                        }
                    };
                }
                let size = ty.size();
                on_memory!(|m| {
                    if let Some(o) = off.as_uniform(shape) {
                        // Every lane reads the same element.
                        let Some(at) = addr
                            .offset(o)
                            .and_then(|o| check_access(o, size, m.len()).ok())
                        else {
                            return Ok(false);
                        };
                        aff[d as usize] = Some(Affine::uniform(ty.extend(m.load_at(at, size))));
                        narrow[d as usize] = None;
                        return Ok(true);
                    }
                    let Some((runs, per_run)) = affine_runs(addr, off, shape, size, m.len()) else {
                        return Ok(false);
                    };
                    let lanes = |i: usize| i * per_run..(i + 1) * per_run;
                    // A buffer nothing writes during the launch.
                    let frozen = match space {
                        Space::Global => launch.access.frozen(addr.buffer as usize),
                        Space::Shared => None,
                    };
                    if is_narrow(ty)
                        && runs == 1
                        && frozen.is_some_and(|f| f.elements32().is_some())
                    {
                        // Nothing writes this buffer during the launch: the
                        // register is a view of the run, no copy.
                        let start = affine_run_start(addr, off, 0);
                        frozen32[d as usize] = Some((addr.buffer, start / 4));
                        narrow[d as usize] = Some(ty == ScalarType::I32);
                        aff[d as usize] = None;
                        return Ok(true);
                    }
                    if is_narrow(ty) {
                        // Straight into a 32-bit vector.
                        let out = &mut regs32[d as usize];
                        out.resize(shape.lanes().div_ceil(2), 0);
                        let out = lanes32_mut(out);
                        for i in 0..runs {
                            let start = affine_run_start(addr, off, i);
                            match frozen {
                                // Plain, vectorized copies.
                                Some(f) => f.load_run32(start, &mut out[lanes(i)]),
                                None => m.load_run32(start, &mut out[lanes(i)]),
                            }
                        }
                        narrow[d as usize] = Some(ty == ScalarType::I32);
                        frozen32[d as usize] = None;
                    } else {
                        let out = &mut regs[d as usize];
                        for i in 0..runs {
                            let start = affine_run_start(addr, off, i);
                            load_contiguous(m, start, ty, &mut out[lanes(i)]);
                        }
                        narrow[d as usize] = None;
                    }
                    aff[d as usize] = None;
                    Ok(true)
                })
            }
            Op::Store { space, ty, addr, a } => {
                let Some(off) = addr
                    .reg
                    .map_or(Some(Affine::uniform(0)), |r| self.aff[r as usize])
                else {
                    return Ok(false);
                };
                if off.as_uniform(shape).is_some() {
                    // Every lane writes one element: the lane loop orders them.
                    return Ok(false);
                }
                // Where the stored values come from. A 32-bit vector holds
                // the low halves: enough for a 4-byte store, and otherwise
                // the lane loop widens it.
                enum Stored {
                    Narrow(usize),
                    Lanes(usize),
                    Splat(u64),
                }
                let stored = match a {
                    Src::Reg(r) if self.narrow[r as usize].is_some() => {
                        if ty.size() != 4 {
                            return Ok(false);
                        }
                        Stored::Narrow(r as usize)
                    }
                    Src::Reg(r) if self.aff[r as usize].is_none() => Stored::Lanes(r as usize),
                    _ => match uni(a) {
                        Some(v) => Stored::Splat(v),
                        None => return Ok(false),
                    },
                };
                let spec = launch.spec;
                let size = ty.size();
                let BlockState {
                    regs,
                    regs32,
                    frozen32,
                    shared,
                    ..
                } = self;
                macro_rules! run {
                    ($m:expr) => {{
                        let m = $m;
                        let Some((runs, per_run)) = affine_runs(addr, off, shape, size, m.len())
                        else {
                            return Ok(false);
                        };
                        for i in 0..runs {
                            let start = affine_run_start(addr, off, i);
                            let lanes = i * per_run..(i + 1) * per_run;
                            match stored {
                                Stored::Narrow(r) => m.store_run32(
                                    start,
                                    &lanes32_of(regs32, frozen32, launch, r)[lanes],
                                ),
                                Stored::Lanes(r) => {
                                    store_contiguous(m, start, ty, View::Lanes(&regs[r]), lanes);
                                }
                                Stored::Splat(v) => {
                                    store_contiguous(m, start, ty, View::Splat(v), lanes);
                                }
                            }
                        }
                        Ok(true)
                    }};
                }
                match space {
                    Space::Global => run!(&*spec.args.buffers[addr.buffer as usize]),
                    Space::Shared => run!(&*shared),
                }
            }
            _ => Ok(false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_cmp_matches_lane_by_lane() {
        let cmps = [Sign::Lt, Sign::Le, Sign::Gt, Sign::Ge, Sign::Eq, Sign::Ne];
        for len in 0..12usize {
            for d0 in -15i128..15 {
                for s in -4i128..=4 {
                    for cmp in cmps {
                        let mut p = vec![false; len];
                        let uniform = fill_cmp(&mut p, d0, s, cmp);
                        assert_eq!(uniform, p.iter().all(|&v| v == p[0]), "{d0} {s} {cmp:?}");
                        for (l, &v) in p.iter().enumerate() {
                            assert_eq!(v, cmp.holds(d0 + s * l as i128), "{d0} {s} {cmp:?} {l}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn exact_round_trips_and_rejects_wrapping() {
        let shape = Shape { n: 4, k: 3 };
        // u32 lanes 10 + 3l + 100j.
        let a = Affine {
            base: 10,
            stride: 3,
            step: 100,
        };
        let e = exact(a, ScalarType::U32, shape).unwrap();
        assert_eq!(
            e,
            Exact {
                base: 10,
                stride: 3,
                step: 100
            }
        );
        assert_eq!(from_exact(e, ScalarType::U32, shape), Some(a));
        // Subtracting 20 goes below zero for lane 0: not representable as u32
        // without wrapping, but fine as s32.
        let d = e
            .add(Exact {
                base: -20,
                stride: 0,
                step: 0,
            })
            .unwrap();
        assert_eq!(from_exact(d, ScalarType::U32, shape), None);
        let s = from_exact(d, ScalarType::I32, shape).unwrap();
        for lane in 0..shape.lanes() {
            let (l, j) = (lane % 4, lane / 4);
            let want = (10 + 3 * l as i64 + 100 * j as i64 - 20) as u64;
            assert_eq!(s.at(shape, lane), want);
        }
        // Bits that wrap within the unit in the type are not exact.
        let w = Affine {
            base: u32::MAX as u64 - 1,
            stride: 1,
            step: 0,
        };
        assert_eq!(exact(w, ScalarType::U32, Shape { n: 4, k: 1 }), None);
        // Negative strides are read as signed in the type's width.
        let down = Affine {
            base: 100,
            stride: u32::MAX as u64,
            step: 0,
        };
        let e = exact(down, ScalarType::U32, Shape { n: 4, k: 1 }).unwrap();
        assert_eq!(e.stride, -1);
    }

    #[test]
    fn materialize_matches_at() {
        let shape = Shape { n: 5, k: 3 };
        let a = Affine {
            base: u64::MAX - 3,
            stride: 7,
            step: u64::MAX,
        };
        let mut out = vec![0; 15];
        a.materialize(shape, &mut out);
        for (lane, &v) in out.iter().enumerate() {
            assert_eq!(v, a.at(shape, lane));
        }
        assert!(!a.linear_in_unit(shape));
        let lin = Affine {
            base: 0,
            stride: 4,
            step: 20,
        };
        assert!(lin.linear_in_unit(shape));
    }
}
