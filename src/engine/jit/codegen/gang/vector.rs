//! Values across a gang: uniform scalars, affine bases and vectors, and the
//! conversions between the forms and widths (ISPC's uniform and varying,
//! on 128-bit vectors).
//!
//! A varying value of LASM type `T` is one `I32X4` (integers up to 32 bits,
//! widened by their signedness), one `F32X4`, or two halves of `I64X2` /
//! `F64X2` (lanes 0-1 and 2-3).

use cranelift_codegen::ir::{ConstantData, InstBuilder, Type, Value, types};
use cranelift_frontend::FunctionBuilder;

use super::super::values::bitcast as cast;
use crate::engine::jit::analysis::Kind;
use crate::types::ScalarType;

/// A vector: one 128-bit value, or two (lanes 0-1, lanes 2-3).
#[derive(Clone, Copy, Debug)]
pub(super) enum Vector {
    One(Value),
    Two(Value, Value),
}

/// A value of some LASM type across the four lanes of a gang.
#[derive(Clone, Copy, Debug)]
pub(super) enum GVal {
    /// The same scalar in every lane.
    Uni(Value),
    /// `base + k * stride` in lane `k` (an integer type, modulo its width).
    Aff(Value, i64),
    /// One value per lane.
    Vec(Vector),
}

/// Whether values of `ty` are two vectors.
pub(super) fn is_wide(ty: ScalarType) -> bool {
    ty.size() == 8
}

/// The vector type of `ty` (of each half, for 64-bit types).
pub(super) fn vtype(ty: ScalarType) -> Type {
    match ty {
        ScalarType::F32 => types::F32X4,
        ScalarType::F64 => types::F64X2,
        ScalarType::U64 | ScalarType::I64 => types::I64X2,
        _ => types::I32X4,
    }
}

/// The vector type a register of kind `kind` lives in (per half).
pub(super) fn kind_vtype(kind: Kind) -> Type {
    match kind {
        Kind::I32Zero | Kind::I32Sign => types::I32X4,
        Kind::F32 => types::F32X4,
        Kind::I64 => types::I64X2,
        Kind::F64 => types::F64X2,
    }
}

pub(super) use super::super::values::vconst;

/// `I32X4` `[a, b, c, d]`.
pub(super) fn i32x4(b: &mut FunctionBuilder<'_>, v: [i32; 4]) -> Value {
    let mut bytes = [0u8; 16];
    for (i, x) in v.iter().enumerate() {
        bytes[4 * i..4 * i + 4].copy_from_slice(&x.to_le_bytes());
    }
    vconst(b, types::I32X4, bytes)
}

/// `I64X2` `[a, b]`.
pub(super) fn i64x2(b: &mut FunctionBuilder<'_>, v: [i64; 2]) -> Value {
    let mut bytes = [0u8; 16];
    for (i, x) in v.iter().enumerate() {
        bytes[8 * i..8 * i + 8].copy_from_slice(&x.to_le_bytes());
    }
    vconst(b, types::I64X2, bytes)
}

/// Lanes of an `I32X4` holding `ty` values (small types widened) made
/// canonical again after arithmetic: cut to `ty`'s width and re-extended.
pub(super) fn renormalize(b: &mut FunctionBuilder<'_>, ty: ScalarType, v: Value) -> Value {
    match ty {
        ScalarType::U8 | ScalarType::U16 => {
            let m = if ty == ScalarType::U8 { 0xFF } else { 0xFFFF };
            let mask = b.ins().iconst(types::I32, m);
            let mask = b.ins().splat(types::I32X4, mask);
            b.ins().band(v, mask)
        }
        ScalarType::I8 | ScalarType::I16 => {
            let sh = if ty == ScalarType::I8 { 24 } else { 16 };
            let l = b.ins().ishl_imm_s(v, sh);
            b.ins().sshr_imm_s(l, sh)
        }
        _ => v,
    }
}

