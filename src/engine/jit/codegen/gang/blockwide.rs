//! The block's checks (`crate::engine::jit::blockwide`): computed once per
//! block, before its gangs, from the values of its gang 0.

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{InstBuilder, Value, types};

use super::memory::access_of;
use super::vector::{self, GVal};
use super::{Gang, Mode};
use crate::engine::jit::blockwide::Need;
use crate::engine::jit::codegen::LaneCode;
use crate::engine::jit::codegen::alu::{self, int_cc};
use crate::engine::jit::shape;
use crate::kernel::{Address, Op, Space, Src};
use crate::types::ScalarType;

impl<'a> Gang<'a> {
    /// Runs the checks' slice for gang 0 (block lane 0's values) and
    /// defines `proven`: every checked access of every lane of the block
    /// inside its memory and aligned, no lane taking a checked exit.
    pub(super) fn block_checks(&mut self) {
        let Some(checks) = self.checks.clone() else {
            return;
        };
        let zero = self.b.ins().iconst(types::I64, 0);
        self.b.def_var(self.gang, zero);
        let all = self.b.ins().iconst(types::I32, 0xF);
        self.b.def_var(self.mask, all);
        // Pure integer work on scalars: the one-lane translations.
        self.mode = Mode::Uniform;
        for &pc in &checks.slice {
            alu::alu(self, pc, self.kernel.instrs[pc].op);
        }
        let mut bad = self.b.ins().iconst(types::I8, 0);
        for (pc, _) in checks.access.iter().enumerate().filter(|(_, a)| **a) {
            if let Some((space, ty, addr)) = access_of(self.kernel.instrs[pc].op) {
                self.block_access(space, ty, addr, &mut bad);
            }
        }
        for e in checks.exit.iter().flatten() {
            let Op::Setp { cmp, ty, a, b, .. } = self.kernel.instrs[e.setp].op else {
                continue;
            };
            let cc = int_cc(cmp, ty.is_signed_int());
            let x = self.gval(a, ty);
            let y = self.gval(b, ty);
            let (x0, y0) = (
                vector::lane_of(&mut self.b, ty, x, 0),
                vector::lane_of(&mut self.b, ty, y, 0),
            );
            // The block's last lane: no lane wraps (`BlockChecks`).
            let k = self.lanes - 1;
            let x1 = self.b.ins().iadd_imm_s(x0, e.strides.0.wrapping_mul(k));
            let y1 = self.b.ins().iadd_imm_s(y0, e.strides.1.wrapping_mul(k));
            for (xk, yk) in [(x0, y0), (x1, y1)] {
                let holds = self.b.ins().icmp(cc, xk, yk);
                let taken = if e.negated {
                    self.b.ins().icmp_imm_s(IntCC::Equal, holds, 0)
                } else {
                    holds
                };
                bad = self.b.ins().bor(bad, taken);
            }
        }
        for w in &checks.wraps {
            self.block_no_wrap(*w, &mut bad);
        }
        let ok = self.b.ins().icmp_imm_s(IntCC::Equal, bad, 0);
        self.b.def_var(self.proven, ok);
    }

    /// Sets `bad` unless the run of the block's lanes from lane 0's offset
    /// (consecutive `ty` elements) lies inside its memory, aligned.
    fn block_access(&mut self, space: Space, ty: ScalarType, addr: Address, bad: &mut Value) {
        let Some(r) = addr.reg else {
            return;
        };
        let reg = self.gval(Src::Reg(r), ScalarType::U64);
        let first = vector::lane_of(&mut self.b, ScalarType::U64, reg, 0);
        self.run_check(space, addr, ty, self.lanes as u64, first, bad);
    }

    /// Sets `bad` unless the values of a 32-bit register along the block
    /// (lane 0's, extended as the register holds it, plus `k * stride`)
    /// all lie in its own type's range and in `w.ty`'s: the two ends do,
    /// and the values in between lie between them.
    fn block_no_wrap(&mut self, w: Need, bad: &mut Value) {
        let kind = self.an.kinds[w.reg as usize];
        let held = super::kind_scalar(kind);
        let v = LaneCode::read(self, Src::Reg(w.reg), held);
        let v = if held.is_signed_int() {
            self.b.ins().sextend(types::I64, v)
        } else {
            self.b.ins().uextend(types::I64, v)
        };
        let end = self
            .b
            .ins()
            .iadd_imm_s(v, w.stride.wrapping_mul(self.lanes - 1));
        let (lo_h, hi_h) = shape::type_range(held);
        let (lo_t, hi_t) = shape::type_range(w.ty);
        // Both within +-2^32 at most: i64 comparisons are exact.
        let lo = lo_h.max(lo_t) as i64;
        let hi = hi_h.min(hi_t) as i64;
        let (min, max) = if w.stride >= 0 { (v, end) } else { (end, v) };
        let below = self.b.ins().icmp_imm_s(IntCC::SignedLessThan, min, lo);
        let above = self.b.ins().icmp_imm_s(IntCC::SignedGreaterThan, max, hi);
        let out = self.b.ins().bor(below, above);
        *bad = self.b.ins().bor(*bad, out);
    }

    /// Whether the exit ending at `pc` is left out: the full version of a
    /// block whose checks showed no lane takes it.
    pub(super) fn proven_exit(&self, pc: usize) -> bool {
        self.full
            && self
                .checks
                .as_ref()
                .is_some_and(|c| c.exit_at(pc).is_some())
    }

    /// The machine address of the gang's run for the access at `pc`, when
    /// the block's checks cover it (every lane of the gang runs it, in the
    /// full version): lane 0's offset, unchecked.
    pub(super) fn proven_address(
        &mut self,
        pc: usize,
        space: Space,
        addr: Address,
    ) -> Option<Value> {
        if !self.run_all || !self.checks.as_ref().is_some_and(|c| c.access[pc]) {
            return None;
        }
        let r = addr.reg?;
        let reg = self.gval(Src::Reg(r), ScalarType::U64);
        let first = match reg {
            GVal::Aff(base, _) => base,
            other => vector::lane_of(&mut self.b, ScalarType::U64, other, 0),
        };
        // The block's check found no displacement overflow.
        let off = if addr.disp == 0 {
            first
        } else if addr.disp_negative {
            self.b
                .ins()
                .iadd_imm_s(first, (addr.disp as i64).wrapping_neg())
        } else {
            self.b.ins().iadd_imm_s(first, addr.disp as i64)
        };
        let base = self.memory_base(space, addr.buffer);
        Some(self.b.ins().iadd(base, off))
    }
}
