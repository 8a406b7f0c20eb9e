//! The float functions lanes computes by its own algorithms
//! (`exec::functions`: `exp`, `exp2`, `log`, `log2`, `tanh`, and `sin` and
//! `cos` up to a bound) as machine code: the
//! interpreters' algorithm itself, run with an [`Ops`] that emits each
//! operation on one lane
//! (`F32`, `F64`: the one-lane tier, and uniform values on the gang tier)
//! or on a vector of lanes (`F32X4`, `F64X2`). Each operation is exact or
//! correctly rounded, so the code gives the interpreters' bits; NaN
//! results come from the algorithm's explicit test, not from the
//! hardware's rule, so no check follows elsewhere than x86 either.

use cranelift_codegen::ir::condcodes::FloatCC;
use cranelift_codegen::ir::{InstBuilder, Type, Value, types};
use cranelift_frontend::FunctionBuilder;

use super::values::{bitcast, vconst};
use crate::exec::functions::{self, Ops};
use crate::kernel::MathOp;

/// Whether lanes computes `op` by its own algorithm (inline code; the
/// others are calls of the interpreters' libm functions). `sin` and `cos`
/// only up to [`functions::trig_bound`]: see [`Emit::in_bound`].
pub(super) fn is_own(op: MathOp) -> bool {
    matches!(
        op,
        MathOp::Exp
            | MathOp::Exp2
            | MathOp::Log
            | MathOp::Log2
            | MathOp::Tanh
            | MathOp::Sin
            | MathOp::Cos
    )
}

/// Whether lanes' own algorithm for `op` holds only up to a bound
/// ([`functions::trig_bound`]): past it, and for infinities and NaN, the
/// interpreters call libm, and so must compiled code (the `eval` helper).
pub(super) fn is_bounded(op: MathOp) -> bool {
    matches!(op, MathOp::Sin | MathOp::Cos)
}

/// [`Ops`] emitting Cranelift instructions on floats of type `ty`.
pub(super) struct Emit<'a, 'f> {
    b: &'a mut FunctionBuilder<'f>,
    /// `F32`, `F64`, `F32X4` or `F64X2`.
    ty: Type,
}

impl<'a, 'f> Emit<'a, 'f> {
    pub(super) fn new(b: &'a mut FunctionBuilder<'f>, ty: Type) -> Self {
        debug_assert!(matches!(
            ty,
            types::F32 | types::F64 | types::F32X4 | types::F64X2
        ));
        Emit { b, ty }
    }

    /// `op` of `x`, for an `op` that [`is_own`].
    pub(super) fn function(&mut self, op: MathOp, x: Value) -> Value {
        match op {
            MathOp::Exp => functions::exp(self, x),
            MathOp::Exp2 => functions::exp2(self, x),
            MathOp::Log => functions::log(self, x),
            MathOp::Log2 => functions::log2(self, x),
            MathOp::Tanh => functions::tanh(self, x),
            MathOp::Sin => functions::sin(self, x),
            MathOp::Cos => functions::cos(self, x),
            _ => unreachable!("{op:?} is not computed by lanes' own algorithm"),
        }
    }

    /// Where `|x|` is at most [`functions::trig_bound`] (false for
    /// infinities and NaN), as `fcmp` gives it: lanes' own `sin` and
    /// `cos` hold there.
    pub(super) fn in_bound(&mut self, x: Value) -> Value {
        let a = self.b.ins().fabs(x);
        let bound = self.float(functions::trig_bound(self.wide()));
        self.b.ins().fcmp(FloatCC::LessThanOrEqual, a, bound)
    }

    /// The integer type as wide as `ty`.
    fn int_ty(&self) -> Type {
        match self.ty {
            types::F32 => types::I32,
            types::F64 => types::I64,
            types::F32X4 => types::I32X4,
            _ => types::I64X2,
        }
    }

    /// `a` where `cond` holds, else `b` (`cond` as `fcmp` gives it).
    fn select(&mut self, cond: Value, a: Value, b: Value) -> Value {
        if self.ty.is_vector() {
            let m = bitcast(self.b, self.ty, cond);
            self.b.ins().bitselect(m, a, b)
        } else {
            self.b.ins().select(cond, a, b)
        }
    }

