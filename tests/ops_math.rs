//! Activations, softmax, reductions, losses and linear algebra of
//! `lanes::ops`, on every engine, against independent computations in
//! Rust (in f64 where the op rounds, and a compensated f64 sum for sums of
//! f64). Tolerances, with u the unit roundoff of the element type
//! (2^-24 for f32, 2^-53 for f64):
//!
//! - `min`, `max`, integer sums, `gemm`, `matvec`: exact (bits).
//! - float `sum`: `ops::sum_error_bound` (15 u per pass times sum |x|),
//!   plus the reference's own error; checked by property tests too.
//! - `mean`: that bound over n, plus u |mean|.
//! - sigmoid, tanh: 8 u relative (the kernel's `exp`/`tanh` are within
//!   4 ulp, the rest rounds once or twice), with an absolute floor of 16
//!   times the smallest normal (subnormal results).
//! - gelu: 16 u (|x| + 1) absolute: `1 + tanh` cancels for negative x.
//! - softmax: relative `(3 R + 24 + d) u`, R the range of x (the rounding
//!   of `x - max` is amplified by exp), d the sum's depth.
//! - losses: relative `(d + 12) u` of the sum of the terms' magnitudes.

mod ops_support;

use lanes::ops::{self, Ops, OpsError, scratch_len, sum_error_bound};
use lanes::{Buffer, Float, Runtime};
use ops_support::{Num, Rng, assert_same, each_engine, values};
use proptest::prelude::*;

/// Float test inputs in `[lo, hi)`.
fn floats<T: Float>(n: usize, seed: u64, lo: f64, hi: f64) -> Vec<T> {
    let mut rng = Rng(seed ^ (n as u64) << 17 ^ 0xdead_beef);
    (0..n).map(|_| T::from_f64(rng.range(lo, hi))).collect()
}

/// `|got - want| <= rel * |want| + abs`, per element.
fn assert_close<T: Float>(got: &[T], want: &[f64], rel: f64, abs: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let g = g.to_f64();
        let err = (g - w).abs();
        assert!(
            err <= rel * w.abs() + abs || (g.is_nan() && w.is_nan()) || g == w,
            "{what}: element {i}: got {g:e}, want {w:e} (error {err:e}, allowed {:e})",
            rel * w.abs() + abs
        );
    }
}

/// The smallest normal of `T`, as f64.
fn tiny<T: Float>() -> f64 {
    if T::UNIT_ROUNDOFF > 1e-10 {
        f32::MIN_POSITIVE as f64
    } else {
        f64::MIN_POSITIVE
    }
}

/// Neumaier's compensated sum: within about one rounding of the exact sum
/// for the inputs here.
fn compensated_sum(x: impl Iterator<Item = f64>) -> f64 {
    let (mut sum, mut c) = (0.0f64, 0.0f64);
    for v in x {
        let t = sum + v;
        c += if sum.abs() >= v.abs() {
            (sum - t) + v
        } else {
            (v - t) + sum
        };
        sum = t;
    }
    sum + c
}

