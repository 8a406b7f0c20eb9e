//! Arithmetic, bitwise, comparison, selection, conversion and float math:
//! every instruction that only computes.
//!
//! Integers of 8 and 16 bits are widened to 32 (by their signedness), which
//! gives wrapping, `MIN / -1` and shifts modulo the width for free when the
//! result is cut back.
//!
//! NaN results: `exec` pins them down (the first NaN operand, quieted; the
//! default NaN for invalid operations), which is exactly what x86's scalar
//! and vector `add sub mul div sqrt round` instructions do with the operand
//! order Cranelift keeps (the first source operand first). So on x86-64
//! those need no check (the JIT's special-value test runs every pair of
//! NaN payloads, infinities and zeros through them against the reference).
//! Everything else that can make a NaN (`fma`, whose hardware rule differs,
//! and float conversions) is checked: a NaN result is recomputed by the
//! `eval` helper (the `exec` functions every engine shares).

use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{BlockArg, InstBuilder, Value, types};

use super::Translator;
use super::values::clif;
use crate::kernel::{ArithOp, BitOp, CmpOp, DivOp, MathOp, Op, PredOp, Reg, SignOp, Src};
use crate::types::ScalarType;

/// Whether `ty` is an integer of 8 or 16 bits (computed in 32).
fn is_small(ty: ScalarType) -> bool {
    ty.size() < 4 && !ty.is_float()
}

