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
//! NaN payloads, infinities and zeros through them against the reference),
//! but for an `add` or `mul` whose first operand is a load: Cranelift
//! folds such a load into the instruction as its second operand, swapping
//! the two, and those take the pinned NaN inline (found by
//! `differential_narrow`: two NaN operands, the first just loaded).
//! `fma`, whose hardware rule differs, takes the pinned NaN inline when its
//! result is NaN; the float conversions are checked: a NaN result is
//! recomputed by the `eval` helper (the `exec` functions every engine
//! shares). `exp`, `exp2`, `log`, `log2`, `tanh`, `sin` and `cos` are lanes'
//! own algorithms, emitted inline (`functions`; `sin` and `cos` call `eval`
//! in a cold block past their bound); the other float functions call
//! `eval`.

use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{BlockArg, InstBuilder, MemFlagsData, Value, types};

use super::functions::{self, Emit};
use super::values::{bits_as, clif, constant};
use super::{FaultCall, Helper, LaneCode};
use crate::kernel::{ArithOp, BitOp, CmpOp, DivOp, MathOp, Op, PredOp, Reg, SignOp, Src};
use crate::types::ScalarType;

/// Whether `ty` is an integer of 8 or 16 bits (computed in 32).
fn is_small(ty: ScalarType) -> bool {
    ty.size() < 4 && !ty.is_float()
}

