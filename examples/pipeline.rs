//! A pipeline of ops on resident buffers: normalize a feature vector, score
//! it against ten classes with a matrix-vector product, turn the scores into
//! probabilities with softmax, and take the cross-entropy loss against the
//! right class; then score a whole batch with one gemm. Every buffer,
//! including the reductions' scratch space, is made once up front, so the
//! pipeline itself allocates nothing on the runtime, and nothing leaves it
//! until the scalar results are read.
//!
//! ```sh
//! cargo run --example pipeline
//! ```
//!
//! Also run by `cargo test` (the test at the bottom calls `main`), which
//! checks every stage against the same computation in plain Rust.

use std::error::Error;

use lanes::Runtime;
use lanes::ops::scratch_len;

/// Features per sample, classes, samples in the batch.
const K: usize = 64;
const CLASSES: usize = 10;
const BATCH: usize = 32;

/// Deterministic inputs: feature `j` of sample `s`, and the weight of
/// class `c` for feature `j`.
fn feature(s: usize, j: usize) -> f32 {
    ((s * 7 + j * 13) % 29) as f32 * 0.25 - 3.0
}
fn weight(c: usize, j: usize) -> f32 {
    (((c + 1) * (j + 3)) % 17) as f32 / 17.0 - 0.5
}

fn main() -> Result<(), Box<dyn Error>> {
    let rt = Runtime::new();
    let ops = rt.ops();

    // Everything the pipeline needs, allocated once.
    let x = rt.buffer_from(&(0..K).map(|j| feature(0, j)).collect::<Vec<_>>())?;
    let w: Vec<f32> = (0..CLASSES)
        .flat_map(|c| (0..K).map(move |j| weight(c, j)))
        .collect();
    let w = rt.buffer_from(&w)?; // CLASSES x K, row-major
    let centered = rt.buffer_zeroed::<f32>(K)?;
    let magnitude = rt.buffer_zeroed::<f32>(K)?;
    let scores = rt.buffer_zeroed::<f32>(CLASSES)?;
    let probabilities = rt.buffer_zeroed::<f32>(CLASSES)?;
    let mut target = vec![0.0f32; CLASSES];
    target[3] = 1.0; // the right class
    let target = rt.buffer_from(&target)?;
    let scratch = rt.buffer_zeroed::<f32>(scratch_len(K))?;

    // 1. Center and scale the features: (x - mean) / max |x - mean|.
    let mean = ops.mean_with(&x, &scratch)?;
    ops.add_scalar(&x, -mean, &centered)?;
    ops.abs(&centered, &magnitude)?;
    let largest = ops.max_with(&magnitude, &scratch)?;
    ops.mul_scalar(&centered, 1.0 / largest, &centered)?; // in place
    println!("features: mean {mean:.4}, largest deviation {largest:.4}");

    // 2. Scores, probabilities, loss.
    ops.matvec(&w, &centered, &scores, CLASSES, K)?;
    ops.softmax_with(&scores, &probabilities, &scratch)?;
    let loss = ops.cross_entropy_with(&probabilities, &target, &scratch)?;
    let p = probabilities.read()?;
    let best = (0..CLASSES).fold(0, |b, c| if p[c] > p[b] { c } else { b });
    println!("probabilities {p:.3?}");
    println!("most likely class {best}, loss against class 3: {loss:.4}");

    // The same in plain Rust (f64), to show what the ops computed.
    let xs: Vec<f64> = (0..K).map(|j| f64::from(feature(0, j))).collect();
    let m = xs.iter().sum::<f64>() / K as f64;
    let dev = xs.iter().map(|v| (v - m).abs()).fold(0.0, f64::max);
    let xn: Vec<f64> = xs.iter().map(|v| (v - m) / dev).collect();
    let s: Vec<f64> = (0..CLASSES)
        .map(|c| (0..K).map(|j| f64::from(weight(c, j)) * xn[j]).sum())
        .collect();
    let top = s.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let z: f64 = s.iter().map(|v| (v - top).exp()).sum();
    let want_loss = -((s[3] - top).exp() / z).ln();
    assert!((f64::from(mean) - m).abs() < 1e-5);
    assert!(
        (f64::from(loss) - want_loss).abs() < 1e-4,
        "{loss} vs {want_loss}"
    );
    for (c, got) in p.iter().enumerate() {
        let want = (s[c] - top).exp() / z;
        assert!(
            (f64::from(*got) - want).abs() < 1e-5,
            "class {c}: {got} vs {want}"
        );
    }

    // 3. A batch: BATCH samples (rows) scored at once by one gemm against
    // the transposed weights (K x CLASSES). Sample 0 is the features
    // above, normalized the same way.
    let mut batch: Vec<f32> = (0..BATCH)
        .flat_map(|s| (0..K).map(move |j| feature(s, j)))
        .collect();
    centered.read_into(&mut batch[..K])?; // row 0: the normalized sample
    let batch = rt.buffer_from(&batch)?;
    let wt: Vec<f32> = (0..K)
        .flat_map(|j| (0..CLASSES).map(move |c| weight(c, j)))
        .collect();
    let wt = rt.buffer_from(&wt)?;
    let batch_scores = rt.buffer_zeroed::<f32>(BATCH * CLASSES)?;
    ops.gemm(&batch, &wt, &batch_scores, BATCH, K, CLASSES)?;
    let all = batch_scores.read()?;
    // gemm and matvec take each dot product in the same order: row 0 of
    // the batch's scores is the single sample's scores, bit for bit.
    assert_eq!(all[..CLASSES], scores.read()?[..]);
    println!("batch of {BATCH}: row 0 equals the single sample's scores bit for bit");
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn runs() {
        super::main().unwrap();
    }
}
