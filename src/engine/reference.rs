//! The reference interpreter: the oracle every faster engine is checked
//! against.
//!
//! It runs blocks one after another in linear order, and inside a block each
//! lane on its own until the lane exits or waits at a `bar.sync`; when every
//! lane that has not exited waits, all of them are released (docs/LANGUAGE.md section 6).
//! Lanes run in `%laneid` order. The first fault stops the launch. It is
//! single-threaded and deliberately simple: no cleverness to get wrong.
//!
//! Step counting: every instruction a lane's pc reaches counts as one step,
//! including instructions whose guard is false; running past the end does not
//! count. The step that would exceed the budget faults.
//!
//! Stopping: the launch's stop flag is read before each block and whenever
//! a lane takes a backward branch; once set, the current block and the rest
//! are recorded as unfinished and the run returns.

use crate::engine::{LaunchSpec, special_value};
use crate::exec::{arith, atomic, bits, compare, convert, math};
use crate::kernel::{Address, Instr, NUM_REGS, Op, Space, Src};
use crate::launch::{Dim3, Fault, FaultKind};
use crate::memory::{AccessError, ByteMemory, SharedMemory};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    Running,
    AtBarrier,
    Exited,
}

/// One lane's state.
pub(crate) struct Lane {
    /// Register contents.
    pub(crate) regs: Box<[u64; NUM_REGS]>,
    /// Predicate bits.
    pub(crate) preds: u16,
    /// The next instruction.
    pub(crate) pc: usize,
    /// Steps taken.
    pub(crate) steps: u64,
    status: Status,
}

impl Lane {
    /// A lane at `pc` with these registers, predicates and steps.
    pub(crate) fn at(regs: Box<[u64; NUM_REGS]>, preds: u16, pc: usize, steps: u64) -> Lane {
        Lane {
            regs,
            preds,
            pc,
            steps,
            status: Status::Running,
        }
    }
}

/// What stopped a lane.
pub(crate) enum Stop {
    /// It waits at the `bar.sync` at its pc.
    Barrier,
    /// It exited.
    Exit,
    /// The launch's stop flag was set.
    Halted,
}

/// Where a block runs: its coordinates and its shared memory.
pub(crate) struct BlockCtx<'a> {
    /// The launch.
    pub(crate) spec: &'a LaunchSpec<'a>,
    /// `%ctaid`.
    pub(crate) ctaid: Dim3,
    /// The block's linear index.
    pub(crate) linear_block: u64,
    /// The block's shared memory.
    pub(crate) shared: &'a dyn ByteMemory,
}

/// What kind of global memory access a [`Trace`] is told of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccessKind {
    /// `ld.global`.
    Load,
    /// `st.global`.
    Store,
    /// `atom.global` or `atom.global.cas` (reads and writes).
    Update,
}

/// Told of every global memory access a traced run makes, after its
/// bounds check passed ([`run_blocks_traced`]; the distributed runtime's
/// per-byte check). The ordinary run uses a trace that does nothing,
/// which the compiler removes: tracing costs nothing when it is off.
pub trait Trace {
    /// Lane `laneid` of linear block `block` accessed `size` bytes at
    /// `offset` of the buffer bound to slot `slot`.
    fn global(
        &mut self,
        block: u64,
        laneid: u32,
        slot: u16,
        offset: usize,
        size: usize,
        kind: AccessKind,
    );
}

/// The trace of an ordinary run: nothing.
struct NoTrace;

impl Trace for NoTrace {
    #[inline(always)]
    fn global(&mut self, _: u64, _: u32, _: u16, _: usize, _: usize, _: AccessKind) {}
}

/// Runs a whole launch on the calling thread.
pub fn run(spec: &LaunchSpec<'_>) -> Result<(), Box<Fault>> {
    run_blocks(spec, 0..spec.block_count())
}

/// Runs the linear blocks `range` of a launch on the calling thread.
pub fn run_blocks(spec: &LaunchSpec<'_>, range: std::ops::Range<u64>) -> Result<(), Box<Fault>> {
    run_blocks_traced(spec, range, &mut NoTrace)
}