/// Emits a computing instruction (`pc` is its index).
pub(super) fn alu<'f>(g: &mut impl LaneCode<'f>, pc: usize, op: Op) {
    match op {
        Op::Mov { ty, d, a } => {
            let v = g.read(a, ty);
            g.write(d, ty, v);
        }
        Op::Arith { op, ty, d, a, b } => arith(g, pc, op, ty, d, a, b),
        Op::Div { op, ty, d, a, b } => div(g, pc, op, ty, d, a, b),
        Op::Fma { ty, d, a, b, c } => fma(g, pc, ty, d, a, b, c),
        Op::Bit { op, ty, d, a, b } => {
            let ty = ty.scalar();
            let (x, y) = (read_int(g, a, ty), read_int(g, b, ty));
            let r = match op {
                BitOp::And => g.b().ins().band(x, y),
                BitOp::Or => g.b().ins().bor(x, y),
                BitOp::Xor => g.b().ins().bxor(x, y),
                BitOp::Shl | BitOp::Shr => {
                    // 32 and 64 bits: Cranelift takes the count modulo
                    // the width. Widened small types need the mask.
                    let y = if is_small(ty) {
                        g.b().ins().band_imm_s(y, ty.bits() as i64 - 1)
                    } else {
                        y
                    };
                    match (op, ty.is_signed_int()) {
                        (BitOp::Shl, _) => g.b().ins().ishl(x, y),
                        (_, true) => g.b().ins().sshr(x, y),
                        (_, false) => g.b().ins().ushr(x, y),
                    }
                }
            };
            write_int(g, d, ty, r);
        }
        Op::Not { ty, d, a } => {
            let ty = ty.scalar();
            let x = read_int(g, a, ty);
            let r = g.b().ins().bnot(x);
            write_int(g, d, ty, r);
        }
        Op::Sign { op, ty, d, a } => {
            let ty = ty.scalar();
            if ty.is_float() {
                let x = g.read(a, ty);
                let r = match op {
                    SignOp::Neg => g.b().ins().fneg(x),
                    SignOp::Abs => g.b().ins().fabs(x),
                };
                g.write(d, ty, r);
            } else {
                let x = read_int(g, a, ty);
                let r = match op {
                    SignOp::Neg => g.b().ins().ineg(x),
                    SignOp::Abs => g.b().ins().iabs(x),
                };
                write_int(g, d, ty, r);
            }
        }
        Op::Math { op, ty, d, a } => math(g, pc, op, ty.scalar(), d, a),
        Op::Cvt { to, from, d, a } => cvt(g, pc, to, from, d, a),
        Op::Setp { cmp, ty, p, a, b } => {
            let r = if ty.is_float() {
                let (x, y) = (g.read(a, ty), g.read(b, ty));
                g.b().ins().fcmp(float_cc(cmp), x, y)
            } else {
                let (x, y) = (read_int(g, a, ty), read_int(g, b, ty));
                g.b().ins().icmp(int_cc(cmp, ty.is_signed_int()), x, y)
            };
            g.set_pred(p, r);
        }
        Op::Selp { ty, d, a, b, p } => {
            let c = g.pred(p);
            let (x, y) = (g.read(a, ty), g.read(b, ty));
            let r = g.b().ins().select(c, x, y);
            g.write(d, ty, r);
        }
        Op::PredLogic { op, d, a, b } => {
            let (x, y) = (g.pred(a), g.pred(b));
            let r = match op {
                PredOp::And => g.b().ins().band(x, y),
                PredOp::Or => g.b().ins().bor(x, y),
                PredOp::Xor => g.b().ins().bxor(x, y),
            };
            g.set_pred(d, r);
        }
        Op::PredNot { d, a } => {
            let x = g.pred(a);
            let r = g.b().ins().bxor_imm_s(x, 1);
            g.set_pred(d, r);
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
fn read_int<'f>(g: &mut impl LaneCode<'f>, s: Src, ty: ScalarType) -> Value {
    let v = g.read(s, ty);
    if !is_small(ty) {
        v
    } else if ty.is_signed_int() {
        g.b().ins().sextend(types::I32, v)
    } else {
        g.b().ins().uextend(types::I32, v)
    }
}

/// Writes an integer result computed by [`Translator::read_int`]'s rule.
fn write_int<'f>(g: &mut impl LaneCode<'f>, d: Reg, ty: ScalarType, v: Value) {
    let v = if is_small(ty) {
        g.b().ins().ireduce(clif(ty), v)
    } else {
        v
    };
    g.write(d, ty, v);
}

fn arith<'f>(
    g: &mut impl LaneCode<'f>,
    pc: usize,
    op: ArithOp,
    ty: ScalarType,
    d: Reg,
    a: Src,
    b: Src,
) {
    if ty.is_float() {
        let (x, y) = (g.read(a, ty), g.read(b, ty));
        let r = match op {
            ArithOp::Add => g.b().ins().fadd(x, y),
            ArithOp::Sub => g.b().ins().fsub(x, y),
            ArithOp::Mul => g.b().ins().fmul(x, y),
            ArithOp::Min | ArithOp::Max => {
                let r = float_min_max(g, op, ty, x, y);
                g.write(d, ty, r);
                return;
            }
        };
        // Cranelift lowers a commutative `fadd`/`fmul` whose first operand
        // is a load it can fold into the instruction with the operands
        // swapped (`mulss y, [x]`): the hardware's NaN is then the second
        // operand's when both are NaN. Such results take the pinned NaN
        // inline.
        if matches!(op, ArithOp::Add | ArithOp::Mul) && defined_by_load(g, x) {
            pinned_nan3(g, d, ty, r, [x, y, y]);
            return;
        }
        hardware_float_result(g, pc, d, ty, r, &[a, b]);
        return;
    }
    let (x, y) = (read_int(g, a, ty), read_int(g, b, ty));
    let signed = ty.is_signed_int();
    let r = match op {
        ArithOp::Add => g.b().ins().iadd(x, y),
        ArithOp::Sub => g.b().ins().isub(x, y),
        ArithOp::Mul => g.b().ins().imul(x, y),
        ArithOp::Min if signed => g.b().ins().smin(x, y),
        ArithOp::Min => g.b().ins().umin(x, y),
        ArithOp::Max if signed => g.b().ins().smax(x, y),
        ArithOp::Max => g.b().ins().umax(x, y),
    };
    write_int(g, d, ty, r);
}

/// `min`/`max` of two floats by `exec`'s rule: `y` when `x` is NaN, when
/// `y` is strictly beyond `x`, or when they are equal and `y` has the
/// sign that wins (-0.0 for min, +0.0 for max); `x` otherwise.
pub(super) fn float_min_max<'f>(
    g: &mut impl LaneCode<'f>,
    op: ArithOp,
    ty: ScalarType,
    x: Value,
    y: Value,
) -> Value {
    let a_nan = g.b().ins().fcmp(FloatCC::Unordered, x, x);
    let (beyond, sign_cc) = match op {
        ArithOp::Min => (FloatCC::LessThan, IntCC::SignedLessThan),
        _ => (FloatCC::GreaterThan, IntCC::SignedGreaterThanOrEqual),
    };
    let b_beyond = g.b().ins().fcmp(beyond, y, x);
    let equal = g.b().ins().fcmp(FloatCC::Equal, y, x);
    let int = if ty == ScalarType::F32 {
        types::I32
    } else {
        types::I64
    };
    let y_bits = g.b().ins().bitcast(int, MemFlagsData::new(), y);
    let y_sign = g.b().ins().icmp_imm_s(sign_cc, y_bits, 0);
    let tie = g.b().ins().band(equal, y_sign);
    let c = g.b().ins().bor(a_nan, b_beyond);
    let c = g.b().ins().bor(c, tie);
    g.b().ins().select(c, y, x)
}

