//! Translation of one kernel, for one block shape, into one Cranelift
//! function: `fn(frame: *mut Frame) -> u32` runs the linear blocks
//! `frame.first_block..frame.end_block`.
//!
//! # Shape of the generated function
//!
//! ```text
//! for block in first..end:                      stop flag checked per block
//!     clear shared memory
//!     for phase in 0..:                          only with bar.sync
//!         for lane in 0..lanes:
//!             resume the lane where it waits (or at the start), run it
//!             until it exits, reaches a bar.sync (its live registers go
//!             to the per-lane spill area) or faults (return FAULT)
//!         no lane waits at a barrier: next block
//! ```
//!
//! Each lane runs alone between barriers, in `%laneid` order, exactly as
//! the reference engine runs it (docs/LANGUAGE.md section 6: lanes may wait at
//! *different* `bar.sync`s; every lane keeps its own resume point), so even
//! racy kernels see the same memory effects in the same order. Registers
//! are Cranelift variables (machine registers); only the registers live
//! after some barrier cross it, through memory.
//!
//! The step limit is counted per basic block: entering a block of `L`
//! instructions with `s` steps taken is safe when `s + L <= max`; otherwise
//! the lane faults inside the block, and a cold path hands its registers to
//! the reference interpreter (`frame::finish`), which finds the exact step
//! (or an earlier fault). Kernels whose every loop provably ends
//! (`loops.rs`: none, or halving loops) and a budget of at least the most
//! steps a lane can then take cannot reach the limit and count nothing.
//! Every backward branch checks the launch's stop flag.

mod alu;
mod functions;
pub(super) mod gang;
mod memory;
mod values;

use std::mem::offset_of;

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{
    AbiParam, Block, BlockArg, BlockCall, Function, InstBuilder, JumpTableData, MemFlagsData,
    SigRef, Signature, Value, types,
};
use cranelift_codegen::isa::{CallConv, TargetFrontendConfig};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext, Variable};

use super::analysis::Analysis;
use super::frame::{self, BufferRef, Frame, fault_code, status};
use super::shape::{Facts, Range};
use crate::kernel::flow::{for_each_src, pred_id};
use crate::kernel::{Kernel, NUM_PREDS, NUM_REGS, Op, Reg, Space, Special, Src};
use crate::launch::Dim3;
use crate::types::ScalarType;
use values::kind_type;

/// What the CPU offers that changes the code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) struct Features {
    /// Fused multiply-add instructions.
    pub fma: bool,
    /// SSE 4.1 (`roundss`: floor and ceil).
    pub sse41: bool,
}

/// What one compiled variant is made from: the kernel, what is known of it,
/// and the launch properties the code depends on.
#[derive(Clone, Copy)]
pub(super) struct Variant<'a> {
    /// The kernel.
    pub kernel: &'a Kernel,
    /// Its analysis.
    pub an: &'a Analysis,
    /// What is known of its registers' values in these blocks.
    pub facts: &'a Facts,
    /// The block shape.
    pub shape: Dim3,
    /// Whether the step limit can be reached (counted per basic block).
    pub count_steps: bool,
}

/// What code is generated for: the CPU and its conventions.
#[derive(Clone, Copy)]
pub(super) struct Target {
    /// What the CPU offers.
    pub features: Features,
    /// The calling convention of kernels and helpers (the C one).
    pub call_conv: CallConv,
    /// Pointer size and such.
    pub frontend: TargetFrontendConfig,
}

/// The value of `Frame::lane_state` of a lane that exited.
const EXITED: u32 = u32::MAX;

/// The Rust functions generated code calls (each returns a value).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Helper {
    /// [`frame::eval`]
    Eval,
    /// [`frame::finish`]
    Finish,
    /// [`frame::finish_gang`]
    FinishGang,
    /// [`frame::general`]
    General,
}

impl Helper {
    fn address(self) -> i64 {
        match self {
            Helper::Eval => frame::eval as *const () as i64,
            Helper::Finish => frame::finish as *const () as i64,
            Helper::FinishGang => frame::finish_gang as *const () as i64,
            Helper::General => frame::general as *const () as i64,
        }
    }

