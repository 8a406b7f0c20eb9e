//! Operands: registers in their [`Kind`], immediates, parameters and special
//! registers, read as a typed machine value and written back as docs/LANGUAGE.md's
//! 64-bit register contents.

use cranelift_codegen::ir::immediates::V128Imm;
use cranelift_codegen::ir::{ConstantData, InstBuilder, MemFlagsData, Type, Value, types};
use cranelift_frontend::FunctionBuilder;

use super::Translator;
use crate::engine::jit::analysis::Kind;
use crate::kernel::{Reg, Special, Src};
use crate::types::ScalarType;

/// The machine type of a LASM scalar type.
pub(super) fn clif(ty: ScalarType) -> Type {
    match ty {
        ScalarType::U8 | ScalarType::I8 => types::I8,
        ScalarType::U16 | ScalarType::I16 => types::I16,
        ScalarType::U32 | ScalarType::I32 => types::I32,
        ScalarType::U64 | ScalarType::I64 => types::I64,
        ScalarType::F32 => types::F32,
        ScalarType::F64 => types::F64,
    }
}

/// A 128-bit constant.
pub(super) fn vconst(b: &mut FunctionBuilder<'_>, ty: Type, bytes: [u8; 16]) -> Value {
    let c = b
        .func
        .dfg
        .constants
        .insert(ConstantData::from(V128Imm(bytes).to_vec()));
    b.ins().vconst(ty, c)
}

/// The machine type a register of kind `k` lives in.
pub(super) fn kind_type(k: Kind) -> Type {
    match k {
        Kind::I64 => types::I64,
        Kind::I32Zero | Kind::I32Sign => types::I32,
        Kind::F32 => types::F32,
        Kind::F64 => types::F64,
    }
}

/// `v`'s bits as type `to` (of the same width; vectors little-endian).
pub(super) fn bitcast(b: &mut FunctionBuilder<'_>, to: Type, v: Value) -> Value {
    if b.func.dfg.value_type(v) == to {
        return v;
    }
    let flags = if to.is_vector() {
        MemFlagsData::new().with_endianness(cranelift_codegen::ir::Endianness::Little)
    } else {
        MemFlagsData::new()
    };
    b.ins().bitcast(to, flags, v)
}

/// The 64-bit register contents of `v`, held in the form of `kind`.
pub(super) fn held_bits(b: &mut FunctionBuilder<'_>, v: Value, kind: Kind) -> Value {
    match kind {
        Kind::I64 => v,
        Kind::I32Zero => b.ins().uextend(types::I64, v),
        Kind::I32Sign => b.ins().sextend(types::I64, v),
        Kind::F32 => {
            let i = bitcast(b, types::I32, v);
            b.ins().uextend(types::I64, i)
        }
        Kind::F64 => bitcast(b, types::I64, v),
    }
}

/// The low 32 bits of `v`, held in the form of `kind`.
fn held_low32(b: &mut FunctionBuilder<'_>, v: Value, kind: Kind) -> Value {
    match kind {
        Kind::I32Zero | Kind::I32Sign => v,
        Kind::F32 => bitcast(b, types::I32, v),
        Kind::I64 => b.ins().ireduce(types::I32, v),
        Kind::F64 => {
            let i = bitcast(b, types::I64, v);
            b.ins().ireduce(types::I32, i)
        }
    }
}

/// `v`, held in the form of `kind`, read as `ty` (its low bits, docs/LANGUAGE.md
/// section 2).
pub(super) fn held_as(b: &mut FunctionBuilder<'_>, v: Value, kind: Kind, ty: ScalarType) -> Value {
    match (ty, kind) {
        (ScalarType::F32, Kind::F32) | (ScalarType::F64, Kind::F64) => v,
        (ScalarType::U64 | ScalarType::I64, _) => held_bits(b, v, kind),
        (ScalarType::F64, _) => {
            let bits = held_bits(b, v, kind);
            bitcast(b, types::F64, bits)
        }
        (ScalarType::F32, _) => {
            let low = held_low32(b, v, kind);
            bitcast(b, types::F32, low)
        }
        (ScalarType::U32 | ScalarType::I32, _) => held_low32(b, v, kind),
        (ScalarType::U8 | ScalarType::I8 | ScalarType::U16 | ScalarType::I16, _) => {
            let low = held_low32(b, v, kind);
            b.ins().ireduce(clif(ty), low)
        }
    }
}

