//! `and or xor not shl shr` on integers.

use super::{IntValue, Value};
use crate::kernel::BitOp;
use crate::types::IntType;
use crate::with_scalar_type;

/// One bitwise operation on typed values.
#[inline(always)]
pub fn bit_typed<T: IntValue>(op: BitOp, a: T, b: T) -> T {
    match op {
        BitOp::And => a.and(b),
        BitOp::Or => a.or(b),
        BitOp::Xor => a.xor(b),
        BitOp::Shl => a.shl(b),
        BitOp::Shr => a.shr(b),
    }
}

/// A bitwise operation on register contents.
pub fn bit(op: BitOp, ty: IntType, a: u64, b: u64) -> u64 {
    with_scalar_type!(IntType, ty, T => bit_typed(op, T::from_reg(a), T::from_reg(b)).to_reg())
}

/// `not` on register contents.
pub fn not(ty: IntType, a: u64) -> u64 {
    with_scalar_type!(IntType, ty, T => T::from_reg(a).not().to_reg())
}
