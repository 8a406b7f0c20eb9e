//! Helpers of the op library's suites: the engines and sizes every op runs
//! at, deterministic inputs of every element type, and reference semantics
//! written in plain Rust (never with `lanes::exec`), so the kernels are
//! checked against an independent model.
#![allow(dead_code)]

use lanes::ops::Ops;
use lanes::{Element, Engine, LaunchOptions, Runtime};

/// Every engine an op must run on (add `Engine::Jit` here when it lands).
pub const ENGINES: [Engine; 3] = [Engine::Pool, Engine::Reference, Engine::Jit];

/// The sizes of the issue (1, 7, 256, 1000, 65537), a non-multiple of the
/// 256-lane block (1000), one past a reduction block's 2048 elements, and
/// the empty vector.
pub const SIZES: [usize; 7] = [0, 1, 7, 256, 1000, 2049, 65537];

/// The sizes an engine runs: the reference engine (one lane at a time, slow
/// in debug builds) skips the largest, which the pool engine covers.
pub fn sizes(engine: Engine) -> &'static [usize] {
    match engine {
        Engine::Reference => &SIZES[..SIZES.len() - 1],
        _ => &SIZES,
    }
}

/// Runs `test` with the op library on each engine, and the sizes it runs.
pub fn each_engine(test: impl Fn(Ops<'_>, &[usize])) {
    let rt = Runtime::new();
    for engine in ENGINES {
        let options = LaunchOptions {
            engine,
            // Every block on compiled code.
            jit_wait: std::time::Duration::MAX,
            ..LaunchOptions::default()
        };
        test(rt.ops().with_options(options), sizes(engine));
    }
}

/// xorshift64*: the same inputs on every run.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `[0, 1)`, 53 random bits.
    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `[lo, hi)`.
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + self.unit() * (hi - lo)
    }
}

/// An element type with the reference semantics of the ops.
pub trait Num: Element + Copy {
    /// Values every op must get right (zeros, extremes, NaN, ...).
    fn specials() -> Vec<Self>;
    /// A random value: a special one time in eight, else spread over the
    /// type (integers: any bits; floats: signs and magnitudes 1e-3..1e3).
    fn random(rng: &mut Rng) -> Self;
    /// A value that is never zero (divisors).
    fn nonzero(rng: &mut Rng) -> Self;
    fn from_i8(v: i8) -> Self;
    fn add(self, o: Self) -> Self;
    fn sub(self, o: Self) -> Self;
    fn mul(self, o: Self) -> Self;
    fn div(self, o: Self) -> Self;
    /// The language's min: NaN on one side gives the other, -0.0 < +0.0.
    fn minimum(self, o: Self) -> Self;
    fn maximum(self, o: Self) -> Self;
    /// Rust's `clamp`.
    fn clamp_to(self, lo: Self, hi: Self) -> Self;
    /// Equal bits, or both NaN.
    fn same(self, o: Self) -> bool;
}

/// Signed types: abs and neg.
pub trait SignedNum: Num + lanes::Signed {
    fn abs_(self) -> Self;
    fn neg_(self) -> Self;
}

pub fn values<T: Num>(n: usize, seed: u64) -> Vec<T> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ seed.wrapping_mul(0x1234_5678_9abc_def1) ^ n as u64);
    (0..n).map(|_| T::random(&mut rng)).collect()
}

pub fn nonzero_values<T: Num>(n: usize, seed: u64) -> Vec<T> {
    let mut rng = Rng(0x51ed_2701_f3a5_c9b1 ^ seed ^ (n as u64) << 20);
    (0..n).map(|_| T::nonzero(&mut rng)).collect()
}

/// Asserts `got` equals `want` element by element (bits, or both NaN).
pub fn assert_same<T: Num>(got: &[T], want: &[T], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(g.same(*w), "{what}: element {i}: got {g:?}, want {w:?}");
    }
}