/// A scalar of type `ty` in every lane.
pub(super) fn splat(b: &mut FunctionBuilder<'_>, ty: ScalarType, v: Value) -> Vector {
    match ty {
        ScalarType::U8 | ScalarType::U16 => {
            let w = b.ins().uextend(types::I32, v);
            Vector::One(b.ins().splat(types::I32X4, w))
        }
        ScalarType::I8 | ScalarType::I16 => {
            let w = b.ins().sextend(types::I32, v);
            Vector::One(b.ins().splat(types::I32X4, w))
        }
        _ if is_wide(ty) => {
            let s = b.ins().splat(vtype(ty), v);
            Vector::Two(s, s)
        }
        _ => Vector::One(b.ins().splat(vtype(ty), v)),
    }
}

/// `base + k * stride` in lane `k`, in type `ty`.
pub(super) fn affine(
    b: &mut FunctionBuilder<'_>,
    ty: ScalarType,
    base: Value,
    stride: i64,
) -> Vector {
    match splat(b, ty, base) {
        Vector::One(s) => {
            let st = stride as i32;
            let iota = i32x4(b, [0, st, st.wrapping_mul(2), st.wrapping_mul(3)]);
            let v = b.ins().iadd(s, iota);
            Vector::One(renormalize(b, ty, v))
        }
        Vector::Two(s, _) => {
            let lo = i64x2(b, [0, stride]);
            let hi = i64x2(b, [stride.wrapping_mul(2), stride.wrapping_mul(3)]);
            Vector::Two(b.ins().iadd(s, lo), b.ins().iadd(s, hi))
        }
    }
}

/// `v` (a gang value of type `ty`) as a vector.
pub(super) fn materialize(b: &mut FunctionBuilder<'_>, ty: ScalarType, v: GVal) -> Vector {
    match v {
        GVal::Uni(s) => splat(b, ty, s),
        GVal::Aff(base, st) => affine(b, ty, base, st),
        GVal::Vec(v) => v,
    }
}

/// Lane `k` of a vector of type `ty`, as a scalar of `ty`'s machine type.
pub(super) fn lane(b: &mut FunctionBuilder<'_>, ty: ScalarType, v: Vector, k: u8) -> Value {
    let x = match v {
        Vector::One(x) => b.ins().extractlane(x, k),
        Vector::Two(lo, hi) => {
            let half = if k < 2 { lo } else { hi };
            b.ins().extractlane(half, k % 2)
        }
    };
    match ty {
        ScalarType::U8 | ScalarType::I8 => b.ins().ireduce(types::I8, x),
        ScalarType::U16 | ScalarType::I16 => b.ins().ireduce(types::I16, x),
        _ => x,
    }
}

/// Lane `k` of a gang value of type `ty`.
pub(super) fn lane_of(b: &mut FunctionBuilder<'_>, ty: ScalarType, v: GVal, k: u8) -> Value {
    match v {
        GVal::Uni(s) => s,
        GVal::Aff(base, st) => {
            if k == 0 {
                base
            } else {
                b.ins().iadd_imm_s(base, st.wrapping_mul(k as i64))
            }
        }
        GVal::Vec(v) => lane(b, ty, v, k),
    }
}

/// A vector of type `ty` from four scalars of `ty`'s machine type.
pub(super) fn from_lanes(b: &mut FunctionBuilder<'_>, ty: ScalarType, xs: [Value; 4]) -> Vector {
    let widen = |b: &mut FunctionBuilder<'_>, x: Value| match ty {
        ScalarType::U8 | ScalarType::U16 => b.ins().uextend(types::I32, x),
        ScalarType::I8 | ScalarType::I16 => b.ins().sextend(types::I32, x),
        _ => x,
    };
    if is_wide(ty) {
        let lo = b.ins().scalar_to_vector(vtype(ty), xs[0]);
        let lo = b.ins().insertlane(lo, xs[1], 1);
        let hi = b.ins().scalar_to_vector(vtype(ty), xs[2]);
        let hi = b.ins().insertlane(hi, xs[3], 1);
        Vector::Two(lo, hi)
    } else {
        let x0 = widen(b, xs[0]);
        let mut v = b.ins().scalar_to_vector(vtype(ty), x0);
        for (k, &x) in xs.iter().enumerate().skip(1) {
            let x = widen(b, x);
            v = b.ins().insertlane(v, x, k as u8);
        }
        Vector::One(v)
    }
}

