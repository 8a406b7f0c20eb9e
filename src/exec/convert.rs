//! `cvt`: Rust `as` semantics for every pair of scalar types (float to int
//! saturates, NaN becomes 0).

use super::Value;
use crate::types::ScalarType;
use crate::with_scalar_type;

/// `cvt.TO.FROM` on register contents.
pub fn convert(to: ScalarType, from: ScalarType, a: u64) -> u64 {
    with_scalar_type!(ScalarType, from, F => {
        let v = F::from_reg(a);
        with_scalar_type!(ScalarType, to, T => (v as T).to_reg())
    })
}
