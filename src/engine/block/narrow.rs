//! 32-bit register vectors.
//!
//! A register slot is 64 bits, but most data in kernels is `f32`, `u32` or
//! `i32`, and moving it through 64-bit slots halves what one vector
//! instruction covers and doubles the bytes every pass reads and writes. So a
//! register written by the whole unit with a 32-bit type may be kept as a
//! `u32` vector (`regs32`) instead: its low halves. The upper halves are
//! recoverable from the writer's type (zero-extended for `f32`/`u32`,
//! sign-extended for `i32`), which is recorded, so any other reader gets the
//! exact 64-bit slots back by widening (`BlockState::materialize`).
//!
//! Only instructions whose register sources are all 32-bit vectors (or
//! uniform) run here; the operation itself is the shared scalar semantics of
//! [`crate::exec`], applied element-wise on the narrow vectors.

use super::alu;
use super::lanes::{LaneSet, View};
use super::{BlockLaunch, BlockState, Unit, lanes32_of};
use crate::exec::{FloatValue, Value};
use crate::kernel::{ArithOp, DivOp, MathOp, Op, Src};
use crate::types::{FloatType, ScalarType};
use crate::with_scalar_type;

/// A 32-bit source across the unit's lanes.
#[derive(Clone, Copy)]
enum N32<'a> {
    Lanes(&'a [u32]),
    Splat(u32),
}

/// `d[l] = f(a[l])` over the first `d.len()` lanes.
#[inline(always)]
fn map1(d: &mut [u32], a: N32<'_>, f: impl Fn(u32) -> u32) {
    match a {
        N32::Lanes(x) => {
            let n = d.len();
            for (d, &x) in d.iter_mut().zip(&x[..n]) {
                *d = f(x);
            }
        }
        N32::Splat(x) => d.fill(f(x)),
    }
}

/// `d[l] = f(a[l], b[l])` over the first `d.len()` lanes.
#[inline(always)]
fn map2(d: &mut [u32], a: N32<'_>, b: N32<'_>, f: impl Fn(u32, u32) -> u32) {
    let n = d.len();
    match (a, b) {
        (N32::Lanes(x), N32::Lanes(y)) => {
            for ((d, &x), &y) in d.iter_mut().zip(&x[..n]).zip(&y[..n]) {
                *d = f(x, y);
            }
        }
        (N32::Lanes(x), N32::Splat(y)) => {
            for (d, &x) in d.iter_mut().zip(&x[..n]) {
                *d = f(x, y);
            }
        }
        (N32::Splat(x), N32::Lanes(y)) => {
            for (d, &y) in d.iter_mut().zip(&y[..n]) {
                *d = f(x, y);
            }
        }
        (N32::Splat(x), N32::Splat(y)) => d.fill(f(x, y)),
    }
}