/// The low 32 bits of each 64-bit lane of two `I64X2` halves, as one
/// `I32X4`.
pub(super) fn narrow64(b: &mut FunctionBuilder<'_>, lo: Value, hi: Value) -> Value {
    let lo = cast(b, types::I8X16, lo);
    let hi = cast(b, types::I8X16, hi);
    // Bytes 0-3 and 8-11 of each half (little-endian low dwords).
    let mask: Vec<u8> = [0u8, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27].to_vec();
    let m = b.func.dfg.immediates.push(ConstantData::from(mask));
    let v = b.ins().shuffle(lo, hi, m);
    cast(b, types::I32X4, v)
}

/// A varying register of kind `kind` read as `ty` (its low bits, docs/LANGUAGE.md
/// section 2).
pub(super) fn held_vec_as(
    b: &mut FunctionBuilder<'_>,
    v: Vector,
    kind: Kind,
    ty: ScalarType,
) -> Vector {
    // The low 32 bits as I32X4, and the 64-bit contents as two I64X2.
    let low32 = |b: &mut FunctionBuilder<'_>, v: Vector| match v {
        Vector::One(x) => cast(b, types::I32X4, x),
        Vector::Two(lo, hi) => {
            let lo = cast(b, types::I64X2, lo);
            let hi = cast(b, types::I64X2, hi);
            narrow64(b, lo, hi)
        }
    };
    let bits64 = |b: &mut FunctionBuilder<'_>, v: Vector| match v {
        Vector::Two(lo, hi) => (cast(b, types::I64X2, lo), cast(b, types::I64X2, hi)),
        Vector::One(x) => {
            let x = cast(b, types::I32X4, x);
            if kind == Kind::I32Sign {
                (b.ins().swiden_low(x), b.ins().swiden_high(x))
            } else {
                (b.ins().uwiden_low(x), b.ins().uwiden_high(x))
            }
        }
    };
    match ty {
        ScalarType::U64 | ScalarType::I64 => {
            let (lo, hi) = bits64(b, v);
            Vector::Two(lo, hi)
        }
        ScalarType::F64 => {
            let (lo, hi) = bits64(b, v);
            Vector::Two(cast(b, types::F64X2, lo), cast(b, types::F64X2, hi))
        }
        ScalarType::F32 => {
            let l = low32(b, v);
            Vector::One(cast(b, types::F32X4, l))
        }
        _ => {
            let l = low32(b, v);
            Vector::One(renormalize(b, ty, l))
        }
    }
}

/// A vector of type `ty` in the form a varying register of kind `kind`
/// holds it (extended as docs/LANGUAGE.md section 3 says).
pub(super) fn vec_to_held(
    b: &mut FunctionBuilder<'_>,
    kind: Kind,
    ty: ScalarType,
    v: Vector,
) -> Vector {
    match (kind, v) {
        (Kind::I32Zero | Kind::I32Sign, Vector::One(x)) => Vector::One(cast(b, types::I32X4, x)),
        (Kind::F32, Vector::One(x)) => Vector::One(cast(b, types::F32X4, x)),
        (Kind::I64, Vector::Two(lo, hi)) => {
            Vector::Two(cast(b, types::I64X2, lo), cast(b, types::I64X2, hi))
        }
        (Kind::F64, Vector::Two(lo, hi)) => {
            Vector::Two(cast(b, types::F64X2, lo), cast(b, types::F64X2, hi))
        }
        (Kind::I64, Vector::One(x)) => {
            // A 32-bit (or smaller) value: its 64-bit contents.
            let x = cast(b, types::I32X4, x);
            if ty.is_signed_int() {
                Vector::Two(b.ins().swiden_low(x), b.ins().swiden_high(x))
            } else {
                Vector::Two(b.ins().uwiden_low(x), b.ins().uwiden_high(x))
            }
        }
        (k, v) => {
            debug_assert!(false, "{ty} vector written to a {k:?} register");
            v
        }
    }
}