/// 64-bit register contents read as `ty`.
pub(super) fn bits_as(b: &mut FunctionBuilder<'_>, bits: Value, ty: ScalarType) -> Value {
    match ty {
        ScalarType::U64 | ScalarType::I64 => bits,
        ScalarType::F64 => bitcast(b, types::F64, bits),
        ScalarType::F32 => {
            let low = b.ins().ireduce(types::I32, bits);
            bitcast(b, types::F32, low)
        }
        _ => b.ins().ireduce(clif(ty), bits),
    }
}

/// Register contents `bits` as a constant of type `ty`.
pub(super) fn constant(b: &mut FunctionBuilder<'_>, ty: ScalarType, bits: u64) -> Value {
    match ty {
        ScalarType::F32 => b.ins().f32const(f32::from_bits(bits as u32)),
        ScalarType::F64 => b.ins().f64const(f64::from_bits(bits)),
        _ => {
            let t = clif(ty);
            let mask = if t.bits() == 64 {
                u64::MAX
            } else {
                (1u64 << t.bits()) - 1
            };
            b.ins().iconst(t, (bits & mask) as i64)
        }
    }
}

/// A value of type `ty` in the form a register of kind `kind` holds it
/// (extended as docs/LANGUAGE.md section 3 says). The kind must fit `ty`'s writes
/// (`analysis` chose it so).
pub(super) fn to_held(b: &mut FunctionBuilder<'_>, kind: Kind, ty: ScalarType, v: Value) -> Value {
    match (kind, ty) {
        (Kind::F32, ScalarType::F32) | (Kind::F64, ScalarType::F64) => v,
        (Kind::I32Zero, ScalarType::F32) => bitcast(b, types::I32, v),
        (Kind::I32Zero | Kind::I32Sign, ScalarType::U32 | ScalarType::I32) => v,
        (Kind::I32Zero, ScalarType::U8 | ScalarType::U16) => b.ins().uextend(types::I32, v),
        (Kind::I32Sign, ScalarType::I8 | ScalarType::I16) => b.ins().sextend(types::I32, v),
        _ => {
            debug_assert_eq!(kind, Kind::I64, "{ty} written to a {kind:?} register");
            contents(b, ty, v)
        }
    }
}

/// The 64-bit register contents of a value of type `ty`.
pub(super) fn contents(b: &mut FunctionBuilder<'_>, ty: ScalarType, v: Value) -> Value {
    match ty {
        ScalarType::U64 | ScalarType::I64 => v,
        ScalarType::F64 => bitcast(b, types::I64, v),
        ScalarType::F32 => {
            let i = bitcast(b, types::I32, v);
            b.ins().uextend(types::I64, i)
        }
        ScalarType::U8 | ScalarType::U16 | ScalarType::U32 => b.ins().uextend(types::I64, v),
        ScalarType::I8 | ScalarType::I16 | ScalarType::I32 => b.ins().sextend(types::I64, v),
    }
}

/// 64-bit register contents in the form of `kind` (they must be the
/// contents of a value whose kind fits).
pub(super) fn bits_to_held(b: &mut FunctionBuilder<'_>, kind: Kind, bits: Value) -> Value {
    match kind {
        Kind::I64 => bits,
        Kind::I32Zero | Kind::I32Sign => b.ins().ireduce(types::I32, bits),
        Kind::F32 => {
            let low = b.ins().ireduce(types::I32, bits);
            bitcast(b, types::F32, low)
        }
        Kind::F64 => bitcast(b, types::F64, bits),
    }
}

/// A register's value when a lane starts: zero.
pub(super) fn zero_of(b: &mut FunctionBuilder<'_>, kind: Kind) -> Value {
    match kind {
        Kind::I64 => b.ins().iconst(types::I64, 0),
        Kind::I32Zero | Kind::I32Sign => b.ins().iconst(types::I32, 0),
        Kind::F32 => b.ins().f32const(0.0),
        Kind::F64 => b.ins().f64const(0.0),
    }
}

