//! Register-to-register families over a lane group: mov, arithmetic,
//! bitwise, math, conversion, comparison and selection. Each dispatches on
//! the operation and type once, outside the lane loop, and then runs the
//! shared scalar semantics of [`crate::exec`] element-wise.

use super::lanes::{LaneSet, View, map1, map2, map3, value_at};
use crate::exec::{FloatValue, IntValue, SignedValue, Value, convert};
use crate::kernel::{ArithOp, BitOp, CmpOp, DivOp, MathOp, SignOp};
use crate::types::{FloatType, IntType, ScalarType, SignedType};
use crate::with_scalar_type;

/// `mov.T`
pub fn mov(set: LaneSet<'_>, ty: ScalarType, d: &mut [u64], a: View<'_>) {
    with_scalar_type!(ScalarType, ty, T => map1(set, d, a, |x| T::from_reg(x).to_reg()))
}

/// `add sub mul min max`
pub fn arith(
    set: LaneSet<'_>,
    op: ArithOp,
    ty: ScalarType,
    d: &mut [u64],
    a: View<'_>,
    b: View<'_>,
) {
    with_scalar_type!(ScalarType, ty, T => {
        let r = |v: T| v.to_reg();
        let t = T::from_reg;
        match op {
            ArithOp::Add => map2(set, d, a, b, |x, y| r(t(x).add(t(y)))),
            ArithOp::Sub => map2(set, d, a, b, |x, y| r(t(x).sub(t(y)))),
            ArithOp::Mul => map2(set, d, a, b, |x, y| r(t(x).mul(t(y)))),
            ArithOp::Min => map2(set, d, a, b, |x, y| r(Value::min(t(x), t(y)))),
            ArithOp::Max => map2(set, d, a, b, |x, y| r(Value::max(t(x), t(y)))),
        }
    })
}

/// `div rem`. Returns the first lane whose integer divisor is zero, before
/// writing anything.
pub fn div(
    set: LaneSet<'_>,
    op: DivOp,
    ty: ScalarType,
    d: &mut [u64],
    a: View<'_>,
    b: View<'_>,
) -> Result<(), usize> {
    if ty.is_int() {
        let mut zero = None;
        set.try_for_each(|l| {
            if ty.extend(value_at(b, d, l)) == 0 {
                zero = Some(l);
                Err(())
            } else {
                Ok(())
            }
        })
        .ok();
        if let Some(l) = zero {
            return Err(l);
        }
    }
    // Division by zero is excluded above, so `div` always has a value.
    with_scalar_type!(ScalarType, ty, T => {
        let t = T::from_reg;
        let r = |v: Option<T>| v.map_or(0, Value::to_reg);
        match op {
            DivOp::Div => map2(set, d, a, b, |x, y| r(Value::div(t(x), t(y)))),
            DivOp::Rem => map2(set, d, a, b, |x, y| r(Value::rem(t(x), t(y)))),
        }
    });
    Ok(())
}

/// `fma.T`
pub fn fma(set: LaneSet<'_>, ty: ScalarType, d: &mut [u64], a: View<'_>, b: View<'_>, c: View<'_>) {
    with_scalar_type!(ScalarType, ty, T => {
        map3(set, d, a, b, c, |x, y, z| T::from_reg(x).fma(T::from_reg(y), T::from_reg(z)).to_reg())
    })
}

/// `and or xor shl shr`
pub fn bit(set: LaneSet<'_>, op: BitOp, ty: IntType, d: &mut [u64], a: View<'_>, b: View<'_>) {
    with_scalar_type!(IntType, ty, T => {
        let r = |v: T| v.to_reg();
        let t = T::from_reg;
        match op {
            BitOp::And => map2(set, d, a, b, |x, y| r(t(x).and(t(y)))),
            BitOp::Or => map2(set, d, a, b, |x, y| r(t(x).or(t(y)))),
            BitOp::Xor => map2(set, d, a, b, |x, y| r(t(x).xor(t(y)))),
            BitOp::Shl => map2(set, d, a, b, |x, y| r(t(x).shl(t(y)))),
            BitOp::Shr => map2(set, d, a, b, |x, y| r(t(x).shr(t(y)))),
        }
    })
}

/// `not.T`
pub fn not(set: LaneSet<'_>, ty: IntType, d: &mut [u64], a: View<'_>) {
    with_scalar_type!(IntType, ty, T => map1(set, d, a, |x| T::from_reg(x).not().to_reg()))
}

/// `neg abs`
pub fn sign(set: LaneSet<'_>, op: SignOp, ty: SignedType, d: &mut [u64], a: View<'_>) {
    with_scalar_type!(SignedType, ty, T => match op {
        SignOp::Neg => map1(set, d, a, |x| SignedValue::neg(T::from_reg(x)).to_reg()),
        SignOp::Abs => map1(set, d, a, |x| SignedValue::abs(T::from_reg(x)).to_reg()),
    })
}