/// A vector of the kind's type, all zero (a fresh lane's register).
pub(super) fn zero_vec(b: &mut FunctionBuilder<'_>, kind: Kind) -> Vector {
    let t = kind_vtype(kind);
    let z = vconst(b, t, [0; 16]);
    match kind {
        Kind::I64 | Kind::F64 => Vector::Two(z, z),
        _ => Vector::One(z),
    }
}

/// Lanes where `mask` (`I32X4`, all ones or zero) is set take `new`, the
/// others keep `old`; for 64-bit types the mask is widened per half.
pub(super) fn blend(b: &mut FunctionBuilder<'_>, mask: Value, new: Vector, old: Vector) -> Vector {
    match (new, old) {
        (Vector::One(n), Vector::One(o)) => {
            let t = b.func.dfg.value_type(n);
            let m = cast(b, t, mask);
            Vector::One(b.ins().bitselect(m, n, o))
        }
        (Vector::Two(nl, nh), Vector::Two(ol, oh)) => {
            let (ml, mh) = wide_mask(b, mask);
            let t = b.func.dfg.value_type(nl);
            let (ml, mh) = (cast(b, t, ml), cast(b, t, mh));
            Vector::Two(b.ins().bitselect(ml, nl, ol), b.ins().bitselect(mh, nh, oh))
        }
        _ => new,
    }
}

/// An `I32X4` lane mask as two `I64X2` masks.
pub(super) fn wide_mask(b: &mut FunctionBuilder<'_>, mask: Value) -> (Value, Value) {
    (b.ins().swiden_low(mask), b.ins().swiden_high(mask))
}

/// Two `I64X2` lane masks as one `I32X4` mask.
pub(super) fn narrow_mask(b: &mut FunctionBuilder<'_>, lo: Value, hi: Value) -> Value {
    let lo = cast(b, types::I64X2, lo);
    let hi = cast(b, types::I64X2, hi);
    narrow64(b, lo, hi)
}

/// A 4-bit lane set as an `I32X4` mask (bit `k`: lane `k` all ones).
pub(super) fn bits_to_mask(b: &mut FunctionBuilder<'_>, bits: Value) -> Value {
    let s = b.ins().splat(types::I32X4, bits);
    let lanes = i32x4(b, [1, 2, 4, 8]);
    let m = b.ins().band(s, lanes);
    let z = vconst(b, types::I32X4, [0; 16]);
    let eq = b
        .ins()
        .icmp(cranelift_codegen::ir::condcodes::IntCC::NotEqual, m, z);
    cast(b, types::I32X4, eq)
}

/// An `I32X4` mask as a 4-bit lane set (`I32`).
pub(super) fn mask_to_bits(b: &mut FunctionBuilder<'_>, mask: Value) -> Value {
    let m = cast(b, types::I32X4, mask);
    b.ins().vhigh_bits(types::I32, m)
}

/// `f` applied to each half of two vectors.
pub(super) fn zip2(
    b: &mut FunctionBuilder<'_>,
    x: Vector,
    y: Vector,
    mut f: impl FnMut(&mut FunctionBuilder<'_>, Value, Value) -> Value,
) -> Vector {
    match (x, y) {
        (Vector::One(a), Vector::One(c)) => Vector::One(f(b, a, c)),
        (Vector::Two(al, ah), Vector::Two(cl, ch)) => {
            let lo = f(b, al, cl);
            let hi = f(b, ah, ch);
            Vector::Two(lo, hi)
        }
        _ => unreachable!("vectors of one type have one form"),
    }
}

/// `f` applied to each half of a vector.
pub(super) fn map1(
    b: &mut FunctionBuilder<'_>,
    x: Vector,
    mut f: impl FnMut(&mut FunctionBuilder<'_>, Value) -> Value,
) -> Vector {
    match x {
        Vector::One(a) => Vector::One(f(b, a)),
        Vector::Two(lo, hi) => {
            let lo = f(b, lo);
            let hi = f(b, hi);
            Vector::Two(lo, hi)
        }
    }
}