/// `x + y` for floats from values (an atomic's old value and operand)
/// with the language's NaN rule: on x86-64 the hardware's NaN is the pinned
/// one (`x` is a block parameter, never a load that Cranelift could fold
/// with the operands swapped: see `arith`); elsewhere it is computed
/// inline.
pub(super) fn float_add<'f>(
    g: &mut impl LaneCode<'f>,
    ty: ScalarType,
    x: Value,
    y: Value,
) -> Value {
    let r = g.b().ins().fadd(x, y);
    if cfg!(target_arch = "x86_64") {
        r
    } else {
        pinned_nan(g, ty, r, [x, y, y])
    }
}

fn div<'f>(
    g: &mut impl LaneCode<'f>,
    pc: usize,
    op: DivOp,
    ty: ScalarType,
    d: Reg,
    a: Src,
    b: Src,
) {
    if ty.is_float() {
        match op {
            DivOp::Div => {
                let (x, y) = (g.read(a, ty), g.read(b, ty));
                let r = g.b().ins().fdiv(x, y);
                hardware_float_result(g, pc, d, ty, r, &[a, b]);
            }
            // fmod: the helper.
            DivOp::Rem => eval(g, pc, d, &[a, b]),
        }
        return;
    }
    let (x, y) = (read_int(g, a, ty), read_int(g, b, ty));
    let zero = g.b().ins().icmp_imm_s(IntCC::Equal, y, 0);
    g.fault_if(zero, FaultCall::division(pc));
    let r = if ty.is_signed_int() {
        // `MIN / -1` overflows the machine division: divide by 1
        // instead and take the wrapped negation (`MIN % -1` is 0, as
        // `MIN % 1` is).
        let t = g.b().func.dfg.value_type(y);
        let minus_one = g.b().ins().icmp_imm_s(IntCC::Equal, y, -1);
        let one = g.b().ins().iconst(t, 1);
        let safe = g.b().ins().select(minus_one, one, y);
        match op {
            DivOp::Div => {
                let q = g.b().ins().sdiv(x, safe);
                let neg = g.b().ins().ineg(x);
                g.b().ins().select(minus_one, neg, q)
            }
            DivOp::Rem => g.b().ins().srem(x, safe),
        }
    } else {
        match op {
            DivOp::Div => g.b().ins().udiv(x, y),
            DivOp::Rem => g.b().ins().urem(x, y),
        }
    };
    write_int(g, d, ty, r);
}

fn fma<'f>(g: &mut impl LaneCode<'f>, pc: usize, ty: ScalarType, d: Reg, a: Src, b: Src, c: Src) {
    if !ty.is_float() {
        let (x, y, z) = (read_int(g, a, ty), read_int(g, b, ty), read_int(g, c, ty));
        let m = g.b().ins().imul(x, y);
        let r = g.b().ins().iadd(m, z);
        write_int(g, d, ty, r);
    } else if g.features().fma {
        let (x, y, z) = (g.read(a, ty), g.read(b, ty), g.read(c, ty));
        let r = g.b().ins().fma(x, y, z);
        pinned_nan3(g, d, ty, r, [x, y, z]);
    } else {
        eval(g, pc, d, &[a, b, c]);
    }
}

fn math<'f>(g: &mut impl LaneCode<'f>, pc: usize, op: MathOp, ty: ScalarType, d: Reg, a: Src) {
    if functions::is_own(op) && !g.cold() {
        // lanes' own algorithm, NaN rule included (`functions`).
        let x = g.read(a, ty);
        let r = Emit::new(g.b(), clif(ty)).function(op, x);
        let r = if functions::is_bounded(op) {
            // Past the bound, libm's (a call in a cold block).
            let inside = Emit::new(g.b(), clif(ty)).in_bound(x);
            cold_unless(g, ty, inside, r, |g| {
                let bits = eval_call(g, pc, &[a]);
                bits_as(g.b(), bits, ty)
            })
        } else {
            r
        };
        g.write(d, ty, r);
        return;
    }
    let inline = match op {
        MathOp::Sqrt | MathOp::Rsqrt => true,
        MathOp::Floor | MathOp::Ceil => g.features().sse41,
        _ => false,
    };
    if !inline {
        eval(g, pc, d, &[a]);
        return;
    }
    let x = g.read(a, ty);
    let r = match op {
        MathOp::Sqrt => g.b().ins().sqrt(x),
        MathOp::Rsqrt => {
            let s = g.b().ins().sqrt(x);
            let one = constant(
                g.b(),
                ty,
                if ty == ScalarType::F32 {
                    1.0f32.to_bits() as u64
                } else {
                    1.0f64.to_bits()
                },
            );
            g.b().ins().fdiv(one, s)
        }
        MathOp::Floor => g.b().ins().floor(x),
        _ => g.b().ins().ceil(x),
    };
    hardware_float_result(g, pc, d, ty, r, &[a]);
}

