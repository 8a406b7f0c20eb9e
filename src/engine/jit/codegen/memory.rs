//! Loads, stores and atomics, each behind its bounds and alignment check.
//!
//! The check is emitted before the access and the access is only reachable
//! through the check's "in bounds" edge, so no load can move above it. A
//! failed check leaves through the fault block with the address register's
//! contents; the Rust side classifies the fault exactly as the reference
//! engine does (`check_lane_access`).

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{AtomicRmwOp, BlockArg, InstBuilder, MemFlagsData, Value, types};
use cranelift_frontend::FunctionBuilder;

use super::values::{bits_as, clif, contents, vconst};
use super::{FaultCall, LaneCode};
use crate::kernel::{Address, ArithOp, AtomOp, Op, Space, Src};
use crate::types::ScalarType;

/// Emits a load, store or atomic (`pc` is its index).
pub(super) fn memory<'f>(g: &mut impl LaneCode<'f>, pc: usize, op: Op) {
    match op {
        Op::Load {
            space, ty, d, addr, ..
        } => {
            let p = checked_address(g, pc, space, addr, ty.size());
            let v = g.b().ins().load(clif(ty), MemFlagsData::trusted(), p, 0);
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
            op,
        } => {
            let ty = ty.scalar();
            let p = checked_address(g, pc, space, addr, ty.size());
            let x = g.read_bits(a);
            let old = match inline_rmw(op, ty) {
                Some(rmw) => {
                    let t = bits_of(ty);
                    let x = bits_as(g.b(), x, t);
                    let flags = MemFlagsData::trusted();
                    let old = g.b().ins().atomic_rmw(clif(t), flags, rmw, p, x);
                    contents(g.b(), t, old)
                }
                None => float_rmw(g, op, ty, p, x),
            };
            g.write_bits(d, old);
        }
        Op::Cas {
            space,
            ty,
            d,
            addr,
            a,
            b,
        } => {
            let ty = ty.scalar();
            let p = checked_address(g, pc, space, addr, ty.size());
            let (x, y) = (g.read_bits(a), g.read_bits(b));
            let (x, y) = (bits_as(g.b(), x, ty), bits_as(g.b(), y, ty));
            let old = g.b().ins().atomic_cas(MemFlagsData::trusted(), p, x, y);
            let old = contents(g.b(), ty, old);
            g.write_bits(d, old);
        }
        _ => unreachable!("not a memory instruction: {op:?}"),
    }
}

/// The read-modify-write instruction that does `atom.OP.T` where the
/// machine has one: every integer operation, and `exch` of any type (a
/// swap of bits). `add`, `min` and `max` of floats follow the language's
/// NaN and signed-zero rules: a compare-and-swap loop ([`float_rmw`]).
fn inline_rmw(op: AtomOp, ty: ScalarType) -> Option<AtomicRmwOp> {
    let signed = ty.is_signed_int();
    Some(match op {
        AtomOp::Exch => AtomicRmwOp::Xchg,
        _ if ty.is_float() => return None,
        AtomOp::Add => AtomicRmwOp::Add,
        AtomOp::Min if signed => AtomicRmwOp::Smin,
        AtomOp::Min => AtomicRmwOp::Umin,
        AtomOp::Max if signed => AtomicRmwOp::Smax,
        AtomOp::Max => AtomicRmwOp::Umax,
    })
}

/// `atom.add`, `atom.min` or `atom.max` of floats at `p`: a
/// compare-and-swap loop around the operation as `arith` computes it
/// (NaN and signed-zero rules included). Returns the old value as
/// register contents.
fn float_rmw<'f>(
    g: &mut impl LaneCode<'f>,
    op: AtomOp,
    ty: ScalarType,
    p: Value,
    a: Value,
) -> Value {
    let (t, f) = (bits_of(ty), clif(ty));
    let w = clif(t);
    let flags = MemFlagsData::trusted();
    let a = bits_as(g.b(), a, ty);
    let first = g.b().ins().atomic_load(w, flags, p);
    let (head, done) = (g.b().create_block(), g.b().create_block());
    let old = g.b().append_block_param(head, w);
    let result = g.b().append_block_param(done, w);
    g.b().ins().jump(head, &[BlockArg::Value(first)]);
    g.b().switch_to_block(head);
    let x = g.b().ins().bitcast(f, MemFlagsData::new(), old);
    let r = match op {
        AtomOp::Add => super::alu::float_add(g, ty, x, a),
        AtomOp::Min => super::alu::float_min_max(g, ArithOp::Min, ty, x, a),
        _ => super::alu::float_min_max(g, ArithOp::Max, ty, x, a),
    };
    let new = g.b().ins().bitcast(w, MemFlagsData::new(), r);
    let got = g.b().ins().atomic_cas(flags, p, old, new);
    let same = g.b().ins().icmp(IntCC::Equal, got, old);
    g.b().ins().brif(
        same,
        done,
        &[BlockArg::Value(got)],
        head,
        &[BlockArg::Value(got)],
    );
    g.b().switch_to_block(done);
    contents(g.b(), t, result)
}

/// The integer type an atomic of `ty` works on: `ty` itself, or for a
/// float the unsigned type of its size (its bits, zero-extended in a
/// register like the float's).
fn bits_of(ty: ScalarType) -> ScalarType {
    match ty {
        ScalarType::F32 => ScalarType::U32,
        ScalarType::F64 => ScalarType::U64,
        t => t,
    }
}

/// Zeroes a block's `bytes` bytes of shared memory at `shared` with
/// inline stores, as every block starts (the language's rule). A call
/// (`write_bytes`) cost about as many instructions, but a call clobbers
/// every vector register: values live across the block loop were spilled
/// around it, and the register allocator's split ranges reloaded and
/// stored them on every trip of the gang loops inside.
pub(super) fn zero_shared(b: &mut FunctionBuilder<'_>, shared: Value, bytes: u32) {
    let bytes = i64::from(bytes);
    let flags = MemFlagsData::new().with_notrap();
    let z = vconst(b, types::I8X16, [0; 16]);
    let chunks = bytes / 64;
    if chunks > 0 {
        let (head, done) = (b.create_block(), b.create_block());
        let off = b.append_block_param(head, types::I64);
        let first = b.ins().iconst(types::I64, 0);
        b.ins().jump(head, &[BlockArg::Value(first)]);
        b.switch_to_block(head);
        let at = b.ins().iadd(shared, off);
        for k in 0..4 {
            b.ins().store(flags, z, at, 16 * k);
        }
        let next = b.ins().iadd_imm_s(off, 64);
        let more = b
            .ins()
            .icmp_imm_s(IntCC::UnsignedLessThan, next, chunks * 64);
        b.ins()
            .brif(more, head, &[BlockArg::Value(next)], done, &[]);
        b.switch_to_block(done);
    }
    let mut at = chunks * 64;
    while at < bytes {
        let (v, size) = match bytes - at {
            16.. => (z, 16),
            8.. => (b.ins().iconst(types::I64, 0), 8),
            4.. => (b.ins().iconst(types::I32, 0), 4),
            _ => (b.ins().iconst(types::I8, 0), 1),
        };
        b.ins().store(flags, v, shared, at as i32);
        at += size;
    }
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
