//! Typed views of register contents.

use crate::types::ScalarType;

/// A scalar type as register contents: how to read it from the low bits of a
/// 64-bit register and how to write it back (extended per docs/LANGUAGE.md section 3),
/// plus the operations every type supports.
pub trait Value: Copy + PartialEq + PartialOrd + Send + Sync + 'static {
    /// The LASM type.
    const TYPE: ScalarType;
    /// Reads the low bits of a register.
    fn from_reg(bits: u64) -> Self;
    /// The register contents holding this value (zero- or sign-extended).
    fn to_reg(self) -> u64;
    /// `add` (integers wrap).
    fn add(self, b: Self) -> Self;
    /// `sub` (integers wrap).
    fn sub(self, b: Self) -> Self;
    /// `mul` (integers wrap).
    fn mul(self, b: Self) -> Self;
    /// `min` (signedness from the type; floats: see module docs).
    fn min(self, b: Self) -> Self;
    /// `max`.
    fn max(self, b: Self) -> Self;
    /// `div`: `None` for integer division by zero; `MIN / -1` wraps.
    fn div(self, b: Self) -> Option<Self>;
    /// `rem`: `None` for integer division by zero; float `rem` is fmod.
    fn rem(self, b: Self) -> Option<Self>;
    /// `fma`: fused for floats, wrapping for integers.
    fn fma(self, b: Self, c: Self) -> Self;
}

/// Integer-only operations.
pub trait IntValue: Value {
    /// `and`
    fn and(self, b: Self) -> Self;
    /// `or`
    fn or(self, b: Self) -> Self;
    /// `xor`
    fn xor(self, b: Self) -> Self;
    /// `not`
    fn not(self) -> Self;
    /// `shl` by `b mod bits`.
    fn shl(self, b: Self) -> Self;
    /// `shr` by `b mod bits`: arithmetic for signed, logical for unsigned.
    fn shr(self, b: Self) -> Self;
}

/// `neg` and `abs`: signed integers and floats.
pub trait SignedValue: Value {
    /// `neg` (integers wrap).
    fn neg(self) -> Self;
    /// `abs` (`abs MIN` = MIN).
    fn abs(self) -> Self;
}

/// Float math.
pub trait FloatValue: Value {
    /// `sqrt`
    fn sqrt(self) -> Self;
    /// `rsqrt`
    fn rsqrt(self) -> Self;
    /// `exp`
    fn exp(self) -> Self;
    /// `exp2`
    fn exp2(self) -> Self;
    /// `log` (natural)
    fn log(self) -> Self;
    /// `log2`
    fn log2(self) -> Self;
    /// `sin`
    fn sin(self) -> Self;
    /// `cos`
    fn cos(self) -> Self;
    /// `tanh`
    fn tanh(self) -> Self;
    /// `floor`
    fn floor(self) -> Self;
    /// `ceil`
    fn ceil(self) -> Self;
}

macro_rules! impl_int {
    ($($t:ident $u:ident $variant:ident),*) => {$(
        impl Value for $t {
            const TYPE: ScalarType = ScalarType::$variant;
            #[inline(always)]
            fn from_reg(bits: u64) -> Self { bits as $t }
            #[inline(always)]
            fn to_reg(self) -> u64 { ScalarType::$variant.extend(self as u64) }
            #[inline(always)]
            fn add(self, b: Self) -> Self { self.wrapping_add(b) }
            #[inline(always)]
            fn sub(self, b: Self) -> Self { self.wrapping_sub(b) }
            #[inline(always)]
            fn mul(self, b: Self) -> Self { self.wrapping_mul(b) }
            #[inline(always)]
            fn min(self, b: Self) -> Self { Ord::min(self, b) }
            #[inline(always)]
            fn max(self, b: Self) -> Self { Ord::max(self, b) }
            #[inline(always)]
            fn div(self, b: Self) -> Option<Self> {
                if b == 0 { None } else { Some(self.wrapping_div(b)) }
            }
            #[inline(always)]
            fn rem(self, b: Self) -> Option<Self> {
                if b == 0 { None } else { Some(self.wrapping_rem(b)) }
            }
            #[inline(always)]
            fn fma(self, b: Self, c: Self) -> Self { self.wrapping_mul(b).wrapping_add(c) }
        }

        impl IntValue for $t {
            #[inline(always)]
            fn and(self, b: Self) -> Self { self & b }
            #[inline(always)]
            fn or(self, b: Self) -> Self { self | b }
            #[inline(always)]
            fn xor(self, b: Self) -> Self { self ^ b }
            #[inline(always)]
            fn not(self) -> Self { !self }
            #[inline(always)]
            fn shl(self, b: Self) -> Self { self.wrapping_shl((b as $u) as u32) }
            #[inline(always)]
            fn shr(self, b: Self) -> Self { self.wrapping_shr((b as $u) as u32) }
        }
    )*};
}

