//! Float functions computed by lanes' own algorithms instead of the host's
//! libm: `exp`, `exp2`, `log`, `log2` and `tanh`, and `sin` and `cos` for
//! `|x|` up to [`trig_bound`] (beyond it, and the others, libm's, NaN
//! pinned).
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
//! `exp2` shares `exp`'s core with `k = round(x)`, `r = (x - k) ln 2`;
//! `tanh` builds on `exp` where `|x| >= 0.625` (see [`tanh`]); [`log`]
//! has its own reduction, which [`log2`] shares; [`sin`] and [`cos`] are
//! SLEEF's (a four-part reduction by pi and one polynomial).
//!
//! Measured against the f64 libm function of the same input rounded to
//! f32, and against libm for f64 (see the tests): the f32 forms within 1
//! ulp (`sin`, `cos`: 2) on every one of the 2^32 inputs
//! (`every_f32_within_its_bound`, `--ignored`: about ten minutes for the
//! seven in release), the f64 forms within 2 ulp of libm's result on the
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
    /// `then` where `a < b`, else `other`.
    fn select_lt(&mut self, a: Self::F, b: Self::F, then: Self::F, other: Self::F) -> Self::F;
    /// `x` with its sign bit clear.
    fn abs(&mut self, x: Self::F) -> Self::F;
    /// `x` with its sign bit flipped.
    fn neg(&mut self, x: Self::F) -> Self::F;
    /// The float's bits.
    fn bits(&mut self, x: Self::F) -> Self::I;
    /// The float with these bits.
    fn float_of(&mut self, i: Self::I) -> Self::F;
    fn and(&mut self, a: Self::I, b: Self::I) -> Self::I;
    fn or(&mut self, a: Self::I, b: Self::I) -> Self::I;
    fn xor(&mut self, a: Self::I, b: Self::I) -> Self::I;
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
    // k = c * log2(e) rounded to an integer.
    let log2e = o.float(std::f64::consts::LOG2_E);
    let t = o.mul(c, log2e);
    let (kf, k) = round(o, t);
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
    let y = exp_reduced(o, r, k);
    o.nan_or(x, y)
}

/// 2 to the power `x`: as [`exp`], with `k = round(x)` and `r = (x - k)
/// ln 2` (`x - k` exact, so an integer `x` gives `2^x` exactly).
pub fn exp2<O: Ops>(o: &mut O, x: O::F) -> O::F {
    let wide = o.wide();
    // 2^x rounds to +0 below -151 (f64 -1076) and overflows above 129
    // (1025); k stays within [-151, 129] ([-1076, 1025]).
    let (lo, hi) = if wide {
        (-1076.0, 1025.0)
    } else {
        (-151.0, 129.0)
    };
    let (lo, hi) = (o.float(lo), o.float(hi));
    let c = o.clamp(x, lo, hi);
    let (kf, k) = round(o, c);
    let f = o.sub(c, kf);
    let ln2 = o.float(std::f64::consts::LN_2);
    let r = o.mul(f, ln2);
    let y = exp_reduced(o, r, k);
    o.nan_or(x, y)
}

/// The quiet bit and the default NaN (docs/LANGUAGE.md, "NaN results") of
/// `f64` (`wide`) or `f32`, as integers of the float's width (sign
/// extended): for code that builds them as constants.
pub fn nan_bits(wide: bool) -> (i64, i64) {
    use super::value::Nan;
    if wide {
        (<f64 as Nan>::QUIET as i64, <f64 as Nan>::DEFAULT as i64)
    } else {
        (
            i64::from(<f32 as Nan>::QUIET as i32),
            i64::from(<f32 as Nan>::DEFAULT as i32),
        )
    }
}

/// 1.5 * 2^52 (f64) or 1.5 * 2^23 (f32): added to a float below 2^51
/// (2^22) in magnitude, it leaves no fraction bits, and the sum's low bits
/// are the integer added, in two's complement.
fn magic<O: Ops>(o: &mut O) -> O::F {
    o.float(if o.wide() {
        6_755_399_441_055_744.0
    } else {
        12_582_912.0
    })
}

/// `t` rounded to an integer, as a float and as an integer of the float's
/// width (`|t|` below 2^22), by [`magic`].
fn round<O: Ops>(o: &mut O, t: O::F) -> (O::F, O::I) {
    let magic = magic(o);
    let t = o.add(t, magic);
    let kf = o.sub(t, magic);
    let (tb, mb) = (o.bits(t), o.bits(magic));
    (kf, o.isub(tb, mb))
}