macro_rules! int_num {
    ($($t:ident $signed:literal),*) => {$(
        impl Num for $t {
            fn specials() -> Vec<$t> {
                let mut v = vec![0, 1, 2, $t::MAX, $t::MAX - 1, $t::MIN];
                if $signed {
                    v.extend([(0 as $t).wrapping_sub(1), $t::MIN.wrapping_add(1)]);
                }
                v
            }
            fn random(rng: &mut Rng) -> $t {
                let r = rng.next();
                match r % 8 {
                    0 => { let s = Self::specials(); s[(r >> 8) as usize % s.len()] }
                    1 => ((r >> 8) % 16) as $t,
                    _ => (r >> 3) as $t,
                }
            }
            fn nonzero(rng: &mut Rng) -> $t {
                match Self::random(rng) { 0 => 1, v => v }
            }
            fn from_i8(v: i8) -> $t { v as $t }
            fn add(self, o: $t) -> $t { self.wrapping_add(o) }
            fn sub(self, o: $t) -> $t { self.wrapping_sub(o) }
            fn mul(self, o: $t) -> $t { self.wrapping_mul(o) }
            fn div(self, o: $t) -> $t { self.wrapping_div(o) }
            fn minimum(self, o: $t) -> $t { Ord::min(self, o) }
            fn maximum(self, o: $t) -> $t { Ord::max(self, o) }
            fn clamp_to(self, lo: $t, hi: $t) -> $t { Ord::clamp(self, lo, hi) }
            fn same(self, o: $t) -> bool { self == o }
        }
    )*};
}
int_num!(u8 false, u16 false, u32 false, u64 false, i8 true, i16 true, i32 true, i64 true);

macro_rules! signed_int {
    ($($t:ident),*) => {$(
        impl SignedNum for $t {
            fn abs_(self) -> $t { self.wrapping_abs() }
            fn neg_(self) -> $t { self.wrapping_neg() }
        }
    )*};
}
signed_int!(i8, i16, i32, i64);

macro_rules! float_num {
    ($($t:ident),*) => {$(
        impl Num for $t {
            fn specials() -> Vec<$t> {
                vec![0.0, -0.0, 1.0, -1.0, $t::INFINITY, $t::NEG_INFINITY, $t::NAN,
                     $t::MIN_POSITIVE, -$t::MIN_POSITIVE / 4.0, $t::MAX, $t::MIN]
            }
            fn random(rng: &mut Rng) -> $t {
                let r = rng.next();
                if r % 8 == 0 {
                    let s = Self::specials();
                    return s[(r >> 8) as usize % s.len()];
                }
                let magnitude = 10f64.powi(((r >> 8) % 7) as i32 - 3);
                (rng.range(-1.0, 1.0) * magnitude) as $t
            }
            fn nonzero(rng: &mut Rng) -> $t {
                match Self::random(rng) { v if v == 0.0 => 0.5, v => v }
            }
            fn from_i8(v: i8) -> $t { v as $t }
            fn add(self, o: $t) -> $t { self + o }
            fn sub(self, o: $t) -> $t { self - o }
            fn mul(self, o: $t) -> $t { self * o }
            fn div(self, o: $t) -> $t { self / o }
            fn minimum(self, o: $t) -> $t {
                if self.is_nan() { o } else if o.is_nan() { self }
                else if self < o { self } else if o < self { o }
                else if self.is_sign_negative() { self } else { o }
            }
            fn maximum(self, o: $t) -> $t {
                if self.is_nan() { o } else if o.is_nan() { self }
                else if self > o { self } else if o > self { o }
                else if self.is_sign_positive() { self } else { o }
            }
            fn clamp_to(self, lo: $t, hi: $t) -> $t { self.clamp(lo, hi) }
            fn same(self, o: $t) -> bool {
                self.to_bits() == o.to_bits() || (self.is_nan() && o.is_nan())
            }
        }
        impl SignedNum for $t {
            fn abs_(self) -> $t { self.abs() }
            fn neg_(self) -> $t { -self }
        }
    )*};
}
float_num!(f32, f64);

/// Runs `$body` once per element type of `$list`, with `$t` bound to it.
#[macro_export]
macro_rules! for_types {
    ($t:ident in [$($ty:ty),*] => $body:block) => {$({
        type $t = $ty;
        $body
    })*};
}