fn cvt<'f>(g: &mut impl LaneCode<'f>, pc: usize, to: ScalarType, from: ScalarType, d: Reg, a: Src) {
    let v = g.read(a, from);
    let r = match (from.is_float(), to.is_float()) {
        _ if from == to => v,
        (false, false) => {
            let (fb, tb) = (from.bits(), to.bits());
            if tb > fb {
                if from.is_signed_int() {
                    g.b().ins().sextend(clif(to), v)
                } else {
                    g.b().ins().uextend(clif(to), v)
                }
            } else if tb < fb {
                g.b().ins().ireduce(clif(to), v)
            } else {
                v
            }
        }
        (false, true) => {
            let w = widen_to_32(g, v, from);
            if from.is_signed_int() {
                g.b().ins().fcvt_from_sint(clif(to), w)
            } else {
                g.b().ins().fcvt_from_uint(clif(to), w)
            }
        }
        (true, false) => {
            // Rust `as`: saturating, NaN to 0 (Cranelift's `_sat`).
            let signed = to.is_signed_int();
            if to.size() >= 4 {
                if signed {
                    g.b().ins().fcvt_to_sint_sat(clif(to), v)
                } else {
                    g.b().ins().fcvt_to_uint_sat(clif(to), v)
                }
            } else {
                let (lo, hi) = if signed {
                    (-(1i64 << (to.bits() - 1)), (1i64 << (to.bits() - 1)) - 1)
                } else {
                    (0, (1i64 << to.bits()) - 1)
                };
                let w = if signed {
                    g.b().ins().fcvt_to_sint_sat(types::I32, v)
                } else {
                    g.b().ins().fcvt_to_uint_sat(types::I32, v)
                };
                let hi = g.b().ins().iconst(types::I32, hi);
                let w = if signed {
                    let lo = g.b().ins().iconst(types::I32, lo);
                    let w = g.b().ins().smax(w, lo);
                    g.b().ins().smin(w, hi)
                } else {
                    g.b().ins().umin(w, hi)
                };
                g.b().ins().ireduce(clif(to), w)
            }
        }
        (true, true) => {
            let r = if to.size() > from.size() {
                g.b().ins().fpromote(clif(to), v)
            } else {
                g.b().ins().fdemote(clif(to), v)
            };
            float_result(g, pc, d, to, r, &[a]);
            return;
        }
    };
    g.write(d, to, r);
}

/// Whether `v` is the result of a load (which Cranelift may fold into
/// the instruction that uses it).
fn defined_by_load<'f>(g: &mut impl LaneCode<'f>, v: Value) -> bool {
    let dfg = &g.b().func.dfg;
    match dfg.value_def(v) {
        cranelift_codegen::ir::ValueDef::Result(inst, _) => dfg.insts[inst].opcode().can_load(),
        _ => false,
    }
}

/// `v` of integer type `ty`, at least 32 bits wide (small types
/// extended by their signedness).
fn widen_to_32<'f>(g: &mut impl LaneCode<'f>, v: Value, ty: ScalarType) -> Value {
    if !is_small(ty) {
        v
    } else if ty.is_signed_int() {
        g.b().ins().sextend(types::I32, v)
    } else {
        g.b().ins().uextend(types::I32, v)
    }
}

/// Writes the result of an `add sub mul div sqrt rsqrt floor ceil`:
/// checked for NaN except on x86-64, where the hardware's NaN is the
/// pinned one (module docs).
fn hardware_float_result<'f>(
    g: &mut impl LaneCode<'f>,
    pc: usize,
    d: Reg,
    ty: ScalarType,
    r: Value,
    srcs: &[Src],
) {
    if cfg!(target_arch = "x86_64") {
        g.write(d, ty, r);
    } else {
        float_result(g, pc, d, ty, r, srcs);
    }
}

