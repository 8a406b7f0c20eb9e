//! Loads, stores and atomics, each behind its bounds and alignment check.
//!
//! The check is emitted before the access and the access is only reachable
//! through the check's "in bounds" edge, so no load can move above it. A
//! failed check leaves through the fault block with the address register's
//! contents; the Rust side classifies the fault exactly as the reference
//! engine does (`check_lane_access`).

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{InstBuilder, MemFlagsData, Value, types};

use super::{FaultCall, Helper, Translator};
use crate::kernel::{Address, Op, Space};

impl Translator<'_> {
    /// Emits a load, store or atomic (`pc` is its index).
    pub(super) fn memory(&mut self, pc: usize, op: Op) {
        match op {
            Op::Load {
                space, ty, d, addr, ..
            } => {
                let p = self.checked_address(pc, space, addr, ty.size());
                let v = self
                    .b
                    .ins()
                    .load(super::values::clif(ty), MemFlagsData::trusted(), p, 0);
                self.write(d, ty, v);
            }
            Op::Store {
                space, ty, addr, a, ..
            } => {
                let p = self.checked_address(pc, space, addr, ty.size());
                let v = self.read(a, ty);
                self.b.ins().store(MemFlagsData::trusted(), v, p, 0);
            }
            Op::Atom {
                space,
                ty,
                d,
                addr,
                a,
                ..
            } => {
                let off = self.checked_offset(pc, space, addr, ty.scalar().size());
                let x = self.read_bits(a);
                let zero = self.b.ins().iconst(types::I64, 0);
                self.atomic(pc, d, off, x, zero);
            }
            Op::Cas {
                space,
                ty,
                d,
                addr,
                a,
                b,
            } => {
                let off = self.checked_offset(pc, space, addr, ty.scalar().size());
                let (x, y) = (self.read_bits(a), self.read_bits(b));
                self.atomic(pc, d, off, x, y);
            }
            _ => unreachable!("not a memory instruction: {op:?}"),
        }
    }

    fn atomic(&mut self, pc: usize, d: crate::kernel::Reg, off: Value, x: Value, y: Value) {
        let pc = self.b.ins().iconst(types::I32, pc as i64);
        let call = self.call_helper(Helper::Atomic, &[self.frame, pc, off, x, y]);
        let old = self.b.inst_results(call)[0];
        self.write_bits(d, old);
    }

    /// The machine address of a checked access.
    fn checked_address(&mut self, pc: usize, space: Space, addr: Address, size: usize) -> Value {
        let off = self.checked_offset(pc, space, addr, size);
        let base = self.memory_base(space, addr.buffer);
        self.b.ins().iadd(base, off)
    }

    fn memory_base(&mut self, space: Space, slot: u16) -> Value {
        match space {
            Space::Global => self.buffer_ptr(slot),
            Space::Shared => self.shared,
        }
    }

    /// The byte offset of an access, after the check that it lies inside
    /// its memory and is aligned: `reg ± disp` must not leave `u64`, the
    /// access must end within the length, and the offset must be a
    /// multiple of `size`.
    fn checked_offset(&mut self, pc: usize, space: Space, addr: Address, size: usize) -> Value {
        let len = match space {
            Space::Global => self.buffer_len(addr.buffer),
            Space::Shared => self
                .b
                .ins()
                .iconst(types::I64, self.kernel.shared_bytes as i64),
        };
        let reg = match addr.reg {
            Some(r) => self.reg_bits(r),
            None => self.b.ins().iconst(types::I64, 0),
        };
        let mut bad = self.b.ins().iconst(types::I8, 0);
        let off = if addr.disp == 0 {
            reg
        } else {
            let disp = self.b.ins().iconst(types::I64, addr.disp as i64);
            let (off, over) = if addr.disp_negative {
                self.b.ins().usub_overflow(reg, disp)
            } else {
                self.b.ins().uadd_overflow(reg, disp)
            };
            bad = over;
            off
        };
        let size_v = self.b.ins().iconst(types::I64, size as i64);
        let (end, over) = self.b.ins().uadd_overflow(off, size_v);
        bad = self.b.ins().bor(bad, over);
        let past = self.b.ins().icmp(IntCC::UnsignedGreaterThan, end, len);
        bad = self.b.ins().bor(bad, past);
        if size > 1 {
            let low = self.b.ins().band_imm_s(off, size as i64 - 1);
            let mis = self.b.ins().icmp_imm_s(IntCC::NotEqual, low, 0);
            bad = self.b.ins().bor(bad, mis);
        }
        self.fault_if(bad, FaultCall::memory(pc, reg));
        off
    }
}
