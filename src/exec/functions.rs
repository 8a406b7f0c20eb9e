//! Float functions computed by lanes' own algorithms instead of the host's
//! libm: `exp` for now (`exp.f32`, `exp.f64`).
//!
//! Each algorithm is written once, over [`Ops`]: the interpreters run it on
//! Rust floats ([`Native`]), and the JIT runs the same function with an
//! implementation of [`Ops`] that emits the operations as machine code, on
//! one lane or on a vector of lanes (`engine::jit::codegen::functions`).
//! Every operation of [`Ops`] is exact or correctly rounded, so the two
//! give the same bits for every input: compiled code needs no call into
//! Rust for these functions (a call clobbers every vector register) and
//! runs four lanes at once.
//!
//! `exp` (Cephes' algorithms, after S. L. Moshier):
//!
//! ```text
//! c = x clamped to [lo, hi]      past them exp rounds to 0 or +inf
//! k = round(c / ln 2)            by adding and subtracting 1.5 * 2^m
//! r = (c - k * C1) - k * C2      ln 2 = C1 + C2, k * C1 exact
//! p = exp(r)                     |r| <= ln 2 / 2: a polynomial (f32) or
//!                                Padé form (f64)
//! y = (p * 2^k1) * 2^k2          k = k1 + k2, both powers normal: the first
//!                                product is exact, the second rounds once
//!                                (subnormal results included)
//! NaN x gives x, made quiet (the language's NaN rule)
//! ```
//!
//! Measured against `f64::exp` of the same input rounded to the type (see
//! the tests): `exp.f32` within 1 ulp of the correctly rounded result on
//! every one of the 2^32 inputs (the `every_f32_exp_within_one_ulp`
//! test, `--ignored`), `exp.f64` within 1 ulp of libm's result on the
//! sampled inputs; the language asks for 4.

/// The operations the algorithms are written in. Each is exact or
/// correctly rounded (IEEE 754, round to nearest, ties to even), so every
/// implementation gives the same bits for the same sequence of calls.
pub trait Ops {
    /// A float of the function's type: one value, or a vector of them.
    type F: Copy;
    /// An integer as wide as the float (its bits).
    type I: Copy;
    /// The floats are `f64` (else `f32`).
    fn wide(&self) -> bool;
    /// The constant `c` rounded to the float type (`c as f32` for `f32`).
    fn float(&mut self, c: f64) -> Self::F;
    /// The integer constant `c` (cut to the width).
    fn int(&mut self, c: i64) -> Self::I;
    fn add(&mut self, a: Self::F, b: Self::F) -> Self::F;
    fn sub(&mut self, a: Self::F, b: Self::F) -> Self::F;
    fn mul(&mut self, a: Self::F, b: Self::F) -> Self::F;
    fn div(&mut self, a: Self::F, b: Self::F) -> Self::F;
    /// `lo` where `x < lo`, `hi` where `x > hi`, else `x` (NaN stays).
    fn clamp(&mut self, x: Self::F, lo: Self::F, hi: Self::F) -> Self::F;
    /// The float's bits.
    fn bits(&mut self, x: Self::F) -> Self::I;
    /// The float with these bits.
    fn float_of(&mut self, i: Self::I) -> Self::F;
    /// Wrapping.
    fn iadd(&mut self, a: Self::I, b: Self::I) -> Self::I;
    /// Wrapping.
    fn isub(&mut self, a: Self::I, b: Self::I) -> Self::I;
    fn shl(&mut self, a: Self::I, n: u32) -> Self::I;
    /// Arithmetic shift right.
    fn sshr(&mut self, a: Self::I, n: u32) -> Self::I;
    /// `r` where `x` is a number; where `x` is NaN, `x` made quiet.
    fn nan_or(&mut self, x: Self::F, r: Self::F) -> Self::F;
}