impl Translator<'_> {
    /// A register's 64-bit contents.
    pub(super) fn reg_bits(&mut self, r: Reg) -> Value {
        let (var, kind) = self.reg_var(r);
        let v = self.b.use_var(var);
        held_bits(&mut self.b, v, kind)
    }

    /// A register read as `ty` (its low bits, docs/LANGUAGE.md section 3).
    fn reg_as(&mut self, r: Reg, ty: ScalarType) -> Value {
        let (var, kind) = self.reg_var(r);
        let v = self.b.use_var(var);
        held_as(&mut self.b, v, kind, ty)
    }

    /// 64-bit register contents read as `ty`.
    pub(super) fn bits_as(&mut self, bits: Value, ty: ScalarType) -> Value {
        bits_as(&mut self.b, bits, ty)
    }

    /// A source operand read as `ty`.
    pub(super) fn read(&mut self, s: Src, ty: ScalarType) -> Value {
        match s {
            Src::Reg(r) => self.reg_as(r, ty),
            Src::Imm(v) => self.constant(ty, v),
            Src::Param(slot) => {
                let bits = self.scalar(slot);
                self.bits_as(bits, ty)
            }
            Src::Special(sp) => {
                let bits = self.special(sp);
                self.bits_as(bits, ty)
            }
        }
    }

    /// A source operand's 64-bit register contents.
    pub(super) fn read_bits(&mut self, s: Src) -> Value {
        match s {
            Src::Reg(r) => self.reg_bits(r),
            Src::Imm(v) => self.b.ins().iconst(types::I64, v as i64),
            Src::Param(slot) => self.scalar(slot),
            Src::Special(sp) => self.special(sp),
        }
    }

    /// Register contents `bits` as a constant of type `ty`.
    pub(super) fn constant(&mut self, ty: ScalarType, bits: u64) -> Value {
        constant(&mut self.b, ty, bits)
    }

    /// Writes a value of type `ty` (its machine type) to `d`, extended as
    /// docs/LANGUAGE.md section 3 says.
    pub(super) fn write(&mut self, d: Reg, ty: ScalarType, v: Value) {
        let (var, kind) = self.reg_var(d);
        let held = to_held(&mut self.b, kind, ty, v);
        self.b.def_var(var, held);
    }

    /// Writes 64-bit register contents (as a helper returns them) to `d`.
    /// They must be the contents of a value whose kind fits `d`'s.
    pub(super) fn write_bits(&mut self, d: Reg, bits: Value) {
        let (var, kind) = self.reg_var(d);
        let held = bits_to_held(&mut self.b, kind, bits);
        self.b.def_var(var, held);
    }

    /// A register's value when a lane starts: zero.
    pub(super) fn zero_of(&mut self, kind: Kind) -> Value {
        zero_of(&mut self.b, kind)
    }

    /// A special register's value in the current lane (as register
    /// contents: every special is an unsigned integer).
    pub(super) fn special(&mut self, s: Special) -> Value {
        let lane = self.b.use_var(self.lane);
        match s {
            Special::LaneId => lane,
            Special::Tid(a) => {
                let (x, y) = (self.shape.x as i64, self.shape.y as i64);
                if self.shape.y == 1 && self.shape.z == 1 {
                    return if a == 0 {
                        lane
                    } else {
                        self.b.ins().iconst(types::I64, 0)
                    };
                }
                match a {
                    0 => self.b.ins().urem_imm_s(lane, x),
                    1 => {
                        let q = self.b.ins().udiv_imm_s(lane, x);
                        self.b.ins().urem_imm_s(q, y)
                    }
                    _ => self.b.ins().udiv_imm_s(lane, x * y),
                }
            }
            Special::Ntid(a) => self.b.ins().iconst(types::I64, self.shape.get(a) as i64),
            Special::Ctaid(a) => self.b.use_var(self.ctaid[a as usize]),
            Special::Nctaid(a) => self.grid[a as usize],
            Special::Gid => {
                let base = self.b.use_var(self.gid_base);
                self.b.ins().iadd(base, lane)
            }
        }
    }

    /// A predicate's value (`I8`, 0 or 1).
    pub(super) fn pred(&mut self, p: u8) -> Value {
        let var = self.pred_var(p);
        self.b.use_var(var)
    }

    /// Sets a predicate from a comparison result (`I8`, 0 or 1).
    pub(super) fn set_pred(&mut self, p: u8, v: Value) {
        let var = self.pred_var(p);
        self.b.def_var(var, v);
    }
}