    fn signature(self, call_conv: CallConv) -> Signature {
        let mut s = Signature::new(call_conv);
        let p = |t| AbiParam::new(t);
        let (params, ret): (&[types::Type], Option<types::Type>) = match self {
            // frame, pc, a, b, c -> bits
            Helper::Eval => (
                &[types::I64, types::I32, types::I64, types::I64, types::I64],
                Some(types::I64),
            ),
            // frame, pc, lane, block, steps, preds (lane 0, block, steps,
            // lanes for FinishGang) -> status
            Helper::Finish | Helper::FinishGang => (
                &[
                    types::I64,
                    types::I32,
                    types::I64,
                    types::I64,
                    types::I64,
                    types::I64,
                ],
                Some(types::I32),
            ),
            // ptr, len
            // frame, hand-over state, hand-over index, running lanes,
            // block, gang, steps -> status
            Helper::General => (
                &[
                    types::I64,
                    types::I64,
                    types::I32,
                    types::I32,
                    types::I64,
                    types::I64,
                    types::I64,
                ],
                Some(types::I32),
            ),
        };
        s.params.extend(params.iter().map(|&t| p(t)));
        s.returns.extend(ret.map(p));
        s
    }
}

/// The helpers' signatures imported into the function being built, and
/// their calls (both tiers).
pub(super) struct Helpers {
    sigs: [Option<SigRef>; 4],
    call_conv: CallConv,
}

impl Helpers {
    pub(super) fn new(call_conv: CallConv) -> Helpers {
        Helpers {
            sigs: [None; 4],
            call_conv,
        }
    }

    /// Calls helper `h` through its address: its result.
    pub(super) fn call(&mut self, b: &mut FunctionBuilder<'_>, h: Helper, args: &[Value]) -> Value {
        let sig = *self.sigs[h as usize]
            .get_or_insert_with(|| b.import_signature(h.signature(self.call_conv)));
        let callee = b.ins().iconst(types::I64, h.address());
        let call = b.ins().call_indirect(sig, callee, args);
        b.inst_results(call)[0]
    }
}

/// What the instruction translations of `alu` and `memory` need from the
/// code around them: one lane's operands and results, its faults, the
/// helpers and the memories. The one-lane tier ([`Translator`]) provides it
/// for its lane; the gang tier for its uniform work and, one lane at a
/// time, for what it cannot run on vectors.
pub(super) trait LaneCode<'f> {
    /// The function being built.
    fn b(&mut self) -> &mut FunctionBuilder<'f>;
    /// A source operand read as `ty`.
    fn read(&mut self, s: Src, ty: ScalarType) -> Value;
    /// A source operand's 64-bit register contents.
    fn read_bits(&mut self, s: Src) -> Value;
    /// Writes a value of type `ty` to register `d`.
    fn write(&mut self, d: Reg, ty: ScalarType, v: Value);
    /// Writes 64-bit register contents to `d`.
    fn write_bits(&mut self, d: Reg, bits: Value);
    /// A predicate (`I8`, 0 or 1).
    fn pred(&mut self, p: u8) -> Value;
    /// Sets a predicate (`I8`, 0 or 1).
    fn set_pred(&mut self, p: u8, v: Value);
    /// Leaves through the fault block when `cond` (`I8`) is set.
    fn fault_if(&mut self, cond: Value, f: FaultCall);
    /// Calls a helper: its result.
    fn call_helper(&mut self, h: Helper, args: &[Value]) -> Value;
    /// The frame pointer.
    fn frame(&self) -> Value;
    /// What the CPU offers.
    fn features(&self) -> Features;
    /// The base address of a memory (a buffer slot, or shared memory).
    fn memory_base(&mut self, space: Space, slot: u16) -> Value;
    /// The length of a memory in bytes (`I64`).
    fn memory_len(&mut self, space: Space, slot: u16) -> Value;
    /// What is known of register `r`'s values: their range and how many
    /// low bits are zero.
    fn address_facts(&self, r: Reg) -> (Range, u32);
    /// The kernel's shared memory in bytes.
    fn shared_bytes(&self) -> u64;
    /// The code being emitted is cold (the gang tier's general version of
    /// a kernel that has a full one): the float functions lanes computes
    /// itself are calls there, which take less to compile than their
    /// inline code (`functions`).
    fn cold(&self) -> bool {
        false
    }
}

impl<'f> LaneCode<'f> for Translator<'f> {
    fn b(&mut self) -> &mut FunctionBuilder<'f> {
        &mut self.b
    }
    fn read(&mut self, s: Src, ty: ScalarType) -> Value {
        Translator::read(self, s, ty)
    }
    fn read_bits(&mut self, s: Src) -> Value {
        Translator::read_bits(self, s)
    }
    fn write(&mut self, d: Reg, ty: ScalarType, v: Value) {
        Translator::write(self, d, ty, v)
    }
    fn write_bits(&mut self, d: Reg, bits: Value) {
        Translator::write_bits(self, d, bits)
    }
    fn pred(&mut self, p: u8) -> Value {
        Translator::pred(self, p)
    }
    fn set_pred(&mut self, p: u8, v: Value) {
        Translator::set_pred(self, p, v)
    }
    fn fault_if(&mut self, cond: Value, f: FaultCall) {
        Translator::fault_if(self, cond, f)
    }
    fn call_helper(&mut self, h: Helper, args: &[Value]) -> Value {
        Translator::call_helper(self, h, args)
    }
    fn frame(&self) -> Value {
        self.frame
    }
    fn features(&self) -> Features {
        self.features
    }
    fn memory_base(&mut self, space: Space, slot: u16) -> Value {
        match space {
            Space::Global => self.buffer_ptr(slot),
            Space::Shared => self.shared,
        }
    }
    fn memory_len(&mut self, space: Space, slot: u16) -> Value {
        match space {
            Space::Global => self.buffer_len(slot),
            Space::Shared => self
                .b
                .ins()
                .iconst(types::I64, self.kernel.shared_bytes as i64),
        }
    }
    fn address_facts(&self, r: Reg) -> (Range, u32) {
        (self.facts.range(Src::Reg(r)), self.facts.low_zeros(r))
    }
    fn shared_bytes(&self) -> u64 {
        self.kernel.shared_bytes as u64
    }
}

