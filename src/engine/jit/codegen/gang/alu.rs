//! Computing instructions across a gang: once on lane 0's values when the
//! result is uniform or affine, on vectors when the machine has the
//! operation, lane by lane (the one-lane translation) otherwise.

use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{BlockArg, InstBuilder, MemFlagsData, Value, types};

use super::vector::{self, GVal, Vector, is_wide, map1, materialize, zip2};
use super::{GPred, Gang, Mode, Slot};
use crate::engine::jit::codegen::alu::{self, float_cc, int_cc};
use crate::engine::jit::codegen::functions::{self, Emit};
use crate::engine::jit::codegen::{FaultCall, LaneCode};
use crate::engine::jit::shape::Shape;
use crate::kernel::flow::{for_each_src, written_reg};
use crate::kernel::{ArithOp, BitOp, CmpOp, DivOp, Instr, MathOp, Op, PredOp, SignOp, Src};
use crate::types::ScalarType;

/// The type an instruction reads its source operands as.
fn source_type(op: &Op) -> Option<ScalarType> {
    match *op {
        Op::Cvt { from, .. } => Some(from),
        Op::Setp { ty, .. } => Some(ty),
        _ => written_reg(op).map(|(_, t)| t),
    }
}

impl<'a> Gang<'a> {
    /// Emits a computing instruction; `run_bits` are the lanes that run it.
    pub(super) fn alu(&mut self, pc: usize, instr: Instr, run_bits: Value) {
        let op = instr.op;
        // Integer division may fault: only the lanes that run it divide.
        if let Op::Div { ty, b, .. } = op {
            if !ty.is_float() && (self.write_mask.is_some() || !self.all_uniform(&op)) {
                if self.sh.read(b, ty) == Shape::Uniform {
                    self.divide_by_uniform(pc, b, ty, run_bits);
                } else {
                    self.per_lane(pc, run_bits, true, |g, pc| {
                        alu::alu(g, pc, g.kernel.instrs[pc].op)
                    });
                }
                return;
            }
        }
        let scalar_dest = match written_reg(&op) {
            Some((d, _)) => matches!(self.slot(d), Slot::Scalar(_)),
            None => match op {
                Op::Setp { p, .. } | Op::PredLogic { d: p, .. } | Op::PredNot { d: p, .. } => {
                    self.sh.uniform_preds[p as usize]
                }
                _ => false,
            },
        };
        if scalar_dest || self.all_uniform(&op) {
            // Uniform work (or an affine register's base): once, on lane 0.
            self.mode = Mode::Uniform;
            alu::alu(self, pc, op);
            return;
        }
        if self.vector_op(pc, op, run_bits) {
            return;
        }
        self.per_lane(pc, run_bits, false, |g, pc| {
            alu::alu(g, pc, g.kernel.instrs[pc].op)
        });
    }

    /// An integer division (the instruction at `pc`) by uniform divisor
    /// `b` (`%gid rem width`), `run_bits` the lanes that run it: when some
    /// lane does, one zero check for the gang, which faults in the lowest
    /// lane that runs it, the one that would meet it first; then every
    /// lane divides with no branch (a lane that does not run divides by
    /// the same non-zero divisor, its result discarded). When no lane runs
    /// it, nothing divides: the divisor may be zero.
    fn divide_by_uniform(&mut self, pc: usize, b: Src, ty: ScalarType, run_bits: Value) {
        let GVal::Uni(y) = self.gval(b, ty) else {
            unreachable!("a uniform source reads as a scalar")
        };
        let (run, join) = (self.b.create_block(), self.b.create_block());
        self.b.ins().brif(run_bits, run, &[], join, &[]);
        self.b.switch_to_block(run);
        let zero = self.b.ins().icmp_imm_s(IntCC::Equal, y, 0);
        self.mode = Mode::Uniform;
        self.fault_bits = Some(run_bits);
        LaneCode::fault_if(self, zero, FaultCall::division(pc));
        self.fault_bits = None;
        self.divisor_checked = true;
        self.per_lane(pc, run_bits, false, |g, pc| {
            alu::alu(g, pc, g.kernel.instrs[pc].op)
        });
        self.divisor_checked = false;
        self.b.ins().jump(join, &[]);
        self.b.switch_to_block(join);
    }