/// `e` to the power `x` (see the module docs).
// Cephes' coefficients as published (each rounds to the type once).
#[allow(clippy::excessive_precision)]
pub fn exp<O: Ops>(o: &mut O, x: O::F) -> O::F {
    let wide = o.wide();
    // Beyond these exp(x) rounds to +0 (below e^-104 < 2^-150, half the
    // smallest f32 subnormal; e^-746 < 2^-1076 for f64) or overflows;
    // inside them k stays within [-150, 128] (f32) or [-1076, 1024].
    let (lo, hi) = if wide {
        (-746.0, 710.0)
    } else {
        (-104.0, 89.0)
    };
    let (lo, hi) = (o.float(lo), o.float(hi));
    let c = o.clamp(x, lo, hi);
    // k = c * log2(e) rounded to an integer: adding 1.5 * 2^52 (2^23)
    // leaves no fraction bits; the sum's low bits are k.
    let magic = o.float(if wide {
        6_755_399_441_055_744.0
    } else {
        12_582_912.0
    });
    let log2e = o.float(std::f64::consts::LOG2_E);
    let t = o.mul(c, log2e);
    let t = o.add(t, magic);
    let kf = o.sub(t, magic);
    let (tb, mb) = (o.bits(t), o.bits(magic));
    let k = o.isub(tb, mb);
    // r = c - k ln 2 with ln 2 = C1 + C2, C1 short enough that k * C1 is
    // exact.
    let (c1, c2) = if wide {
        (6.931_457_519_531_25e-1, 1.428_606_820_309_417_232_12e-6)
    } else {
        (0.693_359_375, -2.121_944_4e-4)
    };
    let (c1, c2) = (o.float(c1), o.float(c2));
    let kc1 = o.mul(kf, c1);
    let r = o.sub(c, kc1);
    let kc2 = o.mul(kf, c2);
    let r = o.sub(r, kc2);
    let z = o.mul(r, r);
    let one = o.float(1.0);
    let p = if wide {
        // Cephes `exp`: e^r = 1 + 2 r P(r^2) / (Q(r^2) - r P(r^2)).
        let px = horner(
            o,
            z,
            &[
                1.261_771_930_748_105_908_78e-4,
                3.029_944_077_074_419_613e-2,
                9.999_999_999_999_999_999_1e-1,
            ],
        );
        let px = o.mul(r, px);
        let qx = horner(
            o,
            z,
            &[
                3.001_985_051_386_644_550_42e-6,
                2.524_483_403_496_841_041_92e-3,
                2.272_655_482_081_550_287_66e-1,
                2.000_000_000_000_000_000_09,
            ],
        );
        let d = o.sub(qx, px);
        let q = o.div(px, d);
        let two = o.float(2.0);
        let q = o.mul(two, q);
        o.add(one, q)
    } else {
        // Cephes `expf`: e^r = 1 + r + r^2 P(r).
        let p = horner(
            o,
            r,
            &[
                1.987_569_15e-4,
                1.398_199_950_7e-3,
                8.333_451_907_3e-3,
                4.166_579_589_4e-2,
                1.666_666_545_9e-1,
                5.000_000_120_1e-1,
            ],
        );
        let p = o.mul(p, z);
        let p = o.add(p, r);
        o.add(p, one)
    };
    // y = p * 2^k as (p * 2^k1) * 2^k2, k1 = floor(k / 2), k2 = k - k1.
    let (bias, shift) = if wide { (1023, 52) } else { (127, 23) };
    let k1 = o.sshr(k, 1);
    let k2 = o.isub(k, k1);
    let bias = o.int(bias);
    let scale = |o: &mut O, k: O::I| {
        let e = o.iadd(k, bias);
        let e = o.shl(e, shift);
        o.float_of(e)
    };
    let (s1, s2) = (scale(o, k1), scale(o, k2));
    let y = o.mul(p, s1);
    let y = o.mul(y, s2);
    o.nan_or(x, y)
}

/// `((c0 * x + c1) * x + c2) ...`.
fn horner<O: Ops>(o: &mut O, x: O::F, cs: &[f64]) -> O::F {
    let mut acc = o.float(cs[0]);
    for &c in &cs[1..] {
        let m = o.mul(acc, x);
        let c = o.float(c);
        acc = o.add(m, c);
    }
    acc
}