impl_int!(u8 u8 U8, u16 u16 U16, u32 u32 U32, u64 u64 U64, i8 u8 I8, i16 u16 I16, i32 u32 I32, i64 u64 I64);

macro_rules! impl_signed_int {
    ($($t:ident),*) => {$(
        impl SignedValue for $t {
            #[inline(always)]
            fn neg(self) -> Self { self.wrapping_neg() }
            #[inline(always)]
            fn abs(self) -> Self { self.wrapping_abs() }
        }
    )*};
}

impl_signed_int!(i8, i16, i32, i64);

/// NaN results, pinned down. IEEE 754 leaves which NaN operand a result
/// carries to the hardware, and LLVM may swap commutative operands when it
/// vectorizes a loop, so without this an engine's vector loop and the
/// reference engine's scalar code could disagree on the bits. The rule is
/// x86's (and so NumPy's on x86): the first NaN operand, made quiet; an
/// invalid operation on numbers (`inf - inf`, `0 * inf`, `sqrt(-1)`) gives
/// the default NaN, sign set (`0xFFC00000` for f32), on every machine.
pub(super) trait Nan: Sized {
    const QUIET: Self::Bits;
    const DEFAULT: Self::Bits;
    type Bits;
    fn quiet(self) -> Self;
    fn default_nan() -> Self;
}

/// lanes' own `own(x)` where `|x|` is at most
/// [`functions::trig_bound`](super::functions::trig_bound), libm's
/// `libm(x)` past it (and for infinities and NaN), its NaN pinned down.
#[inline(always)]
fn bounded<T: Nan + Copy + PartialEq + Default + Into<f64>>(
    x: T,
    wide: bool,
    own: fn(&mut super::functions::Native<T>, T) -> T,
    libm: fn(T) -> T,
) -> T {
    if x.into().abs() <= super::functions::trig_bound(wide) {
        own(&mut super::functions::Native::<T>::default(), x)
    } else {
        nan2(libm(x), x, x)
    }
}

/// `r`, an operation's result on `a` and `b`, with its NaN pinned down (see
/// [`Nan`]).
#[inline(always)]
fn nan2<T: Nan + Copy + PartialEq>(r: T, a: T, b: T) -> T {
    // `x != x` is the NaN test every float type has.
    #[allow(clippy::eq_op)]
    let is_nan = |x: T| x != x;
    if !is_nan(r) {
        r
    } else if is_nan(a) {
        a.quiet()
    } else if is_nan(b) {
        b.quiet()
    } else {
        T::default_nan()
    }
}