    /// A vector of `lanes` copies of the little-endian `bytes`.
    fn repeat(&mut self, ty: Type, bytes: &[u8]) -> Value {
        let mut v = [0u8; 16];
        for chunk in v.chunks_mut(bytes.len()) {
            chunk.copy_from_slice(bytes);
        }
        vconst(self.b, ty, v)
    }
}

impl Ops for Emit<'_, '_> {
    type F = Value;
    type I = Value;

    fn wide(&self) -> bool {
        self.ty.lane_type() == types::F64
    }

    fn float(&mut self, c: f64) -> Value {
        match self.ty {
            types::F32 => self.b.ins().f32const(c as f32),
            types::F64 => self.b.ins().f64const(c),
            types::F32X4 => self.repeat(types::F32X4, &(c as f32).to_le_bytes()),
            _ => self.repeat(types::F64X2, &c.to_le_bytes()),
        }
    }

    fn int(&mut self, c: i64) -> Value {
        match self.int_ty() {
            // Cranelift wants a narrow constant's upper bits clear.
            types::I32 => self.b.ins().iconst(types::I32, c as i32 as u32 as i64),
            types::I64 => self.b.ins().iconst(types::I64, c),
            types::I32X4 => self.repeat(types::I32X4, &(c as i32).to_le_bytes()),
            _ => self.repeat(types::I64X2, &c.to_le_bytes()),
        }
    }

    fn add(&mut self, a: Value, b: Value) -> Value {
        self.b.ins().fadd(a, b)
    }

    fn sub(&mut self, a: Value, b: Value) -> Value {
        self.b.ins().fsub(a, b)
    }

    fn mul(&mut self, a: Value, b: Value) -> Value {
        self.b.ins().fmul(a, b)
    }

    fn div(&mut self, a: Value, b: Value) -> Value {
        self.b.ins().fdiv(a, b)
    }

    fn clamp(&mut self, x: Value, lo: Value, hi: Value) -> Value {
        let below = self.b.ins().fcmp(FloatCC::LessThan, x, lo);
        let x = self.select(below, lo, x);
        let above = self.b.ins().fcmp(FloatCC::GreaterThan, x, hi);
        self.select(above, hi, x)
    }

    fn select_lt(&mut self, a: Value, b: Value, then: Value, other: Value) -> Value {
        let lt = self.b.ins().fcmp(FloatCC::LessThan, a, b);
        self.select(lt, then, other)
    }

    fn abs(&mut self, x: Value) -> Value {
        self.b.ins().fabs(x)
    }

    fn neg(&mut self, x: Value) -> Value {
        self.b.ins().fneg(x)
    }

    fn bits(&mut self, x: Value) -> Value {
        let t = self.int_ty();
        bitcast(self.b, t, x)
    }

    fn float_of(&mut self, i: Value) -> Value {
        bitcast(self.b, self.ty, i)
    }

    fn and(&mut self, a: Value, b: Value) -> Value {
        self.b.ins().band(a, b)
    }

    fn or(&mut self, a: Value, b: Value) -> Value {
        self.b.ins().bor(a, b)
    }

    fn xor(&mut self, a: Value, b: Value) -> Value {
        self.b.ins().bxor(a, b)
    }

    fn iadd(&mut self, a: Value, b: Value) -> Value {
        self.b.ins().iadd(a, b)
    }

    fn isub(&mut self, a: Value, b: Value) -> Value {
        self.b.ins().isub(a, b)
    }

    fn shl(&mut self, a: Value, n: u32) -> Value {
        self.b.ins().ishl_imm_s(a, i64::from(n))
    }

    fn sshr(&mut self, a: Value, n: u32) -> Value {
        self.b.ins().sshr_imm_s(a, i64::from(n))
    }

    fn nan_or(&mut self, x: Value, r: Value) -> Value {
        let nan = self.b.ins().fcmp(FloatCC::Unordered, x, x);
        let quiet = self.int(functions::nan_bits(self.wide()).0);
        let xb = self.bits(x);
        let q = self.or(xb, quiet);
        let q = self.float_of(q);
        self.select(nan, q, r)
    }
}