/// [`Ops`] on Rust floats: `Native::<f32>` and `Native::<f64>`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Native<T>(std::marker::PhantomData<T>);

macro_rules! native {
    ($($t:ty, $i:ty, $wide:expr;)*) => {$(
        impl Ops for Native<$t> {
            type F = $t;
            type I = $i;
            #[inline(always)]
            fn wide(&self) -> bool { $wide }
            #[inline(always)]
            fn float(&mut self, c: f64) -> $t { c as $t }
            #[inline(always)]
            fn int(&mut self, c: i64) -> $i { c as $i }
            #[inline(always)]
            fn add(&mut self, a: $t, b: $t) -> $t { a + b }
            #[inline(always)]
            fn sub(&mut self, a: $t, b: $t) -> $t { a - b }
            #[inline(always)]
            fn mul(&mut self, a: $t, b: $t) -> $t { a * b }
            #[inline(always)]
            fn div(&mut self, a: $t, b: $t) -> $t { a / b }
            #[inline(always)]
            fn clamp(&mut self, x: $t, lo: $t, hi: $t) -> $t {
                let x = if x < lo { lo } else { x };
                if x > hi { hi } else { x }
            }
            #[inline(always)]
            fn bits(&mut self, x: $t) -> $i { x.to_bits() as $i }
            #[inline(always)]
            fn float_of(&mut self, i: $i) -> $t { <$t>::from_bits(i as _) }
            #[inline(always)]
            fn iadd(&mut self, a: $i, b: $i) -> $i { a.wrapping_add(b) }
            #[inline(always)]
            fn isub(&mut self, a: $i, b: $i) -> $i { a.wrapping_sub(b) }
            #[inline(always)]
            fn shl(&mut self, a: $i, n: u32) -> $i { a.wrapping_shl(n) }
            #[inline(always)]
            fn sshr(&mut self, a: $i, n: u32) -> $i { a.wrapping_shr(n) }
            #[inline(always)]
            fn nan_or(&mut self, x: $t, r: $t) -> $t {
                if x.is_nan() { super::value::Nan::quiet(x) } else { r }
            }
        }
    )*};
}

