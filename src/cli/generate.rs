//! The elements of `arange:`, `fill:` and `random:` buffers
//! (docs/LANGUAGE.md section 8), written into a buffer a piece at a time so
//! that a large one never exists twice in memory.
//!
//! `random:` draws from ChaCha8 seeded by `seed_from_u64(SEED)`
//! (rand_chacha, whose output for a seed is fixed across platforms and
//! versions): floats uniform in [0, 1) (`rand`'s `StandardUniform`: 24 or
//! 53 random bits), integers uniform over all values of the type (the low
//! bytes of one `next_u64` per element).

use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::spec::Values;
use crate::types::ScalarType;

/// Bytes generated before each write.
const PIECE_BYTES: usize = 64 << 10;

/// Writes `count` elements of `ty` as `values` says through `write(byte
/// offset, bytes)`. Zeros write nothing: the buffer starts zeroed.
pub(crate) fn write_values<E>(
    ty: ScalarType,
    count: u64,
    values: Values,
    mut write: impl FnMut(usize, &[u8]) -> Result<(), E>,
) -> Result<(), E> {
    let mut rng = ChaCha8Rng::seed_from_u64(match values {
        Values::Random { seed } => seed,
        _ => 0,
    });
    // Each element as the low `size` bytes of a 64-bit pattern.
    let mut element = |i: u64| -> u64 {
        match (values, ty) {
            (Values::Zeros, _) => 0,
            (Values::Fill(bits), _) => bits,
            (Values::Arange, ScalarType::F32) => (i as f32).to_bits() as u64,
            (Values::Arange, ScalarType::F64) => (i as f64).to_bits(),
            (Values::Arange, _) => i,
            (Values::Random { .. }, ScalarType::F32) => rng.random::<f32>().to_bits() as u64,
            (Values::Random { .. }, ScalarType::F64) => rng.random::<f64>().to_bits(),
            (Values::Random { .. }, _) => rng.next_u64(),
        }
    };
    if values == Values::Zeros {
        return Ok(());
    }
    let size = ty.size();
    let per_piece = (PIECE_BYTES / size) as u64;
    let mut piece = Vec::with_capacity(PIECE_BYTES);
    let mut first = 0u64;
    while first < count {
        let end = count.min(first + per_piece);
        piece.clear();
        for i in first..end {
            piece.extend_from_slice(&element(i).to_le_bytes()[..size]);
        }
        // `first * size` bytes fit the buffer, whose length is a usize.
        write(first as usize * size, &piece)?;
        first = end;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn made(ty: ScalarType, count: u64, values: Values) -> Vec<u8> {
        let mut out = vec![0u8; count as usize * ty.size()];
        let mut writes = 0;
        write_values(ty, count, values, |at, bytes| {
            assert_eq!(at % ty.size(), 0);
            out[at..at + bytes.len()].copy_from_slice(bytes);
            writes += 1;
            Ok::<(), ()>(())
        })
        .unwrap();
        assert_eq!(writes, out.len().div_ceil(PIECE_BYTES));
        out
    }

    #[test]
    fn arange_and_fill_over_several_pieces() {
        // 40000 f64 elements take five 64 KiB pieces.
        let got: Vec<f64> =
            bytemuck::pod_collect_to_vec(&made(ScalarType::F64, 40_000, Values::Arange));
        assert!(got.iter().enumerate().all(|(i, &v)| v == i as f64));
        // Every u16, over two pieces.
        let got: Vec<u16> =
            bytemuck::pod_collect_to_vec(&made(ScalarType::U16, 65_536, Values::Arange));
        assert!(got.iter().enumerate().all(|(i, &v)| v as usize == i));
        let got = made(ScalarType::I8, 5, Values::Fill(u64::MAX));
        assert_eq!(got, vec![0xFF; 5]);
        let got: Vec<f32> = bytemuck::pod_collect_to_vec(&made(
            ScalarType::F32,
            3,
            Values::Fill((-0.0f32).to_bits() as u64),
        ));
        assert!(got.iter().all(|v| v.to_bits() == 0x8000_0000));
        assert!(made(ScalarType::F32, 0, Values::Arange).is_empty());
    }

    #[test]
    fn zeros_write_nothing() {
        let mut writes = 0;
        write_values(ScalarType::F32, 1000, Values::Zeros, |_, _| {
            writes += 1;
            Ok::<(), ()>(())
        })
        .unwrap();
        assert_eq!(writes, 0);
    }

    #[test]
    fn random_is_the_seeds_chacha8_stream() {
        let f: Vec<f32> = bytemuck::pod_collect_to_vec(&made(
            ScalarType::F32,
            20_000,
            Values::Random { seed: 7 },
        ));
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        assert!(
            f.iter()
                .all(|&v| v.to_bits() == rng.random::<f32>().to_bits())
        );
        assert!(f.iter().all(|&v| (0.0..1.0).contains(&v)));
        // Spread over [0, 1): every tenth holds some of 20000 draws.
        for d in 0..10 {
            let lo = d as f32 / 10.0;
            let n = f.iter().filter(|&&v| v >= lo && v < lo + 0.1).count();
            assert!((1500..2500).contains(&n), "[{lo}, {}): {n}", lo + 0.1);
        }
        let a = made(ScalarType::U8, 1000, Values::Random { seed: 1 });
        let b = made(ScalarType::U8, 1000, Values::Random { seed: 1 });
        let c = made(ScalarType::U8, 1000, Values::Random { seed: 2 });
        assert_eq!(a, b);
        assert_ne!(a, c);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        assert!(a.iter().all(|&v| v == rng.next_u64() as u8));
        let d: Vec<f64> =
            bytemuck::pod_collect_to_vec(&made(ScalarType::F64, 100, Values::Random { seed: 0 }));
        assert!(d.iter().all(|&v| (0.0..1.0).contains(&v)));
    }
}