/// A jump to the fault block: its code, instruction and value.
pub(super) struct FaultCall {
    code: u32,
    pc: usize,
    value: Option<Value>,
}

impl FaultCall {
    /// A failed bounds or alignment check; `reg` is the address register.
    pub(super) fn memory(pc: usize, reg: Value) -> FaultCall {
        FaultCall {
            code: fault_code::MEMORY,
            pc,
            value: Some(reg),
        }
    }

    /// Integer division by zero.
    pub(super) fn division(pc: usize) -> FaultCall {
        FaultCall {
            code: fault_code::DIVISION,
            pc,
            value: None,
        }
    }
}

/// The signature of every compiled kernel: `fn(*mut Frame) -> u32`.
pub(super) fn kernel_signature(call_conv: CallConv) -> Signature {
    let mut s = Signature::new(call_conv);
    s.params.push(AbiParam::new(types::I64));
    s.returns.push(AbiParam::new(types::I32));
    s
}

/// The signature of a kernel's general part (see `gang::Part`): the
/// frame, the hand-over state, the hand-over's index; the status.
pub(super) fn general_signature(call_conv: CallConv) -> Signature {
    let mut s = kernel_signature(call_conv);
    s.params.push(AbiParam::new(types::I64));
    s.params.push(AbiParam::new(types::I32));
    s
}

/// Whether the step limit can be reached: with a budget below the most
/// steps a lane can take, or always when a loop may not end (`loops`).
/// Without loops, a lane takes at most the program's length.
pub(super) fn counts_steps(an: &Analysis, max_steps: u64) -> bool {
    an.step_bound.is_none_or(|bound| max_steps < bound)
}

/// The state of one translation.
pub(super) struct Translator<'a> {
    b: FunctionBuilder<'a>,
    kernel: &'a Kernel,
    an: &'a Analysis,
    facts: &'a Facts,
    shape: Dim3,
    lanes: i64,
    features: Features,
    count_steps: bool,
    regs: [Option<Variable>; NUM_REGS],
    preds: [Option<Variable>; NUM_PREDS],
    steps: Variable,
    lane: Variable,
    block: Variable,
    ctaid: [Variable; 3],
    gid_base: Variable,
    phase: Variable,
    any_wait: Variable,
    frame: Value,
    grid: [Value; 3],
    max_steps: Value,
    stop: Value,
    /// `Frame::scalars`.
    scalars: Value,
    /// `Frame::buffers`.
    buffers: Value,
    shared: Value,
    spill: Value,
    lane_state: Value,
    steps_mem: Value,
    regs_mem: Value,
    helpers: Helpers,
    bbs: Vec<Block>,
    lane_exit: Block,
    lane_next: Block,
    stopped: Block,
    /// Params: code (i32), pc (i32), value (i64).
    fault: Block,
    barrier_blocks: Vec<Block>,
    /// Backward branches: the block that checks the stop flag, and where
    /// it goes on.
    back_edges: Vec<(Block, Block)>,
}