    /// Whether every source operand (and predicate) of `op` is uniform.
    fn all_uniform(&self, op: &Op) -> bool {
        match *op {
            Op::PredLogic { a, b, .. } => {
                self.sh.uniform_preds[a as usize] && self.sh.uniform_preds[b as usize]
            }
            Op::PredNot { a, .. } => self.sh.uniform_preds[a as usize],
            _ => {
                let Some(ty) = source_type(op) else {
                    return false;
                };
                if let Op::Selp { p, .. } = *op {
                    if !self.sh.uniform_preds[p as usize] {
                        return false;
                    }
                }
                let mut all = true;
                for_each_src(op, |s| all &= self.sh.read(s, ty) == Shape::Uniform);
                all
            }
        }
    }

    /// Vectors of `a` and `b` read as `ty`.
    fn vec2(&mut self, a: Src, b: Src, ty: ScalarType) -> (Vector, Vector) {
        let x = self.gval(a, ty);
        let y = self.gval(b, ty);
        (
            materialize(&mut self.b, ty, x),
            materialize(&mut self.b, ty, y),
        )
    }

    fn vec1(&mut self, a: Src, ty: ScalarType) -> Vector {
        let x = self.gval(a, ty);
        materialize(&mut self.b, ty, x)
    }

    /// The instruction at `pc` on vectors, when the machine has it
    /// (`run_bits`: the lanes that run it): `false` leaves it to the
    /// lane-by-lane path.
    fn vector_op(&mut self, pc: usize, op: Op, run_bits: Value) -> bool {
        let small_or_32 = |ty: ScalarType| !ty.is_float() && ty.size() <= 4;
        match op {
            Op::Mov { ty, d, a } => {
                let v = self.gval(a, ty);
                self.write_gval(d, ty, v);
            }
            Op::Arith { op, ty, d, a, b } => {
                let (x, y) = self.vec2(a, b, ty);
                let r = if ty.is_float() {
                    match op {
                        ArithOp::Add => zip2(&mut self.b, x, y, |b, p, q| b.ins().fadd(p, q)),
                        ArithOp::Sub => zip2(&mut self.b, x, y, |b, p, q| b.ins().fsub(p, q)),
                        ArithOp::Mul => zip2(&mut self.b, x, y, |b, p, q| b.ins().fmul(p, q)),
                        ArithOp::Min | ArithOp::Max => self.float_min_max(op, ty, x, y),
                    }
                } else if small_or_32(ty) {
                    let signed = ty.is_signed_int();
                    let r = zip2(&mut self.b, x, y, |b, p, q| match op {
                        ArithOp::Add => b.ins().iadd(p, q),
                        ArithOp::Sub => b.ins().isub(p, q),
                        ArithOp::Mul => b.ins().imul(p, q),
                        ArithOp::Min if signed => b.ins().smin(p, q),
                        ArithOp::Min => b.ins().umin(p, q),
                        ArithOp::Max if signed => b.ins().smax(p, q),
                        ArithOp::Max => b.ins().umax(p, q),
                    });
                    map1(&mut self.b, r, |b, v| vector::renormalize(b, ty, v))
                } else {
                    match op {
                        ArithOp::Add => zip2(&mut self.b, x, y, |b, p, q| b.ins().iadd(p, q)),
                        ArithOp::Sub => zip2(&mut self.b, x, y, |b, p, q| b.ins().isub(p, q)),
                        ArithOp::Mul => zip2(&mut self.b, x, y, |b, p, q| b.ins().imul(p, q)),
                        ArithOp::Min | ArithOp::Max => return false,
                    }
                };
                self.write_gval(d, ty, GVal::Vec(r));
            }
            Op::Div {
                op: DivOp::Div,
                ty,
                d,
                a,
                b,
            } if ty.is_float() => {
                let (x, y) = self.vec2(a, b, ty);
                let r = zip2(&mut self.b, x, y, |b, p, q| b.ins().fdiv(p, q));
                self.write_gval(d, ty, GVal::Vec(r));
            }
            Op::Fma { ty, d, a, b, c } => {
                let (x, y) = self.vec2(a, b, ty);
                let z = self.vec1(c, ty);
                if !ty.is_float() {
                    let m = zip2(&mut self.b, x, y, |b, p, q| b.ins().imul(p, q));
                    let r = zip2(&mut self.b, m, z, |b, p, q| b.ins().iadd(p, q));
                    let r = if small_or_32(ty) {
                        map1(&mut self.b, r, |b, v| vector::renormalize(b, ty, v))
                    } else {
                        r
                    };
                    self.write_gval(d, ty, GVal::Vec(r));
                } else if self.features.fma {
                    // On x86-64, `fma(b, a, c)`: no test of the result.
                    // x86's fused multiply-adds return the first NaN among
                    // their operands (quieted; or the default NaN) in the
                    // order their name gives the arithmetic: `vfmadd213
                    // d, s2, s3` computes `s2 * d + s3`, NaN order `s2`,
                    // `d`, `s3`; `vfmadd132 d, s2, s3` computes `d * s3 +
                    // s2`, order `d`, `s3`, `s2`. Cranelift lowers
                    // `fma(x, y, z)` to `vfmadd213 x, y, z`, order `y`,
                    // `x`, `z`: here `a`, `b`, `c`, the pinned one. It
                    // picks other forms (`vfmadd132`, `vfnmadd`,
                    // `vfmsub`) only where an operand is a load it can
                    // fold into the instruction or a negation, and an
                    // operand here is always a bitcast (registers are
                    // integer vectors, read as floats), never either.
                    // `jit::tests::fma_takes_the_pinned_nan_whatever_its_operands_come_from`
                    // runs every such case.
                    let x86 = cfg!(target_arch = "x86_64");
                    let [x, y, z] = if x86 { [y, x, z] } else { [x, y, z] };
                    let r = match (x, y, z) {
                        (Vector::One(p), Vector::One(q), Vector::One(s)) => {
                            Vector::One(self.b.ins().fma(p, q, s))
                        }
                        (Vector::Two(pl, ph), Vector::Two(ql, qh), Vector::Two(sl, sh)) => {
                            let lo = self.b.ins().fma(pl, ql, sl);
                            let hi = self.b.ins().fma(ph, qh, sh);
                            Vector::Two(lo, hi)
                        }
                        _ => return false,
                    };
                    if x86 {
                        self.write_gval(d, ty, GVal::Vec(r));
                        return true;
                    }
                    // Elsewhere the machine's NaN rule for fma may not be
                    // the pinned one: a NaN in any lane takes the pinned
                    // NaN, computed on vectors in a cold block that calls
                    // nothing (a call there made the register allocator
                    // spill the hot loop's values).
                    let any_nan = self.any_nan(r);
                    let exact = self.b.create_block();
                    let join = self.b.create_block();
                    self.b.set_cold_block(exact);
                    let fast = self.b.create_block();
                    self.b.ins().brif(any_nan, exact, &[], fast, &[]);
                    self.b.switch_to_block(fast);
                    self.write_gval(d, ty, GVal::Vec(r));
                    self.b.ins().jump(join, &[]);
                    self.b.switch_to_block(exact);
                    self.cold_path(|g| {
                        let fixed = pinned_nan3(&mut g.b, ty, r, [x, y, z]);
                        g.write_gval(d, ty, GVal::Vec(fixed));
                        g.b.ins().jump(join, &[]);
                    });
                    self.b.switch_to_block(join);
                } else {
                    return false;
                }
            }
            Op::Bit { op, ty, d, a, b } => {
                let ty = ty.scalar();
                let x = self.vec1(a, ty);
                let r = match op {
                    BitOp::And | BitOp::Or | BitOp::Xor => {
                        let y = self.vec1(b, ty);
                        zip2(&mut self.b, x, y, |bd, p, q| match op {
                            BitOp::And => bd.ins().band(p, q),
                            BitOp::Or => bd.ins().bor(p, q),
                            _ => bd.ins().bxor(p, q),
                        })
                    }
                    BitOp::Shl | BitOp::Shr => {
                        // A count that is the same in every lane: one
                        // vector shift.
                        if self.sh.read(b, ty) != Shape::Uniform {
                            return false;
                        }
                        let GVal::Uni(n) = self.gval(b, ty) else {
                            return false;
                        };
                        let n = if ty.size() < 4 {
                            self.b.ins().uextend(types::I32, n)
                        } else {
                            n
                        };
                        let n = self.b.ins().band_imm_s(n, ty.bits() as i64 - 1);
                        let signed = ty.is_signed_int();
                        map1(&mut self.b, x, |bd, v| match (op, signed) {
                            (BitOp::Shl, _) => bd.ins().ishl(v, n),
                            (_, true) => bd.ins().sshr(v, n),
                            _ => bd.ins().ushr(v, n),
                        })
                    }
                };
                let r = if small_or_32(ty) {
                    map1(&mut self.b, r, |bd, v| vector::renormalize(bd, ty, v))
                } else {
                    r
                };
                self.write_gval(d, ty, GVal::Vec(r));
            }
            Op::Not { ty, d, a } => {
                let ty = ty.scalar();
                let x = self.vec1(a, ty);
                let r = map1(&mut self.b, x, |bd, v| bd.ins().bnot(v));
                let r = if small_or_32(ty) {
                    map1(&mut self.b, r, |bd, v| vector::renormalize(bd, ty, v))
                } else {
                    r
                };
                self.write_gval(d, ty, GVal::Vec(r));
            }
            Op::Sign { op, ty, d, a } => {
                let ty = ty.scalar();
                let x = self.vec1(a, ty);
                let r = match (op, ty.is_float(), is_wide(ty)) {
                    (SignOp::Neg, true, _) => map1(&mut self.b, x, |bd, v| bd.ins().fneg(v)),
                    (SignOp::Abs, true, _) => map1(&mut self.b, x, |bd, v| bd.ins().fabs(v)),
                    (SignOp::Neg, false, _) => {
                        let r = map1(&mut self.b, x, |bd, v| bd.ins().ineg(v));
                        map1(&mut self.b, r, |bd, v| vector::renormalize(bd, ty, v))
                    }
                    (SignOp::Abs, false, false) => {
                        let r = map1(&mut self.b, x, |bd, v| bd.ins().iabs(v));
                        map1(&mut self.b, r, |bd, v| vector::renormalize(bd, ty, v))
                    }
                    (SignOp::Abs, false, true) => return false,
                };
                self.write_gval(d, ty, GVal::Vec(r));
            }
            Op::Math { op, ty, d, a } => {
                let ty = ty.scalar();
                if functions::is_own(op) {
                    // lanes' own algorithm on the vector (`functions`);
                    // in cold code a call per lane, smaller.
                    if LaneCode::cold(self) {
                        return false;
                    }
                    let x = self.vec1(a, ty);
                    let vt = vector::vtype(ty);
                    let r = map1(&mut self.b, x, |bd, v| Emit::new(bd, vt).function(op, v));
                    if !functions::is_bounded(op) {
                        self.write_gval(d, ty, GVal::Vec(r));
                        return true;
                    }
                    // `sin`, `cos`: when a lane's input is past the bound
                    // (or not finite), the instruction lane by lane, each
                    // lane's own or libm's (cold).
                    let inside = map1(&mut self.b, x, |bd, v| Emit::new(bd, vt).in_bound(v));
                    let all = match inside {
                        Vector::One(m) => self.b.ins().vall_true(m),
                        Vector::Two(lo, hi) => {
                            let m = self.b.ins().band(lo, hi);
                            self.b.ins().vall_true(m)
                        }
                    };
                    let (fast, slow, join) = (
                        self.b.create_block(),
                        self.b.create_block(),
                        self.b.create_block(),
                    );
                    self.b.ins().brif(all, fast, &[], slow, &[]);
                    self.b.switch_to_block(fast);
                    self.write_gval(d, ty, GVal::Vec(r));
                    self.b.ins().jump(join, &[]);
                    self.b.switch_to_block(slow);
                    self.cold_path(|g| {
                        g.per_lane(pc, run_bits, false, |g, pc| {
                            alu::alu(g, pc, g.kernel.instrs[pc].op)
                        });
                        g.b.ins().jump(join, &[]);
                    });
                    self.b.switch_to_block(join);
                    return true;
                }
                let inline = match op {
                    MathOp::Sqrt | MathOp::Rsqrt => true,
                    MathOp::Floor | MathOp::Ceil => self.features.sse41,
                    _ => false,
                };
                // Elsewhere than x86-64 these need NaN checks (see
                // `alu`): lane by lane.
                if !inline || !cfg!(target_arch = "x86_64") {
                    return false;
                }
                let x = self.vec1(a, ty);
                let one = if ty == ScalarType::F32 {
                    self.b.ins().f32const(1.0)
                } else {
                    self.b.ins().f64const(1.0)
                };
                let one = vector::splat(&mut self.b, ty, one);
                let r = match op {
                    MathOp::Sqrt => map1(&mut self.b, x, |bd, v| bd.ins().sqrt(v)),
                    MathOp::Floor => map1(&mut self.b, x, |bd, v| bd.ins().floor(v)),
                    MathOp::Ceil => map1(&mut self.b, x, |bd, v| bd.ins().ceil(v)),
                    _ => {
                        let s = map1(&mut self.b, x, |bd, v| bd.ins().sqrt(v));
                        zip2(&mut self.b, one, s, |bd, p, q| bd.ins().fdiv(p, q))
                    }
                };
                self.write_gval(d, ty, GVal::Vec(r));
            }
            Op::Cvt { to, from, d, a } => {
                let Some(r) = self.vector_cvt(to, from, a) else {
                    return false;
                };
                self.write_gval(d, to, GVal::Vec(r));
            }
            Op::Setp { cmp, ty, p, a, b } => {
                let (x, y) = self.vec2(a, b, ty);
                let m = if ty.is_float() {
                    let cc = float_cc(cmp);
                    zip2(&mut self.b, x, y, |bd, q, s| bd.ins().fcmp(cc, q, s))
                } else {
                    let cc = int_cc(cmp, ty.is_signed_int());
                    zip2(&mut self.b, x, y, |bd, q, s| bd.ins().icmp(cc, q, s))
                };
                let m = self.lane_mask(m);
                self.set_gpred(p, GPred::Vec(m));
                self.note_threshold(cmp, ty, a, b, m);
            }
            Op::Selp { ty, d, a, b, p } => {
                let (x, y) = self.vec2(a, b, ty);
                let r = match self.pred_gval(p) {
                    GPred::Vec(m) => vector::blend(&mut self.b, m, x, y),
                    GPred::Uni(c) => zip2(&mut self.b, x, y, |bd, q, s| bd.ins().select(c, q, s)),
                };
                self.write_gval(d, ty, GVal::Vec(r));
            }
            Op::PredLogic { op, d, a, b } => {
                let (x, y) = (self.pred_gval(a), self.pred_gval(b));
                let (x, y) = (self.pred_mask(x), self.pred_mask(y));
                let r = match op {
                    PredOp::And => self.b.ins().band(x, y),
                    PredOp::Or => self.b.ins().bor(x, y),
                    PredOp::Xor => self.b.ins().bxor(x, y),
                };
                self.set_gpred(d, GPred::Vec(r));
            }
            Op::PredNot { d, a } => {
                let x = self.pred_gval(a);
                let x = self.pred_mask(x);
                let r = self.b.ins().bnot(x);
                self.set_gpred(d, GPred::Vec(r));
            }
            _ => return false,
        }
        true
    }

