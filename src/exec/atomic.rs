//! The combining step of `atom`: the new memory value from the old one.

use super::Value;
use crate::kernel::AtomOp;
use crate::types::{AtomType, CasType};
use crate::with_scalar_type;

/// `old OP a` for `atom.OP.T`, on raw memory bits (zero-extended) and the
/// operand's register contents. Returns the new raw bits.
pub fn combine(op: AtomOp, ty: AtomType, old: u64, a: u64) -> u64 {
    with_scalar_type!(AtomType, ty, T => raw(combine_typed::<T>(op, T::from_reg(old), T::from_reg(a)).to_reg(), ty.scalar().size()))
}

/// `old OP a` on typed values.
#[inline(always)]
pub fn combine_typed<T: Value>(op: AtomOp, old: T, a: T) -> T {
    match op {
        AtomOp::Add => old.add(a),
        AtomOp::Min => old.min(a),
        AtomOp::Max => old.max(a),
        AtomOp::Exch => a,
    }
}

/// `cas`: the new raw bits given the old raw bits, compare value `a` and new
/// value `b` (bitwise compare at the type's width).
pub fn cas(ty: CasType, old: u64, a: u64, b: u64) -> u64 {
    let size = ty.scalar().size();
    if raw(old, size) == raw(a, size) {
        raw(b, size)
    } else {
        raw(old, size)
    }
}

/// The low `size` bytes of `bits`.
#[inline(always)]
pub fn raw(bits: u64, size: usize) -> u64 {
    if size >= 8 {
        bits
    } else {
        bits & ((1u64 << (size * 8)) - 1)
    }
}