/// Writes a float result `r` of instruction `pc` to `d`, recomputed by
/// the `eval` helper when it is NaN (rare: the check is one compare and
/// a branch that is not taken).
fn float_result<'f>(
    g: &mut impl LaneCode<'f>,
    pc: usize,
    d: Reg,
    ty: ScalarType,
    r: Value,
    srcs: &[Src],
) {
    // `d` is not written yet: the operands are still the instruction's.
    let v = when_nan(g, ty, r, |g| {
        let bits = eval_call(g, pc, srcs);
        bits_as(g.b(), bits, ty)
    });
    g.write(d, ty, v);
}

/// Writes `d`: `r`, or when it is NaN the pinned NaN of an operation on
/// `ops` (the first NaN operand, quieted; the default NaN when none is),
/// computed inline: a helper call in the cold block made the register
/// allocator spill the values of loops around it.
fn pinned_nan3<'f>(g: &mut impl LaneCode<'f>, d: Reg, ty: ScalarType, r: Value, ops: [Value; 3]) {
    let v = pinned_nan(g, ty, r, ops);
    g.write(d, ty, v);
}

/// `r`, or when it is NaN the pinned NaN of an operation on `ops`,
/// computed inline (see [`pinned_nan3`]).
fn pinned_nan<'f>(g: &mut impl LaneCode<'f>, ty: ScalarType, r: Value, ops: [Value; 3]) -> Value {
    let wide = ty == ScalarType::F64;
    let int = if wide { types::I64 } else { types::I32 };
    let (quiet, default) = crate::exec::functions::nan_bits(wide);
    when_nan(g, ty, r, |g| {
        let b = g.b();
        let mut fix = b.ins().iconst(int, default);
        // From the last operand to the first, so the first NaN wins.
        for x in ops.into_iter().rev() {
            let nan = b.ins().fcmp(FloatCC::Unordered, x, x);
            let bits = b.ins().bitcast(int, MemFlagsData::new(), x);
            let quieted = b.ins().bor_imm_u(bits, quiet);
            fix = b.ins().select(nan, quieted, fix);
        }
        b.ins().bitcast(clif(ty), MemFlagsData::new(), fix)
    })
}

/// `r`, or what `exact` computes in a cold block when `r` is NaN.
fn when_nan<'f, G: LaneCode<'f>>(
    g: &mut G,
    ty: ScalarType,
    r: Value,
    exact: impl FnOnce(&mut G) -> Value,
) -> Value {
    let number = g.b().ins().fcmp(FloatCC::Ordered, r, r);
    cold_unless(g, ty, number, r, exact)
}

/// `r` (of type `ty`) where `ok` holds, else what `exact` computes in a
/// cold block.
fn cold_unless<'f, G: LaneCode<'f>>(
    g: &mut G,
    ty: ScalarType,
    ok: Value,
    r: Value,
    exact: impl FnOnce(&mut G) -> Value,
) -> Value {
    let cold = g.b().create_block();
    let join = g.b().create_block();
    g.b().set_cold_block(cold);
    let v = g.b().append_block_param(join, clif(ty));
    g.b().ins().brif(ok, join, &[BlockArg::Value(r)], cold, &[]);
    g.b().switch_to_block(cold);
    let e = exact(g);
    g.b().ins().jump(join, &[BlockArg::Value(e)]);
    g.b().switch_to_block(join);
    v
}

/// Computes instruction `pc` with the `eval` helper and writes `d`.
fn eval<'f>(g: &mut impl LaneCode<'f>, pc: usize, d: Reg, srcs: &[Src]) {
    let bits = eval_call(g, pc, srcs);
    g.write_bits(d, bits);
}

/// Calls `eval(frame, pc, a, b, c)` with the operands' register contents.
fn eval_call<'f>(g: &mut impl LaneCode<'f>, pc: usize, srcs: &[Src]) -> Value {
    let mut args = [
        g.frame(),
        g.b().ins().iconst(types::I32, pc as i64),
        zero64(g),
        zero64(g),
        zero64(g),
    ];
    for (i, &s) in srcs.iter().enumerate() {
        args[2 + i] = g.read_bits(s);
    }
    g.call_helper(Helper::Eval, &args)
}

fn zero64<'f>(g: &mut impl LaneCode<'f>) -> Value {
    g.b().ins().iconst(types::I64, 0)
}

pub(super) fn float_cc(cmp: CmpOp) -> FloatCC {
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

pub(super) fn int_cc(cmp: CmpOp, signed: bool) -> IntCC {
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