/// `e^r * 2^k` for `|r|` about `ln 2 / 2` at most and `k` within the
/// clamps of [`exp`] and [`exp2`].
// Cephes' coefficients as published (each rounds to the type once).
#[allow(clippy::excessive_precision)]
fn exp_reduced<O: Ops>(o: &mut O, r: O::F, k: O::I) -> O::F {
    let wide = o.wide();
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
    // p * 2^k as (p * 2^k1) * 2^k2, k1 = floor(k / 2), k2 = k - k1.
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
    o.mul(y, s2)
}

/// The hyperbolic tangent of `x` (Cephes' `tanhf` and `tanh`):
///
/// ```text
/// |x| <  2^-12 (f32), 2^-27 (f64)   x itself (the correctly rounded result,
///                                    and -0.0 stays -0.0)
/// |x| <  0.625                       x + x^3 P(x^2) (f64: x + x^3 P/Q)
/// |x| >= 0.625                       ±(1 - 2 / (exp(2|x|) + 1)) (exp: 1 at
///                                    large |x|, where exp overflows)
/// ```
// Cephes' coefficients as published (each rounds to the type once).
#[allow(clippy::excessive_precision)]
pub fn tanh<O: Ops>(o: &mut O, x: O::F) -> O::F {
    let wide = o.wide();
    let z = o.abs(x);
    let one = o.float(1.0);
    // Large: from exp.
    let z2 = o.add(z, z);
    let s = exp(o, z2);
    let d = o.add(s, one);
    let two = o.float(2.0);
    let q = o.div(two, d);
    let large = o.sub(one, q);
    let zero = o.float(0.0);
    let negated = o.neg(large);
    let large = o.select_lt(x, zero, negated, large);
    // Small: an odd polynomial (f32) or rational function (f64).
    let w = o.mul(x, x);
    let small = if wide {
        let p = horner(
            o,
            w,
            &[
                -9.643_991_794_250_522_386_28e-1,
                -9.928_772_310_019_185_865_64e1,
                -1.614_687_684_417_084_479_52e3,
            ],
        );
        let q = horner(
            o,
            w,
            &[
                1.0,
                1.128_116_784_916_329_314_02e2,
                2.235_488_390_601_004_485_83e3,
                4.844_063_053_251_254_860_48e3,
            ],
        );
        let xw = o.mul(x, w);
        let t = o.mul(xw, p);
        let t = o.div(t, q);
        o.add(x, t)
    } else {
        let p = horner(
            o,
            w,
            &[
                -5.704_988_727_45e-3,
                2.063_908_879_54e-2,
                -5.373_971_555_31e-2,
                1.333_144_220_36e-1,
                -3.333_328_194_22e-1,
            ],
        );
        let t = o.mul(p, w);
        let t = o.mul(t, x);
        o.add(t, x)
    };
    let cut = o.float(0.625);
    let r = o.select_lt(z, cut, small, large);
    let tiny = o.float(if wide { 2f64.powi(-27) } else { 2f64.powi(-12) });
    let r = o.select_lt(z, tiny, x, r);
    o.nan_or(x, r)
}

/// The natural logarithm of `x` (Cephes' `logf`, and the `log(1 + x)`
/// form of its `log` for f64):
///
/// ```text
/// x = m 2^e, m in [sqrt(1/2), sqrt(2))    subnormal x scaled by 2^25 (2^54) first
/// f = m - 1                               exact
/// log x = f - f^2/2 + f^3 P(f) + e ln 2   (f64: f^3 P(f)/Q(f)), ln 2 = C1 + C2
/// ```
///
/// `log(±0)` is `-inf`, `log(+inf)` is `+inf`; `x < 0` gives the default
/// NaN, NaN `x` itself made quiet (the language's NaN rule).
// Cephes' constants as published (each rounds to the type once).
#[allow(clippy::excessive_precision)]
pub fn log<O: Ops>(o: &mut O, x: O::F) -> O::F {
    let wide = o.wide();
    let Reduced { f, fe, z, y } = log_reduced(o, x);
    // ln 2 = C1 + C2, C1 = 0.693359375 (its product with e exact).
    let c2 = o.float(if wide {
        -2.121_944_400_546_905_827_679e-4
    } else {
        -2.121_944_4e-4
    });
    let t = o.mul(fe, c2);
    let y = o.add(y, t);
    let minus_half = o.float(-0.5);
    let t = o.mul(minus_half, z);
    let y = o.add(y, t);
    let r = o.add(f, y);
    let c1 = o.float(0.693_359_375);
    let t = o.mul(fe, c1);
    let r = o.add(r, t);
    log_edges(o, x, r)
}

