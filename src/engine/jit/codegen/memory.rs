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
    let reg = match addr.reg {
        Some(r) => g.read_bits(Src::Reg(r)),
        None => g.b().ins().iconst(types::I64, 0),
    };
    let check = AccessCheck::of(g, space, addr, size as u64);
    let mut bad = g.b().ins().iconst(types::I8, 0);
    let off = check.offset(g, reg, &mut bad);
    check.bounds(g, off, &mut bad);
    check.alignment(g, off, &mut bad);
    g.fault_if(bad, FaultCall::memory(pc, reg));
    off
}

/// Which parts of a bounds and alignment check an access needs, from what
/// is known of its address register's values: `reg ± disp` cannot leave
/// `0..2^64` when the register's range says so, the access cannot leave
/// shared memory (whose size the kernel fixes) when the range and the
/// displacement keep every lane's element inside it, and the offset is
/// aligned when the register's known low zero bits and the displacement
/// say so.
#[derive(Clone, Copy, Debug)]
pub(super) struct AccessCheck {
    space: Space,
    addr: Address,
    /// Bytes the access (or run of accesses) spans from its offset.
    span: u64,
    /// Element size: the offset must be a multiple.
    size: u64,
    may_overflow: bool,
    /// The access may leave its memory: always for a buffer, whose length
    /// is the launch's.
    may_leave: bool,
    may_misalign: bool,
}

impl AccessCheck {
    /// The check of an access spanning `span` bytes of `size`-byte
    /// elements at `addr` in `space`: one lane's element, or a run of
    /// consecutive lanes' elements (each lane's register within the
    /// register's range, as every lane that exists has it).
    pub(super) fn new<'f>(
        g: &impl LaneCode<'f>,
        space: Space,
        addr: Address,
        size: u64,
        span: u64,
    ) -> AccessCheck {
        let (range, zeros) = match addr.reg {
            Some(r) => g.address_facts(r),
            None => (Some((0, 0)), 64),
        };
        let d = if addr.disp_negative {
            -(addr.disp as i128)
        } else {
            addr.disp as i128
        };
        let may_overflow =
            !range.is_some_and(|(lo, hi)| lo + d >= 0 && hi + d + span as i128 <= u64::MAX as i128);
        // Every lane's element `[reg + d, reg + d + size)` inside `0..len`,
        // so the run of consecutive ones too.
        let may_leave = match (space, range) {
            (Space::Shared, Some((lo, hi))) => {
                !(lo + d >= 0 && hi + d + size as i128 <= g.shared_bytes() as i128)
            }
            _ => true,
        };
        let may_misalign = size > 1 && (zeros < size.trailing_zeros() || addr.disp % size != 0);
        AccessCheck {
            space,
            addr,
            span,
            size,
            may_overflow,
            may_leave,
            may_misalign,
        }
    }

    fn of<'f>(g: &impl LaneCode<'f>, space: Space, addr: Address, size: u64) -> AccessCheck {
        AccessCheck::new(g, space, addr, size, size)
    }

    /// `reg ± disp`, setting `bad` if it leaves `u64`.
    pub(super) fn offset<'f>(
        &self,
        g: &mut impl LaneCode<'f>,
        reg: Value,
        bad: &mut Value,
    ) -> Value {
        let a = self.addr;
        if a.disp == 0 {
            return reg;
        }
        let disp = g.b().ins().iconst(types::I64, a.disp as i64);
        if !self.may_overflow {
            return if a.disp_negative {
                g.b().ins().isub(reg, disp)
            } else {
                g.b().ins().iadd(reg, disp)
            };
        }
        let (off, over) = if a.disp_negative {
            g.b().ins().usub_overflow(reg, disp)
        } else {
            g.b().ins().uadd_overflow(reg, disp)
        };
        *bad = g.b().ins().bor(*bad, over);
        off
    }

    /// Sets `bad` unless `off .. off + span` lies inside the memory
    /// (nothing to test where it cannot leave it).
    pub(super) fn bounds<'f>(&self, g: &mut impl LaneCode<'f>, off: Value, bad: &mut Value) {
        if !self.may_leave {
            return;
        }
        let span = g.b().ins().iconst(types::I64, self.span as i64);
        let end = if self.may_overflow {
            let (end, over) = g.b().ins().uadd_overflow(off, span);
            *bad = g.b().ins().bor(*bad, over);
            end
        } else {
            g.b().ins().iadd(off, span)
        };
        let len = g.memory_len(self.space, self.addr.buffer);
        let past = g.b().ins().icmp(IntCC::UnsignedGreaterThan, end, len);
        *bad = g.b().ins().bor(*bad, past);
    }

    /// Sets `bad` if `off` is not a multiple of the element size.
    pub(super) fn alignment<'f>(&self, g: &mut impl LaneCode<'f>, off: Value, bad: &mut Value) {
        if self.may_misalign {
            let low = g.b().ins().band_imm_s(off, self.size as i64 - 1);
            let mis = g.b().ins().icmp_imm_s(IntCC::NotEqual, low, 0);
            *bad = g.b().ins().bor(*bad, mis);
        }
    }
}