impl Translator<'_> {
    /// Emits a computing instruction (`pc` is its index).
    pub(super) fn alu(&mut self, pc: usize, op: Op) {
        match op {
            Op::Mov { ty, d, a } => {
                let v = self.read(a, ty);
                self.write(d, ty, v);
            }
            Op::Arith { op, ty, d, a, b } => self.arith(pc, op, ty, d, a, b),
            Op::Div { op, ty, d, a, b } => self.div(pc, op, ty, d, a, b),
            Op::Fma { ty, d, a, b, c } => self.fma(pc, ty, d, a, b, c),
            Op::Bit { op, ty, d, a, b } => {
                let ty = ty.scalar();
                let (x, y) = (self.read_int(a, ty), self.read_int(b, ty));
                let r = match op {
                    BitOp::And => self.b.ins().band(x, y),
                    BitOp::Or => self.b.ins().bor(x, y),
                    BitOp::Xor => self.b.ins().bxor(x, y),
                    BitOp::Shl | BitOp::Shr => {
                        // 32 and 64 bits: Cranelift takes the count modulo
                        // the width. Widened small types need the mask.
                        let y = if is_small(ty) {
                            self.b.ins().band_imm_s(y, ty.bits() as i64 - 1)
                        } else {
                            y
                        };
                        match (op, ty.is_signed_int()) {
                            (BitOp::Shl, _) => self.b.ins().ishl(x, y),
                            (_, true) => self.b.ins().sshr(x, y),
                            (_, false) => self.b.ins().ushr(x, y),
                        }
                    }
                };
                self.write_int(d, ty, r);
            }
            Op::Not { ty, d, a } => {
                let ty = ty.scalar();
                let x = self.read_int(a, ty);
                let r = self.b.ins().bnot(x);
                self.write_int(d, ty, r);
            }
            Op::Sign { op, ty, d, a } => {
                let ty = ty.scalar();
                if ty.is_float() {
                    let x = self.read(a, ty);
                    let r = match op {
                        SignOp::Neg => self.b.ins().fneg(x),
                        SignOp::Abs => self.b.ins().fabs(x),
                    };
                    self.write(d, ty, r);
                } else {
                    let x = self.read_int(a, ty);
                    let r = match op {
                        SignOp::Neg => self.b.ins().ineg(x),
                        SignOp::Abs => self.b.ins().iabs(x),
                    };
                    self.write_int(d, ty, r);
                }
            }
            Op::Math { op, ty, d, a } => self.math(pc, op, ty.scalar(), d, a),
            Op::Cvt { to, from, d, a } => self.cvt(pc, to, from, d, a),
            Op::Setp { cmp, ty, p, a, b } => {
                let r = if ty.is_float() {
                    let (x, y) = (self.read(a, ty), self.read(b, ty));
                    self.b.ins().fcmp(float_cc(cmp), x, y)
                } else {
                    let (x, y) = (self.read_int(a, ty), self.read_int(b, ty));
                    self.b.ins().icmp(int_cc(cmp, ty.is_signed_int()), x, y)
                };
                self.set_pred(p, r);
            }
            Op::Selp { ty, d, a, b, p } => {
                let c = self.pred(p);
                let (x, y) = (self.read(a, ty), self.read(b, ty));
                let r = self.b.ins().select(c, x, y);
                self.write(d, ty, r);
            }
            Op::PredLogic { op, d, a, b } => {
                let (x, y) = (self.pred(a), self.pred(b));
                let r = match op {
                    PredOp::And => self.b.ins().band(x, y),
                    PredOp::Or => self.b.ins().bor(x, y),
                    PredOp::Xor => self.b.ins().bxor(x, y),
                };
                self.set_pred(d, r);
            }
            Op::PredNot { d, a } => {
                let x = self.pred(a);
                let r = self.b.ins().bxor_imm_s(x, 1);
                self.set_pred(d, r);
            }
            Op::Load { .. }
            | Op::Store { .. }
            | Op::Atom { .. }
            | Op::Cas { .. }
            | Op::Bra { .. }
            | Op::Bar
            | Op::Exit => unreachable!("not a computing instruction: {op:?}"),
        }
    }

    /// An integer operand as `ty`, widened to 32 bits for small types.
    fn read_int(&mut self, s: Src, ty: ScalarType) -> Value {
        let v = self.read(s, ty);
        if !is_small(ty) {
            v
        } else if ty.is_signed_int() {
            self.b.ins().sextend(types::I32, v)
        } else {
            self.b.ins().uextend(types::I32, v)
        }
    }

    /// Writes an integer result computed by [`Translator::read_int`]'s rule.
    fn write_int(&mut self, d: Reg, ty: ScalarType, v: Value) {
        let v = if is_small(ty) {
            self.b.ins().ireduce(clif(ty), v)
        } else {
            v
        };
        self.write(d, ty, v);
    }

    fn arith(&mut self, pc: usize, op: ArithOp, ty: ScalarType, d: Reg, a: Src, b: Src) {
        if ty.is_float() {
            let (x, y) = (self.read(a, ty), self.read(b, ty));
            let r = match op {
                ArithOp::Add => self.b.ins().fadd(x, y),
                ArithOp::Sub => self.b.ins().fsub(x, y),
                ArithOp::Mul => self.b.ins().fmul(x, y),
                ArithOp::Min | ArithOp::Max => {
                    // `exec`'s rule: b when a is NaN, when b is strictly
                    // beyond a, or when they are equal and b has the sign
                    // that wins (-0.0 for min, +0.0 for max).
                    let a_nan = self.b.ins().fcmp(FloatCC::Unordered, x, x);
                    let (beyond, sign_cc) = match op {
                        ArithOp::Min => (FloatCC::LessThan, IntCC::SignedLessThan),
                        _ => (FloatCC::GreaterThan, IntCC::SignedGreaterThanOrEqual),
                    };
                    let b_beyond = self.b.ins().fcmp(beyond, y, x);
                    let equal = self.b.ins().fcmp(FloatCC::Equal, y, x);
                    let int = if ty == ScalarType::F32 {
                        types::I32
                    } else {
                        types::I64
                    };
                    let y_bits =
                        self.b
                            .ins()
                            .bitcast(int, cranelift_codegen::ir::MemFlagsData::new(), y);
                    let y_sign = self.b.ins().icmp_imm_s(sign_cc, y_bits, 0);
                    let tie = self.b.ins().band(equal, y_sign);
                    let c = self.b.ins().bor(a_nan, b_beyond);
                    let c = self.b.ins().bor(c, tie);
                    let r = self.b.ins().select(c, y, x);
                    self.write(d, ty, r);
                    return;
                }
            };
            self.hardware_float_result(pc, d, ty, r, &[a, b]);
            return;
        }
        let (x, y) = (self.read_int(a, ty), self.read_int(b, ty));
        let signed = ty.is_signed_int();
        let r = match op {
            ArithOp::Add => self.b.ins().iadd(x, y),
            ArithOp::Sub => self.b.ins().isub(x, y),
            ArithOp::Mul => self.b.ins().imul(x, y),
            ArithOp::Min if signed => self.b.ins().smin(x, y),
            ArithOp::Min => self.b.ins().umin(x, y),
            ArithOp::Max if signed => self.b.ins().smax(x, y),
            ArithOp::Max => self.b.ins().umax(x, y),
        };
        self.write_int(d, ty, r);
    }

    fn div(&mut self, pc: usize, op: DivOp, ty: ScalarType, d: Reg, a: Src, b: Src) {
        if ty.is_float() {
            match op {
                DivOp::Div => {
                    let (x, y) = (self.read(a, ty), self.read(b, ty));
                    let r = self.b.ins().fdiv(x, y);
                    self.hardware_float_result(pc, d, ty, r, &[a, b]);
                }
                // fmod: the helper.
                DivOp::Rem => self.eval(pc, d, &[a, b]),
            }
            return;
        }
        let (x, y) = (self.read_int(a, ty), self.read_int(b, ty));
        let zero = self.b.ins().icmp_imm_s(IntCC::Equal, y, 0);
        self.fault_if(zero, super::FaultCall::division(pc));
        let r = if ty.is_signed_int() {
            // `MIN / -1` overflows the machine division: divide by 1
            // instead and take the wrapped negation (`MIN % -1` is 0, as
            // `MIN % 1` is).
            let t = self.b.func.dfg.value_type(y);
            let minus_one = self.b.ins().icmp_imm_s(IntCC::Equal, y, -1);
            let one = self.b.ins().iconst(t, 1);
            let safe = self.b.ins().select(minus_one, one, y);
            match op {
                DivOp::Div => {
                    let q = self.b.ins().sdiv(x, safe);
                    let neg = self.b.ins().ineg(x);
                    self.b.ins().select(minus_one, neg, q)
                }
                DivOp::Rem => self.b.ins().srem(x, safe),
            }
        } else {
            match op {
                DivOp::Div => self.b.ins().udiv(x, y),
                DivOp::Rem => self.b.ins().urem(x, y),
            }
        };
        self.write_int(d, ty, r);
    }

    fn fma(&mut self, pc: usize, ty: ScalarType, d: Reg, a: Src, b: Src, c: Src) {
        if !ty.is_float() {
            let (x, y, z) = (
                self.read_int(a, ty),
                self.read_int(b, ty),
                self.read_int(c, ty),
            );
            let m = self.b.ins().imul(x, y);
            let r = self.b.ins().iadd(m, z);
            self.write_int(d, ty, r);
        } else if self.features.fma {
            let (x, y, z) = (self.read(a, ty), self.read(b, ty), self.read(c, ty));
            let r = self.b.ins().fma(x, y, z);
            self.float_result(pc, d, ty, r, &[a, b, c]);
        } else {
            self.eval(pc, d, &[a, b, c]);
        }
    }

    fn math(&mut self, pc: usize, op: MathOp, ty: ScalarType, d: Reg, a: Src) {
        let inline = match op {
            MathOp::Sqrt | MathOp::Rsqrt => true,
            MathOp::Floor | MathOp::Ceil => self.features.sse41,
            _ => false,
        };
        if !inline {
            self.eval(pc, d, &[a]);
            return;
        }
        let x = self.read(a, ty);
        let r = match op {
            MathOp::Sqrt => self.b.ins().sqrt(x),
            MathOp::Rsqrt => {
                let s = self.b.ins().sqrt(x);
                let one = self.constant(
                    ty,
                    if ty == ScalarType::F32 {
                        1.0f32.to_bits() as u64
                    } else {
                        1.0f64.to_bits()
                    },
                );
                self.b.ins().fdiv(one, s)
            }
            MathOp::Floor => self.b.ins().floor(x),
            _ => self.b.ins().ceil(x),
        };
        self.hardware_float_result(pc, d, ty, r, &[a]);
    }

    fn cvt(&mut self, pc: usize, to: ScalarType, from: ScalarType, d: Reg, a: Src) {
        let v = self.read(a, from);
        let r = match (from.is_float(), to.is_float()) {
            _ if from == to => v,
            (false, false) => {
                let (fb, tb) = (from.bits(), to.bits());
                if tb > fb {
                    if from.is_signed_int() {
                        self.b.ins().sextend(clif(to), v)
                    } else {
                        self.b.ins().uextend(clif(to), v)
                    }
                } else if tb < fb {
                    self.b.ins().ireduce(clif(to), v)
                } else {
                    v
                }
            }
            (false, true) => {
                let w = self.widen_to_32(v, from);
                if from.is_signed_int() {
                    self.b.ins().fcvt_from_sint(clif(to), w)
                } else {
                    self.b.ins().fcvt_from_uint(clif(to), w)
                }
            }
            (true, false) => {
                // Rust `as`: saturating, NaN to 0 (Cranelift's `_sat`).
                let signed = to.is_signed_int();
                if to.size() >= 4 {
                    if signed {
                        self.b.ins().fcvt_to_sint_sat(clif(to), v)
                    } else {
                        self.b.ins().fcvt_to_uint_sat(clif(to), v)
                    }
                } else {
                    let (lo, hi) = if signed {
                        (-(1i64 << (to.bits() - 1)), (1i64 << (to.bits() - 1)) - 1)
                    } else {
                        (0, (1i64 << to.bits()) - 1)
                    };
                    let w = if signed {
                        self.b.ins().fcvt_to_sint_sat(types::I32, v)
                    } else {
                        self.b.ins().fcvt_to_uint_sat(types::I32, v)
                    };
                    let hi = self.b.ins().iconst(types::I32, hi);
                    let w = if signed {
                        let lo = self.b.ins().iconst(types::I32, lo);
                        let w = self.b.ins().smax(w, lo);
                        self.b.ins().smin(w, hi)
                    } else {
                        self.b.ins().umin(w, hi)
                    };
                    self.b.ins().ireduce(clif(to), w)
                }
            }
            (true, true) => {
                let r = if to.size() > from.size() {
                    self.b.ins().fpromote(clif(to), v)
                } else {
                    self.b.ins().fdemote(clif(to), v)
                };
                self.float_result(pc, d, to, r, &[a]);
                return;
            }
        };
        self.write(d, to, r);
    }

    /// `v` of integer type `ty`, at least 32 bits wide (small types
    /// extended by their signedness).
    fn widen_to_32(&mut self, v: Value, ty: ScalarType) -> Value {
        if !is_small(ty) {
            v
        } else if ty.is_signed_int() {
            self.b.ins().sextend(types::I32, v)
        } else {
            self.b.ins().uextend(types::I32, v)
        }
    }

    /// Writes the result of an `add sub mul div sqrt rsqrt floor ceil`:
    /// checked for NaN except on x86-64, where the hardware's NaN is the
    /// pinned one (module docs).
    fn hardware_float_result(&mut self, pc: usize, d: Reg, ty: ScalarType, r: Value, srcs: &[Src]) {
        if cfg!(target_arch = "x86_64") {
            self.write(d, ty, r);
        } else {
            self.float_result(pc, d, ty, r, srcs);
        }
    }

    /// Writes a float result `r` of instruction `pc` to `d`, recomputed by
    /// the `eval` helper when it is NaN (rare: the check is one compare and
    /// a branch that is not taken).
    fn float_result(&mut self, pc: usize, d: Reg, ty: ScalarType, r: Value, srcs: &[Src]) {
        let is_nan = self.b.ins().fcmp(FloatCC::Unordered, r, r);
        let cold = self.b.create_block();
        let join = self.b.create_block();
        self.b.set_cold_block(cold);
        let v = self.b.append_block_param(join, clif(ty));
        self.b
            .ins()
            .brif(is_nan, cold, &[], join, &[BlockArg::Value(r)]);
        self.b.switch_to_block(cold);
        // `d` is not written yet: the operands are still the instruction's.
        let bits = self.eval_call(pc, srcs);
        let exact = self.bits_as(bits, ty);
        self.b.ins().jump(join, &[BlockArg::Value(exact)]);
        self.b.switch_to_block(join);
        self.write(d, ty, v);
    }

    /// Computes instruction `pc` with the `eval` helper and writes `d`.
    fn eval(&mut self, pc: usize, d: Reg, srcs: &[Src]) {
        let bits = self.eval_call(pc, srcs);
        self.write_bits(d, bits);
    }

    /// Calls `eval(frame, pc, a, b, c)` with the operands' register contents.
    fn eval_call(&mut self, pc: usize, srcs: &[Src]) -> Value {
        let mut args = [
            self.frame,
            self.b.ins().iconst(types::I32, pc as i64),
            self.zero64(),
            self.zero64(),
            self.zero64(),
        ];
        for (i, &s) in srcs.iter().enumerate() {
            args[2 + i] = self.read_bits(s);
        }
        let call = self.call_helper(super::Helper::Eval, &args);
        self.b.inst_results(call)[0]
    }

    fn zero64(&mut self) -> Value {
        self.b.ins().iconst(types::I64, 0)
    }
}