/// `d[l] = exact(a[l], b[l])` for an f32 operation whose `exact` semantics
/// differ from the plain operation `raw` only in which NaN a NaN result is
/// (see `exec`'s NaN rule): runs `raw`, which vectorizes without blends, and
/// redoes a chunk with `exact` only when the chunk produced a NaN.
#[inline(always)]
fn float2(
    d: &mut [u32],
    a: N32<'_>,
    b: N32<'_>,
    raw: impl Fn(f32, f32) -> f32,
    exact: impl Fn(u32, u32) -> u32,
) {
    const CHUNK: usize = 1024;
    let f = f32::from_bits;
    // One pass: the result, and whether any lane of the chunk is NaN
    // (`r != r`, a compare the loop vectorizes along with the operation).
    #[allow(clippy::eq_op)]
    let run = |chunk: &mut [u32], x: N32<'_>, y: N32<'_>| -> bool {
        let mut nan = false;
        let n = chunk.len();
        match (x, y) {
            (N32::Lanes(x), N32::Lanes(y)) => {
                for ((d, &x), &y) in chunk.iter_mut().zip(&x[..n]).zip(&y[..n]) {
                    let r = raw(f(x), f(y));
                    nan |= r != r;
                    *d = r.to_bits();
                }
            }
            (N32::Lanes(x), N32::Splat(y)) => {
                for (d, &x) in chunk.iter_mut().zip(&x[..n]) {
                    let r = raw(f(x), f(y));
                    nan |= r != r;
                    *d = r.to_bits();
                }
            }
            (N32::Splat(x), N32::Lanes(y)) => {
                for (d, &y) in chunk.iter_mut().zip(&y[..n]) {
                    let r = raw(f(x), f(y));
                    nan |= r != r;
                    *d = r.to_bits();
                }
            }
            (N32::Splat(x), N32::Splat(y)) => {
                let r = raw(f(x), f(y));
                nan = r != r;
                chunk.fill(r.to_bits());
            }
        }
        nan
    };
    fn part<'s>(v: N32<'s>, at: usize, end: usize) -> N32<'s> {
        match v {
            N32::Lanes(s) => N32::Lanes(&s[at..end]),
            N32::Splat(x) => N32::Splat(x),
        }
    }
    let n = d.len();
    for at in (0..n).step_by(CHUNK) {
        let end = (at + CHUNK).min(n);
        let (a, b, chunk) = (part(a, at, end), part(b, at, end), &mut d[at..end]);
        if run(chunk, a, b) {
            map2(chunk, a, b, &exact);
        }
    }
}

/// Like [`float2`], for three operands (`fma`). Uniform operands are
/// spread over a chunk-sized buffer first, so one loop shape serves every
/// mix of operands and vectorizes.
#[inline(always)]
fn float3(
    d: &mut [u32],
    a: N32<'_>,
    b: N32<'_>,
    c: N32<'_>,
    raw: impl Fn(f32, f32, f32) -> f32,
    exact: impl Fn(u32, u32, u32) -> u32,
) {
    const CHUNK: usize = 1024;
    let f = f32::from_bits;
    let mut spread = [[0u32; CHUNK]; 3];
    let n = d.len();
    for at in (0..n).step_by(CHUNK) {
        let end = (at + CHUNK).min(n);
        let len = end - at;
        let mut ops: [&[u32]; 3] = [&[]; 3];
        for ((op, v), buf) in ops.iter_mut().zip([a, b, c]).zip(spread.iter_mut()) {
            *op = match v {
                N32::Lanes(s) => &s[at..end],
                N32::Splat(x) => {
                    buf[..len].fill(x);
                    &buf[..len]
                }
            };
        }
        let [x, y, z] = ops;
        let chunk = &mut d[at..end];
        let mut nan = false;
        for (((d, &x), &y), &z) in chunk.iter_mut().zip(x).zip(y).zip(z) {
            let r = raw(f(x), f(y), f(z));
            // `r != r`: NaN, without a branch per lane.
            #[allow(clippy::eq_op)]
            {
                nan |= r != r;
            }
            *d = r.to_bits();
        }
        if nan {
            for (((d, &x), &y), &z) in chunk.iter_mut().zip(x).zip(y).zip(z) {
                *d = exact(x, y, z);
            }
        }
    }
}

/// Whether `ty` is one of the types kept in 32-bit vectors.
pub fn is_narrow(ty: ScalarType) -> bool {
    matches!(ty, ScalarType::F32 | ScalarType::U32 | ScalarType::I32)
}

/// `T`'s operation on the low 32 bits of register slots.
macro_rules! on32 {
    ($t:ty, |$($x:ident),*| $e:expr) => {
        |$($x: u32),*| {
            $(let $x = <$t as Value>::from_reg($x as u64);)*
            Value::to_reg($e) as u32
        }
    };
}

/// Where a 32-bit source comes from.
#[derive(Clone, Copy)]
enum Plan {
    Reg(usize),
    Splat(u32),
}