/// The base-2 logarithm of `x` (Cephes' `log2f` and `log2`): `log`'s
/// reduction and polynomial, then
///
/// ```text
/// log2 x = e + (f + y) log2(e)   y = -f^2/2 + f^3 P(f), log2(e) = 1 + L
///        = e + f + y + f L + y L  summed from the smallest term
/// ```
///
/// Powers of two give their exponent exactly; the edges and NaN as `log`.
#[allow(clippy::excessive_precision)]
pub fn log2<O: Ops>(o: &mut O, x: O::F) -> O::F {
    let Reduced { f, fe, z, y } = log_reduced(o, x);
    let minus_half = o.float(-0.5);
    let t = o.mul(minus_half, z);
    let y = o.add(y, t);
    // log2(e) - 1.
    let l = o.float(0.442_695_040_888_963_407_359_924_681_001_892_137);
    let fl = o.mul(f, l);
    let yl = o.mul(y, l);
    let r = o.add(fl, yl);
    let r = o.add(r, y);
    let r = o.add(r, f);
    let r = o.add(r, fe);
    log_edges(o, x, r)
}

/// What `log` and `log2` share: `x = (1 + f) 2^fe` and `y = f^3 P(f)`
/// (f64: `f^3 P(f)/Q(f)`), `z = f^2`.
struct Reduced<F> {
    f: F,
    fe: F,
    z: F,
    y: F,
}

// Cephes' coefficients as published (each rounds to the type once).
#[allow(clippy::excessive_precision)]
fn log_reduced<O: Ops>(o: &mut O, x: O::F) -> Reduced<O::F> {
    let wide = o.wide();
    let (shift, mantissa, half_bits, bias, scale_by, smallest) = if wide {
        (
            52,
            0x000F_FFFF_FFFF_FFFF,
            0x3FE0_0000_0000_0000,
            1022,
            54,
            f64::MIN_POSITIVE,
        )
    } else {
        (
            23,
            0x007F_FFFF,
            0x3F00_0000,
            126,
            25,
            f32::MIN_POSITIVE as f64,
        )
    };
    // Subnormals scaled into the normal range first.
    let smallest = o.float(smallest);
    let up = o.float(2f64.powi(scale_by));
    let scaled = o.mul(x, up);
    let n = o.select_lt(x, smallest, scaled, x);
    let zero = o.float(0.0);
    let offset = o.float(-f64::from(scale_by));
    let offset = o.select_lt(x, smallest, offset, zero);
    // n = m 2^e with m in [0.5, 1): from the bits.
    let b = o.bits(n);
    let e = o.sshr(b, shift);
    let bias = o.int(bias);
    let e = o.isub(e, bias);
    let mask = o.int(mantissa);
    let m = o.and(b, mask);
    let half = o.int(half_bits);
    let m = o.or(m, half);
    let m = o.float_of(m);
    // e as a float: `magic` plus e, then minus it, both exact.
    let magic = magic(o);
    let mb = o.bits(magic);
    let ef = o.iadd(mb, e);
    let ef = o.float_of(ef);
    let fe = o.sub(ef, magic);
    let fe = o.add(fe, offset);
    // m below sqrt(1/2): f = 2m - 1 and e - 1; else f = m - 1 (exact).
    let one = o.float(1.0);
    let sqrt_half = o.float(std::f64::consts::FRAC_1_SQRT_2);
    let m2 = o.add(m, m);
    let low = o.sub(m2, one);
    let high = o.sub(m, one);
    let f = o.select_lt(m, sqrt_half, low, high);
    let less = o.select_lt(m, sqrt_half, one, zero);
    let fe = o.sub(fe, less);
    let z = o.mul(f, f);
    let y = if wide {
        let p = horner(
            o,
            f,
            &[
                1.018_756_638_045_809_317_96e-4,
                4.974_949_949_767_470_014_25e-1,
                4.705_791_198_788_817_258_54,
                1.449_892_253_416_109_308_46e1,
                1.793_686_785_078_198_163_13e1,
                7.708_387_337_558_853_916_66,
            ],
        );
        let q = horner(
            o,
            f,
            &[
                1.0,
                1.128_735_871_891_674_505_9e1,
                4.522_791_458_375_322_211_05e1,
                8.298_752_669_127_766_032_11e1,
                7.115_447_506_185_638_944_66e1,
                2.312_516_201_267_653_405_83e1,
            ],
        );
        let zp = o.mul(z, p);
        let r = o.div(zp, q);
        o.mul(f, r)
    } else {
        let p = horner(
            o,
            f,
            &[
                7.037_683_629_2e-2,
                -1.151_461_031_0e-1,
                1.167_699_874_0e-1,
                -1.242_014_084_6e-1,
                1.424_932_278_7e-1,
                -1.666_805_766_5e-1,
                2.000_071_476_5e-1,
                -2.499_999_399_3e-1,
                3.333_333_117_4e-1,
            ],
        );
        let p = o.mul(p, f);
        o.mul(p, z)
    };
    Reduced { f, fe, z, y }
}

