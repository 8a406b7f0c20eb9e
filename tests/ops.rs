//! The ready kernels of `lanes::ops` against plain Rust loops.

use lanes::ops::{self, Op, OpsError};
use lanes::{BufferId, Engine, LaunchError, LaunchOptions, Runtime};

const SIZES: [usize; 6] = [0, 1, 255, 256, 257, 1000];

/// Every test runs on every engine.
fn each_engine(test: impl Fn(LaunchOptions)) {
    for engine in Engine::ALL {
        test(LaunchOptions {
            engine,
            jit_wait: std::time::Duration::MAX,
            ..LaunchOptions::default()
        });
    }
}

/// Varied values, including negatives, zeros of both signs, fractions,
/// infinities and NaN, deterministic per `seed`.
fn values(n: usize, seed: u32) -> Vec<f32> {
    (0..n as u32)
        .map(|i| {
            let k = i
                .wrapping_mul(2_654_435_761)
                .wrapping_add(seed.wrapping_mul(40_503));
            match k % 23 {
                0 => 0.0,
                1 => -0.0,
                2 => f32::INFINITY,
                3 => f32::NAN,
                _ => ((k >> 8) % 20_000) as f32 / 77.0 - 130.0,
            }
        })
        .collect()
}

fn assert_bits(got: &[f32], want: &[f32], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(
            g.to_bits(),
            w.to_bits(),
            "{what}: element {i}: got {g}, want {w}"
        );
    }
}

type Helper = fn(&Runtime, &[f32], &[f32], LaunchOptions) -> Result<Vec<f32>, OpsError>;
type Reference = fn(f32, f32) -> f32;

#[test]
fn binary_ops_match_rust_bit_for_bit() {
    each_engine(|opts| {
        let rt = Runtime::new();
        let cases: [(&str, Helper, Reference); 6] = [
            ("add", ops::vector_add, |a, b| a + b),
            ("sub", ops::vector_sub, |a, b| a - b),
            ("mul", ops::vector_mul, |a, b| a * b),
            ("div", ops::vector_div, |a, b| a / b),
            ("min", ops::vector_min, f32::min),
            ("max", ops::vector_max, f32::max),
        ];
        for n in SIZES {
            let (a, b) = (values(n, 1), values(n, 2));
            for (name, helper, reference) in cases {
                let got = helper(&rt, &a, &b, opts).unwrap();
                let want: Vec<f32> = a.iter().zip(&b).map(|(x, y)| reference(*x, *y)).collect();
                assert_bits(&got, &want, &format!("{name} n={n}"));
            }
        }
    });
}

#[test]
fn saxpy_is_one_fused_multiply_add() {
    each_engine(|opts| {
        let rt = Runtime::new();
        for n in SIZES {
            let (x, y) = (values(n, 3), values(n, 4));
            for alpha in [2.5f32, -0.1, 0.0] {
                let got = ops::saxpy(&rt, alpha, &x, &y, opts).unwrap();
                let want: Vec<f32> = x
                    .iter()
                    .zip(&y)
                    .map(|(x, y)| alpha.mul_add(*x, *y))
                    .collect();
                assert_bits(&got, &want, &format!("saxpy alpha={alpha} n={n}"));
            }
        }
    });
}

#[test]
fn relu_matches_rust_bit_for_bit() {
    each_engine(|opts| {
        let rt = Runtime::new();
        for n in SIZES {
            let x = values(n, 5);
            let got = ops::relu(&rt, &x, opts).unwrap();
            let want: Vec<f32> = x.iter().map(|&v| if v > 0.0 { v } else { 0.0 }).collect();
            assert_bits(&got, &want, &format!("relu n={n}"));
        }
    });
}

fn ulps(a: f32, b: f32) -> u32 {
    // Both results are in [0, 1], where the bit patterns are ordered.
    a.to_bits().abs_diff(b.to_bits())
}

