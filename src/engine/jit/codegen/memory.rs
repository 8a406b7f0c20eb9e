//! Loads, stores and atomics, each behind its bounds and alignment check.
//!
//! The check is emitted before the access and the access is only reachable
//! through the check's "in bounds" edge, so no load can move above it. A
//! failed check leaves through the fault block with the address register's
//! contents; the Rust side classifies the fault exactly as the reference
//! engine does (`check_lane_access`).

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{InstBuilder, MemFlagsData, Value, types};

use super::{FaultCall, Helper, LaneCode};
use crate::kernel::{Address, Op, Space, Src};

/// Emits a load, store or atomic (`pc` is its index).
pub(super) fn memory<'f>(g: &mut impl LaneCode<'f>, pc: usize, op: Op) {
    match op {
        Op::Load {
            space, ty, d, addr, ..
        } => {
            let p = checked_address(g, pc, space, addr, ty.size());
            let v = g
                .b()
                .ins()
                .load(super::values::clif(ty), MemFlagsData::trusted(), p, 0);
            g.write(d, ty, v);
        }
        Op::Store {
            space, ty, addr, a, ..
        } => {
            let p = checked_address(g, pc, space, addr, ty.size());
            let v = g.read(a, ty);
            g.b().ins().store(MemFlagsData::trusted(), v, p, 0);
        }
        Op::Atom {
            space,
            ty,
            d,
            addr,
            a,
            ..
        } => {
            let off = checked_offset(g, pc, space, addr, ty.scalar().size());
            let x = g.read_bits(a);
            let zero = g.b().ins().iconst(types::I64, 0);
            atomic(g, pc, d, off, x, zero);
        }
        Op::Cas {
            space,
            ty,
            d,
            addr,
            a,
            b,
        } => {
            let off = checked_offset(g, pc, space, addr, ty.scalar().size());
            let (x, y) = (g.read_bits(a), g.read_bits(b));
            atomic(g, pc, d, off, x, y);
        }
        _ => unreachable!("not a memory instruction: {op:?}"),
    }
}

fn atomic<'f>(
    g: &mut impl LaneCode<'f>,
    pc: usize,
    d: crate::kernel::Reg,
    off: Value,
    x: Value,
    y: Value,
) {
    let pc = g.b().ins().iconst(types::I32, pc as i64);
    let call = g.call_helper(Helper::Atomic, &[g.frame(), pc, off, x, y]);
    let old = g.b().inst_results(call)[0];
    g.write_bits(d, old);
}

/// The machine address of a checked access.
fn checked_address<'f>(
    g: &mut impl LaneCode<'f>,
    pc: usize,
    space: Space,
    addr: Address,
    size: usize,
) -> Value {
    let off = checked_offset(g, pc, space, addr, size);
    let base = g.memory_base(space, addr.buffer);
    g.b().ins().iadd(base, off)
}

fn checked_offset<'f>(
    g: &mut impl LaneCode<'f>,
    pc: usize,
    space: Space,
    addr: Address,
    size: usize,
) -> Value {
    let len = g.memory_len(space, addr.buffer);
    let reg = match addr.reg {
        Some(r) => g.read_bits(Src::Reg(r)),
        None => g.b().ins().iconst(types::I64, 0),
    };
    let mut bad = g.b().ins().iconst(types::I8, 0);
    let off = if addr.disp == 0 {
        reg
    } else {
        let disp = g.b().ins().iconst(types::I64, addr.disp as i64);
        let (off, over) = if addr.disp_negative {
            g.b().ins().usub_overflow(reg, disp)
        } else {
            g.b().ins().uadd_overflow(reg, disp)
        };
        bad = over;
        off
    };
    let size_v = g.b().ins().iconst(types::I64, size as i64);
    let (end, over) = g.b().ins().uadd_overflow(off, size_v);
    bad = g.b().ins().bor(bad, over);
    let past = g.b().ins().icmp(IntCC::UnsignedGreaterThan, end, len);
    bad = g.b().ins().bor(bad, past);
    if size > 1 {
        let low = g.b().ins().band_imm_s(off, size as i64 - 1);
        let mis = g.b().ins().icmp_imm_s(IntCC::NotEqual, low, 0);
        bad = g.b().ins().bor(bad, mis);
    }
    g.fault_if(bad, FaultCall::memory(pc, reg));
    off
}