/// The float functions.
pub fn math(set: LaneSet<'_>, op: MathOp, ty: FloatType, d: &mut [u64], a: View<'_>) {
    with_scalar_type!(FloatType, ty, T => {
        let t = T::from_reg;
        match op {
            MathOp::Sqrt => map1(set, d, a, |x| FloatValue::sqrt(t(x)).to_reg()),
            MathOp::Rsqrt => map1(set, d, a, |x| FloatValue::rsqrt(t(x)).to_reg()),
            MathOp::Exp => map1(set, d, a, |x| FloatValue::exp(t(x)).to_reg()),
            MathOp::Exp2 => map1(set, d, a, |x| FloatValue::exp2(t(x)).to_reg()),
            MathOp::Log => map1(set, d, a, |x| FloatValue::log(t(x)).to_reg()),
            MathOp::Log2 => map1(set, d, a, |x| FloatValue::log2(t(x)).to_reg()),
            MathOp::Sin => map1(set, d, a, |x| FloatValue::sin(t(x)).to_reg()),
            MathOp::Cos => map1(set, d, a, |x| FloatValue::cos(t(x)).to_reg()),
            MathOp::Tanh => map1(set, d, a, |x| FloatValue::tanh(t(x)).to_reg()),
            MathOp::Floor => map1(set, d, a, |x| FloatValue::floor(t(x)).to_reg()),
            MathOp::Ceil => map1(set, d, a, |x| FloatValue::ceil(t(x)).to_reg()),
        }
    })
}

/// `cvt.TO.FROM`
pub fn cvt(set: LaneSet<'_>, to: ScalarType, from: ScalarType, d: &mut [u64], a: View<'_>) {
    with_scalar_type!(ScalarType, from, F => with_scalar_type!(ScalarType, to, T => {
        map1(set, d, a, convert::cast::<F, T>)
    }))
}

/// `setp.CMP.T`: writes predicate `p` of each lane (`p` is that
/// predicate's per-lane vector).
pub fn setp(
    set: LaneSet<'_>,
    cmp: CmpOp,
    ty: ScalarType,
    p: &mut [bool],
    a: View<'_>,
    b: View<'_>,
) {
    #[inline(always)]
    fn run<T: Value>(
        set: LaneSet<'_>,
        p: &mut [bool],
        a: View<'_>,
        b: View<'_>,
        f: impl Fn(T, T) -> bool,
    ) {
        // The whole block or consecutive lanes: loops over one range.
        match (set.range(), set, a, b) {
            (Some(r), _, View::Lanes(x), View::Lanes(y)) => {
                for ((p, &x), &y) in p[r.clone()].iter_mut().zip(&x[r.clone()]).zip(&y[r]) {
                    *p = f(T::from_reg(x), T::from_reg(y));
                }
            }
            (Some(r), _, View::Lanes(x), View::Splat(y)) => {
                let y = T::from_reg(y);
                for (p, &x) in p[r.clone()].iter_mut().zip(&x[r]) {
                    *p = f(T::from_reg(x), y);
                }
            }
            (None, LaneSet::Some(ls), View::Lanes(x), View::Splat(y)) => {
                let y = T::from_reg(y);
                for &l in ls {
                    let l = l as usize;
                    p[l] = f(T::from_reg(x[l]), y);
                }
            }
            (_, set, a, b) => set.for_each(|l| {
                p[l] = f(
                    T::from_reg(value_at(a, &[], l)),
                    T::from_reg(value_at(b, &[], l)),
                )
            }),
        }
    }
    with_scalar_type!(ScalarType, ty, T => match cmp {
        CmpOp::Eq => run::<T>(set, p, a, b, |x, y| x == y),
        CmpOp::Ne => run::<T>(set, p, a, b, |x, y| x != y),
        CmpOp::Lt => run::<T>(set, p, a, b, |x, y| x < y),
        CmpOp::Le => run::<T>(set, p, a, b, |x, y| x <= y),
        CmpOp::Gt => run::<T>(set, p, a, b, |x, y| x > y),
        CmpOp::Ge => run::<T>(set, p, a, b, |x, y| x >= y),
    })
}

/// `selp.T`: `p` is the selecting predicate's per-lane vector.
pub fn selp(set: LaneSet<'_>, ty: ScalarType, d: &mut [u64], a: View<'_>, b: View<'_>, p: &[bool]) {
    with_scalar_type!(ScalarType, ty, T => set.for_each(|l| {
        let v = if p[l] { value_at(a, d, l) } else { value_at(b, d, l) };
        d[l] = T::from_reg(v).to_reg();
    }));
}