    /// Remembers, for `setp` mask `m` (`a cmp b` as `ty`), whether all
    /// lanes and whether any lane hold it, when the comparison is monotone
    /// across the gang: one side affine without wrap
    /// ([`Shapes::monotone`]), the other uniform, an order comparison. A
    /// guard on it then tests one scalar comparison, not the vector
    /// (`Gang::exit`, `Gang::branch`). Only with every lane live: the facts behind
    /// "monotone" cover real lanes only.
    ///
    /// [`Shapes::monotone`]: crate::engine::jit::shape::Shapes::monotone
    fn note_threshold(&mut self, cmp: CmpOp, ty: ScalarType, a: Src, b: Src, m: Value) {
        if !self.run_all || self.write_mask.is_some() {
            return;
        }
        // Unsigned, `x != 0` is `x > 0` and `x == 0` is `x <= 0` (`tid != 0`).
        let cmp = match (cmp, a, b) {
            (CmpOp::Eq | CmpOp::Ne, _, _) if ty.is_signed_int() => return,
            (CmpOp::Ne, _, Src::Imm(0)) => CmpOp::Gt,
            (CmpOp::Ne, Src::Imm(0), _) => CmpOp::Lt,
            (CmpOp::Eq, _, Src::Imm(0)) => CmpOp::Le,
            (CmpOp::Eq, Src::Imm(0), _) => CmpOp::Ge,
            (CmpOp::Eq | CmpOp::Ne, _, _) => return,
            (other, _, _) => other,
        };
        let uniform = |g: &Self, s: Src| g.sh.read(s, ty) == Shape::Uniform;
        let affine_left = if self.sh.monotone(a, ty) && uniform(self, b) {
            true
        } else if uniform(self, a) && self.sh.monotone(b, ty) {
            false
        } else {
            return;
        };
        let (x, y) = (self.gval(a, ty), self.gval(b, ty));
        let st = match if affine_left { x } else { y } {
            GVal::Aff(_, st) => st,
            _ => return,
        };
        // Whether the predicate holds for larger affine values, then for
        // later lanes (no wrap: the stride's sign is the direction).
        let larger = matches!(cmp, CmpOp::Gt | CmpOp::Ge) == affine_left;
        let up = larger == (st > 0);
        let cc = int_cc(cmp, ty.is_signed_int());
        let at = |g: &mut Self, k: u8| {
            let xk = vector::lane_of(&mut g.b, ty, x, k);
            let yk = vector::lane_of(&mut g.b, ty, y, k);
            g.b.ins().icmp(cc, xk, yk)
        };
        // All lanes hold it iff the first lane to turn it on does; some
        // lane does iff the last one does.
        let (first, last) = (at(self, 0), at(self, 3));
        let (all, any) = if up { (first, last) } else { (last, first) };
        self.thresholds.push((m, all, any));
    }