fn float_cc(cmp: CmpOp) -> FloatCC {
    match cmp {
        CmpOp::Eq => FloatCC::Equal,
        // Rust's `!=`: true when either side is NaN.
        CmpOp::Ne => FloatCC::NotEqual,
        CmpOp::Lt => FloatCC::LessThan,
        CmpOp::Le => FloatCC::LessThanOrEqual,
        CmpOp::Gt => FloatCC::GreaterThan,
        CmpOp::Ge => FloatCC::GreaterThanOrEqual,
    }
}

fn int_cc(cmp: CmpOp, signed: bool) -> IntCC {
    match (cmp, signed) {
        (CmpOp::Eq, _) => IntCC::Equal,
        (CmpOp::Ne, _) => IntCC::NotEqual,
        (CmpOp::Lt, true) => IntCC::SignedLessThan,
        (CmpOp::Lt, false) => IntCC::UnsignedLessThan,
        (CmpOp::Le, true) => IntCC::SignedLessThanOrEqual,
        (CmpOp::Le, false) => IntCC::UnsignedLessThanOrEqual,
        (CmpOp::Gt, true) => IntCC::SignedGreaterThan,
        (CmpOp::Gt, false) => IntCC::UnsignedGreaterThan,
        (CmpOp::Ge, true) => IntCC::SignedGreaterThanOrEqual,
        (CmpOp::Ge, false) => IntCC::UnsignedGreaterThanOrEqual,
    }
}