/// A 32-bit vector's lanes: its words hold two lanes each, lane `2i` in the
/// low half of word `i` on little-endian targets (the order is only relied
/// on by [`crate::memory::ByteMemory::load_run32`]'s word copies, which
/// check it).
pub fn lanes32(words: &[u64]) -> &[u32] {
    bytemuck::cast_slice(words)
}

/// Mutable [`lanes32`].
pub fn lanes32_mut(words: &mut [u64]) -> &mut [u32] {
    bytemuck::cast_slice_mut(words)
}

fn view<'s>(
    regs32: &'s [Vec<u64>],
    frozen32: &[Option<(u16, usize)>],
    launch: &'s BlockLaunch<'_>,
    p: Plan,
) -> N32<'s> {
    match p {
        Plan::Reg(r) => N32::Lanes(lanes32_of(regs32, frozen32, launch, r)),
        Plan::Splat(v) => N32::Splat(v),
    }
}

impl BlockState {
    /// Source `s` as a 32-bit vector or a uniform value, if it is one.
    fn plan(&self, launch: &BlockLaunch<'_>, pos: Unit, s: Src) -> Option<Plan> {
        match s {
            Src::Reg(r) if self.narrow[r as usize].is_some() => Some(Plan::Reg(r as usize)),
            s => {
                let v = self.aff_src(launch, pos, s)?.as_uniform(pos.shape)?;
                Some(Plan::Splat(v as u32))
            }
        }
    }