    /// A comparison result (vector masks of the operands' lane width) as
    /// an `I32X4` mask.
    fn lane_mask(&mut self, m: Vector) -> Value {
        match m {
            Vector::One(v) => {
                self.b
                    .ins()
                    .bitcast(types::I32X4, cranelift_codegen::ir::MemFlagsData::new(), v)
            }
            Vector::Two(lo, hi) => vector::narrow_mask(&mut self.b, lo, hi),
        }
    }

    /// Whether any lane of a float vector is NaN (`I8`, non-zero if so):
    /// `vany_true`, whose branch is a `ptest` and a jump, where a lane
    /// mask's bits (`movmskps`) took one instruction more.
    fn any_nan(&mut self, v: Vector) -> Value {
        let b = &mut self.b;
        let m = match v {
            Vector::One(x) => b.ins().fcmp(FloatCC::Unordered, x, x),
            Vector::Two(lo, hi) => {
                let l = b.ins().fcmp(FloatCC::Unordered, lo, lo);
                let h = b.ins().fcmp(FloatCC::Unordered, hi, hi);
                b.ins().bor(l, h)
            }
        };
        b.ins().vany_true(m)
    }

    /// Float `min`/`max` with `exec`'s rule (b when a is NaN, when b is
    /// strictly beyond a, or when they are equal and b has the winning
    /// sign), lane by lane on vectors: `minps`/`maxps` (b when b is beyond
    /// a, else a: Cranelift matches the select of a `LessThan`), the sign
    /// of equal values merged (only zeros of different signs differ:
    /// min takes the sign bit of either, max of both), and b where a is
    /// NaN.
    fn float_min_max(&mut self, op: ArithOp, ty: ScalarType, x: Vector, y: Vector) -> Vector {
        let int = if ty == ScalarType::F32 {
            types::I32X4
        } else {
            types::I64X2
        };
        let flags = cranelift_codegen::ir::MemFlagsData::new();
        zip2(&mut self.b, x, y, |b, a, c| {
            let t = b.func.dfg.value_type(a);
            // `c < a ? c : a` (min), `a < c ? c : a` (max).
            let beyond = match op {
                ArithOp::Min => b.ins().fcmp(FloatCC::LessThan, c, a),
                _ => b.ins().fcmp(FloatCC::LessThan, a, c),
            };
            let beyond = b.ins().bitcast(t, flags, beyond);
            let r = b.ins().bitselect(beyond, c, a);
            let (ri, ci) = (
                b.ins().bitcast(int, flags, r),
                b.ins().bitcast(int, flags, c),
            );
            let r = match op {
                // Equal: r is a; a | c has a sign bit where either has.
                ArithOp::Min => {
                    let equal = b.ins().fcmp(FloatCC::Equal, c, a);
                    let equal = b.ins().bitcast(int, flags, equal);
                    let merged = b.ins().band(ci, equal);
                    b.ins().bor(ri, merged)
                }
                // Equal: a & c has a sign bit only where both have (a NaN
                // compares not equal: r stays, and a NaN a is handled
                // below).
                _ => {
                    let differ = b.ins().fcmp(FloatCC::NotEqual, c, a);
                    let differ = b.ins().bitcast(int, flags, differ);
                    let keep = b.ins().bor(ci, differ);
                    b.ins().band(ri, keep)
                }
            };
            let r = b.ins().bitcast(t, flags, r);
            let a_nan = b.ins().fcmp(FloatCC::Unordered, a, a);
            let a_nan = b.ins().bitcast(t, flags, a_nan);
            b.ins().bitselect(a_nan, c, r)
        })
    }