macro_rules! impl_float {
    ($($t:ident $bits:ident $variant:ident $wide:expr),*) => {$(
        impl Value for $t {
            const TYPE: ScalarType = ScalarType::$variant;
            #[inline(always)]
            fn from_reg(bits: u64) -> Self { $t::from_bits(bits as $bits) }
            #[inline(always)]
            fn to_reg(self) -> u64 { $t::to_bits(self) as u64 }
            #[inline(always)]
            fn add(self, b: Self) -> Self { nan2(self + b, self, b) }
            #[inline(always)]
            fn sub(self, b: Self) -> Self { nan2(self - b, self, b) }
            #[inline(always)]
            fn mul(self, b: Self) -> Self { nan2(self * b, self, b) }
            #[inline(always)]
            fn min(self, b: Self) -> Self {
                if self.is_nan() || b < self || (b == self && b.is_sign_negative()) { b } else { self }
            }
            #[inline(always)]
            fn max(self, b: Self) -> Self {
                if self.is_nan() || b > self || (b == self && b.is_sign_positive()) { b } else { self }
            }
            #[inline(always)]
            fn div(self, b: Self) -> Option<Self> { Some(nan2(self / b, self, b)) }
            #[inline(always)]
            fn rem(self, b: Self) -> Option<Self> { Some(nan2(self % b, self, b)) }
            #[inline(always)]
            fn fma(self, b: Self, c: Self) -> Self {
                let r = self.mul_add(b, c);
                if r.is_nan() && !self.is_nan() && !b.is_nan() { nan2(r, c, c) } else { nan2(r, self, b) }
            }
        }

        impl Nan for $t {
            type Bits = $bits;
            const QUIET: $bits = 1 << ($t::MANTISSA_DIGITS - 2);
            const DEFAULT: $bits = !0 << ($t::MANTISSA_DIGITS - 2);
            #[inline(always)]
            fn quiet(self) -> Self { $t::from_bits(self.to_bits() | Self::QUIET) }
            #[inline(always)]
            fn default_nan() -> Self { $t::from_bits(Self::DEFAULT) }
        }

        impl SignedValue for $t {
            #[inline(always)]
            fn neg(self) -> Self { -self }
            #[inline(always)]
            fn abs(self) -> Self { $t::abs(self) }
        }

        // The functions pin their NaN too: libm's results for a signalling
        // NaN (kept or quieted) and for invalid arguments (which NaN) vary
        // with the library and the build's target CPU (`floor` is a libm
        // call on baseline x86-64 and `roundss` with SSE4.1).
        impl FloatValue for $t {
            #[inline(always)]
            fn sqrt(self) -> Self { nan2($t::sqrt(self), self, self) }
            #[inline(always)]
            fn rsqrt(self) -> Self { 1.0 / $t::sqrt(self) }
            #[inline(always)]
            fn exp(self) -> Self { super::functions::exp(&mut super::functions::Native::<$t>::default(), self) }
            #[inline(always)]
            fn exp2(self) -> Self { super::functions::exp2(&mut super::functions::Native::<$t>::default(), self) }
            #[inline(always)]
            fn log(self) -> Self { super::functions::log(&mut super::functions::Native::<$t>::default(), self) }
            #[inline(always)]
            fn log2(self) -> Self { super::functions::log2(&mut super::functions::Native::<$t>::default(), self) }
            #[inline(always)]
            fn sin(self) -> Self { bounded(self, $wide, super::functions::sin, $t::sin) }
            #[inline(always)]
            fn cos(self) -> Self { bounded(self, $wide, super::functions::cos, $t::cos) }
            #[inline(always)]
            fn tanh(self) -> Self { super::functions::tanh(&mut super::functions::Native::<$t>::default(), self) }
            #[inline(always)]
            fn floor(self) -> Self { nan2($t::floor(self), self, self) }
            #[inline(always)]
            fn ceil(self) -> Self { nan2($t::ceil(self), self, self) }
        }
    )*};
}

impl_float!(f32 u32 F32 false, f64 u64 F64 true);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nan_results_are_pinned_down() {
        let f = f32::from_bits;
        let (qa, qb, sa) = (f(0x7FC0_0001), f(0xFFC0_1234), f(0x7F80_0005));
        // The first NaN operand wins, quieted, whatever the operation.
        assert_eq!(qa.add(qb).to_bits(), 0x7FC0_0001);
        assert_eq!(qb.add(qa).to_bits(), 0xFFC0_1234);
        assert_eq!(1.0f32.mul(qb).to_bits(), 0xFFC0_1234);
        assert_eq!(sa.sub(qa).to_bits(), 0x7FC0_0005);
        assert_eq!(Value::div(2.0f32, sa).unwrap().to_bits(), 0x7FC0_0005);
        assert_eq!(FloatValue::sqrt(sa).to_bits(), 0x7FC0_0005);
        // fma: a, then b, then c.
        assert_eq!(1.0f32.fma(qb, qa).to_bits(), 0xFFC0_1234);
        assert_eq!(1.0f32.fma(2.0, qa).to_bits(), 0x7FC0_0001);
        // Invalid operations on numbers give the default NaN.
        let inf = f32::INFINITY;
        assert_eq!(inf.sub(inf).to_bits(), 0xFFC0_0000);
        assert_eq!(0.0f32.mul(inf).to_bits(), 0xFFC0_0000);
        assert_eq!(FloatValue::sqrt(-1.0f32).to_bits(), 0xFFC0_0000);
        assert_eq!(0.0f32.fma(inf, 1.0).to_bits(), 0xFFC0_0000);
        // The functions too, whatever libm and the target CPU do.
        assert_eq!(FloatValue::floor(sa).to_bits(), 0x7FC0_0005);
        assert_eq!(FloatValue::ceil(sa).to_bits(), 0x7FC0_0005);
        assert_eq!(FloatValue::exp(sa).to_bits(), 0x7FC0_0005);
        assert_eq!(FloatValue::log(-1.0f32).to_bits(), 0xFFC0_0000);
        assert_eq!(FloatValue::sin(inf).to_bits(), 0xFFC0_0000);
        assert_eq!(
            f64::INFINITY.sub(f64::INFINITY).to_bits(),
            0xFFF8_0000_0000_0000
        );
        let q64 = f64::from_bits(0x7FF0_0000_0000_0009);
        assert_eq!(1.0f64.add(q64).to_bits(), 0x7FF8_0000_0000_0009);
        // Numbers are untouched.
        assert_eq!(1.5f32.add(2.25), 3.75);
    }
}