/// Translates `kernel` for blocks of shape `shape` into `func`.
pub(super) fn translate(
    func: &mut Function,
    fctx: &mut FunctionBuilderContext,
    v: &Variant<'_>,
    target: &Target,
) {
    let Variant {
        kernel,
        an,
        facts,
        shape,
        count_steps,
    } = *v;
    let mut b = FunctionBuilder::new(func, fctx);
    let entry = b.create_block();
    b.append_block_params_for_function_params(entry);
    b.switch_to_block(entry);
    let frame = b.block_params(entry)[0];
    let load = |b: &mut FunctionBuilder<'_>, ty, base: Value, off: usize| {
        b.ins().load(ty, MemFlagsData::trusted(), base, off as i32)
    };
    let first = load(&mut b, types::I64, frame, offset_of!(Frame, first_block));
    let grid = [0, 1, 2].map(|i| load(&mut b, types::I64, frame, offset_of!(Frame, grid) + 8 * i));
    let max_steps = load(&mut b, types::I64, frame, offset_of!(Frame, max_steps));
    let stop = load(&mut b, types::I64, frame, offset_of!(Frame, stop));
    let buffers = load(&mut b, types::I64, frame, offset_of!(Frame, buffers));
    let scalars = load(&mut b, types::I64, frame, offset_of!(Frame, scalars));
    let shared = load(&mut b, types::I64, frame, offset_of!(Frame, shared));
    let spill = load(&mut b, types::I64, frame, offset_of!(Frame, spill));
    let lane_state = load(&mut b, types::I64, frame, offset_of!(Frame, lane_state));
    let steps_mem = load(&mut b, types::I64, frame, offset_of!(Frame, steps));
    let regs_mem = load(&mut b, types::I64, frame, offset_of!(Frame, regs));

    let var = |b: &mut FunctionBuilder<'_>, ty| b.declare_var(ty);
    let mut regs = [None; NUM_REGS];
    for &r in &an.regs {
        regs[r as usize] = Some(var(&mut b, kind_type(an.kinds[r as usize])));
    }
    let mut preds = [None; NUM_PREDS];
    for &p in &an.preds {
        preds[p as usize] = Some(var(&mut b, types::I8));
    }
    let t = Translator {
        steps: var(&mut b, types::I64),
        lane: var(&mut b, types::I64),
        block: var(&mut b, types::I64),
        ctaid: [
            var(&mut b, types::I64),
            var(&mut b, types::I64),
            var(&mut b, types::I64),
        ],
        gid_base: var(&mut b, types::I64),
        phase: var(&mut b, types::I64),
        any_wait: var(&mut b, types::I8),
        bbs: an.blocks.iter().map(|_| b.create_block()).collect(),
        lane_exit: b.create_block(),
        lane_next: b.create_block(),
        stopped: b.create_block(),
        fault: b.create_block(),
        barrier_blocks: an.barriers.iter().map(|_| b.create_block()).collect(),
        back_edges: Vec::new(),
        b,
        kernel,
        an,
        facts,
        shape,
        lanes: shape.count() as i64,
        features: target.features,
        count_steps,
        regs,
        preds,
        frame,
        grid,
        max_steps,
        stop,
        scalars,
        buffers,
        shared,
        spill,
        lane_state,
        steps_mem,
        regs_mem,
        helpers: Helpers::new(target.call_conv),
    };
    t.emit(first, target.frontend);
}

