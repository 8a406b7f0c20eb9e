//! The glue between generated code and the runtime (wasmtime keeps this
//! apart from instruction translation too): the [`Frame`] a compiled kernel
//! reads its launch from and writes its faults to, and the Rust functions it
//! calls for the rare or complicated work (NaN results pinned down, the
//! float functions taken from libm, the exact path near the step limit, a
//! hand-over to the general part). Atomics and the zeroing of shared
//! memory are inline (`codegen::memory`), and so are `exp`, `exp2`, `log`
//! and `tanh` but in cold code (`codegen::functions`).
//!
//! Every helper is `extern "C"`, never unwinds (a panic is caught and
//! reported as an internal error after the call returns), and reaches the
//! launch through `Frame::host`.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};

use super::cache::Compiled;
use super::codegen::gang::Held;
use crate::engine::LaunchSpec;
use crate::engine::reference::{self, BlockCtx, Lane, Stop, check_lane_access};
use crate::exec::{arith, convert, math};
use crate::kernel::flow::pred_id;
use crate::kernel::{Address, NUM_REGS, Op, Space};
use crate::launch::{Fault, FaultKind};
use crate::memory::{ByteMemory, SharedMemory};

/// What the generated function returns.
pub(super) mod status {
    /// Every block of the range ran to the end.
    pub const DONE: u32 = 0;
    /// A lane faulted: see `Frame::fault_*` (or `Host::fault`).
    pub const FAULT: u32 = 1;
    /// The launch's stop flag was set: the range was abandoned.
    pub const STOPPED: u32 = 2;
    /// The general part of a kernel was entered at a hand-over it does not
    /// have (a bug of lanes).
    pub const BAD_HANDOVER: u32 = 3;
    /// `frame::general` ran the handed-over gang's lanes to their end on
    /// the interpreter: the hot part goes on with the next gang.
    pub const CONTINUE: u32 = 4;
}

/// Lanes per gang on the gang tier (the exact path's and the
/// interpreter's register areas hold this many lanes).
pub(super) const GANG: usize = 4;

/// Why generated code stopped with [`status::FAULT`].
pub(super) mod fault_code {
    /// An access failed its bounds or alignment check; `fault_value` holds
    /// the address register's contents.
    pub const MEMORY: u32 = 1;
    /// Integer division by zero.
    pub const DIVISION: u32 = 2;
    /// A helper made the whole fault (`Host::fault`).
    pub const HOST: u32 = 3;
}

/// A global buffer as generated code sees it.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub(super) struct BufferRef {
    /// The first byte.
    pub ptr: *mut u8,
    /// Length in bytes.
    pub len: u64,
}

/// The one argument of a compiled kernel: what it runs and where it may
/// write. Field offsets are read by the code generator (`offset_of!`).
#[repr(C)]
#[derive(Debug)]
pub(super) struct Frame {
    /// First linear block to run.
    pub first_block: u64,
    /// One past the last linear block.
    pub end_block: u64,
    /// `%nctaid.x`, `%nctaid.y`, `%nctaid.z`.
    pub grid: [u64; 3],
    /// The per-lane step budget.
    pub max_steps: u64,
    /// The launch's stop flag (a byte: non-zero stops).
    pub stop: *const u8,
    /// Buffers by slot.
    pub buffers: *const BufferRef,
    /// Scalar register values by slot.
    pub scalars: *const u64,
    /// The block's shared memory.
    pub shared: *mut u8,
    /// Registers that cross a barrier: `spill[slot * lanes + lane]`.
    pub spill: *mut u64,
    /// Per lane: where it resumes (see `codegen`).
    pub lane_state: *mut u32,
    /// Per lane: steps taken, while it waits at a barrier.
    pub steps: *mut u64,
    /// A lane's whole register file, for the exact path.
    pub regs: *mut u64,
    /// The Rust side of the launch.
    pub host: *mut Host<'static>,
    /// Fault details (see [`fault_code`]).
    pub fault_code: u32,
    /// The faulting instruction.
    pub fault_pc: u32,
    /// The faulting lane (`%laneid`).
    pub fault_lane: u64,
    /// The faulting block (linear index).
    pub fault_block: u64,
    /// The address register's contents of a memory fault.
    pub fault_value: u64,
    /// The block generated code was running when it saw the stop flag
    /// ([`status::STOPPED`]): it and the blocks after it did not finish.
    pub stopped_block: u64,
}

