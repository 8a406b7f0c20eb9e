//! `add sub mul min max div rem fma neg abs`.

use super::{SignedValue, Value};
use crate::kernel::{ArithOp, DivOp, SignOp};
use crate::types::{ScalarType, SignedType};
use crate::with_scalar_type;

/// One `add sub mul min max` on typed values.
#[inline(always)]
pub fn arith_typed<T: Value>(op: ArithOp, a: T, b: T) -> T {
    match op {
        ArithOp::Add => a.add(b),
        ArithOp::Sub => a.sub(b),
        ArithOp::Mul => a.mul(b),
        ArithOp::Min => a.min(b),
        ArithOp::Max => a.max(b),
    }
}

/// `add sub mul min max` on register contents.
pub fn arith(op: ArithOp, ty: ScalarType, a: u64, b: u64) -> u64 {
    with_scalar_type!(ScalarType, ty, T => arith_typed(op, T::from_reg(a), T::from_reg(b)).to_reg())
}

/// `div rem` on typed values; `None` is integer division by zero.
#[inline(always)]
pub fn div_typed<T: Value>(op: DivOp, a: T, b: T) -> Option<T> {
    match op {
        DivOp::Div => a.div(b),
        DivOp::Rem => a.rem(b),
    }
}

/// `div rem` on register contents; `None` is integer division by zero.
pub fn div(op: DivOp, ty: ScalarType, a: u64, b: u64) -> Option<u64> {
    with_scalar_type!(ScalarType, ty, T => div_typed(op, T::from_reg(a), T::from_reg(b)).map(Value::to_reg))
}

/// `fma` on register contents.
pub fn fma(ty: ScalarType, a: u64, b: u64, c: u64) -> u64 {
    with_scalar_type!(ScalarType, ty, T => T::from_reg(a).fma(T::from_reg(b), T::from_reg(c)).to_reg())
}

/// `neg abs` on typed values.
#[inline(always)]
pub fn sign_typed<T: SignedValue>(op: SignOp, a: T) -> T {
    match op {
        SignOp::Neg => a.neg(),
        SignOp::Abs => a.abs(),
    }
}

/// `neg abs` on register contents.
pub fn sign(op: SignOp, ty: SignedType, a: u64) -> u64 {
    with_scalar_type!(SignedType, ty, T => sign_typed(op, T::from_reg(a)).to_reg())
}

/// `mov`: the register value of `a` read as `ty`.
#[inline]
pub fn mov(ty: ScalarType, a: u64) -> u64 {
    ty.extend(a)
}