impl<'a> Translator<'a> {
    fn emit(mut self, first: Value, frontend: TargetFrontendConfig) {
        let barriers = !self.an.barriers.is_empty();
        let block_head = self.b.create_block();
        let phase_head = self.b.create_block();
        let lane_head = self.b.create_block();
        let phase_end = self.b.create_block();
        let block_next = self.b.create_block();
        let done = self.b.create_block();
        let start = self.b.create_block();

        self.b.def_var(self.block, first);
        self.b.ins().jump(block_head, &[]);

        // for block in first..end
        self.b.switch_to_block(block_head);
        let blk = self.b.use_var(self.block);
        let end = self.b.ins().load(
            types::I64,
            MemFlagsData::trusted(),
            self.frame,
            offset_of!(Frame, end_block) as i32,
        );
        let over = self
            .b
            .ins()
            .icmp(IntCC::UnsignedGreaterThanOrEqual, blk, end);
        let body = self.b.create_block();
        self.b.ins().brif(over, done, &[], body, &[]);
        self.b.switch_to_block(body);
        self.check_stop();
        let blk = self.b.use_var(self.block);
        if self.uses_ctaid() {
            let [gx, gy, _] = self.grid;
            let x = self.b.ins().urem(blk, gx);
            let q = self.b.ins().udiv(blk, gx);
            let y = self.b.ins().urem(q, gy);
            let z = self.b.ins().udiv(q, gy);
            for (v, val) in self.ctaid.into_iter().zip([x, y, z]) {
                self.b.def_var(v, val);
            }
        }
        let base = self.b.ins().imul_imm_s(blk, self.lanes);
        self.b.def_var(self.gid_base, base);
        memory::zero_shared(&mut self.b, self.shared, self.kernel.shared_bytes);
        let zero = self.b.ins().iconst(types::I64, 0);
        self.b.def_var(self.phase, zero);
        self.b.ins().jump(phase_head, &[]);

        // for phase in 0..: every lane runs to a barrier or its end
        self.b.switch_to_block(phase_head);
        let zero = self.b.ins().iconst(types::I64, 0);
        self.b.def_var(self.lane, zero);
        let no = self.b.ins().iconst(types::I8, 0);
        self.b.def_var(self.any_wait, no);
        self.b.ins().jump(lane_head, &[]);

        // for lane in 0..lanes
        self.b.switch_to_block(lane_head);
        let lane = self.b.use_var(self.lane);
        let past = self
            .b
            .ins()
            .icmp_imm_s(IntCC::UnsignedGreaterThanOrEqual, lane, self.lanes);
        let dispatch = self.b.create_block();
        self.b.ins().brif(past, phase_end, &[], dispatch, &[]);
        self.b.switch_to_block(dispatch);
        let resumes: Vec<Block> = self
            .an
            .barriers
            .iter()
            .map(|_| self.b.create_block())
            .collect();
        if barriers {
            // Phase 0: every lane starts. Later: each resumes where it
            // waits, exited lanes are skipped.
            let phase = self.b.use_var(self.phase);
            let later = self.b.create_block();
            self.b.ins().brif(phase, later, &[], start, &[]);
            self.b.switch_to_block(later);
            let state = self.lane_state_addr();
            let st = self
                .b
                .ins()
                .load(types::I32, MemFlagsData::trusted(), state, 0);
            let pool = &mut self.b.func.dfg.value_lists;
            let default = BlockCall::new(self.lane_next, [], pool);
            let mut table = vec![BlockCall::new(start, [], pool)];
            table.extend(resumes.iter().map(|&r| BlockCall::new(r, [], pool)));
            let jt = self
                .b
                .create_jump_table(JumpTableData::new(default, &table));
            self.b.ins().br_table(st, jt);
        } else {
            self.b.ins().jump(start, &[]);
        }

        // A lane starts: registers zero, predicates false, no steps.
        self.b.switch_to_block(start);
        self.define_fresh(&[], &[], false);
        let entry = self.target(0);
        self.b.ins().jump(entry, &[]);

        // A lane resumes after barrier k: its live registers come back.
        for (k, &resume) in resumes.iter().enumerate() {
            self.b.switch_to_block(resume);
            self.reload_spilled();
            let next = self.target(self.an.barriers[k] + 1);
            self.b.ins().jump(next, &[]);
        }

        for bi in 0..self.an.blocks.len() {
            self.basic_block(bi);
        }
        for (check, target) in std::mem::take(&mut self.back_edges) {
            self.b.switch_to_block(check);
            self.check_stop();
            self.b.ins().jump(target, &[]);
        }

        // A lane reaches bar.sync k: spill, remember where it resumes.
        for k in 0..self.an.barriers.len() {
            self.b.switch_to_block(self.barrier_blocks[k]);
            self.spill_live((k + 1) as u32);
            let yes = self.b.ins().iconst(types::I8, 1);
            self.b.def_var(self.any_wait, yes);
            self.b.ins().jump(self.lane_next, &[]);
        }

        self.b.switch_to_block(self.lane_exit);
        if barriers {
            let state = self.lane_state_addr();
            let exited = self.b.ins().iconst(types::I32, EXITED as i64);
            self.b
                .ins()
                .store(MemFlagsData::trusted(), exited, state, 0);
        }
        self.b.ins().jump(self.lane_next, &[]);

        self.b.switch_to_block(self.lane_next);
        let lane = self.b.use_var(self.lane);
        let lane = self.b.ins().iadd_imm_s(lane, 1);
        self.b.def_var(self.lane, lane);
        self.b.ins().jump(lane_head, &[]);

        // Every lane exited or waits: release the barrier, or end the block.
        self.b.switch_to_block(phase_end);
        if barriers {
            let any = self.b.use_var(self.any_wait);
            let again = self.b.create_block();
            self.b.ins().brif(any, again, &[], block_next, &[]);
            self.b.switch_to_block(again);
            let phase = self.b.use_var(self.phase);
            let phase = self.b.ins().iadd_imm_s(phase, 1);
            self.b.def_var(self.phase, phase);
            self.b.ins().jump(phase_head, &[]);
        } else {
            self.b.ins().jump(block_next, &[]);
        }

        self.b.switch_to_block(block_next);
        let blk = self.b.use_var(self.block);
        let blk = self.b.ins().iadd_imm_s(blk, 1);
        self.b.def_var(self.block, blk);
        self.b.ins().jump(block_head, &[]);

        self.b.switch_to_block(done);
        let s = self.b.ins().iconst(types::I32, status::DONE as i64);
        self.b.ins().return_(&[s]);

        self.b.switch_to_block(self.stopped);
        self.b.set_cold_block(self.stopped);
        let blk = self.b.use_var(self.block);
        self.b.ins().store(
            MemFlagsData::trusted(),
            blk,
            self.frame,
            offset_of!(Frame, stopped_block) as i32,
        );
        let s = self.b.ins().iconst(types::I32, status::STOPPED as i64);
        self.b.ins().return_(&[s]);

        self.emit_fault_block();
        self.b.seal_all_blocks();
        self.b.finalize(frontend);
    }