    /// `cvt.to.from` on vectors, where the machine has it.
    fn vector_cvt(&mut self, to: ScalarType, from: ScalarType, a: Src) -> Option<Vector> {
        let x = self.vec1(a, from);
        match (from.is_float(), to.is_float()) {
            _ if to == from => Some(x),
            (false, false) => Some(match (x, is_wide(to)) {
                // Lanes hold `from` extended by its signedness: `to` cuts
                // and re-extends (Rust `as`).
                (Vector::One(v), false) => Vector::One(vector::renormalize(&mut self.b, to, v)),
                (Vector::One(v), true) => {
                    if from.is_signed_int() {
                        Vector::Two(self.b.ins().swiden_low(v), self.b.ins().swiden_high(v))
                    } else {
                        Vector::Two(self.b.ins().uwiden_low(v), self.b.ins().uwiden_high(v))
                    }
                }
                (Vector::Two(lo, hi), false) => {
                    let n = vector::narrow64(&mut self.b, lo, hi);
                    Vector::One(vector::renormalize(&mut self.b, to, n))
                }
                (v @ Vector::Two(..), true) => v,
            }),
            (false, true) if to == ScalarType::F32 && from.size() <= 4 => {
                let Vector::One(v) = x else { return None };
                Some(Vector::One(if from == ScalarType::U32 {
                    self.b.ins().fcvt_from_uint(types::F32X4, v)
                } else {
                    self.b.ins().fcvt_from_sint(types::F32X4, v)
                }))
            }
            (true, false) if from == ScalarType::F32 && to.size() == 4 => {
                let Vector::One(v) = x else { return None };
                Some(Vector::One(if to == ScalarType::U32 {
                    self.b.ins().fcvt_to_uint_sat(types::I32X4, v)
                } else {
                    self.b.ins().fcvt_to_sint_sat(types::I32X4, v)
                }))
            }
            _ => None,
        }
    }

