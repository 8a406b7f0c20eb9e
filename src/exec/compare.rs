//! `setp` and `selp`.

use super::Value;
use crate::kernel::CmpOp;
use crate::types::ScalarType;
use crate::with_scalar_type;

/// A comparison on typed values, as Rust compares them (floats: every
/// comparison with NaN is false except `ne`).
#[inline(always)]
pub fn compare_typed<T: Value>(cmp: CmpOp, a: T, b: T) -> bool {
    match cmp {
        CmpOp::Eq => a == b,
        CmpOp::Ne => a != b,
        CmpOp::Lt => a < b,
        CmpOp::Le => a <= b,
        CmpOp::Gt => a > b,
        CmpOp::Ge => a >= b,
    }
}

/// `setp` on register contents.
pub fn compare(cmp: CmpOp, ty: ScalarType, a: u64, b: u64) -> bool {
    with_scalar_type!(ScalarType, ty, T => compare_typed(cmp, T::from_reg(a), T::from_reg(b)))
}

/// `selp`: `a` if `p`, else `b`, written as `ty`.
#[inline]
pub fn select(ty: ScalarType, p: bool, a: u64, b: u64) -> u64 {
    ty.extend(if p { a } else { b })
}