/// [`run_blocks`], telling `trace` of every global memory access.
pub fn run_blocks_traced<T: Trace>(
    spec: &LaunchSpec<'_>,
    range: std::ops::Range<u64>,
    trace: &mut T,
) -> Result<(), Box<Fault>> {
    // Registers the buffers it writes; reads stay atomic (no freeze).
    let _access = super::BufferAccess::acquire(spec, false);
    let lanes_per_block = spec.lanes_per_block();
    let mut lanes: Vec<Lane> = (0..lanes_per_block)
        .map(|_| Lane {
            regs: Box::new([0; NUM_REGS]),
            preds: 0,
            pc: 0,
            steps: 0,
            status: Status::Running,
        })
        .collect();
    let mut shared = SharedMemory::default();
    let blocks = range.end;
    for b in range {
        if spec.stop.is_set() {
            spec.stop.record_unfinished(b..blocks);
            return Ok(());
        }
        shared.reset(spec.kernel.shared_bytes as usize);
        let ctx = BlockCtx {
            spec,
            ctaid: spec.grid.unflatten(b),
            linear_block: b,
            shared: &shared,
        };
        for l in lanes.iter_mut() {
            l.regs.fill(0);
            l.preds = 0;
            l.pc = 0;
            l.steps = 0;
            l.status = Status::Running;
        }
        match run_block(&ctx, &mut lanes, trace) {
            Ok(true) => {}
            Ok(false) => {
                spec.stop.record_unfinished(b..blocks);
                return Ok(());
            }
            Err(f) => {
                spec.stop.set();
                return Err(f);
            }
        }
    }
    Ok(())
}

/// Runs one block; `Ok(false)` when the stop flag cut it short.
fn run_block<T: Trace>(
    ctx: &BlockCtx<'_>,
    lanes: &mut [Lane],
    trace: &mut T,
) -> Result<bool, Box<Fault>> {
    loop {
        for (id, lane) in lanes.iter_mut().enumerate() {
            if lane.status != Status::Running {
                continue;
            }
            match run_lane(ctx, lane, id as u32, trace) {
                Ok(Stop::Barrier) => lane.status = Status::AtBarrier,
                Ok(Stop::Exit) => lane.status = Status::Exited,
                Ok(Stop::Halted) => return Ok(false),
                Err(kind) => return Err(Box::new(fault(ctx, id as u32, lane.pc, kind))),
            }
        }
        // Every live lane now waits at a barrier: release them all.
        let mut any = false;
        for lane in lanes.iter_mut() {
            if lane.status == Status::AtBarrier {
                lane.status = Status::Running;
                lane.pc += 1;
                any = true;
            }
        }
        if !any {
            return Ok(true);
        }
    }
}

fn fault(ctx: &BlockCtx<'_>, laneid: u32, pc: usize, kind: FaultKind) -> Fault {
    let k = ctx.spec.kernel;
    let src = &k.lines[pc.min(k.lines.len().saturating_sub(1))];
    Fault {
        kernel: k.name.clone(),
        block: ctx.ctaid,
        lane: ctx.spec.block.unflatten(laneid as u64),
        instr: pc,
        line: src.line,
        source: src.text.clone(),
        kind,
    }
}

/// Runs one lane from its pc until it exits, waits at a barrier or faults
/// (the fault carries the block's context). Faster engines hand a lane over
/// to this near the step limit, where it must stop at the exact step.
pub(crate) fn resume_lane(
    ctx: &BlockCtx<'_>,
    lane: &mut Lane,
    laneid: u32,
) -> Result<Stop, Box<Fault>> {
    run_lane(ctx, lane, laneid, &mut NoTrace)
        .map_err(|kind| Box::new(fault(ctx, laneid, lane.pc, kind)))
}

/// [`step_lane`] with the fault's full context.
pub(crate) fn step_lane_or_fault(
    ctx: &BlockCtx<'_>,
    lane: &mut Lane,
    laneid: u32,
) -> Result<Option<Stop>, Box<Fault>> {
    step_lane(ctx, lane, laneid).map_err(|kind| Box::new(fault(ctx, laneid, lane.pc, kind)))
}

fn run_lane<T: Trace>(
    ctx: &BlockCtx<'_>,
    lane: &mut Lane,
    laneid: u32,
    trace: &mut T,
) -> Result<Stop, FaultKind> {
    loop {
        if let Some(stop) = step_lane_traced(ctx, lane, laneid, trace)? {
            return Ok(stop);
        }
    }
}