    /// Runs instruction `pc` once per lane through the one-lane
    /// translation `emit` (for the lanes in `run_bits` only when
    /// `branchy`: it may fault or touch memory) and writes what the lanes
    /// wrote, merged into the destination by `write_mask`.
    pub(super) fn per_lane(
        &mut self,
        pc: usize,
        run_bits: Value,
        branchy: bool,
        emit: fn(&mut Gang<'a>, usize),
    ) {
        // Every lane runs it: no per-lane tests, nothing to keep.
        let branchy = branchy && !self.run_all;
        let mut outs: [Option<(ScalarType, Value)>; 4] = [None; 4];
        let mut pouts: [Option<Value>; 4] = [None; 4];
        for k in 0..4u8 {
            self.mode = Mode::Lane(k);
            self.lane_out = [None; 4];
            self.lane_pred_out = [None; 4];
            if !branchy {
                emit(self, pc);
                outs[k as usize] = self.lane_out[k as usize];
                pouts[k as usize] = self.lane_pred_out[k as usize];
                continue;
            }
            let bit = self.b.ins().band_imm_s(run_bits, 1 << k);
            let run = self.b.create_block();
            let skip = self.b.create_block();
            let join = self.b.create_block();
            self.b.ins().brif(bit, run, &[], skip, &[]);
            self.b.switch_to_block(run);
            emit(self, pc);
            match self.lane_out[k as usize] {
                Some((ty, v)) => {
                    let p = self
                        .b
                        .append_block_param(join, crate::engine::jit::codegen::values::clif(ty));
                    self.b.ins().jump(join, &[BlockArg::Value(v)]);
                    self.b.switch_to_block(skip);
                    // A lane that does not run keeps its old value: what it
                    // gets here is discarded by `write_mask`.
                    let z = crate::engine::jit::codegen::values::constant(&mut self.b, ty, 0);
                    self.b.ins().jump(join, &[BlockArg::Value(z)]);
                    outs[k as usize] = Some((ty, p));
                }
                None => {
                    self.b.ins().jump(join, &[]);
                    self.b.switch_to_block(skip);
                    self.b.ins().jump(join, &[]);
                }
            }
            self.b.switch_to_block(join);
        }
        self.mode = Mode::Uniform;
        let written = written_reg(&self.kernel.instrs[pc].op);
        if let (Some((d, _)), [Some((ty, a)), Some((_, b)), Some((_, c)), Some((_, e))]) =
            (written, outs)
        {
            // Lanes that did not run must keep their values.
            let saved = self.write_mask;
            if branchy && saved.is_none() {
                self.write_mask = Some(vector::bits_to_mask(&mut self.b, run_bits));
            }
            let v = vector::from_lanes(&mut self.b, ty, [a, b, c, e]);
            self.write_gval(d, ty, GVal::Vec(v));
            self.write_mask = saved;
        }
        if let [Some(a), Some(b), Some(c), Some(e)] = pouts {
            if let Op::Setp { p, .. } = self.kernel.instrs[pc].op {
                let m = self.bools_to_mask([a, b, c, e]);
                self.set_gpred(p, GPred::Vec(m));
            }
        }
    }
}

/// `r` (a float vector of type `ty`) with each NaN lane replaced by the
/// pinned NaN of a three-operand operation: the first NaN among the lane's
/// operands, made quiet, or the default NaN when none is (docs/LANGUAGE.md,
/// "NaN results").
fn pinned_nan3(
    b: &mut cranelift_frontend::FunctionBuilder<'_>,
    ty: ScalarType,
    r: Vector,
    ops: [Vector; 3],
) -> Vector {
    let wide = ty == ScalarType::F64;
    let int = if wide { types::I64X2 } else { types::I32X4 };
    let (quiet, default) = crate::exec::functions::nan_bits(wide);
    let lane = int.lane_type();
    let pieces = |v: Vector| match v {
        Vector::One(x) => vec![x],
        Vector::Two(lo, hi) => vec![lo, hi],
    };
    let flags = MemFlagsData::new().with_endianness(cranelift_codegen::ir::Endianness::Little);
    let (rs, [xs, ys, zs]) = (pieces(r), ops.map(pieces));
    let mut out = Vec::new();
    for i in 0..rs.len() {
        let float = b.func.dfg.value_type(rs[i]);
        let q = b.ins().iconst(lane, quiet);
        let q = b.ins().splat(int, q);
        let d = b.ins().iconst(lane, default);
        let mut fix = b.ins().splat(int, d);
        // From the last operand to the first, so the first NaN wins.
        for v in [zs[i], ys[i], xs[i]] {
            let nan = b.ins().fcmp(FloatCC::Unordered, v, v);
            let bits = b.ins().bitcast(int, flags, v);
            let quieted = b.ins().bor(bits, q);
            fix = b.ins().bitselect(nan, quieted, fix);
        }
        let nan = b.ins().fcmp(FloatCC::Unordered, rs[i], rs[i]);
        let bits = b.ins().bitcast(int, flags, rs[i]);
        let v = b.ins().bitselect(nan, fix, bits);
        out.push(b.ins().bitcast(float, flags, v));
    }
    match out[..] {
        [x] => Vector::One(x),
        [lo, hi] => Vector::Two(lo, hi),
        _ => unreachable!("a vector has one or two pieces"),
    }
}