    /// Runs `op` for the whole unit on 32-bit vectors, if it is a 32-bit
    /// operation and every register source is a 32-bit vector or uniform.
    /// True when done.
    pub(super) fn exec_narrow(&mut self, launch: &BlockLaunch<'_>, pos: Unit, op: Op) -> bool {
        let n = pos.shape.lanes();
        // The sources of the operations handled here, or not handled.
        let srcs: [Option<Src>; 3] = match op {
            Op::Mov { ty, a, .. } if is_narrow(ty) => [Some(a), None, None],
            Op::Arith { ty, a, b, .. } | Op::Setp { ty, a, b, .. } if is_narrow(ty) => {
                [Some(a), Some(b), None]
            }
            Op::Div {
                op: DivOp::Div,
                ty: ScalarType::F32,
                a,
                b,
                ..
            } => [Some(a), Some(b), None],
            Op::Fma {
                ty: ScalarType::F32,
                a,
                b,
                c,
                ..
            } => [Some(a), Some(b), Some(c)],
            Op::Math {
                ty: FloatType::F32,
                a,
                ..
            } => [Some(a), None, None],
            _ => return false,
        };
        let mut plans = [Plan::Splat(0); 3];
        for (p, s) in plans.iter_mut().zip(srcs) {
            if let Some(s) = s {
                match self.plan(launch, pos, s) {
                    Some(x) => *p = x,
                    None => return false,
                }
            }
        }
        let mut out = std::mem::take(&mut self.scratch32);
        out.resize(n.div_ceil(2), 0);
        let BlockState {
            regs32,
            frozen32,
            preds,
            ..
        } = self;
        let [a, b, c] = plans.map(|p| view(regs32, frozen32, launch, p));
        let d = &mut lanes32_mut(&mut out)[..n];
        let dest = match op {
            Op::Mov { ty, d: r, .. } => {
                with_scalar_type!(ScalarType, ty, T => map1(d, a, on32!(T, |x| x)));
                Some((r, ty))
            }
            Op::Arith { op, ty, d: r, .. }
                if ty == ScalarType::F32 && op != ArithOp::Min && op != ArithOp::Max =>
            {
                match op {
                    ArithOp::Add => float2(d, a, b, |x, y| x + y, on32!(f32, |x, y| x.add(y))),
                    ArithOp::Sub => float2(d, a, b, |x, y| x - y, on32!(f32, |x, y| x.sub(y))),
                    _ => float2(d, a, b, |x, y| x * y, on32!(f32, |x, y| x.mul(y))),
                }
                Some((r, ty))
            }
            Op::Arith { op, ty, d: r, .. } => {
                with_scalar_type!(ScalarType, ty, T => match op {
                    ArithOp::Add => map2(d, a, b, on32!(T, |x, y| x.add(y))),
                    ArithOp::Sub => map2(d, a, b, on32!(T, |x, y| x.sub(y))),
                    ArithOp::Mul => map2(d, a, b, on32!(T, |x, y| x.mul(y))),
                    ArithOp::Min => map2(d, a, b, on32!(T, |x, y| Value::min(x, y))),
                    ArithOp::Max => map2(d, a, b, on32!(T, |x, y| Value::max(x, y))),
                });
                Some((r, ty))
            }
            Op::Div { d: r, .. } => {
                // Float division always has a value.
                let div = |x: f32, y: f32| Value::div(x, y).unwrap_or(0.0);
                float2(d, a, b, |x, y| x / y, on32!(f32, |x, y| div(x, y)));
                Some((r, ScalarType::F32))
            }
            Op::Fma { d: r, .. } => {
                float3(d, a, b, c, f32::mul_add, on32!(f32, |x, y, z| x.fma(y, z)));
                Some((r, ScalarType::F32))
            }
            Op::Math { op, d: r, .. } => {
                match op {
                    MathOp::Sqrt => map1(d, a, on32!(f32, |x| FloatValue::sqrt(x))),
                    MathOp::Rsqrt => map1(d, a, on32!(f32, |x| FloatValue::rsqrt(x))),
                    MathOp::Exp => map1(d, a, on32!(f32, |x| FloatValue::exp(x))),
                    MathOp::Exp2 => map1(d, a, on32!(f32, |x| FloatValue::exp2(x))),
                    MathOp::Log => map1(d, a, on32!(f32, |x| FloatValue::log(x))),
                    MathOp::Log2 => map1(d, a, on32!(f32, |x| FloatValue::log2(x))),
                    MathOp::Sin => map1(d, a, on32!(f32, |x| FloatValue::sin(x))),
                    MathOp::Cos => map1(d, a, on32!(f32, |x| FloatValue::cos(x))),
                    MathOp::Tanh => map1(d, a, on32!(f32, |x| FloatValue::tanh(x))),
                    MathOp::Floor => map1(d, a, on32!(f32, |x| FloatValue::floor(x))),
                    MathOp::Ceil => map1(d, a, on32!(f32, |x| FloatValue::ceil(x))),
                }
                Some((r, ScalarType::F32))
            }
            Op::Setp { cmp, ty, p, .. } => {
                // The shared `setp` loop on each lane's 32-bit value, widened
                // on the fly one chunk at a time.
                const CHUNK: usize = 256;
                let widen = |v: N32<'_>, buf: &mut [u64], at: usize| match v {
                    N32::Lanes(s) => {
                        for (o, &x) in buf.iter_mut().zip(&s[at..]) {
                            *o = x as u64;
                        }
                    }
                    N32::Splat(x) => buf.fill(x as u64),
                };
                let (mut xa, mut xb) = ([0u64; CHUNK], [0u64; CHUNK]);
                let pv = &mut preds[p as usize];
                for at in (0..n).step_by(CHUNK) {
                    let len = CHUNK.min(n - at);
                    widen(a, &mut xa[..len], at);
                    widen(b, &mut xb[..len], at);
                    alu::setp(
                        LaneSet::All(len),
                        cmp,
                        ty,
                        &mut pv[at..at + len],
                        View::Lanes(&xa[..len]),
                        View::Lanes(&xb[..len]),
                    );
                }
                None
            }
            _ => unreachable!("sources were planned for a handled operation"),
        };
        if let Some((r, ty)) = dest {
            let r = r as usize;
            std::mem::swap(&mut self.regs32[r], &mut out);
            self.narrow[r] = Some(ty == ScalarType::I32);
            self.frozen32[r] = None;
            self.aff[r] = None;
        }
        self.scratch32 = out;
        true
    }
}