native! {
    f32, i32, false;
    f64, i64, true;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exp32(x: f32) -> f32 {
        exp(&mut Native::<f32>::default(), x)
    }

    fn exp64(x: f64) -> f64 {
        exp(&mut Native::<f64>::default(), x)
    }

    /// Distance in ulps between two finite floats of one sign, or both
    /// zero.
    fn ulps32(a: f32, b: f32) -> u32 {
        (a.to_bits() as i64 - b.to_bits() as i64).unsigned_abs() as u32
    }

    fn ulps64(a: f64, b: f64) -> u64 {
        (a.to_bits() as i128 - b.to_bits() as i128).unsigned_abs() as u64
    }

    /// The error of `exp.f32` at `x` in ulps of the result: against
    /// `f64::exp` rounded to f32 (within half an ulp of the correctly
    /// rounded result, up to libm's error in f64).
    fn err32(x: f32) -> u32 {
        let want = (x as f64).exp() as f32;
        let have = exp32(x);
        if want.is_nan() {
            assert!(have.is_nan(), "exp({x:e}) = {have:e}, want NaN");
            return 0;
        }
        assert!(
            want.is_infinite() == have.is_infinite(),
            "exp({x:e}) = {have:e}, want {want:e}"
        );
        if want.is_infinite() {
            assert_eq!(have, want, "exp({x:e})");
            return 0;
        }
        ulps32(want, have)
    }

    #[test]
    fn exp_f32_is_within_one_ulp_on_a_sample() {
        // Every 4099th bit pattern (all exponents, both signs), and the
        // region where results are subnormal or overflow, densely.
        let mut worst = (0, 0.0f32);
        let mut check = |x: f32| {
            let e = err32(x);
            if e > worst.0 {
                worst = (e, x);
            }
        };
        for bits in (0..=u32::MAX).step_by(4099) {
            check(f32::from_bits(bits));
        }
        let mut x = -110.0f32;
        while x < 92.0 {
            check(x);
            x += 0.00173;
        }
        assert!(
            worst.0 <= 1,
            "exp.f32({:e}) is {} ulp off",
            worst.1,
            worst.0
        );
    }

    /// The whole f32 range (about a minute in release):
    /// `cargo test --release --lib every_f32_exp -- --ignored`.
    #[test]
    #[ignore = "every f32: run by hand after changing the algorithm"]
    fn every_f32_exp_within_one_ulp() {
        let worst = (0..=u32::MAX)
            .map(|b| (err32(f32::from_bits(b)), b))
            .max()
            .unwrap();
        assert!(
            worst.0 <= 1,
            "exp.f32({:e}) is {} ulp off",
            f32::from_bits(worst.1),
            worst.0
        );
    }

    #[test]
    fn exp_f64_is_within_two_ulp_of_libm() {
        let mut worst = (0, 0.0f64);
        let mut check = |x: f64| {
            let (want, have) = (x.exp(), exp64(x));
            if want.is_nan() {
                assert!(have.is_nan(), "exp({x:e}) = {have:e}");
                return;
            }
            if want.is_infinite() || want == 0.0 {
                assert_eq!(have, want, "exp({x:e})");
                return;
            }
            let e = ulps64(want, have);
            if e > worst.0 {
                worst = (e, x);
            }
        };
        // Bit patterns spread over every exponent, then the useful range
        // densely, subnormal results and the overflow edge included.
        let mut bits = 0u64;
        while let Some(b) = bits.checked_add(0x0000_7FFF_FFFF_F3D1) {
            check(f64::from_bits(bits));
            bits = b;
        }
        let mut x = -750.0;
        while x < 712.0 {
            check(x);
            x += 0.000_731_3;
        }
        for x in [
            709.782_712_893_383_9,
            709.782_712_893_384,
            -708.4,
            -745.133_219_101_941_1,
        ] {
            check(x);
        }
        assert!(
            worst.0 <= 2,
            "exp.f64({:e}) is {} ulp off",
            worst.1,
            worst.0
        );
    }

    #[test]
    fn exp_special_values() {
        assert_eq!(exp32(0.0), 1.0);
        assert_eq!(exp32(-0.0), 1.0);
        assert_eq!(exp32(f32::INFINITY), f32::INFINITY);
        assert_eq!(exp32(f32::NEG_INFINITY).to_bits(), 0);
        assert_eq!(exp32(1000.0), f32::INFINITY);
        assert_eq!(exp32(-1000.0).to_bits(), 0);
        assert_eq!(exp32(f32::MAX), f32::INFINITY);
        // The largest finite result and the first to overflow.
        assert!(exp32(88.72283).is_finite());
        assert_eq!(exp32(88.72284), f32::INFINITY);
        // The smallest subnormal, and below half of it.
        assert_eq!(exp32(-103.27893), f32::from_bits(1));
        assert_eq!(exp32(-103.98).to_bits(), 0);
        assert_eq!(exp64(0.0), 1.0);
        assert_eq!(exp64(f64::INFINITY), f64::INFINITY);
        assert_eq!(exp64(f64::NEG_INFINITY).to_bits(), 0);
        assert_eq!(exp64(709.79), f64::INFINITY);
        assert_eq!(exp64(-745.1), f64::from_bits(1));
        assert_eq!(exp64(-746.0).to_bits(), 0);
        // NaN: the input, made quiet, payload and sign kept.
        let f = f32::from_bits;
        assert_eq!(exp32(f(0x7F80_0005)).to_bits(), 0x7FC0_0005);
        assert_eq!(exp32(f(0xFFC0_1234)).to_bits(), 0xFFC0_1234);
        let d = f64::from_bits;
        assert_eq!(
            exp64(d(0x7FF0_0000_0000_0009)).to_bits(),
            0x7FF8_0000_0000_0009
        );
    }
}