/// `r` at `log`'s edges: `+inf` stays, zero gives `-inf`, below zero the
/// default NaN, and NaN `x` itself made quiet.
fn log_edges<O: Ops>(o: &mut O, x: O::F, r: O::F) -> O::F {
    let wide = o.wide();
    let zero = o.float(0.0);
    let inf = o.float(f64::INFINITY);
    let r = o.select_lt(x, inf, r, inf);
    let minus_inf = o.float(f64::NEG_INFINITY);
    let r = o.select_lt(zero, x, r, minus_inf);
    let default = o.int(nan_bits(wide).1);
    let default = o.float_of(default);
    let r = o.select_lt(x, zero, default, r);
    o.nan_or(x, r)
}

/// The largest `|x|` whose `sin` and `cos` lanes computes by [`sin`] and
/// [`cos`]: 2^15 (f32), 2^20 (f64). Past it (and for infinities and NaN)
/// every engine calls the host's libm, as for the functions lanes does not
/// compute itself.
pub fn trig_bound(wide: bool) -> f64 {
    if wide { 1_048_576.0 } else { 32_768.0 }
}

/// The sine of `x`, for `|x| <=` [`trig_bound`] (the result elsewhere is
/// meaningless: callers take libm's). SLEEF's `xsinf`/`xsin` (3.5-ulp
/// versions, after N. Shibata), in the form without fused multiply-add:
///
/// ```text
/// q = round(x / pi)                by adding and subtracting 1.5 * 2^m
/// d = x - q (A + B + C + D)        A + B + C + D = pi, each q * A, q * B,
///                                  q * C exact for the bound's q (Cody and
///                                  Waite's reduction in four parts)
/// d = -d when q is odd             sin(x) = (-1)^q sin(d), |d| <= pi / 2
/// sin d = d + d^3 P(d^2)
/// |x| < 2^-12 (f32), 2^-26 (f64)   x itself (the correctly rounded result;
///                                  -0.0 stays -0.0)
/// ```
pub fn sin<O: Ops>(o: &mut O, x: O::F) -> O::F {
    let inv_pi = o.float(std::f64::consts::FRAC_1_PI);
    let t = o.mul(x, inv_pi);
    let (qf, q) = round(o, t);
    let d = reduce_by_pi(o, x, qf, 1.0);
    let odd = odd_sign(o, q);
    let r = sin_reduced(o, d, odd);
    let tiny = o.float(if o.wide() {
        1.490_116_119_384_765_6e-8
    } else {
        2.441_406_25e-4
    });
    let ax = o.abs(x);
    o.select_lt(ax, tiny, x, r)
}

/// The cosine of `x`, for `|x| <=` [`trig_bound`] (see [`sin`]): SLEEF's
/// `xcosf`/`xcos`, `cos(x) = sin(x - q pi / 2)` with `q` odd:
///
/// ```text
/// q = 2 round(x / pi - 1/2) + 1
/// d = x - q (A + B + C + D) / 2
/// d = -d when q / 2 is even        then sin d as for `sin`
/// ```
pub fn cos<O: Ops>(o: &mut O, x: O::F) -> O::F {
    let inv_pi = o.float(std::f64::consts::FRAC_1_PI);
    let half = o.float(0.5);
    let t = o.mul(x, inv_pi);
    let t = o.sub(t, half);
    let (kf, k) = round(o, t);
    // q = 2k + 1, exact.
    let two = o.float(2.0);
    let one = o.float(1.0);
    let qf = o.mul(kf, two);
    let qf = o.add(qf, one);
    let d = reduce_by_pi(o, x, qf, 0.5);
    // q / 2 = k even: k + 1 odd.
    let i1 = o.int(1);
    let k1 = o.iadd(k, i1);
    let flip = odd_sign(o, k1);
    sin_reduced(o, d, flip)
}

