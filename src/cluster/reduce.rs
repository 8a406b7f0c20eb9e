//! Combining the partial results of a reduced buffer, as the atomics
//! that made them compute.

use super::access::ReduceOp;
use crate::types::AtomType;

macro_rules! combine_as {
    ($t:ty, $op:expr, $left:expr, $right:expr, $add:expr, $min:expr, $max:expr) => {{
        const N: usize = std::mem::size_of::<$t>();
        for (l, r) in $left.chunks_exact_mut(N).zip($right.chunks_exact(N)) {
            let a = <$t>::from_le_bytes(l.try_into().unwrap_or([0; N]));
            let b = <$t>::from_le_bytes(r.try_into().unwrap_or([0; N]));
            let v: $t = match $op {
                ReduceOp::Add => $add(a, b),
                ReduceOp::Min => $min(a, b),
                ReduceOp::Max => $max(a, b),
            };
            l.copy_from_slice(&v.to_le_bytes());
        }
    }};
}

/// `left = left OP right`, element by element, as the atomics compute it
/// (integers wrap; a float NaN loses to a number in min and max).
// Used by the MPI runtime only; tested in every build.
#[cfg_attr(not(feature = "mpi"), allow(dead_code))]
pub(crate) fn combine(op: ReduceOp, ty: AtomType, left: &mut [u8], right: &[u8]) {
    match ty {
        AtomType::U32 => combine_as!(u32, op, left, right, u32::wrapping_add, u32::min, u32::max),
        AtomType::I32 => combine_as!(i32, op, left, right, i32::wrapping_add, i32::min, i32::max),
        AtomType::U64 => combine_as!(u64, op, left, right, u64::wrapping_add, u64::min, u64::max),
        AtomType::I64 => combine_as!(i64, op, left, right, i64::wrapping_add, i64::min, i64::max),
        AtomType::F32 => combine_as!(f32, op, left, right, |a, b| a + b, f32::min, f32::max),
        AtomType::F64 => combine_as!(f64, op, left, right, |a, b| a + b, f64::min, f64::max),
    }
}

/// `len` bytes of the identity of `op` for `ty` (float add: -0.0, the
/// identity that keeps the sign of a -0.0 total).
#[cfg_attr(not(feature = "mpi"), allow(dead_code))]
pub(crate) fn identity(op: ReduceOp, ty: AtomType, len: usize) -> Vec<u8> {
    let element: Vec<u8> = match (ty, op) {
        (_, ReduceOp::Add) if ty == AtomType::F32 => (-0.0f32).to_le_bytes().to_vec(),
        (_, ReduceOp::Add) if ty == AtomType::F64 => (-0.0f64).to_le_bytes().to_vec(),
        (AtomType::U32 | AtomType::I32, ReduceOp::Add) => vec![0; 4],
        (_, ReduceOp::Add) => vec![0; 8],
        (AtomType::U32, ReduceOp::Min) => u32::MAX.to_le_bytes().to_vec(),
        (AtomType::U32, ReduceOp::Max) => u32::MIN.to_le_bytes().to_vec(),
        (AtomType::I32, ReduceOp::Min) => i32::MAX.to_le_bytes().to_vec(),
        (AtomType::I32, ReduceOp::Max) => i32::MIN.to_le_bytes().to_vec(),
        (AtomType::U64, ReduceOp::Min) => u64::MAX.to_le_bytes().to_vec(),
        (AtomType::U64, ReduceOp::Max) => u64::MIN.to_le_bytes().to_vec(),
        (AtomType::I64, ReduceOp::Min) => i64::MAX.to_le_bytes().to_vec(),
        (AtomType::I64, ReduceOp::Max) => i64::MIN.to_le_bytes().to_vec(),
        (AtomType::F32, ReduceOp::Min) => f32::INFINITY.to_le_bytes().to_vec(),
        (AtomType::F32, ReduceOp::Max) => f32::NEG_INFINITY.to_le_bytes().to_vec(),
        (AtomType::F64, ReduceOp::Min) => f64::INFINITY.to_le_bytes().to_vec(),
        (AtomType::F64, ReduceOp::Max) => f64::NEG_INFINITY.to_le_bytes().to_vec(),
    };
    let mut out: Vec<u8> = element.iter().copied().cycle().take(len).collect();
    // A tail shorter than an element is not an element: keep zeros there.
    let whole = len / element.len() * element.len();
    out[whole..].fill(0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combining_matches_the_atomics() {
        let mut l: Vec<u8> = [1u32, 5, u32::MAX]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let r: Vec<u8> = [2u32, 3, 2].iter().flat_map(|v| v.to_le_bytes()).collect();
        combine(ReduceOp::Add, AtomType::U32, &mut l, &r);
        assert_eq!(
            l,
            [3u32, 8, 1]
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect::<Vec<_>>()
        );
        let mut l: Vec<u8> = [f32::NAN, 1.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let r: Vec<u8> = [2.0f32, f32::NAN]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        combine(ReduceOp::Min, AtomType::F32, &mut l, &r);
        assert_eq!(
            l,
            [2.0f32, 1.0]
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect::<Vec<_>>()
        );
        // -0.0 is the identity of float add, for -0.0 too.
        let id = identity(ReduceOp::Add, AtomType::F32, 6);
        let mut l: Vec<u8> = (-0.0f32).to_le_bytes().to_vec();
        combine(ReduceOp::Add, AtomType::F32, &mut l, &id[..4]);
        assert_eq!(
            f32::from_le_bytes(l.try_into().unwrap()).to_bits(),
            (-0.0f32).to_bits()
        );
        assert_eq!(&id[4..], &[0, 0]);
        let id = identity(ReduceOp::Min, AtomType::I64, 8);
        assert_eq!(i64::from_le_bytes(id.try_into().unwrap()), i64::MAX);
    }
}