#[test]
fn sigmoid_is_within_a_few_ulp() {
    each_engine(|opts| {
        let rt = Runtime::new();
        for n in SIZES {
            let x: Vec<f32> = (0..n).map(|i| (i as f32 - 500.0) / 25.0).collect();
            let got = ops::sigmoid(&rt, &x, opts).unwrap();
            assert_eq!(got.len(), n);
            for (i, (&g, &v)) in got.iter().zip(&x).enumerate() {
                let want = (1.0 / (1.0 + (-(v as f64)).exp())) as f32;
                assert!(
                    ulps(g, want) <= 8,
                    "sigmoid({v}) element {i}: got {g}, want {want}"
                );
            }
        }
        let got = ops::sigmoid(&rt, &[f32::INFINITY, f32::NEG_INFINITY, 0.0], opts).unwrap();
        assert_eq!(got, vec![1.0, 0.0, 0.5]);
    });
}

#[test]
fn block_sum_adds_small_integers_exactly() {
    each_engine(|opts| {
        let rt = Runtime::new();
        for n in SIZES {
            let x: Vec<f32> = (0..n).map(|i| ((i * 7) % 13) as f32 - 4.0).collect();
            let want: f32 = x.iter().sum();
            assert_eq!(ops::block_sum(&rt, &x, opts).unwrap(), want, "n={n}");
        }
    });
}

#[test]
fn length_mismatch_is_an_error() {
    each_engine(|opts| {
        let rt = Runtime::new();
        let err = ops::vector_add(&rt, &[1.0, 2.0], &[1.0], opts).unwrap_err();
        assert!(
            matches!(
                err,
                OpsError::LengthMismatch {
                    param: "b",
                    len: 1,
                    other: "a",
                    other_len: 2
                }
            ),
            "{err}"
        );
        let err = ops::saxpy(&rt, 1.0, &[1.0], &[], opts).unwrap_err();
        assert!(
            matches!(
                err,
                OpsError::LengthMismatch {
                    param: "y",
                    len: 0,
                    ..
                }
            ),
            "{err}"
        );
    });
}

/// Buffers created between two probe allocations must all be gone.
fn assert_freed_between(rt: &Runtime, before: BufferId, after: BufferId) {
    assert!(after.0 > before.0 + 1, "the helper made buffers");
    for id in before.0 + 1..after.0 {
        assert!(rt.read(BufferId(id)).is_err(), "buffer {id} was not freed");
    }
}

#[test]
fn buffers_are_freed_on_success_and_on_error() {
    each_engine(|opts| {
        let rt = Runtime::new();
        let before = rt.alloc(0).unwrap();
        ops::vector_mul(&rt, &[1.0; 300], &[2.0; 300], opts).unwrap();
        ops::block_sum(&rt, &[1.0; 300], opts).unwrap();
        let after = rt.alloc(0).unwrap();
        assert_freed_between(&rt, before, after);

        // A one-step budget makes every launch fault after its buffers exist.
        let mut tight = opts;
        tight.max_steps = 1;
        let err = ops::sigmoid(&rt, &[1.0; 10], tight).unwrap_err();
        assert!(
            matches!(err, OpsError::Launch(LaunchError::Fault(_))),
            "{err}"
        );
        let err = ops::saxpy(&rt, 2.0, &[1.0; 10], &[1.0; 10], tight).unwrap_err();
        assert!(matches!(err, OpsError::Launch(_)), "{err}");
        let last = rt.alloc(0).unwrap();
        assert_freed_between(&rt, after, last);
    });
}

#[test]
fn kernels_are_compiled_once_and_expose_their_source() {
    for op in Op::ALL {
        let k = ops::kernel(op);
        assert_eq!(k.name, op.name());
        assert!(op.source().contains(&format!(".kernel {}", op.name())));
        let again = lanes::compile("again.lasm", op.source()).unwrap();
        assert_eq!(*again.kernels[0], *k);
    }
}
