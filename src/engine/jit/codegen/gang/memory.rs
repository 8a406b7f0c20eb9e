//! Loads, stores and atomics across a gang.
//!
//! - A uniform address: one access (lane 0's), as the one-lane tier makes
//!   it, when some lane runs the instruction.
//! - Four lanes at consecutive elements (an affine address whose stride is
//!   the element size, or a varying one that turns out contiguous) and all
//!   four lanes running: one bounds and alignment check for the run, one
//!   vector access.
//! - Anything else (a lane that does not run, a strided or scattered
//!   address, a run that fails its check, narrow elements, atomics): lane by
//!   lane in `%laneid` order, each access behind its own check (the one-lane
//!   translation), so a failing check names the exact lane.

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{InstBuilder, MemFlagsData, Value, types};

use super::vector::{self, GVal, Vector, is_wide, vtype};
use super::{Gang, Mode};
use crate::engine::jit::codegen::LaneCode;
use crate::engine::jit::codegen::memory::{self, AccessCheck};
use crate::engine::jit::shape::{GANG, Shape};
use crate::kernel::{Address, Op, Space, Src};
use crate::types::ScalarType;

impl<'a> Gang<'a> {
    /// Emits a load, store or atomic; `run_bits` are the lanes that run it.
    pub(super) fn memory(&mut self, pc: usize, op: Op, run_bits: Value) {
        let lane_by_lane =
            |g: &mut Gang<'a>, pc: usize| memory::memory(g, pc, g.kernel.instrs[pc].op);
        let Some((space, ty, addr)) = access_of(op) else {
            // Atomics: lane by lane, in order.
            self.per_lane(pc, run_bits, true, lane_by_lane);
            return;
        };
        let shape = match addr.reg {
            None => Shape::Uniform,
            Some(r) => self.sh.read(Src::Reg(r), ScalarType::U64),
        };
        if shape == Shape::Uniform && matches!(op, Op::Load { .. }) {
            // One access for the gang, if any lane runs it (in the full
            // version, every lane does).
            let join = (!self.run_all).then(|| {
                let run = self.b.create_block();
                let join = self.b.create_block();
                self.b.ins().brif(run_bits, run, &[], join, &[]);
                self.b.switch_to_block(run);
                join
            });
            self.mode = Mode::Uniform;
            self.fault_bits = Some(run_bits);
            memory::memory(self, pc, op);
            self.fault_bits = None;
            if let Some(join) = join {
                self.b.ins().jump(join, &[]);
                self.b.switch_to_block(join);
            }
            return;
        }
        let contiguous = match shape {
            Shape::Affine(st) => st == ty.size() as i64,
            Shape::Varying => true,
            Shape::Uniform => false,
        };
        if !contiguous || ty.size() < 4 {
            self.per_lane(pc, run_bits, true, lane_by_lane);
            return;
        }
        // A run the block's checks cover: no test.
        if let Some(at) = self.proven_address(pc, space, addr) {
            self.vector_access(op, ty, at);
            return;
        }
        if self.full {
            self.full_access(pc, op, ty, space, addr, shape, run_bits);
            return;
        }
        // The vector path when all four lanes run and the run checks out,
        // lane by lane otherwise.
        let slow = self.b.create_block();
        let join = self.b.create_block();
        self.b.set_cold_block(slow);
        if !self.run_all {
            let all = self.b.ins().icmp_imm_s(IntCC::Equal, run_bits, 0xF);
            let fast = self.b.create_block();
            self.b.ins().brif(all, fast, &[], slow, &[]);
            self.b.switch_to_block(fast);
        }
        let Some(at) = self.run_address(space, addr, ty, shape, slow) else {
            // Unreachable in practice (contiguous shapes have a register).
            self.b.ins().jump(slow, &[]);
            self.b.switch_to_block(slow);
            self.per_lane(pc, run_bits, true, lane_by_lane);
            self.b.ins().jump(join, &[]);
            self.b.switch_to_block(join);
            return;
        };
        self.vector_access(op, ty, at);
        self.b.ins().jump(join, &[]);
        self.b.switch_to_block(slow);
        self.cold_path(|g| {
            g.per_lane(pc, run_bits, true, lane_by_lane);
            g.b.ins().jump(join, &[]);
        });
        self.b.switch_to_block(join);
    }