type Activation<T> = fn(&Ops<'_>, &Buffer<T>, &Buffer<T>) -> Result<(), OpsError>;

fn activations<T: Float + Num>() {
    let u = T::UNIT_ROUNDOFF;
    each_engine(|ops, sizes| {
        let rt = ops.runtime();
        for &n in sizes {
            let x: Vec<T> = floats(n, 11, -12.0, 12.0);
            let bx = rt.buffer_from(&x).unwrap();
            let out = rt.buffer_zeroed::<T>(n).unwrap();
            let xs = x.iter().map(|v| v.to_f64());
            let cases: [(&str, Activation<T>, Vec<f64>, f64); 2] = [
                (
                    "sigmoid",
                    |o, x, y| o.sigmoid(x, y),
                    xs.clone().map(|v| 1.0 / (1.0 + (-v).exp())).collect(),
                    8.0 * u,
                ),
                (
                    "tanh",
                    |o, x, y| o.tanh(x, y),
                    xs.clone().map(f64::tanh).collect(),
                    8.0 * u,
                ),
            ];
            for (name, op, want, rel) in cases {
                op(&ops, &bx, &out).unwrap();
                let what = format!("{name}::<{}> n={n} on {:?}", T::TYPE, ops.options().engine);
                assert_close(&out.read().unwrap(), &want, rel, 16.0 * tiny::<T>(), &what);
            }
            ops.gelu(&bx, &out).unwrap();
            let got = out.read().unwrap();
            for (i, (&g, &v)) in got.iter().zip(&x).enumerate() {
                let v = v.to_f64();
                let c = (2.0 / std::f64::consts::PI).sqrt();
                let want = 0.5 * v * (1.0 + (c * (v + 0.044715 * v * v * v)).tanh());
                let err = (g.to_f64() - want).abs();
                assert!(
                    err <= 16.0 * u * (v.abs() + 1.0),
                    "gelu::<{}>({v}) element {i}: got {g:?}, want {want} (n={n})",
                    T::TYPE
                );
            }
        }
        // Saturation and special values.
        let inf = T::from_f64(f64::INFINITY);
        let special = [inf, -inf, T::from_f64(0.0), T::from_f64(-0.0)];
        let sig = ops.sigmoid_vec(&special).unwrap();
        assert_same(
            &sig,
            &[1.0, 0.0, 0.5, 0.5].map(T::from_f64),
            "sigmoid specials",
        );
        let tanh = ops.tanh_vec(&special).unwrap();
        assert_same(
            &tanh,
            &[1.0, -1.0, 0.0, -0.0].map(T::from_f64),
            "tanh specials",
        );
    });
}

#[test]
fn activations_are_within_their_tolerance() {
    activations::<f32>();
    activations::<f64>();
}

fn softmax<T: Float + Num>() {
    let u = T::UNIT_ROUNDOFF;
    each_engine(|ops, sizes| {
        let rt = ops.runtime();
        for &n in sizes {
            for (lo, hi) in [(-20.0, 20.0), (1000.0, 1001.0)] {
                let x: Vec<T> = floats(n, 12, lo, hi);
                let xs: Vec<f64> = x.iter().map(|v| v.to_f64()).collect();
                let m = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let low = xs.iter().copied().fold(f64::INFINITY, f64::min);
                let e: Vec<f64> = xs.iter().map(|v| (v - m).exp()).collect();
                let s = compensated_sum(e.iter().copied());
                let want: Vec<f64> = e.iter().map(|v| v / s).collect();
                let d = 15.0 * if n > 2048 { 2.0 } else { 1.0 };
                let rel = (3.0 * (m - low) + 24.0 + d) * u;
                let bx = rt.buffer_from(&x).unwrap();
                let out = rt.buffer_zeroed::<T>(n).unwrap();
                ops.softmax(&bx, &out).unwrap();
                let what = format!("softmax::<{}> n={n} in [{lo}, {hi})", T::TYPE);
                assert_close(&out.read().unwrap(), &want, rel, 16.0 * tiny::<T>(), &what);
                // In place, with caller-owned scratch: the same bits.
                let scratch = rt.buffer_zeroed::<T>(scratch_len(n)).unwrap();
                ops.softmax_with(&bx, &bx, &scratch).unwrap();
                assert_same(
                    &bx.read().unwrap(),
                    &out.read().unwrap(),
                    "softmax in place",
                );
            }
        }
    });
}

#[test]
fn softmax_is_within_its_tolerance() {
    softmax::<f32>();
    softmax::<f64>();
}

#[test]
fn softmax_follows_its_formula_on_special_values() {
    let rt = Runtime::new();
    let ops = rt.ops();
    // -inf gets 0; a single element gets 1; NaN poisons everything (as the
    // formula does).
    assert_eq!(
        ops.softmax_vec(&[f32::NEG_INFINITY, 0.0, 0.0]).unwrap(),
        [0.0, 0.5, 0.5]
    );
    assert_eq!(ops.softmax_vec(&[-5.0f64]).unwrap(), [1.0]);
    assert!(
        ops.softmax_vec(&[1.0f32, f32::NAN])
            .unwrap()
            .iter()
            .all(|v| v.is_nan())
    );
    assert_eq!(ops.softmax_vec::<f64>(&[]).unwrap(), Vec::<f64>::new());
}

fn float_reductions<T: Float + Num>() {
    let u = T::UNIT_ROUNDOFF;
    each_engine(|ops, sizes| {
        let rt = ops.runtime();
        for &n in sizes {
            let x: Vec<T> = floats(n, 13, -1000.0, 1000.0);
            let bx = rt.buffer_from(&x).unwrap();
            let xs = || x.iter().map(|v| v.to_f64());
            let exact = compensated_sum(xs());
            let abs_sum: f64 = xs().map(f64::abs).sum();
            let what = format!("sum::<{}> n={n} on {:?}", T::TYPE, ops.options().engine);
            let got = ops.sum(&bx).unwrap().to_f64();
            // The reference is within n 2^-53 sum|x| of the exact sum.
            let bound = sum_error_bound::<T>(n, abs_sum) + n as f64 * 1.2e-16 * abs_sum;
            assert!(
                (got - exact).abs() <= bound,
                "{what}: got {got}, exact {exact}, bound {bound}"
            );
            if n > 0 {
                let mean = ops.mean(&bx).unwrap().to_f64();
                let want = exact / n as f64;
                let bound = bound / n as f64 + 2.0 * u * want.abs();
                assert!(
                    (mean - want).abs() <= bound,
                    "mean::<{}> n={n}: {mean} vs {want}",
                    T::TYPE
                );
            }
        }
    });
}

#[test]
fn float_sums_and_means_are_within_the_stated_bound() {
    float_reductions::<f32>();
    float_reductions::<f64>();
}

fn exact_reductions<T: Num>() {
    each_engine(|ops, sizes| {
        let rt = ops.runtime();
        for &n in sizes {
            let x: Vec<T> = values(n, 14);
            let bx = rt.buffer_from(&x).unwrap();
            let what = format!("::<{}> n={n} on {:?}", T::TYPE, ops.options().engine);
            if n == 0 {
                assert!(matches!(
                    ops.min(&bx),
                    Err(OpsError::Empty {
                        param: "x",
                        op: "min"
                    })
                ));
                assert!(matches!(
                    ops.max(&bx),
                    Err(OpsError::Empty {
                        param: "x",
                        op: "max"
                    })
                ));
                continue;
            }
            // The identity of min over floats is +inf, as the fold's start.
            let start = |v: T| if T::TYPE.is_float() { v } else { x[0] };
            let min = x.iter().fold(start(T::specials()[4]), |a, b| a.minimum(*b));
            let max = x.iter().fold(start(T::specials()[5]), |a, b| a.maximum(*b));
            assert_same(&[ops.min(&bx).unwrap()], &[min], &format!("min{what}"));
            assert_same(&[ops.max(&bx).unwrap()], &[max], &format!("max{what}"));
            if !T::TYPE.is_float() {
                let sum = x.iter().fold(T::from_i8(0), |a, b| a.add(*b));
                assert_same(&[ops.sum(&bx).unwrap()], &[sum], &format!("sum{what}"));
            }
        }
    });
}

#[test]
fn min_max_and_integer_sums_are_exact() {
    for_types!(T in [u8, u16, u32, u64, i8, i16, i32, i64, f32, f64] => {
        exact_reductions::<T>();
    });
}

#[test]
fn reductions_are_the_same_on_every_engine_and_thread_count() {
    let x: Vec<f32> = floats(70_001, 15, -1.0, 1.0);
    let mut results = Vec::new();
    for threads in [1, 2, 5] {
        let rt = Runtime::builder().threads(threads).build().unwrap();
        let bx = rt.buffer_from(&x).unwrap();
        results.push(rt.ops().sum(&bx).unwrap().to_bits());
    }
    let rt = Runtime::new();
    let small = &x[..5000];
    let reference = rt
        .ops()
        .engine(lanes::Engine::Reference)
        .sum_vec(small)
        .unwrap();
    assert_eq!(
        reference.to_bits(),
        rt.ops().sum_vec(small).unwrap().to_bits()
    );
    assert!(results.windows(2).all(|w| w[0] == w[1]), "{results:?}");
}

#[test]
fn reduction_arguments_are_checked() {
    let rt = Runtime::new();
    let ops = rt.ops();
    let x = rt.buffer_from(&[1.0f32; 5000]).unwrap();
    let small = rt.buffer_zeroed::<f32>(2).unwrap();
    let err = ops.sum_with(&x, &small).unwrap_err();
    assert!(
        matches!(
            err,
            OpsError::TooShort {
                param: "scratch",
                len: 2,
                need: 4
            }
        ),
        "{err}"
    );
    let err = ops.sum_with(&x, &x).unwrap_err();
    assert!(
        matches!(
            err,
            OpsError::Aliased {
                param: "scratch",
                other: "x",
                ..
            }
        ),
        "{err}"
    );
    let err = ops.mean_vec::<f64>(&[]).unwrap_err();
    assert!(matches!(err, OpsError::Empty { op: "mean", .. }), "{err}");
    assert_eq!(ops.sum_vec::<f64>(&[]).unwrap(), 0.0);
    let scratch = rt.buffer_zeroed::<f32>(scratch_len(5000)).unwrap();
    assert_eq!(ops.sum_with(&x, &scratch).unwrap(), 5000.0);
    assert_eq!(ops.max_with(&x, &scratch).unwrap(), 1.0);
}

fn losses<T: Float + Num>() {
    let u = T::UNIT_ROUNDOFF;
    each_engine(|ops, sizes| {
        let rt = ops.runtime();
        for &n in sizes.iter().filter(|&&n| n > 0) {
            let d = 15.0 * if n > 2048 { 2.0 } else { 1.0 };
            let p: Vec<T> = floats(n, 16, 0.001, 0.999);
            let t: Vec<T> = floats(n, 17, 0.0, 1.0);
            let (bp, bt) = (rt.buffer_from(&p).unwrap(), rt.buffer_from(&t).unwrap());
            let pairs = || p.iter().zip(&t).map(|(p, t)| (p.to_f64(), t.to_f64()));
            let clamp = |v: f64| v.max(-100.0);
            let check = |name: &str, got: T, terms: Vec<f64>, scale: f64| {
                let want = compensated_sum(terms.iter().copied()) * scale;
                let magnitude: f64 = terms.iter().map(|v| v.abs()).sum::<f64>() * scale.abs();
                let bound = (d + 12.0) * u * magnitude;
                let got = got.to_f64();
                assert!(
                    (got - want).abs() <= bound,
                    "{name}::<{}> n={n}: got {got}, want {want}, bound {bound}",
                    T::TYPE
                );
            };
            let mean = 1.0 / n as f64;
            let mse = pairs().map(|(p, t)| (p - t) * (p - t)).collect();
            check("mse", ops.mse(&bp, &bt).unwrap(), mse, mean);
            let ce = pairs().map(|(p, t)| t * clamp(p.ln())).collect();
            check(
                "cross_entropy",
                ops.cross_entropy(&bp, &bt).unwrap(),
                ce,
                -1.0,
            );
            let bce = pairs()
                .map(|(p, t)| t * clamp(p.ln()) + (1.0 - t) * clamp((1.0 - p).ln()))
                .collect();
            check(
                "binary_cross_entropy",
                ops.binary_cross_entropy(&bp, &bt).unwrap(),
                bce,
                -mean,
            );
        }
        // Probabilities of exactly 0 and 1: finite thanks to the clamp.
        let (zero, one) = (T::from_f64(0.0), T::from_f64(1.0));
        let bce = ops
            .binary_cross_entropy_vec(&[zero, one], &[one, zero])
            .unwrap();
        assert_eq!(bce.to_f64(), 100.0);
        let ce = ops.cross_entropy_vec(&[zero, one], &[zero, one]).unwrap();
        assert_eq!(
            ce.to_f64(),
            0.0,
            "t = 0 terms add nothing, even where p = 0"
        );
        assert!(
            ops.binary_cross_entropy_vec(&[T::from_f64(1.5)], &[one])
                .unwrap()
                .to_f64()
                .is_nan()
        );
    });
}

#[test]
fn losses_are_within_their_tolerance() {
    losses::<f32>();
    losses::<f64>();
}

#[test]
fn loss_arguments_are_checked() {
    let rt = Runtime::new();
    let ops = rt.ops();
    let err = ops.mse_vec(&[1.0f32, 2.0], &[1.0]).unwrap_err();
    assert!(
        matches!(
            err,
            OpsError::LengthMismatch {
                param: "t",
                other: "p",
                ..
            }
        ),
        "{err}"
    );
    let err = ops.cross_entropy_vec::<f64>(&[], &[]).unwrap_err();
    assert!(
        matches!(
            err,
            OpsError::Empty {
                param: "p",
                op: "cross_entropy"
            }
        ),
        "{err}"
    );
    let p = rt.buffer_from(&[0.5f32; 3]).unwrap();
    let err = ops.mse_with(&p, &p, &p).unwrap_err();
    assert!(
        matches!(
            err,
            OpsError::Aliased {
                param: "scratch",
                ..
            }
        ),
        "{err}"
    );
}

/// `c = a b` by the plain triple loop the kernel must match bit for bit.
fn triple_loop<T: Float>(a: &[T], b: &[T], m: usize, k: usize, n: usize) -> Vec<T> {
    let mut c = vec![T::from_f64(0.0); m * n];
    for i in 0..m {
        for j in 0..n {
            let mut acc = T::from_f64(0.0);
            for p in 0..k {
                acc = acc + a[i * k + p] * b[p * n + j];
            }
            c[i * n + j] = acc;
        }
    }
    c
}

/// Shapes (m, k, n): the sizes of the issue as dimensions, square and not,
/// tall and wide, and ones that do not fill the 16 x 16 blocks.
const GEMM_SHAPES: [(usize, usize, usize); 11] = [
    (1, 1, 1),
    (7, 7, 7),
    (1, 256, 7),
    (7, 1, 256),
    (16, 16, 16),
    (17, 33, 9),
    (33, 9, 17),
    (1000, 3, 7),
    (3, 1000, 2),
    (2, 7, 1000),
    (0, 5, 3),
];

fn gemm<T: Float + Num>() {
    each_engine(|ops, sizes| {
        let big = sizes.contains(&65537);
        let mut shapes = GEMM_SHAPES.to_vec();
        if big {
            shapes.extend([(65537, 2, 1), (1, 65537, 1), (1, 1, 65537), (256, 256, 256)]);
        }
        for (m, k, n) in shapes {
            let a: Vec<T> = floats(m * k, 18, -2.0, 2.0);
            let b: Vec<T> = floats(k * n, 19, -2.0, 2.0);
            let got = ops.gemm_vec(&a, &b, m, k, n).unwrap();
            let what = format!(
                "gemm::<{}> {m}x{k} by {k}x{n} on {:?}",
                T::TYPE,
                ops.options().engine
            );
            assert_same(&got, &triple_loop(&a, &b, m, k, n), &what);
            // matvec is gemm with one column.
            let x = &b[..k.min(b.len())];
            if x.len() == k {
                let y = ops.matvec_vec(&a, x, m, k).unwrap();
                assert_same(&y, &triple_loop(&a, x, m, k, 1), &format!("matvec {what}"));
            }
        }
        // k = 0: c is all zeros (written, not left as it was).
        let rt = ops.runtime();
        let (a, b) = (
            rt.buffer_zeroed::<T>(0).unwrap(),
            rt.buffer_zeroed::<T>(0).unwrap(),
        );
        let c = rt.buffer_from(&[T::from_f64(9.0); 6]).unwrap();
        ops.gemm(&a, &b, &c, 2, 0, 3).unwrap();
        assert_same(&c.read().unwrap(), &[T::from_f64(0.0); 6], "gemm k = 0");
    });
}

#[test]
fn gemm_and_matvec_match_the_triple_loop_bit_for_bit() {
    gemm::<f32>();
    gemm::<f64>();
}

#[test]
fn gemm_arguments_are_checked() {
    let rt = Runtime::new();
    let ops = rt.ops();
    let err = ops.gemm_vec(&[1.0f32; 5], &[1.0; 6], 2, 3, 2).unwrap_err();
    assert!(
        matches!(
            err,
            OpsError::WrongLength {
                param: "a",
                len: 5,
                expected: 6,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "`a` has 5 elements, expected 6 (m x k = 2 x 3)"
    );
    let a = rt.buffer_from(&[1.0f64; 6]).unwrap();
    let c = rt.buffer_zeroed::<f64>(3).unwrap();
    let err = ops.gemm(&a, &a, &c, 2, 3, 2).unwrap_err();
    assert!(
        matches!(
            err,
            OpsError::TooShort {
                param: "c",
                len: 3,
                need: 4
            }
        ),
        "{err}"
    );
    let err = ops.gemm(&a, &c, &a, 2, 1, 1).unwrap_err();
    assert!(
        matches!(
            err,
            OpsError::Aliased {
                param: "c",
                other: "a",
                ..
            }
        ),
        "{err}"
    );
    let err = ops.matvec(&a, &c, &c, 3, 2).unwrap_err();
    assert!(
        matches!(
            err,
            OpsError::Aliased {
                param: "y",
                other: "x",
                ..
            }
        ),
        "{err}"
    );
    let err = ops.gemm(&a, &a, &c, 1 << 33, 0, 0).unwrap_err();
    assert!(matches!(err, OpsError::TooLong { .. }), "{err}");
}

/// Inputs whose sums cancel heavily or span magnitudes: the bound's worst
/// cases (it scales with sum |x|, not with the sum).
fn hard_f32s() -> impl Strategy<Value = Vec<f32>> {
    let value = prop_oneof![
        -1.0f32..1.0,
        (-1.0f32..1.0).prop_map(|v| v * 1e6),
        (-1.0f32..1.0).prop_map(|v| v * 1e-6),
        Just(16_777_216.0f32),
        Just(-16_777_215.0f32),
    ];
    prop::collection::vec(value, 1..6000)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn f32_sums_stay_within_the_bound(x in hard_f32s()) {
        let rt = Runtime::new();
        let got = rt.ops().sum_vec(&x).unwrap() as f64;
        let exact = compensated_sum(x.iter().map(|&v| v as f64));
        let abs_sum: f64 = x.iter().map(|v| v.abs() as f64).sum();
        let bound = sum_error_bound::<f32>(x.len(), abs_sum) + x.len() as f64 * 1.2e-16 * abs_sum;
        prop_assert!((got - exact).abs() <= bound, "n={} got {got} exact {exact} bound {bound}", x.len());
    }

    #[test]
    fn f64_sums_stay_within_the_bound(x in prop::collection::vec(-1e3f64..1e3, 1..6000)) {
        let rt = Runtime::new();
        let got = rt.ops().sum_vec(&x).unwrap();
        let exact = compensated_sum(x.iter().copied());
        let abs_sum: f64 = x.iter().map(|v| v.abs()).sum();
        let bound = sum_error_bound::<f64>(x.len(), abs_sum) + 4.0 * f64::EPSILON * exact.abs();
        prop_assert!((got - exact).abs() <= bound, "n={} got {got} exact {exact} bound {bound}", x.len());
    }

    #[test]
    fn min_and_max_are_exact_at_any_length(x in prop::collection::vec(any::<i32>(), 1..6000)) {
        let rt = Runtime::new();
        prop_assert_eq!(rt.ops().min_vec(&x).unwrap(), *x.iter().min().unwrap());
        prop_assert_eq!(rt.ops().max_vec(&x).unwrap(), *x.iter().max().unwrap());
        let sum = x.iter().fold(0i32, |a, b| a.wrapping_add(*b));
        prop_assert_eq!(rt.ops().sum_vec(&x).unwrap(), sum);
    }
}

/// The measured error of the f32 sum, against the bound, for the README
/// (`cargo test --release --test ops_math -- --ignored --nocapture`).
#[test]
#[ignore]
fn measure_sum_error() {
    let rt = Runtime::new();
    for n in [1000usize, 65_537, 1 << 20, 1 << 24] {
        let mut worst = (0.0f64, 0.0f64, 0.0f64);
        for seed in 0..8 {
            let x: Vec<f32> = floats(n, 100 + seed, -1.0, 1.0);
            let got = rt.ops().sum_vec(&x).unwrap() as f64;
            let exact = compensated_sum(x.iter().map(|&v| v as f64));
            let abs_sum: f64 = x.iter().map(|v| v.abs() as f64).sum();
            let sequential = x.iter().fold(0.0f32, |a, b| a + b) as f64;
            let u = f32::EPSILON as f64 / 2.0;
            let tree = (got - exact).abs() / (u * abs_sum);
            let seq = (sequential - exact).abs() / (u * abs_sum);
            let bound = sum_error_bound::<f32>(n, abs_sum) / (u * abs_sum);
            worst = (worst.0.max(tree), worst.1.max(seq), bound);
        }
        println!(
            "n={n}: tree sum error {:.3} u sum|x|, f32 sequential loop {:.1} u sum|x|, bound {:.0} u sum|x|",
            worst.0, worst.1, worst.2
        );
    }
    let _ = ops::scratch_len(0);
}
