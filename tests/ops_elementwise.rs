//! The element-wise ops of `lanes::ops` for every element type, on every
//! engine, at every size of `ops_support::SIZES`, against plain Rust.
//! Tolerance: none. Every result must be the reference's bits (or NaN where
//! the reference is NaN).

mod ops_support;

use lanes::ops::{Ops, OpsError};
use lanes::{Buffer, LaunchError, Runtime};
use ops_support::{Num, SignedNum, assert_same, each_engine, nonzero_values, values};

type BufferOp<T> = fn(&Ops<'_>, &Buffer<T>, &Buffer<T>, &Buffer<T>) -> Result<(), OpsError>;
/// An op's name, its buffer form and its reference.
type BinaryCase<T> = (&'static str, BufferOp<T>, fn(T, T) -> T);
type UnaryCase<T> = (&'static str, BufferOp1<T>, fn(T) -> T);

fn binary_ops<T: Num>() {
    let cases: [BinaryCase<T>; 6] = [
        ("add", |o, a, b, c| o.add(a, b, c), T::add),
        ("sub", |o, a, b, c| o.sub(a, b, c), T::sub),
        ("mul", |o, a, b, c| o.mul(a, b, c), T::mul),
        ("div", |o, a, b, c| o.div(a, b, c), T::div),
        ("minimum", |o, a, b, c| o.minimum(a, b, c), T::minimum),
        ("maximum", |o, a, b, c| o.maximum(a, b, c), T::maximum),
    ];
    each_engine(|ops, sizes| {
        let rt = ops.runtime();
        for &n in sizes {
            let a: Vec<T> = values(n, 1);
            for (name, op, reference) in cases {
                // Divisors are never zero (that is a fault, tested below).
                let b: Vec<T> = if name == "div" {
                    nonzero_values(n, 2)
                } else {
                    values(n, 2)
                };
                let (ba, bb) = (rt.buffer_from(&a).unwrap(), rt.buffer_from(&b).unwrap());
                // An output longer than n: its tail must stay untouched.
                let out = rt.buffer_from(&vec![T::from_i8(7); n + 3]).unwrap();
                op(&ops, &ba, &bb, &out).unwrap();
                let mut want: Vec<T> = a.iter().zip(&b).map(|(x, y)| reference(*x, *y)).collect();
                want.extend([T::from_i8(7); 3]);
                let what = format!("{name}::<{}> n={n} on {:?}", T::TYPE, ops.options().engine);
                assert_same(&out.read().unwrap(), &want, &what);
            }
        }
    });
}

#[test]
fn binary_ops_match_rust_for_every_type() {
    for_types!(T in [u8, u16, u32, u64, i8, i16, i32, i64, f32, f64] => {
        binary_ops::<T>();
    });
}

fn scalar_ops_and_clip<T: Num>() {
    each_engine(|ops, sizes| {
        let rt = ops.runtime();
        let specials = T::specials();
        for &n in sizes {
            let x: Vec<T> = values(n, 3);
            let bx = rt.buffer_from(&x).unwrap();
            let out = rt.buffer_zeroed::<T>(n).unwrap();
            for (i, &s) in specials
                .iter()
                .enumerate()
                .filter(|(i, _)| n > 1000 || i % 2 == 0)
            {
                let what = format!("{}::<{}> s={s:?} n={n}", "add_scalar", T::TYPE);
                ops.add_scalar(&bx, s, &out).unwrap();
                let want: Vec<T> = x.iter().map(|v| v.add(s)).collect();
                assert_same(&out.read().unwrap(), &want, &what);
                ops.mul_scalar(&bx, s, &out).unwrap();
                let want: Vec<T> = x.iter().map(|v| v.mul(s)).collect();
                assert_same(&out.read().unwrap(), &want, &what.replace("add", "mul"));
                // clip between two specials (ordered, not NaN).
                let t = specials[(i + 3) % specials.len()];
                #[allow(clippy::eq_op)]
                if s == s && t == t {
                    let (lo, hi) = if s <= t { (s, t) } else { (t, s) };
                    ops.clip(&bx, lo, hi, &out).unwrap();
                    let want: Vec<T> = x.iter().map(|v| v.clamp_to(lo, hi)).collect();
                    let what = format!("clip::<{}> [{lo:?}, {hi:?}] n={n}", T::TYPE);
                    assert_same(&out.read().unwrap(), &want, &what);
                }
            }
            // In place, and the slice forms.
            let lo = T::from_i8(-3);
            let hi = T::from_i8(5);
            let (lo, hi) = if lo <= hi {
                (lo, hi)
            } else {
                (T::from_i8(0), hi)
            };
            let want: Vec<T> = x.iter().map(|v| v.clamp_to(lo, hi)).collect();
            assert_same(&ops.clip_vec(&x, lo, hi).unwrap(), &want, "clip_vec");
            ops.clip(&bx, lo, hi, &bx).unwrap();
            assert_same(&bx.read().unwrap(), &want, "clip in place");
        }
    });
}

#[test]
fn scalar_ops_and_clip_match_rust_for_every_type() {
    for_types!(T in [u8, u16, u32, u64, i8, i16, i32, i64, f32, f64] => {
        scalar_ops_and_clip::<T>();
    });
}

fn signed_ops<T: SignedNum>() {
    each_engine(|ops, sizes| {
        let rt = ops.runtime();
        for &n in sizes {
            let x: Vec<T> = values(n, 4);
            let bx = rt.buffer_from(&x).unwrap();
            let out = rt.buffer_zeroed::<T>(n).unwrap();
            let zero = T::from_i8(0);
            let relu = |v: T| if v > zero { v } else { zero };
            let cases: [UnaryCase<T>; 2] = [
                ("abs", |o, x, y| o.abs(x, y), T::abs_),
                ("neg", |o, x, y| o.neg(x, y), T::neg_),
            ];
            for (name, op, reference) in cases {
                op(&ops, &bx, &out).unwrap();
                let want: Vec<T> = x.iter().map(|v| reference(*v)).collect();
                assert_same(
                    &out.read().unwrap(),
                    &want,
                    &format!("{name}::<{}> n={n}", T::TYPE),
                );
            }
            ops.relu(&bx, &out).unwrap();
            let want: Vec<T> = x.iter().map(|v| relu(*v)).collect();
            assert_same(
                &out.read().unwrap(),
                &want,
                &format!("relu::<{}> n={n}", T::TYPE),
            );
            assert_same(&ops.relu_vec(&x).unwrap(), &want, "relu_vec");
            assert_same(
                &ops.neg_vec(&x).unwrap(),
                &x.iter().map(|v| v.neg_()).collect::<Vec<_>>(),
                "neg_vec",
            );
        }
    });
}

type BufferOp1<T> = fn(&Ops<'_>, &Buffer<T>, &Buffer<T>) -> Result<(), OpsError>;

#[test]
fn signed_ops_match_rust_for_every_signed_type() {
    for_types!(T in [i8, i16, i32, i64, f32, f64] => {
        signed_ops::<T>();
    });
}

fn copy_and_fill<T: Num>() {
    each_engine(|ops, sizes| {
        let rt = ops.runtime();
        for &n in sizes {
            let x: Vec<T> = values(n, 5);
            let src = rt.buffer_from(&x).unwrap();
            let dst = rt.buffer_zeroed::<T>(n + 2).unwrap();
            ops.copy(&src, &dst).unwrap();
            let mut want = x.clone();
            want.extend([T::from_i8(0); 2]);
            assert_same(
                &dst.read().unwrap(),
                &want,
                &format!("copy::<{}> n={n}", T::TYPE),
            );
            let v = T::specials()[n % T::specials().len()];
            ops.fill(&dst, v).unwrap();
            assert_same(
                &dst.read().unwrap(),
                &vec![v; n + 2],
                &format!("fill::<{}> n={n}", T::TYPE),
            );
        }
    });
}

#[test]
fn copy_and_fill_for_every_type() {
    for_types!(T in [u8, u16, u32, u64, i8, i16, i32, i64, f32, f64] => {
        copy_and_fill::<T>();
    });
}

#[test]
fn slice_forms_match_buffer_forms() {
    let rt = Runtime::new();
    let ops = rt.ops();
    let a: Vec<i16> = values(1000, 6);
    let b: Vec<i16> = nonzero_values(1000, 7);
    let (ba, bb) = (rt.buffer_from(&a).unwrap(), rt.buffer_from(&b).unwrap());
    let out = rt.buffer_zeroed::<i16>(1000).unwrap();
    type VecOp = fn(&Ops<'_>, &[i16], &[i16]) -> Result<Vec<i16>, OpsError>;
    let pairs: [(BufferOp<i16>, VecOp); 6] = [
        (|o, a, b, c| o.add(a, b, c), |o, a, b| o.add_vec(a, b)),
        (|o, a, b, c| o.sub(a, b, c), |o, a, b| o.sub_vec(a, b)),
        (|o, a, b, c| o.mul(a, b, c), |o, a, b| o.mul_vec(a, b)),
        (|o, a, b, c| o.div(a, b, c), |o, a, b| o.div_vec(a, b)),
        (
            |o, a, b, c| o.minimum(a, b, c),
            |o, a, b| o.minimum_vec(a, b),
        ),
        (
            |o, a, b, c| o.maximum(a, b, c),
            |o, a, b| o.maximum_vec(a, b),
        ),
    ];
    for (buffers, slices) in pairs {
        buffers(&ops, &ba, &bb, &out).unwrap();
        assert_eq!(slices(&ops, &a, &b).unwrap(), out.read().unwrap());
    }
    assert_eq!(
        ops.abs_vec(&a).unwrap(),
        a.iter().map(|v| v.wrapping_abs()).collect::<Vec<_>>()
    );
    assert_eq!(
        ops.add_scalar_vec(&a, 9).unwrap(),
        a.iter().map(|v| v.wrapping_add(9)).collect::<Vec<_>>()
    );
    assert_eq!(
        ops.mul_scalar_vec(&a, -3).unwrap(),
        a.iter().map(|v| v.wrapping_mul(-3)).collect::<Vec<_>>()
    );
    assert_eq!(rt.buffer_count(), 3, "the slice forms free what they make");
}

#[test]
fn wrong_lengths_name_the_parameter() {
    let rt = Runtime::new();
    let ops = rt.ops();
    let a = rt.buffer_from(&[1.0f32; 10]).unwrap();
    let short = rt.buffer_zeroed::<f32>(9).unwrap();
    let err = ops.add(&a, &short, &a).unwrap_err();
    assert!(
        matches!(
            err,
            OpsError::LengthMismatch {
                param: "b",
                len: 9,
                other: "a",
                other_len: 10
            }
        ),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "`b` has 9 elements but `a` has 10: they must have the same length"
    );
    let err = ops.add(&a, &a, &short).unwrap_err();
    assert!(
        matches!(
            err,
            OpsError::TooShort {
                param: "out",
                len: 9,
                need: 10
            }
        ),
        "{err}"
    );
    let err = ops.relu(&a, &short).unwrap_err();
    assert!(err.to_string().contains("`out`"), "{err}");
    let err = ops.copy(&a, &short).unwrap_err();
    assert!(
        matches!(err, OpsError::TooShort { param: "dst", .. }),
        "{err}"
    );
    let err = ops.sub_vec(&[1u8, 2], &[1]).unwrap_err();
    assert!(
        matches!(err, OpsError::LengthMismatch { param: "b", .. }),
        "{err}"
    );
    // Nothing was written by the refused calls.
    assert_eq!(short.read().unwrap(), vec![0.0; 9]);
}

#[test]
fn clip_bounds_are_checked() {
    let rt = Runtime::new();
    let ops = rt.ops();
    let err = ops.clip_vec(&[1i32, 2], 5, 4).unwrap_err();
    assert!(
        matches!(err, OpsError::InvalidArgument { param: "hi", .. }),
        "{err}"
    );
    let err = ops.clip_vec(&[1.0f64], f64::NAN, 4.0).unwrap_err();
    assert!(
        matches!(err, OpsError::InvalidArgument { param: "lo", .. }),
        "{err}"
    );
    let err = ops.clip_vec(&[1.0f32], 0.0, f32::NAN).unwrap_err();
    assert!(
        matches!(err, OpsError::InvalidArgument { param: "hi", .. }),
        "{err}"
    );
    assert_eq!(
        ops.clip_vec(&[1u8, 9], 4, 4).unwrap(),
        [4, 4],
        "lo == hi is fine"
    );
}

#[test]
fn integer_division_by_zero_is_a_fault_with_its_lane() {
    each_engine(|ops, _| {
        let err = ops.div_vec(&[7u32, 8, 9], &[1, 0, 3]).unwrap_err();
        match err {
            OpsError::Launch(LaunchError::Fault(f)) => {
                assert_eq!(f.kernel, "div_u32");
                assert_eq!(f.lane.x, 1);
                assert!(f.to_string().contains("division by zero"), "{f}");
            }
            other => panic!("expected a fault, got {other}"),
        }
        // MIN / -1 wraps.
        assert_eq!(ops.div_vec(&[i32::MIN], &[-1]).unwrap(), [i32::MIN]);
        // The runtime goes on.
        assert_eq!(ops.div_vec(&[8u32], &[2]).unwrap(), [4]);
    });
}

#[test]
fn empty_inputs_do_nothing() {
    let rt = Runtime::new();
    let ops = rt.ops();
    assert_eq!(ops.add_vec::<f64>(&[], &[]).unwrap(), Vec::<f64>::new());
    let empty = rt.buffer_zeroed::<u8>(0).unwrap();
    ops.fill(&empty, 3).unwrap();
    ops.copy(&empty, &empty).unwrap();
}
