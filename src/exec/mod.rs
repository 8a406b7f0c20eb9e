//! The meaning of every LASM operation on one lane's values.
//!
//! Both engines call these functions, so correctly rounded results are
//! bit-identical across engines by construction. Each instruction family has
//! its own file (as in wasmi's executor): [`arith`] (add sub mul min max div
//! rem fma neg abs), [`bits`] (and or xor not shl shr), [`math`] (float
//! functions; [`functions`] for those lanes computes itself), [`compare`]
//! (setp selp), [`convert`] (cvt), [`atomic`] (the combining step of
//! `atom`). Values travel as the 64-bit register contents;
//! [`Value`] reads and writes them as a typed scalar.
//!
//! Choices where the language contract was silent (docs/LANGUAGE.md,
//! section 9):
//! - float `min`/`max` of `-0.0` and `+0.0` give `-0.0` and `+0.0`
//!   respectively (IEEE 754-2019 minimumNumber/maximumNumber), whatever the
//!   operand order; NaN with a number gives the number, two NaNs give NaN.
//! - a float result that is NaN is the first NaN operand, made quiet, or,
//!   when no operand is NaN (`inf - inf`), the default NaN `0xFFC00000`
//!   (`0xFFF8000000000000` for f64): x86's rule, made explicit so that
//!   vectorized loops (which may swap commutative operands) and scalar code
//!   agree bit for bit on every machine.
//! - `rsqrt` is `1 / sqrt(x)` (two roundings, well within 4 ulp).
//! - `exp`, `exp2`, `log`, `log2` and `tanh`, and `sin` and `cos` up to
//!   [`functions::trig_bound`], are lanes' own algorithms ([`functions`]),
//!   which the JIT emits operation for operation: the same bits on every
//!   engine without a call into Rust from compiled code.
//! - `shl`/`shr` take the shift count from the unsigned bits of `b`,
//!   modulo the width.

pub mod arith;
pub mod atomic;
pub mod bits;
pub mod compare;
pub mod convert;
pub mod functions;
pub mod math;
mod value;

pub use value::{FloatValue, IntValue, SignedValue, Value};

/// Runs `$body` with `$t` bound to the Rust type of the [`ScalarType`]
/// `$ty` (and of the narrower type sets, which map to the same variants).
///
/// [`ScalarType`]: crate::types::ScalarType
#[macro_export]
#[doc(hidden)]
macro_rules! with_scalar_type {
    (ScalarType, $ty:expr, $t:ident => $body:expr) => {
        $crate::with_scalar_type!(@arms ScalarType, $ty, $t => $body;
            U8 u8, U16 u16, U32 u32, U64 u64, I8 i8, I16 i16, I32 i32, I64 i64, F32 f32, F64 f64)
    };
    (IntType, $ty:expr, $t:ident => $body:expr) => {
        $crate::with_scalar_type!(@arms IntType, $ty, $t => $body;
            U8 u8, U16 u16, U32 u32, U64 u64, I8 i8, I16 i16, I32 i32, I64 i64)
    };
    (SignedType, $ty:expr, $t:ident => $body:expr) => {
        $crate::with_scalar_type!(@arms SignedType, $ty, $t => $body;
            I8 i8, I16 i16, I32 i32, I64 i64, F32 f32, F64 f64)
    };
    (FloatType, $ty:expr, $t:ident => $body:expr) => {
        $crate::with_scalar_type!(@arms FloatType, $ty, $t => $body; F32 f32, F64 f64)
    };
    (AtomType, $ty:expr, $t:ident => $body:expr) => {
        $crate::with_scalar_type!(@arms AtomType, $ty, $t => $body;
            U32 u32, I32 i32, U64 u64, I64 i64, F32 f32, F64 f64)
    };
    (CasType, $ty:expr, $t:ident => $body:expr) => {
        $crate::with_scalar_type!(@arms CasType, $ty, $t => $body; U32 u32, I32 i32, U64 u64, I64 i64)
    };
    (@arms $set:ident, $ty:expr, $t:ident => $body:expr; $($v:ident $rt:ident),*) => {{
        match $ty {
            $($crate::types::$set::$v => { type $t = $rt; $body })*
        }
    }};
}