/// `x - q pi scale` in four parts (SLEEF's `PI_A` ... `PI_D`: each part
/// short enough that its product with the bound's `q` is exact).
// SLEEF's constants as published (each rounds to the type once).
#[allow(clippy::excessive_precision)]
fn reduce_by_pi<O: Ops>(o: &mut O, x: O::F, q: O::F, scale: f64) -> O::F {
    let parts = if o.wide() {
        [
            3.141_592_621_803_283_691_4,
            3.178_650_942_459_171_346_9e-8,
            1.224_646_786_410_718_850_2e-16,
            1.273_663_432_702_189_981_6e-24,
        ]
    } else {
        [
            3.140_625,
            0.000_967_025_756_835_937_5,
            6.277_114_152_908_325_195_3e-7,
            1.215_420_125_655_342_076_2e-10,
        ]
    };
    let mut d = x;
    for p in parts {
        // `q * -p + d`, as SLEEF's `mla` without fusing: two roundings.
        let p = o.float(-p * scale);
        let m = o.mul(q, p);
        d = o.add(m, d);
    }
    d
}

/// The sign bit where the integer `q` is odd, else zero.
fn odd_sign<O: Ops>(o: &mut O, q: O::I) -> O::I {
    let one = o.int(1);
    let odd = o.and(q, one);
    o.shl(odd, if o.wide() { 63 } else { 31 })
}