    /// A contiguous access in the full version: the vector path when all
    /// four lanes run it and the run checks out, nothing when no lane runs
    /// it, and otherwise (some lanes run it, or the check fails) the gang
    /// goes on in the general version at this instruction, which runs it
    /// lane by lane (`Gang::leave_full`): the full version carries no
    /// lane-by-lane code.
    #[allow(clippy::too_many_arguments)]
    fn full_access(
        &mut self,
        pc: usize,
        op: Op,
        ty: ScalarType,
        space: Space,
        addr: Address,
        shape: Shape,
        run_bits: Value,
    ) {
        let leave = self.b.create_block();
        let join = self.b.create_block();
        self.b.set_cold_block(leave);
        if !self.run_all {
            let all = self.b.ins().icmp_imm_s(IntCC::Equal, run_bits, 0xF);
            let (fast, not_all) = (self.b.create_block(), self.b.create_block());
            self.b.ins().brif(all, fast, &[], not_all, &[]);
            self.b.switch_to_block(not_all);
            self.b.ins().brif(run_bits, leave, &[], join, &[]);
            self.b.switch_to_block(fast);
        }
        match self.run_address(space, addr, ty, shape, leave) {
            Some(at) => {
                self.vector_access(op, ty, at);
                self.b.ins().jump(join, &[]);
            }
            // Unreachable in practice (contiguous shapes have a register).
            None => {
                self.b.ins().jump(leave, &[]);
            }
        }
        self.b.switch_to_block(leave);
        self.leave_full(pc);
        self.b.switch_to_block(join);
    }

    /// The vector load or store of four consecutive `ty` elements at
    /// machine address `at` (checked, or covered by the block's checks).
    fn vector_access(&mut self, op: Op, ty: ScalarType, at: Value) {
        let flags = MemFlagsData::new().with_notrap();
        match op {
            Op::Load { d, .. } => {
                let t = vtype(ty);
                let v = if is_wide(ty) {
                    let lo = self.b.ins().load(t, flags, at, 0);
                    let hi = self.b.ins().load(t, flags, at, 16);
                    Vector::Two(lo, hi)
                } else {
                    let v = self.b.ins().load(t, flags, at, 0);
                    Vector::One(v)
                };
                self.write_gval(d, ty, GVal::Vec(v));
            }
            Op::Store { a, .. } => {
                let v = self.gval(a, ty);
                match vector::materialize(&mut self.b, ty, v) {
                    Vector::One(x) => {
                        self.b.ins().store(flags, x, at, 0);
                    }
                    Vector::Two(lo, hi) => {
                        self.b.ins().store(flags, lo, at, 0);
                        self.b.ins().store(flags, hi, at, 16);
                    }
                }
            }
            _ => unreachable!("loads and stores only"),
        }
    }

    /// The machine address of four consecutive `ty` elements starting at
    /// lane 0's offset, after the checks that the lanes' offsets really are
    /// consecutive (varying addresses), that the run lies inside its memory
    /// and that it is aligned; a failed check goes to `slow`.
    fn run_address(
        &mut self,
        space: Space,
        addr: Address,
        ty: ScalarType,
        shape: Shape,
        slow: cranelift_codegen::ir::Block,
    ) -> Option<Value> {
        let r = addr.reg?;
        let size = ty.size() as i64;
        let reg = self.gval(Src::Reg(r), ScalarType::U64);
        let first = vector::lane_of(&mut self.b, ScalarType::U64, reg, 0);
        let mut bad = self.b.ins().iconst(types::I8, 0);
        if shape == Shape::Varying {
            // Consecutive lanes: lane k's register is lane 0's + k * size
            // (the displacement is the same for all).
            let v = vector::materialize(&mut self.b, ScalarType::U64, reg);
            let want = vector::affine(&mut self.b, ScalarType::U64, first, size);
            let (Vector::Two(vl, vh), Vector::Two(wl, wh)) = (v, want) else {
                return None;
            };
            let el = self.b.ins().icmp(IntCC::Equal, vl, wl);
            let eh = self.b.ins().icmp(IntCC::Equal, vh, wh);
            let m = vector::narrow_mask(&mut self.b, el, eh);
            let bits = vector::mask_to_bits(&mut self.b, m);
            bad = self.b.ins().icmp_imm_s(IntCC::NotEqual, bits, 0xF);
        }
        let off = self.run_check(space, addr, ty, GANG as u64, first, &mut bad);
        let ok = self.b.create_block();
        self.b.ins().brif(bad, slow, &[], ok, &[]);
        self.b.switch_to_block(ok);
        let base = self.memory_base(space, addr.buffer);
        Some(self.b.ins().iadd(base, off))
    }

    /// The offset of a run of `lanes` consecutive `ty` elements starting
    /// at `first` (lane 0's register value) plus `addr`'s displacement,
    /// setting `bad` unless the whole run lies inside its memory, aligned.
    pub(super) fn run_check(
        &mut self,
        space: Space,
        addr: Address,
        ty: ScalarType,
        lanes: u64,
        first: Value,
        bad: &mut Value,
    ) -> Value {
        let size = ty.size() as u64;
        let check = AccessCheck::new(self, space, addr, size, lanes * size);
        let off = check.offset(self, first, bad);
        check.bounds(self, off, bad);
        check.alignment(self, off, bad);
        off
    }
}

/// A load's or store's space, type and address (`None`: an atomic).
pub(super) fn access_of(op: Op) -> Option<(Space, ScalarType, Address)> {
    match op {
        Op::Load {
            space, ty, addr, ..
        }
        | Op::Store {
            space, ty, addr, ..
        } => Some((space, ty, addr)),
        _ => None,
    }
}