/// What helpers reach through the frame.
pub(super) struct Host<'a> {
    /// The launch.
    pub spec: &'a LaunchSpec<'a>,
    /// The block's shared memory (the same bytes as `Frame::shared`).
    pub shared: &'a SharedMemory,
    /// A fault made by a helper.
    pub fault: Option<Box<Fault>>,
    /// A helper failed in a way that is a bug of lanes, not of the kernel.
    pub internal: Option<String>,
    /// The code running (its general part: `general`).
    pub compiled: &'a Compiled,
    /// Every gang the hot part hands over runs on the interpreter, the
    /// general part compiled or not (`JitLaunch::interpreting_handovers`,
    /// for tests).
    pub interpret_all: bool,
    /// Steps the interpreter ran for gangs the launch's hot part handed
    /// over (bounded: [`INTERPRET_BUDGET`]), all its frames together.
    pub interpreted: &'a AtomicU64,
}

/// The most steps a launch runs on the interpreter for gangs its hot part
/// hands over while the general part is compiling (about a millisecond
/// on one thread); past them, a hand-over waits for the general part.
pub(super) const INTERPRET_BUDGET: u64 = 50_000;

impl Frame {
    /// The fault generated code reported, with the launch's context.
    pub(super) fn fault(&self, host: &mut Host<'_>) -> Box<Fault> {
        if self.fault_code == fault_code::HOST {
            if let Some(f) = host.fault.take() {
                return f;
            }
        }
        let spec = host.spec;
        let kernel = spec.kernel;
        let pc = self.fault_pc as usize;
        let kind = match (self.fault_code, kernel.instrs.get(pc).map(|i| i.op)) {
            (fault_code::DIVISION, _) => FaultKind::DivisionByZero,
            (
                fault_code::MEMORY,
                Some(
                    Op::Load {
                        space, addr, ty, ..
                    }
                    | Op::Store {
                        space, addr, ty, ..
                    },
                ),
            ) => memory_fault(host, space, addr, self.fault_value, ty.size()),
            (
                fault_code::MEMORY,
                Some(Op::Atom {
                    space, addr, ty, ..
                }),
            ) => memory_fault(host, space, addr, self.fault_value, ty.scalar().size()),
            (
                fault_code::MEMORY,
                Some(Op::Cas {
                    space, addr, ty, ..
                }),
            ) => memory_fault(host, space, addr, self.fault_value, ty.scalar().size()),
            (code, _) => {
                host.internal = Some(format!(
                    "generated code reported fault code {code} at instruction {pc}"
                ));
                FaultKind::DivisionByZero
            }
        };
        let src = &kernel.lines[pc.min(kernel.lines.len().saturating_sub(1))];
        Box::new(Fault {
            kernel: kernel.name.clone(),
            block: spec.grid.unflatten(self.fault_block),
            lane: spec.block.unflatten(self.fault_lane),
            instr: pc,
            line: src.line,
            source: src.text.clone(),
            kind,
        })
    }
}

/// The fault of an access that generated code found out of bounds or
/// misaligned: the reference engine's check says exactly which.
fn memory_fault(
    host: &mut Host<'_>,
    space: Space,
    addr: Address,
    reg: u64,
    size: usize,
) -> FaultKind {
    let len = match space {
        Space::Global => host
            .spec
            .args
            .buffers
            .get(addr.buffer as usize)
            .map_or(0, |b| b.len()),
        Space::Shared => host.shared.len(),
    };
    match check_lane_access(host.spec.kernel, space, addr, reg, size, len) {
        Err(kind) => kind,
        Ok(_) => {
            host.internal = Some(format!(
                "generated code found a valid {size}-byte access at register value {reg} out of bounds"
            ));
            FaultKind::OutOfBounds {
                space,
                buffer: None,
                offset: reg as i128,
                size,
                len,
            }
        }
    }
}