/// Runs one instruction of a lane (one step; a lane past the end exits
/// without one): `Some` when the lane stops (at a barrier, or at its end).
/// Faster engines run lanes in lockstep through this near the step limit.
pub(crate) fn step_lane(
    ctx: &BlockCtx<'_>,
    lane: &mut Lane,
    laneid: u32,
) -> Result<Option<Stop>, FaultKind> {
    step_lane_traced(ctx, lane, laneid, &mut NoTrace)
}

/// [`step_lane`], telling `trace` of a global memory access.
#[inline(always)]
fn step_lane_traced<T: Trace>(
    ctx: &BlockCtx<'_>,
    lane: &mut Lane,
    laneid: u32,
    trace: &mut T,
) -> Result<Option<Stop>, FaultKind> {
    let spec = ctx.spec;
    let mut traced = |space: Space, slot: u16, at: usize, size: usize, kind: AccessKind| {
        if space == Space::Global {
            trace.global(ctx.linear_block, laneid, slot, at, size, kind);
        }
    };
    let instrs: &[Instr] = &spec.kernel.instrs;
    {
        let Some(instr) = instrs.get(lane.pc) else {
            return Ok(Some(Stop::Exit));
        };
        if lane.steps >= spec.max_steps {
            return Err(FaultKind::StepLimit {
                limit: spec.max_steps,
            });
        }
        lane.steps += 1;
        if let Some(g) = instr.guard {
            if !g.passes(lane.preds) {
                lane.pc += 1;
                return Ok(None);
            }
        }
        let read = |lane: &Lane, s: Src| -> u64 {
            match s {
                Src::Reg(r) => lane.regs[r as usize],
                Src::Imm(v) => v,
                Src::Param(slot) => spec.args.scalars[slot as usize],
                Src::Special(sp) => special_value(
                    sp,
                    spec.grid,
                    spec.block,
                    ctx.ctaid,
                    ctx.linear_block,
                    laneid,
                ),
            }
        };
        let mut next = lane.pc + 1;
        match instr.op {
            Op::Mov { ty, d, a } => lane.regs[d as usize] = arith::mov(ty, read(lane, a)),
            Op::Load { space, ty, d, addr } => {
                let raw = with_memory(ctx, space, addr, lane, ty.size(), |m, at| {
                    traced(space, addr.buffer, at, ty.size(), AccessKind::Load);
                    m.load_at(at, ty.size())
                })?;
                lane.regs[d as usize] = ty.extend(raw);
            }
            Op::Store { space, ty, addr, a } => {
                let v = read(lane, a);
                with_memory(ctx, space, addr, lane, ty.size(), |m, at| {
                    traced(space, addr.buffer, at, ty.size(), AccessKind::Store);
                    m.store_at(at, ty.size(), v)
                })?;
            }
            Op::Cvt { to, from, d, a } => {
                lane.regs[d as usize] = convert::convert(to, from, read(lane, a))
            }
            Op::Arith { op, ty, d, a, b } => {
                lane.regs[d as usize] = arith::arith(op, ty, read(lane, a), read(lane, b))
            }
            Op::Div { op, ty, d, a, b } => {
                lane.regs[d as usize] = arith::div(op, ty, read(lane, a), read(lane, b))
                    .ok_or(FaultKind::DivisionByZero)?
            }
            Op::Fma { ty, d, a, b, c } => {
                lane.regs[d as usize] = arith::fma(ty, read(lane, a), read(lane, b), read(lane, c))
            }
            Op::Bit { op, ty, d, a, b } => {
                lane.regs[d as usize] = bits::bit(op, ty, read(lane, a), read(lane, b))
            }
            Op::Not { ty, d, a } => lane.regs[d as usize] = bits::not(ty, read(lane, a)),
            Op::Sign { op, ty, d, a } => lane.regs[d as usize] = arith::sign(op, ty, read(lane, a)),
            Op::Math { op, ty, d, a } => lane.regs[d as usize] = math::math(op, ty, read(lane, a)),
            Op::Setp { cmp, ty, p, a, b } => {
                let v = compare::compare(cmp, ty, read(lane, a), read(lane, b));
                set_pred(lane, p, v);
            }
            Op::Selp { ty, d, a, b, p } => {
                let v = get_pred(lane, p);
                lane.regs[d as usize] = compare::select(ty, v, read(lane, a), read(lane, b));
            }
            Op::PredLogic { op, d, a, b } => {
                let (x, y) = (get_pred(lane, a), get_pred(lane, b));
                let v = match op {
                    crate::kernel::PredOp::And => x & y,
                    crate::kernel::PredOp::Or => x | y,
                    crate::kernel::PredOp::Xor => x ^ y,
                };
                set_pred(lane, d, v);
            }
            Op::PredNot { d, a } => {
                let v = !get_pred(lane, a);
                set_pred(lane, d, v);
            }
            Op::Atom {
                space,
                op,
                ty,
                d,
                addr,
                a,
            } => {
                let v = read(lane, a);
                let size = ty.scalar().size();
                let old = with_memory(ctx, space, addr, lane, size, |m, at| {
                    traced(space, addr.buffer, at, size, AccessKind::Update);
                    m.update_at(at, size, &mut |old| atomic::combine(op, ty, old, v))
                })?;
                lane.regs[d as usize] = ty.scalar().extend(old);
            }
            Op::Cas {
                space,
                ty,
                d,
                addr,
                a,
                b,
            } => {
                let (x, y) = (read(lane, a), read(lane, b));
                let size = ty.scalar().size();
                let old = with_memory(ctx, space, addr, lane, size, |m, at| {
                    traced(space, addr.buffer, at, size, AccessKind::Update);
                    m.update_at(at, size, &mut |old| atomic::cas(ty, old, x, y))
                })?;
                lane.regs[d as usize] = ty.scalar().extend(old);
            }
            Op::Bra { target } => {
                // A loop: poll the stop flag, as the step count is.
                if target as usize <= lane.pc && spec.stop.is_set() {
                    return Ok(Some(Stop::Halted));
                }
                next = target as usize
            }
            Op::Bar => return Ok(Some(Stop::Barrier)),
            Op::Exit => return Ok(Some(Stop::Exit)),
        }
        lane.pc = next;
        Ok(None)
    }
}

