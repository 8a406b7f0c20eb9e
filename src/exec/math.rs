//! The float functions: `sqrt rsqrt exp exp2 log log2 sin cos tanh floor ceil`.

use super::{FloatValue, Value};
use crate::kernel::MathOp;
use crate::types::FloatType;
use crate::with_scalar_type;

/// One math function on a typed value.
#[inline(always)]
pub fn math_typed<T: FloatValue>(op: MathOp, a: T) -> T {
    match op {
        MathOp::Sqrt => a.sqrt(),
        MathOp::Rsqrt => a.rsqrt(),
        MathOp::Exp => a.exp(),
        MathOp::Exp2 => a.exp2(),
        MathOp::Log => a.log(),
        MathOp::Log2 => a.log2(),
        MathOp::Sin => a.sin(),
        MathOp::Cos => a.cos(),
        MathOp::Tanh => a.tanh(),
        MathOp::Floor => a.floor(),
        MathOp::Ceil => a.ceil(),
    }
}

/// A math function on register contents.
pub fn math(op: MathOp, ty: FloatType, a: u64) -> u64 {
    with_scalar_type!(FloatType, ty, T => math_typed(op, T::from_reg(a)).to_reg())
}