/// Runs `f` on the frame and its host; a panic becomes an internal error
/// and `fallback`.
fn with_host<R>(
    frame: *mut Frame,
    fallback: R,
    f: impl FnOnce(&mut Frame, &mut Host<'_>) -> R,
) -> R {
    // SAFETY: generated code passes the frame it was called with; the Rust
    // caller (`JitState::run_blocks`) made it from a live `&mut Frame` that
    // it does not touch until the call returns, and `host` points to a
    // `Host` (a distinct object) that outlives the call. `Host<'static>` is
    // only the stored type: the real lifetime covers the call.
    let (frame, host) = unsafe { (&mut *frame, &mut *(*frame).host) };
    match catch_unwind(AssertUnwindSafe(|| f(&mut *frame, &mut *host))) {
        Ok(r) => r,
        Err(_) => {
            host.internal = Some("a JIT helper panicked".to_string());
            fallback
        }
    }
}

/// `eval(frame, pc, a, b, c)`: the register contents instruction `pc`
/// writes when its operands hold `a`, `b`, `c` (for NaN results, `rem` on
/// floats, the float functions from libm, and conversions; `exp`, `exp2`,
/// `log` and `tanh` where the code is cold).
pub(super) extern "C" fn eval(frame: *mut Frame, pc: u32, a: u64, b: u64, c: u64) -> u64 {
    with_host(frame, 0, |_, host| {
        let Some(instr) = host.spec.kernel.instrs.get(pc as usize) else {
            host.internal = Some(format!("eval of instruction {pc}, which does not exist"));
            return 0;
        };
        match instr.op {
            Op::Arith { op, ty, .. } => arith::arith(op, ty, a, b),
            Op::Div { op, ty, .. } => arith::div(op, ty, a, b).unwrap_or(0),
            Op::Fma { ty, .. } => arith::fma(ty, a, b, c),
            Op::Math { op, ty, .. } => math::math(op, ty, a),
            Op::Cvt { to, from, .. } => convert::convert(to, from, a),
            Op::Sign { op, ty, .. } => arith::sign(op, ty, a),
            other => {
                host.internal = Some(format!("eval of {other:?}"));
                0
            }
        }
    })
}

/// `finish(frame, pc, lane, block, steps, preds)`: the exact path near the
/// step limit. The lane's registers are in `Frame::regs`; it is about to
/// enter the basic block at `pc` with `steps` taken, and the block is longer
/// than its remaining budget, so it faults inside it: the reference
/// interpreter runs it to that fault (the step limit, or an earlier fault of
/// the block), which goes to `Host::fault`. Returns [`status::FAULT`].
pub(super) extern "C" fn finish(
    frame: *mut Frame,
    pc: u32,
    lane: u64,
    block: u64,
    steps: u64,
    preds: u64,
) -> u32 {
    with_host(frame, status::FAULT, |frame, host| {
        let mut regs = Box::new([0u64; NUM_REGS]);
        // SAFETY: `Frame::regs` points to `NUM_REGS` words of the worker's
        // state (`JitState::regs`), written by generated code before this
        // call and not otherwise borrowed during it.
        regs.copy_from_slice(unsafe { std::slice::from_raw_parts(frame.regs, NUM_REGS) });
        let mut l = Lane::at(regs, preds as u16, pc as usize, steps);
        let ctx = BlockCtx {
            spec: host.spec,
            ctaid: host.spec.grid.unflatten(block),
            linear_block: block,
            shared: host.shared,
        };
        match reference::resume_lane(&ctx, &mut l, lane as u32) {
            Err(f) => host.fault = Some(f),
            Ok(Stop::Barrier | Stop::Exit | Stop::Halted) => {
                host.internal = Some(format!(
                    "lane {lane} left basic block {pc} before its step limit"
                ))
            }
        }
        frame.fault_code = fault_code::HOST;
        status::FAULT
    })
}

/// `finish_gang(frame, pc, lane0, block, steps, lanes)`: the gang tier's
/// exact path near the step limit. The registers of the gang's lanes are
/// in `Frame::regs` (lane `k` at `k * NUM_REGS`, its predicates at
/// `4 * NUM_REGS + k`, its steps at `4 * (NUM_REGS + 1) + k`); every
/// running lane (bit `k` of `lanes`: lane `lane0 + k`) is about to enter
/// the basic block at `pc`, which is longer than the remaining budget of
/// at least one of them (`steps` is the most any lane took). The reference
/// interpreter runs them through it in lockstep (one instruction for every
/// lane, in `%laneid` order, then the next), so the first fault is the one
/// the gang would meet first. Returns [`status::FAULT`].
pub(super) extern "C" fn finish_gang(
    frame: *mut Frame,
    pc: u32,
    lane0: u64,
    block: u64,
    steps: u64,
    lanes: u64,
) -> u32 {
    with_host(frame, status::FAULT, |frame, host| {
        // SAFETY: `Frame::regs` points to `GANG * (NUM_REGS + 2)` words of
        // the worker's state (`JitState::regs`), written by generated code
        // before this call and not otherwise borrowed during it.
        let words = unsafe { std::slice::from_raw_parts(frame.regs, GANG * (NUM_REGS + 2)) };
        let _ = steps;
        let mut live = Vec::new();
        for k in 0..GANG {
            if lanes & (1 << k) != 0 {
                let mut regs = Box::new([0u64; NUM_REGS]);
                regs.copy_from_slice(&words[k * NUM_REGS..(k + 1) * NUM_REGS]);
                let preds = words[GANG * NUM_REGS + k] as u16;
                let steps = words[GANG * (NUM_REGS + 1) + k];
                live.push((lane0 + k as u64, Lane::at(regs, preds, pc as usize, steps)));
            }
        }
        let ctx = BlockCtx {
            spec: host.spec,
            ctaid: host.spec.grid.unflatten(block),
            linear_block: block,
            shared: host.shared,
        };
        frame.fault_code = fault_code::HOST;
        // Some lane faults within the block (at most this many rounds);
        // the others run at most the block's own instructions meanwhile,
        // and one whose block ends the lane (an exit) drops out.
        for _ in 0..=host.spec.kernel.instrs.len() {
            let mut i = 0;
            while i < live.len() {
                let (id, lane) = &mut live[i];
                match reference::step_lane_or_fault(&ctx, lane, *id as u32) {
                    Err(f) => {
                        host.fault = Some(f);
                        return status::FAULT;
                    }
                    Ok(None) => i += 1,
                    Ok(Some(_)) => {
                        live.remove(i);
                    }
                }
            }
        }
        host.internal = Some(format!("no lane of the gang at {lane0} faulted at {pc}"));
        status::FAULT
    })
}

/// The hand-over index with which a kernel's general part runs a frame
/// from its start (no state): once compiled, it runs every launch.
pub(super) const START: u32 = u32::MAX;

/// `general(frame, state, index, mask, block, gang, steps)`: the hot part
/// of a kernel (see `codegen::gang::Part`) hands a gang over to the
/// general part at hand-over `index`, its state in `state` (the
/// registers and predicates live there: `gang::Handovers`), its running
/// lanes in `mask` (bit `k`: lane `4 * gang + k` of linear block
/// `block`), the gang's step count in `steps`.
///
/// Once the general part is compiled it runs the rest of the frame's
/// blocks from there, and this returns its status. Until then, while the
/// background compiler has it and the launch's [`INTERPRET_BUDGET`] lasts,
/// or when it cannot be compiled, the reference interpreter runs the
/// gang's lanes to their end, one after another in `%laneid` order, and
/// this returns [`status::CONTINUE`]: the hot part goes on with the next
/// gang. Otherwise this compiles the general part on this thread, or
/// waits for the compiler thread to finish it.
pub(super) extern "C" fn general(
    frame: *mut Frame,
    state: *mut u8,
    index: u32,
    mask: u32,
    block: u64,
    gang: u64,
    steps: u64,
) -> u32 {
    enum Next {
        Run(super::cache::GeneralEntry),
        Interpret,
        Return(u32),
    }
    let next = with_host(frame, Next::Return(status::DONE), |_, host| {
        let Some(general) = host.compiled.general.as_ref() else {
            host.internal = Some("a hand-over from code without a general part".to_string());
            return Next::Return(status::DONE);
        };
        if host.interpret_all {
            return Next::Interpret;
        }
        match general.get() {
            Some(Ok(code)) => return Next::Run(code.entry),
            Some(Err(_)) => return Next::Interpret,
            None if general.queued()
                && host.interpreted.load(Ordering::Relaxed) < INTERPRET_BUDGET =>
            {
                return Next::Interpret;
            }
            None => {}
        }
        match general.get_or_compile(host.spec.kernel) {
            Ok(code) => Next::Run(code.entry),
            Err(_) => Next::Interpret,
        }
    });
    match next {
        // SAFETY: `entry` is the general part compiled for the kernel and
        // variant of the hot part that called this helper (the launch's
        // `Compiled`), made by the same translation, so it reads the
        // state its stub stored (`state`, a stack slot of the caller that
        // lives until this returns) at the hand-over `index`; `frame` is
        // the frame the hot part was called with, untouched by this
        // helper after `with_host` returned.
        Next::Run(entry) => unsafe { entry(frame, state, index) },
        Next::Interpret => {
            let gang = Handed {
                state,
                index,
                mask,
                block,
                gang,
                steps,
            };
            with_host(frame, status::DONE, |frame, host| {
                interpret_gang(frame, host, &gang)
            })
        }
        Next::Return(st) => st,
    }
}

/// A gang that the hot part handed over: [`general`]'s arguments.
struct Handed {
    state: *const u8,
    index: u32,
    mask: u32,
    block: u64,
    gang: u64,
    steps: u64,
}

/// The interpreter's side of [`general`]: runs the handed-over gang's
/// running lanes from its hand-over to their end, their registers and
/// predicates read from the hand-over state.
fn interpret_gang(frame: &mut Frame, host: &mut Host<'_>, handed: &Handed) -> u32 {
    let &Handed {
        state,
        index,
        mask,
        block,
        gang,
        steps,
    } = handed;
    let Some(general) = host.compiled.general.as_ref() else {
        return status::DONE;
    };
    let Some(&place) = general.handovers.places.get(index as usize) else {
        host.internal = Some(format!(
            "a hand-over at index {index}, which the code does not have"
        ));
        return status::DONE;
    };
    // At the dispatch no lane runs on: the gang is done.
    let Some(place) = place else {
        return status::CONTINUE;
    };
    let mut files = [[0u64; NUM_REGS]; GANG];
    let mut preds = [0u16; GANG];
    for &(id, held) in &general.handovers.held {
        if !place.live.contains(id) {
            // Written before it is read: its value never shows (and the
            // stub did not store it).
            continue;
        }
        // SAFETY: `state` is the stub's stack slot, 16 bytes per variable
        // of the hot part at the variable's index (every index `held`
        // names is one), live until the hot part's call returns; the stub
        // stored every variable of the registers and predicates live at
        // this hand-over (`place.live`) before the call.
        let lanes = unsafe { held_lanes(state, held) };
        if id >= pred_id(0) {
            let bit = 1u16 << (id - pred_id(0));
            for (p, l) in preds.iter_mut().zip(lanes) {
                if l != 0 {
                    *p |= bit;
                }
            }
        } else {
            for (f, l) in files.iter_mut().zip(lanes) {
                f[id as usize] = l;
            }
        }
    }
    let spec = host.spec;
    let ctx = BlockCtx {
        spec,
        ctaid: spec.grid.unflatten(block),
        linear_block: block,
        shared: host.shared,
    };
    // A variant that counts no steps has loops that provably end within
    // the budget: its lanes may start counting afresh.
    let taken = if general.counts_steps() {
        steps.saturating_sub(u64::from(place.back))
    } else {
        0
    };
    for k in 0..GANG {
        if mask & (1 << k) == 0 {
            continue;
        }
        let mut lane = Lane::at(Box::new(files[k]), preds[k], place.pc as usize, taken);
        let laneid = gang * GANG as u64 + k as u64;
        let result = reference::resume_lane(&ctx, &mut lane, laneid as u32);
        host.interpreted
            .fetch_add(lane.steps - taken, Ordering::Relaxed);
        match result {
            Ok(Stop::Exit) => {}
            Ok(Stop::Halted) => {
                frame.stopped_block = block;
                return status::STOPPED;
            }
            Ok(Stop::Barrier) => {
                host.internal = Some(format!(
                    "lane {laneid} of a kernel compiled in two parts met a barrier"
                ));
                return status::DONE;
            }
            Err(f) => {
                host.fault = Some(f);
                frame.fault_code = fault_code::HOST;
                return status::FAULT;
            }
        }
    }
    status::CONTINUE
}

/// The four lanes of a register (its 64-bit contents) or predicate
/// (non-zero: set) as a hand-over state holds them (`gang::Held`).
///
/// # Safety
///
/// `state` must point to 16 readable bytes at `16 * var` for each
/// variable `held` names, written with that variable's type.
unsafe fn held_lanes(state: *const u8, held: Held) -> [u64; 4] {
    // SAFETY: the caller's promise, for every variable read below.
    let bytes = |var: u32| unsafe {
        std::ptr::read_unaligned(state.add(16 * var as usize).cast::<[u8; 16]>())
    };
    let word = |b: &[u8; 16], k: usize| {
        u32::from_le_bytes([b[4 * k], b[4 * k + 1], b[4 * k + 2], b[4 * k + 3]])
    };
    let dword = |b: &[u8; 16], k: usize| {
        u64::from_le_bytes(b[8 * k..8 * k + 8].try_into().unwrap_or([0; 8]))
    };
    let extend = |w: u32, sign: bool| {
        if sign {
            w as i32 as i64 as u64
        } else {
            u64::from(w)
        }
    };
    match held {
        Held::Scalar {
            var,
            wide,
            sign,
            stride,
        } => {
            let b = bytes(var);
            std::array::from_fn(|k| {
                if wide {
                    dword(&b, 0).wrapping_add(stride.wrapping_mul(k as i64) as u64)
                } else {
                    let st = (stride as i32).wrapping_mul(k as i32) as u32;
                    extend(word(&b, 0).wrapping_add(st), sign)
                }
            })
        }
        Held::Four { var, sign } => {
            let b = bytes(var);
            std::array::from_fn(|k| extend(word(&b, k), sign))
        }
        Held::Pairs { lo, hi } => {
            let (lo, hi) = (bytes(lo), bytes(hi));
            [dword(&lo, 0), dword(&lo, 1), dword(&hi, 0), dword(&hi, 1)]
        }
        Held::Pred { var } => [u64::from(bytes(var)[0] != 0); 4],
        Held::PredFour { var } => {
            let b = bytes(var);
            std::array::from_fn(|k| u64::from(word(&b, k) != 0))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hand-over state of `vars` variables with `fill` writing it.
    fn state(vars: usize, fill: impl FnOnce(&mut [u8])) -> Vec<u8> {
        let mut s = vec![0xA5; 16 * vars];
        fill(&mut s);
        s
    }

    #[test]
    fn held_lanes_reads_each_form_of_a_hand_over_state() {
        // Variable 0: a 32-bit scalar; 1: four 32-bit lanes; 2 and 3: two
        // pairs of 64-bit lanes; 4: a 64-bit scalar; 5: a uniform
        // predicate; 6: a vector predicate.
        let s = state(7, |s| {
            s[0..4].copy_from_slice(&0xFFFF_FFFEu32.to_le_bytes());
            for (k, w) in [7u32, 0x8000_0000, 0, u32::MAX].iter().enumerate() {
                s[16 + 4 * k..20 + 4 * k].copy_from_slice(&w.to_le_bytes());
            }
            for (k, d) in [1u64, 2, 3, 4].iter().enumerate() {
                let at = 32 + 16 * (k / 2) + 8 * (k % 2);
                s[at..at + 8].copy_from_slice(&d.to_le_bytes());
            }
            s[64..72].copy_from_slice(&u64::MAX.to_le_bytes());
            s[80] = 1;
            for (k, w) in [0u32, u32::MAX, u32::MAX, 0].iter().enumerate() {
                s[96 + 4 * k..100 + 4 * k].copy_from_slice(&w.to_le_bytes());
            }
        });
        let read = |held| {
            // SAFETY: `s` holds 16 initialized bytes for each of the 7
            // variables the cases below name.
            unsafe { held_lanes(s.as_ptr(), held) }
        };
        let scalar = |var, wide, sign, stride| Held::Scalar {
            var,
            wide,
            sign,
            stride,
        };
        // Affine in 32 bits: wraps in its own width, then extends.
        assert_eq!(
            read(scalar(0, false, false, 1)),
            [0xFFFF_FFFE, 0xFFFF_FFFF, 0, 1]
        );
        assert_eq!(
            read(scalar(0, false, true, 1)),
            [u64::MAX - 1, u64::MAX, 0, 1]
        );
        assert_eq!(read(scalar(0, false, false, 0)), [0xFFFF_FFFE; 4]);
        // In 64 bits: wraps there.
        assert_eq!(
            read(scalar(4, true, false, -1)),
            [u64::MAX, u64::MAX - 1, u64::MAX - 2, u64::MAX - 3]
        );
        assert_eq!(
            read(Held::Four { var: 1, sign: true }),
            [7, 0xFFFF_FFFF_8000_0000, 0, u64::MAX]
        );
        assert_eq!(
            read(Held::Four {
                var: 1,
                sign: false
            }),
            [7, 0x8000_0000, 0, 0xFFFF_FFFF]
        );
        assert_eq!(read(Held::Pairs { lo: 2, hi: 3 }), [1, 2, 3, 4]);
        assert_eq!(read(Held::Pred { var: 5 }), [1; 4]);
        assert_eq!(read(Held::PredFour { var: 6 }), [0, 1, 1, 0]);
    }
}