    fn uses_ctaid(&self) -> bool {
        self.kernel.instrs.iter().any(|i| {
            let mut found = false;
            for_each_src(&i.op, |s| {
                found |= matches!(s, Src::Special(Special::Ctaid(_)))
            });
            found
        })
    }

    /// The variable and kind of register `r` (every register the kernel
    /// names has one).
    fn reg_var(&self, r: Reg) -> (Variable, super::analysis::Kind) {
        let var = self.regs[r as usize].expect("the analysis lists every register the kernel uses");
        (var, self.an.kinds[r as usize])
    }

    fn pred_var(&self, p: u8) -> Variable {
        self.preds[p as usize].expect("the analysis lists every predicate the kernel uses")
    }

    /// Defines registers and predicates as a fresh lane has them, except
    /// the ones listed (defined by the caller); steps restart unless
    /// `keep_steps`.
    fn define_fresh(&mut self, keep_regs: &[Reg], keep_preds: &[u8], keep_steps: bool) {
        for i in 0..self.an.regs.len() {
            let r = self.an.regs[i];
            if keep_regs.contains(&r) {
                continue;
            }
            let (var, kind) = self.reg_var(r);
            let z = self.zero_of(kind);
            self.b.def_var(var, z);
        }
        for i in 0..self.an.preds.len() {
            let p = self.an.preds[i];
            if !keep_preds.contains(&p) {
                let z = self.b.ins().iconst(types::I8, 0);
                let var = self.pred_var(p);
                self.b.def_var(var, z);
            }
        }
        if !keep_steps {
            let z = self.b.ins().iconst(types::I64, 0);
            self.b.def_var(self.steps, z);
        }
    }

    /// `&lane_state[lane]`.
    fn lane_state_addr(&mut self) -> Value {
        let lane = self.b.use_var(self.lane);
        let off = self.b.ins().imul_imm_s(lane, 4);
        self.b.ins().iadd(self.lane_state, off)
    }

    /// `&spill[slot][lane]` (slot `spilled.len()` holds the predicates).
    fn spill_addr(&mut self, slot: usize) -> Value {
        let lane = self.b.use_var(self.lane);
        let i = self.b.ins().iadd_imm_s(lane, slot as i64 * self.lanes);
        let off = self.b.ins().imul_imm_s(i, 8);
        self.b.ins().iadd(self.spill, off)
    }

    /// `&steps[lane]`.
    fn steps_addr(&mut self) -> Value {
        let lane = self.b.use_var(self.lane);
        let off = self.b.ins().imul_imm_s(lane, 8);
        self.b.ins().iadd(self.steps_mem, off)
    }

    /// The predicates in `preds` as one bit mask (bit `p` for `p`).
    fn pred_mask(&mut self, preds: &[u8]) -> Value {
        let mut mask = self.b.ins().iconst(types::I64, 0);
        for &p in preds {
            let v = self.pred(p);
            let v = self.b.ins().uextend(types::I64, v);
            let v = self.b.ins().ishl_imm_s(v, p as i64);
            mask = self.b.ins().bor(mask, v);
        }
        mask
    }

    fn spill_live(&mut self, resume: u32) {
        for slot in 0..self.an.spilled.len() {
            let r = self.an.spilled[slot];
            let bits = self.reg_bits(r);
            let at = self.spill_addr(slot);
            self.b.ins().store(MemFlagsData::trusted(), bits, at, 0);
        }
        if !self.an.spilled_preds.is_empty() {
            let mask = self.pred_mask(&self.an.spilled_preds.clone());
            let at = self.spill_addr(self.an.spilled.len());
            self.b.ins().store(MemFlagsData::trusted(), mask, at, 0);
        }
        if self.count_steps {
            let s = self.b.use_var(self.steps);
            let at = self.steps_addr();
            self.b.ins().store(MemFlagsData::trusted(), s, at, 0);
        }
        let state = self.lane_state_addr();
        let k = self.b.ins().iconst(types::I32, resume as i64);
        self.b.ins().store(MemFlagsData::trusted(), k, state, 0);
    }