/// `sin(d)` for `|d| <= pi / 2`, its sign flipped by `flip` (the sign bit
/// or zero).
// SLEEF's coefficients as published (each rounds to the type once).
#[allow(clippy::excessive_precision)]
fn sin_reduced<O: Ops>(o: &mut O, d: O::F, flip: O::I) -> O::F {
    let s = o.mul(d, d);
    let db = o.bits(d);
    let db = o.xor(db, flip);
    let d = o.float_of(db);
    let cs: &[f64] = if o.wide() {
        &[
            -7.972_559_550_090_378_688_919_52e-18,
            2.810_099_727_108_632_000_912_51e-15,
            -7.647_122_191_181_588_332_884_84e-13,
            1.605_904_306_056_645_016_290_54e-10,
            -2.505_210_837_635_020_458_107_55e-8,
            2.755_731_922_391_987_476_304_16e-6,
            -0.000_198_412_698_412_696_162_806_809,
            0.008_333_333_333_333_329_748_238_15,
            -0.166_666_666_666_666_657_414_808,
        ]
    } else {
        &[
            2.608_315_980_978_659_354_150_3e-6,
            -0.000_198_106_907_191_686_332_225_8,
            0.008_333_078_585_565_090_179_443_36,
            -0.166_666_597_127_914_428_710_938,
        ]
    };
    let u = horner(o, s, cs);
    // s * (u * d) + d.
    let ud = o.mul(u, d);
    let sud = o.mul(s, ud);
    o.add(sud, d)
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
            fn select_lt(&mut self, a: $t, b: $t, then: $t, other: $t) -> $t {
                if a < b { then } else { other }
            }
            #[inline(always)]
            fn abs(&mut self, x: $t) -> $t { x.abs() }
            #[inline(always)]
            fn neg(&mut self, x: $t) -> $t { -x }
            #[inline(always)]
            fn bits(&mut self, x: $t) -> $i { x.to_bits() as $i }
            #[inline(always)]
            fn float_of(&mut self, i: $i) -> $t { <$t>::from_bits(i as _) }
            #[inline(always)]
            fn and(&mut self, a: $i, b: $i) -> $i { a & b }
            #[inline(always)]
            fn or(&mut self, a: $i, b: $i) -> $i { a | b }
            #[inline(always)]
            fn xor(&mut self, a: $i, b: $i) -> $i { a ^ b }
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

    /// Each function's f32 and f64 forms on Rust floats (`Native`).
    macro_rules! native {
        ($($f:ident: $f32:ident, $f64:ident;)*) => {$(
            fn $f32(x: f32) -> f32 {
                $f(&mut Native::<f32>::default(), x)
            }

            fn $f64(x: f64) -> f64 {
                $f(&mut Native::<f64>::default(), x)
            }
        )*};
    }

    native! {
        exp: exp32, exp64;
        exp2: exp2_32, exp2_64;
        tanh: tanh32, tanh64;
        log: log32, log64;
        log2: log2_32, log2_64;
    }

    // `sin` and `cos` as every engine computes them: lanes' own up to the
    // bound, libm's past it (`FloatValue`).
    fn sin32(x: f32) -> f32 {
        super::super::value::FloatValue::sin(x)
    }

    fn sin64(x: f64) -> f64 {
        super::super::value::FloatValue::sin(x)
    }

    fn cos32(x: f32) -> f32 {
        super::super::value::FloatValue::cos(x)
    }

    fn cos64(x: f64) -> f64 {
        super::super::value::FloatValue::cos(x)
    }

    /// A function of this module beside libm's in f64, the range where its
    /// f64 values are checked densely, and its f32 form's largest error in
    /// ulps.
    struct Function {
        name: &'static str,
        f32: fn(f32) -> f32,
        f64: fn(f64) -> f64,
        libm: fn(f64) -> f64,
        dense: (f64, f64),
        ulp32: u64,
    }

    const FUNCTIONS: [Function; 7] = [
        Function {
            name: "exp",
            f32: exp32,
            f64: exp64,
            libm: f64::exp,
            dense: (-750.0, 712.0),
            ulp32: 1,
        },
        Function {
            name: "exp2",
            f32: exp2_32,
            f64: exp2_64,
            libm: f64::exp2,
            dense: (-1080.0, 1030.0),
            ulp32: 1,
        },
        Function {
            name: "tanh",
            f32: tanh32,
            f64: tanh64,
            libm: f64::tanh,
            dense: (-25.0, 25.0),
            ulp32: 1,
        },
        Function {
            name: "log",
            f32: log32,
            f64: log64,
            libm: f64::ln,
            dense: (0.0, 4.0),
            ulp32: 1,
        },
        Function {
            name: "log2",
            f32: log2_32,
            f64: log2_64,
            libm: f64::log2,
            dense: (0.0, 4.0),
            ulp32: 1,
        },
        // SLEEF's 3.5-ulp forms: 2 ulp at worst on every f32.
        Function {
            name: "sin",
            f32: sin32,
            f64: sin64,
            libm: f64::sin,
            dense: (-40.0, 40.0),
            ulp32: 2,
        },
        Function {
            name: "cos",
            f32: cos32,
            f64: cos64,
            libm: f64::cos,
            dense: (-40.0, 40.0),
            ulp32: 2,
        },
    ];

    /// The distance in ulps between `want` and `have` (bits): NaN only
    /// against NaN (`nans`), infinities and zeros only against themselves
    /// (`exact`); `what` names the case when it fails.
    fn ulps(
        want: u64,
        have: u64,
        nans: (bool, bool),
        exact: bool,
        what: impl Fn() -> String,
    ) -> u64 {
        if nans.0 != nans.1 || (!nans.0 && exact && want != have) {
            panic!("{}", what());
        }
        if nans.0 {
            return 0;
        }
        (want as i128 - have as i128).unsigned_abs() as u64
    }

    /// The error of `f`'s f32 form at `x` in ulps, against libm's f64
    /// value rounded to f32 (within half an ulp of the correctly rounded
    /// result, up to libm's own error).
    fn err32(f: &Function, x: f32) -> u64 {
        let (want, have) = ((f.libm)(x as f64) as f32, (f.f32)(x));
        let exact = want.is_infinite() || want == 0.0;
        ulps(
            want.to_bits().into(),
            have.to_bits().into(),
            (want.is_nan(), have.is_nan()),
            exact,
            || format!("{}.f32({x:e}) = {have:e}, want {want:e}", f.name),
        )
    }

    fn err64(f: &Function, x: f64) -> u64 {
        let (want, have) = ((f.libm)(x), (f.f64)(x));
        let exact = want.is_infinite() || want == 0.0;
        ulps(
            want.to_bits(),
            have.to_bits(),
            (want.is_nan(), have.is_nan()),
            exact,
            || format!("{}.f64({x:e}) = {have:e}, want {want:e}", f.name),
        )
    }

    /// The largest error over `xs` and where.
    fn worst<T: Copy>(xs: impl Iterator<Item = T>, err: impl Fn(T) -> u64) -> (u64, Option<T>) {
        xs.fold((0, None), |w, x| {
            let e = err(x);
            if e > w.0 { (e, Some(x)) } else { w }
        })
    }

    /// Fails unless the worst error `w` of `f`'s `ty` form is at most
    /// `bound` ulp.
    fn within<T: std::fmt::LowerExp>(f: &Function, ty: &str, w: (u64, Option<T>), bound: u64) {
        if let (e, Some(x)) = w {
            assert!(e <= bound, "{}.{ty}({x:e}) is {e} ulp off", f.name);
        }
    }

    #[test]
    fn f32_forms_are_within_their_bound_on_a_sample() {
        for f in &FUNCTIONS {
            // Every 4099th bit pattern (all exponents, both signs), and
            // the range where results are subnormal, overflow or change
            // form, densely.
            let strided = (0..=u32::MAX).step_by(4099).map(f32::from_bits);
            let dense = (0..120_000).map(|i| -110.0 + i as f32 * 0.00173);
            let w = worst(strided.chain(dense), |x| err32(f, x));
            within(f, "f32", w, f.ulp32);
        }
    }

    /// Every f32 input (a minute and a half a function in release):
    /// `cargo test --release --lib every_f32 -- --ignored --nocapture`.
    #[test]
    #[ignore = "every f32: run by hand after changing an algorithm"]
    fn every_f32_within_its_bound() {
        for f in &FUNCTIONS {
            let w = worst((0..=u32::MAX).map(f32::from_bits), |x| err32(f, x));
            eprintln!(
                "{}.f32: worst {} ulp at {:e}",
                f.name,
                w.0,
                w.1.unwrap_or(0.0)
            );
            within(f, "f32", w, f.ulp32);
        }
    }

    #[test]
    fn f64_forms_are_within_two_ulp_of_libm() {
        for f in &FUNCTIONS {
            // Bit patterns spread over every exponent, then the useful
            // range densely.
            let strided = (0..0x1_0000_u64).map(|i| f64::from_bits(i * 0x0000_FFFF_FFFF_FFF1));
            let (lo, hi) = f.dense;
            let dense = (0..2_000_000).map(|i| lo + (hi - lo) * i as f64 / 2e6);
            let w = worst(strided.chain(dense), |x| err64(f, x));
            within(f, "f64", w, 2);
        }
    }

    #[test]
    fn tanh_special_values() {
        assert_eq!(tanh32(0.0).to_bits(), 0);
        assert_eq!(tanh32(-0.0).to_bits(), (-0.0f32).to_bits());
        assert_eq!(tanh32(f32::INFINITY), 1.0);
        assert_eq!(tanh32(f32::NEG_INFINITY), -1.0);
        assert_eq!(tanh32(100.0), 1.0);
        assert_eq!(tanh32(f32::from_bits(1)), f32::from_bits(1));
        assert_eq!(tanh64(-0.0).to_bits(), (-0.0f64).to_bits());
        assert_eq!(tanh64(f64::NEG_INFINITY), -1.0);
        assert_eq!(tanh64(1e300), 1.0);
        assert_eq!(tanh32(f32::from_bits(0xFF80_0007)).to_bits(), 0xFFC0_0007);
        let d = f64::from_bits;
        assert_eq!(
            tanh64(d(0x7FF0_0000_0000_0009)).to_bits(),
            0x7FF8_0000_0000_0009
        );
    }

    /// The edges `log` and `log2` share (`log_edges`): `f(1)` is `+0`,
    /// `f(±0)` is `-inf`, `f(+inf)` is `+inf`, below zero the default NaN,
    /// a NaN payload made quiet.
    fn log_edges_hold(f32: fn(f32) -> f32, f64: fn(f64) -> f64) {
        assert_eq!(f32(1.0).to_bits(), 0);
        assert_eq!(f32(0.0), f32::NEG_INFINITY);
        assert_eq!(f32(-0.0), f32::NEG_INFINITY);
        assert_eq!(f32(f32::INFINITY), f32::INFINITY);
        assert_eq!(f32(-1.0).to_bits(), 0xFFC0_0000);
        assert_eq!(f32(f32::NEG_INFINITY).to_bits(), 0xFFC0_0000);
        assert_eq!(f64(1.0).to_bits(), 0);
        assert_eq!(f64(-0.0), f64::NEG_INFINITY);
        assert_eq!(f64(-2.0).to_bits(), 0xFFF8_0000_0000_0000);
        assert_eq!(f64(f64::INFINITY), f64::INFINITY);
        assert_eq!(f32(f32::from_bits(0xFF80_0007)).to_bits(), 0xFFC0_0007);
        assert_eq!(
            f64(f64::from_bits(0x7FF0_0000_0000_0009)).to_bits(),
            0x7FF8_0000_0000_0009
        );
    }

    #[test]
    fn log_special_values() {
        log_edges_hold(log32, log64);
        assert_eq!(
            log32(f32::from_bits(1)),
            (f32::from_bits(1) as f64).ln() as f32
        );
        assert_eq!(log64(std::f64::consts::E), 1.0);
    }

    /// `2^k` for `k` in -149..128: subnormal below -126.
    fn pow2_32(k: i32) -> f32 {
        if k < -126 {
            f32::from_bits(1 << (k + 149))
        } else {
            f32::from_bits(((k + 127) as u32) << 23)
        }
    }

    /// `2^k` for `k` in -1074..1024: subnormal below -1022.
    fn pow2_64(k: i64) -> f64 {
        if k < -1022 {
            f64::from_bits(1 << (k + 1074))
        } else {
            f64::from_bits(((k + 1023) as u64) << 52)
        }
    }

    #[test]
    fn sin_cos_special_values_and_the_bound() {
        let (f, d) = (f32::from_bits, f64::from_bits);
        // Zeros, the smallest inputs (sin(x) rounds to x), NaN payloads
        // quieted, infinities the default NaN (libm's path, pinned).
        assert_eq!(sin32(0.0).to_bits(), 0);
        assert_eq!(sin32(-0.0).to_bits(), (-0.0f32).to_bits());
        assert_eq!(sin64(-0.0).to_bits(), (-0.0f64).to_bits());
        assert_eq!(cos32(-0.0), 1.0);
        assert_eq!(cos64(0.0), 1.0);
        assert_eq!(sin32(f(1)), f(1));
        assert_eq!(sin64(d(0x8000_0000_0000_0003)), d(0x8000_0000_0000_0003));
        assert_eq!(sin32(2e-4), 2e-4);
        assert_eq!(cos32(1e-5), 1.0);
        assert_eq!(sin32(f32::INFINITY).to_bits(), 0xFFC0_0000);
        assert_eq!(cos64(f64::NEG_INFINITY).to_bits(), 0xFFF8_0000_0000_0000);
        assert_eq!(sin32(f(0x7F80_0005)).to_bits(), 0x7FC0_0005);
        assert_eq!(
            cos64(d(0xFFF0_0000_0000_0009)).to_bits(),
            0xFFF8_0000_0000_0009
        );
        // Odd and even.
        for x in [0.5f32, 1.0, 3.0, 100.25, 32767.5] {
            assert_eq!(sin32(-x), -sin32(x));
            assert_eq!(cos32(-x), cos32(x));
        }
        // Lanes' own up to the bound, libm's past it: both close to the
        // function on either side.
        let b32 = trig_bound(false) as f32;
        let b64 = trig_bound(true);
        for x in [b32, f(b32.to_bits() + 1), f(b32.to_bits() - 1)] {
            assert!(err32(&FUNCTIONS[5], x) <= 2 && err32(&FUNCTIONS[6], x) <= 2);
        }
        for x in [b64, d(b64.to_bits() + 1), d(b64.to_bits() - 1)] {
            assert!(err64(&FUNCTIONS[5], x) <= 2 && err64(&FUNCTIONS[6], x) <= 2);
        }
        // Near multiples of pi / 2, where the reduction cancels most bits.
        for k in 1..2000 {
            let m = k as f64 * std::f64::consts::FRAC_PI_2 * 16.0;
            for x in [m as f32, f((m as f32).to_bits() + 1)] {
                assert!(err32(&FUNCTIONS[5], x) <= 2, "sin.f32({x:e})");
                assert!(err32(&FUNCTIONS[6], x) <= 2, "cos.f32({x:e})");
            }
            for x in [m, d(m.to_bits() + 1), d(m.to_bits() - 1)] {
                assert!(err64(&FUNCTIONS[5], x) <= 2, "sin.f64({x:e})");
                assert!(err64(&FUNCTIONS[6], x) <= 2, "cos.f64({x:e})");
            }
        }
    }

    #[test]
    fn log2_special_values() {
        // Powers of two give their exponent exactly, subnormals included.
        for k in -149..128 {
            assert_eq!(log2_32(pow2_32(k)), k as f32, "log2(2^{k})");
        }
        for k in -1074..1024 {
            assert_eq!(log2_64(pow2_64(k)), k as f64, "log2(2^{k})");
        }
        log_edges_hold(log2_32, log2_64);
    }

    #[test]
    fn exp2_special_values() {
        // Integers exactly, subnormals included; ties to even below them.
        for k in -149..128 {
            assert_eq!(exp2_32(k as f32), pow2_32(k), "2^{k}");
        }
        assert_eq!(exp2_32(-150.0).to_bits(), 0);
        assert_eq!(exp2_32(-149.5).to_bits(), 1);
        assert_eq!(exp2_32(128.0), f32::INFINITY);
        assert_eq!(exp2_32(f32::NEG_INFINITY).to_bits(), 0);
        assert_eq!(exp2_64(-1074.0), f64::from_bits(1));
        assert_eq!(exp2_64(-1075.0).to_bits(), 0);
        assert_eq!(exp2_64(1023.0), 2f64.powi(1023));
        assert_eq!(exp2_64(1024.0), f64::INFINITY);
        assert_eq!(exp2_64(-0.0), 1.0);
        assert_eq!(exp2_32(f32::from_bits(0x7F80_0005)).to_bits(), 0x7FC0_0005);
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
