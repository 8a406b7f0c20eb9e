//! `cvt`: Rust `as` semantics for every pair of scalar types (float to int
//! saturates, NaN becomes 0).

use super::Value;
use crate::types::ScalarType;
use crate::with_scalar_type;

/// `cvt.TO.FROM` on register contents.
pub fn convert(to: ScalarType, from: ScalarType, a: u64) -> u64 {
    with_scalar_type!(ScalarType, from, F => with_scalar_type!(ScalarType, to, T => cast::<F, T>(a)))
}

/// Rust `as` from `F` to `T`, on register contents.
#[inline(always)]
pub fn cast<F: Value + CastTo<T>, T: Value>(a: u64) -> u64 {
    F::from_reg(a).cast_to().to_reg()
}

/// `self as T`, for every pair of scalar types.
pub trait CastTo<T> {
    /// `self as T`.
    fn cast_to(self) -> T;
}

macro_rules! cast_to {
    ($($from:ident)*) => {$(
        cast_to!(@to $from; u8 u16 u32 u64 i8 i16 i32 i64 f32 f64);
    )*};
    (@to $from:ident; $($to:ident)*) => {$(
        impl CastTo<$to> for $from {
            #[inline(always)]
            fn cast_to(self) -> $to {
                self as $to
            }
        }
    )*};
}

cast_to!(u8 u16 u32 u64 i8 i16 i32 i64 f32 f64);