    fn reload_spilled(&mut self) {
        let spilled = self.an.spilled.clone();
        let spilled_preds = self.an.spilled_preds.clone();
        for (slot, &r) in spilled.iter().enumerate() {
            let at = self.spill_addr(slot);
            let bits = self
                .b
                .ins()
                .load(types::I64, MemFlagsData::trusted(), at, 0);
            self.write_bits(r, bits);
        }
        if !spilled_preds.is_empty() {
            let at = self.spill_addr(spilled.len());
            let mask = self
                .b
                .ins()
                .load(types::I64, MemFlagsData::trusted(), at, 0);
            for &p in &spilled_preds {
                let bit = self.b.ins().ushr_imm_s(mask, p as i64);
                let bit = self.b.ins().band_imm_s(bit, 1);
                let bit = self.b.ins().ireduce(types::I8, bit);
                self.set_pred(p, bit);
            }
        }
        if self.count_steps {
            let at = self.steps_addr();
            let s = self
                .b
                .ins()
                .load(types::I64, MemFlagsData::trusted(), at, 0);
            self.b.def_var(self.steps, s);
        }
        self.define_fresh(&spilled, &spilled_preds, self.count_steps);
    }

    /// The block a lane continues at when it goes to instruction `pc`.
    fn target(&self, pc: usize) -> Block {
        match self.an.block_starting(pc) {
            Some(b) => self.bbs[b],
            None => self.lane_exit,
        }
    }

    /// The block a branch at `from` to `to` goes through: backward
    /// branches check the stop flag first.
    fn edge(&mut self, from: usize, to: usize) -> Block {
        let target = self.target(to);
        if to > from {
            return target;
        }
        // Filled in after the basic blocks (the current one is not done).
        let check = self.b.create_block();
        self.back_edges.push((check, target));
        check
    }

    /// Returns [`status::STOPPED`] when the launch's stop flag is set.
    fn check_stop(&mut self) {
        let flag = self
            .b
            .ins()
            // An atomic load: alias analysis would merge plain loads of
            // the flag in a loop that stores nothing, and never see it set.
            .atomic_load(types::I8, MemFlagsData::new().with_notrap(), self.stop);
        let go = self.b.create_block();
        self.b.ins().brif(flag, self.stopped, &[], go, &[]);
        self.b.switch_to_block(go);
    }

    fn basic_block(&mut self, bi: usize) {
        let bb = self.an.blocks[bi].clone();
        self.b.switch_to_block(self.bbs[bi]);
        if self.count_steps {
            let s = self.b.use_var(self.steps);
            let after = self.b.ins().iadd_imm_s(s, bb.len() as i64);
            let over = self
                .b
                .ins()
                .icmp(IntCC::UnsignedGreaterThan, after, self.max_steps);
            let exact = self.b.create_block();
            let body = self.b.create_block();
            self.b.set_cold_block(exact);
            self.b.ins().brif(over, exact, &[], body, &[]);
            self.b.switch_to_block(exact);
            self.finish_exactly(bi, s);
            self.b.switch_to_block(body);
            self.b.def_var(self.steps, after);
        }
        for pc in bb.start..bb.end - 1 {
            self.instr(pc);
        }
        let last = bb.end - 1;
        let instr = self.kernel.instrs[last];
        let after = self.target(last + 1);
        let (to, cond) = match instr.op {
            Op::Bra { target } => (self.edge(last, target as usize), instr.guard),
            Op::Exit => (self.lane_exit, instr.guard),
            Op::Bar => {
                let k = self
                    .an
                    .barriers
                    .iter()
                    .position(|&b| b == last)
                    .expect("every bar.sync is listed");
                (self.barrier_blocks[k], instr.guard)
            }
            _ => {
                self.instr(last);
                self.b.ins().jump(after, &[]);
                return;
            }
        };
        match cond {
            None => {
                self.b.ins().jump(to, &[]);
            }
            Some(g) => {
                let p = self.pred(g.pred);
                if g.negated {
                    self.b.ins().brif(p, after, &[], to, &[]);
                } else {
                    self.b.ins().brif(p, to, &[], after, &[]);
                }
            }
        }
    }

    /// The cold path of a basic block the lane cannot finish within its
    /// budget: its registers go to `Frame::regs`, and the reference
    /// interpreter runs it to its fault.
    fn finish_exactly(&mut self, bi: usize, steps: Value) {
        let live = self.an.live_in[bi];
        for i in 0..self.an.regs.len() {
            let r = self.an.regs[i];
            if !live.contains(r as u16) {
                continue;
            }
            let bits = self.reg_bits(r);
            self.b
                .ins()
                .store(MemFlagsData::trusted(), bits, self.regs_mem, 8 * r as i32);
        }
        let preds: Vec<u8> = self
            .an
            .preds
            .iter()
            .copied()
            .filter(|&p| live.contains(pred_id(p)))
            .collect();
        let mask = self.pred_mask(&preds);
        let pc = self
            .b
            .ins()
            .iconst(types::I32, self.an.blocks[bi].start as i64);
        let lane = self.b.use_var(self.lane);
        let block = self.b.use_var(self.block);
        let st = self.call_helper(Helper::Finish, &[self.frame, pc, lane, block, steps, mask]);
        self.b.ins().return_(&[st]);
    }