#[inline]
fn get_pred(lane: &Lane, p: u8) -> bool {
    (lane.preds >> p) & 1 != 0
}

#[inline]
fn set_pred(lane: &mut Lane, p: u8, v: bool) {
    lane.preds = (lane.preds & !(1 << p)) | ((v as u16) << p);
}

/// Resolves `addr` for this lane, checks the access, and runs `f` on the
/// memory and checked offset.
fn with_memory<R>(
    ctx: &BlockCtx<'_>,
    space: Space,
    addr: Address,
    lane: &Lane,
    size: usize,
    f: impl FnOnce(&dyn ByteMemory, usize) -> R,
) -> Result<R, FaultKind> {
    let reg = addr.reg.map_or(0, |r| lane.regs[r as usize]);
    let mem: &dyn ByteMemory = match space {
        Space::Global => &*ctx.spec.args.buffers[addr.buffer as usize],
        Space::Shared => ctx.shared,
    };
    let at = check_lane_access(ctx.spec.kernel, space, addr, reg, size, mem.len())?;
    Ok(f(mem, at))
}

/// Checks an access of `size` bytes at `addr` (its register holding `reg`)
/// in memory of `len` bytes: the checked offset, or the fault docs/LANGUAGE.md
/// section 6 describes. Every engine's faults come from here.
pub(crate) fn check_lane_access(
    kernel: &crate::kernel::Kernel,
    space: Space,
    addr: Address,
    reg: u64,
    size: usize,
    len: usize,
) -> Result<usize, FaultKind> {
    let buffer_name = || match space {
        Space::Global => kernel.buffer_param(addr.buffer).map(|p| p.name.clone()),
        Space::Shared => None,
    };
    let Some(offset) = addr.offset(reg) else {
        return Err(FaultKind::OutOfBounds {
            space,
            buffer: buffer_name(),
            offset: addr.exact_offset(reg),
            size,
            len,
        });
    };
    crate::memory::check_access(offset, size, len).map_err(|e| match e {
        AccessError::OutOfBounds { offset, size, len } => FaultKind::OutOfBounds {
            space,
            buffer: buffer_name(),
            offset,
            size,
            len,
        },
        AccessError::Misaligned { offset, size } => FaultKind::Misaligned {
            space,
            buffer: buffer_name(),
            offset,
            size,
        },
    })
}