    /// Emits one instruction that does not end a basic block.
    fn instr(&mut self, pc: usize) {
        let instr = self.kernel.instrs[pc];
        let cont = instr.guard.map(|g| {
            let p = self.pred(g.pred);
            let run = self.b.create_block();
            let cont = self.b.create_block();
            if g.negated {
                self.b.ins().brif(p, cont, &[], run, &[]);
            } else {
                self.b.ins().brif(p, run, &[], cont, &[]);
            }
            self.b.switch_to_block(run);
            cont
        });
        match instr.op {
            Op::Load { .. } | Op::Store { .. } | Op::Atom { .. } | Op::Cas { .. } => {
                memory::memory(self, pc, instr.op)
            }
            _ => alu::alu(self, pc, instr.op),
        }
        if let Some(cont) = cont {
            self.b.ins().jump(cont, &[]);
            self.b.switch_to_block(cont);
        }
    }

    /// Leaves through the fault block when `cond` (`I8`) is set. The
    /// fault's arguments are set on a cold edge of their own, off the
    /// path that passes the check.
    fn fault_if(&mut self, cond: Value, f: FaultCall) {
        let ok = self.b.create_block();
        let site = self.b.create_block();
        self.b.set_cold_block(site);
        self.b.ins().brif(cond, site, &[], ok, &[]);
        self.b.switch_to_block(site);
        let code = self.b.ins().iconst(types::I32, f.code as i64);
        let pc = self.b.ins().iconst(types::I32, f.pc as i64);
        let value = match f.value {
            Some(v) => v,
            None => self.b.ins().iconst(types::I64, 0),
        };
        self.b.ins().jump(
            self.fault,
            &[
                BlockArg::Value(code),
                BlockArg::Value(pc),
                BlockArg::Value(value),
            ],
        );
        self.b.switch_to_block(ok);
    }

    /// A launch-constant word at `base + offset` (the buffer table, the
    /// scalars): loaded where it is used rather than kept in a register
    /// across the kernel, which only made the register allocator spill;
    /// `can_move` lets Cranelift merge the loads and hoist them out of
    /// loops where registers allow (vector_add 16k on the gang tier, one
    /// thread: 11.75 -> 10.4 us).
    fn launch_word(&mut self, base: Value, offset: usize) -> Value {
        self.b.ins().load(
            types::I64,
            MemFlagsData::trusted().with_readonly().with_can_move(),
            base,
            offset as i32,
        )
    }

    /// Buffer slot `slot`'s base address.
    fn buffer_ptr(&mut self, slot: u16) -> Value {
        let at = slot as usize * size_of::<BufferRef>();
        self.launch_word(self.buffers, at + offset_of!(BufferRef, ptr))
    }

    /// Buffer slot `slot`'s length in bytes.
    fn buffer_len(&mut self, slot: u16) -> Value {
        let at = slot as usize * size_of::<BufferRef>();
        self.launch_word(self.buffers, at + offset_of!(BufferRef, len))
    }

    /// Scalar parameter `slot`'s register contents.
    fn scalar(&mut self, slot: u16) -> Value {
        self.launch_word(self.scalars, 8 * slot as usize)
    }

    fn emit_fault_block(&mut self) {
        let f = self.fault;
        self.b.set_cold_block(f);
        let code = self.b.append_block_param(f, types::I32);
        let pc = self.b.append_block_param(f, types::I32);
        let value = self.b.append_block_param(f, types::I64);
        self.b.switch_to_block(f);
        let lane = self.b.use_var(self.lane);
        let block = self.b.use_var(self.block);
        let store = |b: &mut FunctionBuilder<'_>, v: Value, frame: Value, off: usize| {
            b.ins().store(MemFlagsData::trusted(), v, frame, off as i32);
        };
        store(&mut self.b, code, self.frame, offset_of!(Frame, fault_code));
        store(&mut self.b, pc, self.frame, offset_of!(Frame, fault_pc));
        store(&mut self.b, lane, self.frame, offset_of!(Frame, fault_lane));
        store(
            &mut self.b,
            block,
            self.frame,
            offset_of!(Frame, fault_block),
        );
        store(
            &mut self.b,
            value,
            self.frame,
            offset_of!(Frame, fault_value),
        );
        let s = self.b.ins().iconst(types::I32, status::FAULT as i64);
        self.b.ins().return_(&[s]);
    }

    /// Calls a helper: its result.
    fn call_helper(&mut self, h: Helper, args: &[Value]) -> Value {
        self.helpers.call(&mut self.b, h, args)
    }
}
