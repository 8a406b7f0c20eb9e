//! The gang tier: four consecutive lanes of a block run as one, on 128-bit
//! vectors (ISPC's model on PoCL's work-item loops).
//!
//! ```text
//! for block in first..end:
//!     for gang in 0..ceil(lanes / 4):         lanes 4g..4g+3, the live ones
//!         run the kernel once for the gang     in `mask`
//! ```
//!
//! Registers take the form `shape` gives them: uniform and affine ones are
//! machine scalars (an affine register holds lane 0's value), varying ones
//! vectors. An instruction whose result is uniform or affine is computed
//! once, on lane 0's values (`alu` and `memory`, the one-lane tier's own
//! translations, through [`LaneCode`]); a varying one on vectors
//! (`alu.rs`, `memory.rs` here; `exp`, `exp2`, `log`, `log2`, `tanh`, `sin`
//! and `cos` too, by lanes' own algorithms: `codegen::functions`; a gang
//! with a `sin` or `cos` input past the bound runs it lane by lane), or,
//! for what vectors cannot do (integer division, the float functions from
//! libm, 64-bit minimum...), lane by lane through the same one-lane
//! translations, its four results put back in a vector.
//!
//! Kernels of at most 64 instructions without divergence (no branch on a
//! varying predicate but exits, no barrier), or whose barriers run in
//! lockstep, get each basic block twice: the general version, and a
//! *full-gang* version that runs while all four lanes are live and none
//! waits elsewhere, where an instruction without a varying guard runs its
//! vector path without first testing which lanes run it, and a block
//! without testing for lanes waiting there. A gang starts in the full
//! version (unless it is a block's partial last gang), resumes in it after
//! a barrier when all four lanes are live, and moves to the general one
//! when an exit takes some of its lanes or a branch splits them. The full
//! version has no lane-by-lane code of its own: a contiguous load or
//! store that some but not all of its lanes run, or whose run fails its
//! check, goes on in the general version at that instruction (each load
//! and store starts a block there: `resume_points`). A `setp` of an affine value
//! against a uniform one whose lanes cannot wrap (`%gid >= n`,
//! `%tid.x < s`) is monotone across the gang, so one scalar comparison of
//! the right end lane decides an exit or a branch on it for all four lanes
//! (the vector mask is computed only when they disagree).
//!
//! In a straight-line kernel, the bounds checks of accesses at
//! consecutive elements and the exits on such comparisons are of values
//! that are linear along the whole block (`blockwide`): once per block,
//! before its gangs, `blockwide.rs` here runs what they read with gang 0's
//! values and tests them for every lane of the block. A block that passes
//! runs its gangs in a loop of its own over the full version with those
//! tests left out (`GangLoop`: vector_add's gang is two loads, an add
//! and a store); a block that fails (the block at the end of the data, a
//! fault to come) runs the general version, which tests everything.
//!
//! Such kernels without barriers are compiled in two functions (`Part`):
//! first the *hot* part, which has no general version (most of the code,
//! and of the compile time) and hands a gang over where it would enter
//! it: a stub stores the gang's variables (of the kernel's registers and
//! predicates, those live there) in a stack slot and calls
//! `frame::general`, which runs the *general* part, the whole kernel
//! compiled when first needed or by the background compiler after the hot
//! part, from that place with that state, to the end of the frame's
//! blocks. Once the general part is compiled, it runs every launch from
//! its start. The op library's 150 such kernels: hot parts in p50 0.50
//! ms, max 1.3-1.4 ms; general parts p50 1.0 ms, max 2.7-3.1 ms
//! (`jit_compile_times`; the whole op library took p50 1.1 ms before).
//!
//! By default this tier takes every kernel without barriers, and kernels
//! whose barriers every lane of a block meets in lockstep when no steps
//! need counting (`lockstep.rs`: passes over the block's gangs, PoCL's
//! regions); other kernels with barriers only when asked (`eligible`).
//! Lanes leave the gang's `mask`
//! when they exit. After a branch on a varying predicate the lanes that
//! go elsewhere wait at their target block (`pend`) while the others run,
//! and the lowest block with waiting lanes runs next, so lanes meet again
//! (a loop whose trip count differs between lanes keeps iterating with the
//! lanes still in it); a block that may run while lanes wait elsewhere is
//! *partial*, and its writes merge into the waiting lanes' values. The gang
//! counts its steps once and each lane the steps it missed while waiting;
//! near the limit the lanes go to the reference interpreter in lockstep
//! (`frame::finish_gang`).

mod alu;
mod blockwide;
mod lockstep;
mod memory;
mod vector;

use std::mem::offset_of;

use cranelift_codegen::entity::EntityRef;
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{
    Block, BlockArg, BlockCall, Function, InstBuilder, JumpTableData, MemFlagsData, StackSlotData,
    StackSlotKind, Value, types,
};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext, Variable};

use super::values::{bits_as, held_as, to_held, zero_of};
use super::{FaultCall, Features, Helper, Helpers, LaneCode, Target, Variant};
use crate::engine::jit::analysis::{Analysis, Kind};
use crate::engine::jit::blockwide::BlockChecks;
use crate::engine::jit::frame::{BufferRef, Frame, status};
use crate::engine::jit::shape::{self, Facts, GANG, Invariant, Range, Shape, Shapes};
use crate::kernel::flow::{StorageSet, for_each_src, pred_id};
use crate::kernel::{Kernel, NUM_PREDS, NUM_REGS, Op, Reg, Space, Special, Src};
use crate::launch::Dim3;
use crate::types::ScalarType;
use vector::{GVal, Vector};

/// Whether `kernel` runs on this tier: why not, if it does not. Unless
/// `forced`, a kernel with barriers runs here only when its lanes meet
/// them in lockstep without counting steps (`lockstep.rs`). Loops whose
/// trip counts differ between lanes run here, lanes that finished early
/// waiting masked off: measured on Mandelbrot 64k (`LANES_JIT_TIER`, one
/// `lanes bench` run), 6.2 ms here against 8.7 ms one lane at a time.
pub(in crate::engine::jit) fn eligible(
    kernel: &Kernel,
    an: &Analysis,
    sh: &Shapes,
    count_steps: bool,
    forced: bool,
) -> Result<(), &'static str> {
    // Measured on block_sum: in the general scheme every pass over a
    // block's gangs saves and restores each gang's waiting lanes and step
    // counts, and a tree reduction leaves most gangs idle in most passes;
    // one lane at a time was as fast.
    if !an.barriers.is_empty()
        && !forced
        && lockstep_invariants(kernel, an, sh, count_steps).is_none()
    {
        return Err("bar.sync not met in lockstep (one lane at a time is as fast)");
    }
    Ok(())
}

/// Whether register `r` crosses barriers in machine registers in lockstep
/// (block-invariant, and so uniform: a scalar; any other stays in the
/// gang's record).
fn kept_in_registers(inv: &Invariant, sh: &Shapes, r: Reg) -> bool {
    inv.regs[r as usize] && sh.regs[r as usize] == Shape::Uniform
}

/// The block-invariant values, when the kernel's barriers run in lockstep
/// on this tier (no step counting: see `lockstep.rs`).
fn lockstep_invariants(
    kernel: &Kernel,
    an: &Analysis,
    sh: &Shapes,
    count_steps: bool,
) -> Option<Invariant> {
    if count_steps || an.barriers.is_empty() {
        return None;
    }
    let inv = Invariant::new(kernel, an, sh);
    shape::lockstep(kernel, an, &inv).then_some(inv)
}

/// A gang loop of its own beside the general one: of a block that passed
/// its checks (`blockwide`: the full version with those checks left out,
/// in copies ([`copies_for`]) that run consecutive gangs, so that a trip
/// runs several gangs and tests the loop's end once), or of a lockstep
/// block's first pass (`Gang::first_stretch_loop`). A gang that moves to
/// the general version finishes there, and the block's later gangs run in
/// the general loop.
struct GangLoop {
    start: Block,
    gang_next: Block,
}

/// Where a register lives.
#[derive(Clone, Copy, Debug)]
enum Slot {
    /// Uniform (the value) or affine (lane 0's value).
    Scalar(Variable),
    /// Varying, one vector.
    One(Variable),
    /// Varying, two halves.
    Two(Variable, Variable),
}

/// Where a predicate lives.
#[derive(Clone, Copy, Debug)]
enum PSlot {
    /// Uniform: `I8`, 0 or 1.
    Uni(Variable),
    /// Varying: `I32X4`, lanes all ones or zero.
    Vec(Variable),
}

/// A predicate's value across the gang.
#[derive(Clone, Copy, Debug)]
pub(super) enum GPred {
    Uni(Value),
    Vec(Value),
}

/// Whose values the one-lane translations (`LaneCode`) see.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Lane 0's (the gang's uniform work; a fault names the lowest live
    /// lane, the first that would have run it).
    Uniform,
    /// Lane `k`'s.
    Lane(u8),
}

/// The state of one gang-tier translation.
pub(super) struct Gang<'a> {
    b: FunctionBuilder<'a>,
    kernel: &'a Kernel,
    an: &'a Analysis,
    sh: &'a Shapes,
    facts: &'a Facts,
    shape: Dim3,
    lanes: i64,
    features: Features,
    count_steps: bool,
    regs: [Option<Slot>; NUM_REGS],
    preds: [Option<PSlot>; NUM_PREDS],
    /// Steps the gang (every live lane) took.
    steps: Variable,
    gang: Variable,
    /// The proven loop's gang at the start of its copies, and which copy
    /// is being emitted (`lane0`).
    loop_gang: Variable,
    copy_k: i64,
    block: Variable,
    ctaid: [Variable; 3],
    gid_base: Variable,
    /// Live lanes of the gang (bit `k`: lane `k`), `I32`.
    mask: Variable,
    frame: Value,
    grid: [Value; 3],
    max_steps: Value,
    stop: Value,
    scalars: Value,
    buffers: Value,
    shared: Value,
    regs_mem: Value,
    helpers: Helpers,
    bbs: Vec<Block>,
    /// The full-gang version of each basic block (see [`Gang::full`]);
    /// empty when the kernel has none.
    bbs_full: Vec<Block>,
    /// Emitting the full-gang version: every lane of the gang is live
    /// (`mask` is `0xF`) and none waits elsewhere, so instructions without
    /// a varying guard skip their "do all lanes run?" tests and blocks
    /// their "do lanes wait here?" ones. Kernels without divergence have
    /// it, and kernels whose barriers run in lockstep; a gang whose lanes
    /// part (an exit of some of them, a branch that splits them) goes on
    /// in the general version, and a gang resumes after a barrier in the
    /// full version when all four of its lanes are live.
    full: bool,
    /// The current instruction runs in every lane (full version, no
    /// varying guard).
    run_all: bool,
    /// Comparisons of an affine value with a uniform one whose lanes
    /// cannot wrap (`gid >= n`): the predicate is monotone across the
    /// gang, so one lane decides whether all lanes hold it and one
    /// whether any does. Per mask value set by such a `setp`: those two
    /// (`I8`).
    thresholds: Vec<(Value, Value, Value)>,
    /// With a full version: the general version's block starting at each
    /// point where the full version may go on in it ([`resume_points`]:
    /// basic blocks, and loads and stores mid-block, whose lane-by-lane
    /// paths the full version leaves to the general one); `None`
    /// elsewhere, and empty without a full version.
    entry_at: Vec<Option<Block>>,
    /// The current division's uniform divisor was checked for zero once
    /// for the gang: the lanes' own checks are left out.
    divisor_checked: bool,
    gang_next: Block,
    stopped: Block,
    /// Params: code (i32), pc (i32), value (i64), lane (i64).
    fault: Block,
    /// The exact path near the step limit, shared by every basic block
    /// (see [`Gang::finish_exactly`]). Params: pc (i32), steps (i64).
    finish: Block,
    back_edges: Vec<(Block, Block)>,
    mode: Mode,
    /// What the current instruction wrote, lane by lane (`Mode::Lane`).
    lane_out: [Option<(ScalarType, Value)>; 4],
    lane_pred_out: [Option<Value>; 4],
    /// The lanes the current instruction writes (`I32X4` mask; `None`:
    /// every live lane).
    write_mask: Option<Value>,
    /// The lanes that run the current uniform access (`I32`; `None`: the
    /// live ones): a fault names the lowest.
    fault_bits: Option<Value>,

    /// Some branch's predicate varies within a gang: lanes may wait at
    /// blocks while others run (`pend`, `pset`, `dispatch`).
    divergent: bool,
    /// Per basic block: the lanes waiting to run it (`I32`).
    pend: Vec<Variable>,
    /// The blocks with waiting lanes (bit `b`: block `b`), `I64`.
    pset: Variable,
    /// Runs the lowest block with waiting lanes, or ends the gang.
    dispatch: Block,
    /// Per lane: the gang's step count when it last began to wait
    /// (`I64X2` halves), and the steps it missed while waiting: a lane's
    /// steps are the gang's count minus those (divergent kernels that
    /// count steps only).
    left: [Variable; 2],
    missed: [Variable; 2],
    /// In a partial block: the running lanes as an `I32X4` mask (every
    /// write merges into the waiting lanes' values with it).
    block_mask: Option<Value>,
    /// Per `bar.sync`: the gang's lanes waiting at it (`I32`).
    wait: Vec<Variable>,
    /// Which pass over the block's gangs (`I64`; 0: every lane starts).
    phase: Variable,
    /// Some gang waits at a barrier after this pass (`I8`).
    any_wait: Variable,
    /// Where a gang's run ends: it waits at barriers or is done.
    gang_end: Block,
    /// Where each gang keeps what crosses a barrier (see [`Record`]).
    record: Record,
    /// When barriers are met in lockstep: that scheme's state.
    lock: Option<lockstep::Lockstep>,
    /// The tests made once per block instead of once per gang (see
    /// `blockwide`); the full version leaves them out, and runs only in
    /// blocks where they all pass (`proven`).
    checks: Option<BlockChecks>,
    /// This block passed `checks` (`I8`).
    proven: Variable,
    /// Which code this translation makes (see [`Part`]).
    part: Part,
    /// The jumps being emitted leave the full version for the general one
    /// (a gang whose lanes part): in the hot part they hand over.
    handing_over: bool,
    /// In the hot part: its hand-overs, one stub each ([`Handover`]).
    handovers: Vec<Handover>,
    /// In the general part: the hand-over state's address (`I64`) and the
    /// hand-over's index in [`Gang::resumes`] (`I32`; `frame::START`: a
    /// launch's start).
    resume_args: Option<(Value, Value)>,
    /// Every variable's type, by index.
    var_types: Vec<types::Type>,
}

/// What the interpreter needs to run a gang that a hot part hands over
/// (`frame::general`): where each hand-over goes on, and how the hand-over
/// state holds each register and predicate ([`Gang::handovers`]).
#[derive(Clone, Debug)]
pub(in crate::engine::jit) struct Handovers {
    /// Per hand-over index: `None` at the dispatch (no lane runs on: a
    /// kernel compiled in two has no divergence), else [`Place`].
    pub places: Vec<Option<Place>>,
    /// Per register and predicate (storage id, `flow::pred_id` for
    /// predicates): where the state holds it.
    pub held: Vec<(u16, Held)>,
}

/// Where a hand-over goes on.
#[derive(Clone, Copy, Debug)]
pub(in crate::engine::jit) struct Place {
    /// The instruction.
    pub pc: u32,
    /// The steps of its basic block that the gang's count already holds
    /// past it (a gang counts a block's steps on entering it: a hand-over
    /// mid-block comes after that, one at a block's start before).
    pub back: u32,
    /// The registers and predicates the stub stores (those live there);
    /// the others' bytes in the state are not written.
    pub live: StorageSet,
}

/// How a hand-over's state (16 bytes per variable, at the variable's
/// index) holds a register's or predicate's four lanes; registers as
/// their 64-bit contents (`values::held_bits`).
#[derive(Clone, Copy, Debug)]
pub(in crate::engine::jit) enum Held {
    /// One scalar: lane `k` holds `base + k * stride` (uniform: stride 0)
    /// computed in the scalar's width, 64 or 32 bits (then extended, with
    /// its sign when `sign`: `Kind::I32Sign`).
    Scalar {
        var: u32,
        wide: bool,
        sign: bool,
        stride: i64,
    },
    /// A vector of four 32-bit lanes, extended as for `Scalar`.
    Four { var: u32, sign: bool },
    /// Two vectors of two 64-bit lanes: lanes 0 and 1, then 2 and 3.
    Pairs { lo: u32, hi: u32 },
    /// A uniform predicate: one byte, 0 or 1.
    Pred { var: u32 },
    /// A varying predicate: four 32-bit lanes, all ones or zero.
    PredFour { var: u32 },
}

/// Which code a gang-tier translation makes. A kernel with a full version
/// and no barriers is compiled in two parts: the *hot* part first, the
/// whole kernel without the general version, whose gangs hand over to the
/// general part where they would go on in it (a stub stores the gang's
/// state and calls `frame::general`); and the *general* part when first
/// needed or on the background compiler after the hot one: the whole
/// kernel (both versions), entered at a hand-over with the gang's state,
/// or at the start of a launch (`frame::START`): once compiled, it runs
/// every launch. Until then (while the background compiler has it, for a
/// bounded number of steps per launch; or for good, should it fail to
/// compile) the reference interpreter runs a handed-over gang's lanes to
/// their end from the stub's state, and the hot part goes on
/// with the next gang (`frame::general`, `status::CONTINUE`): a first
/// launch need not wait for the general part. Other kernels are one
/// function (`Whole`). Kernels with
/// barriers stay whole: their gangs would hand over in nearly every block
/// (the reductions' last tree levels and exits), and the one-lane tier
/// runs their first launches while they compile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(in crate::engine::jit) enum Part {
    Whole,
    Hot,
    General,
}

/// Where the full version goes on in the general one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Resume {
    /// The dispatch to waiting lanes (lanes parted at a branch).
    Dispatch,
    /// Instruction `pc`, not yet run (one of [`resume_points`]).
    At(usize),
}

/// A hand-over the hot part makes: where, and its stub.
struct Handover {
    to: Resume,
    stub: Block,
}

/// The instructions where the full version may go on in the general
/// version: the starts of basic blocks, and the loads and stores (a gang
/// some of whose lanes run one, or whose run fails its check, runs it
/// lane by lane there). The same list in both parts of a kernel: a
/// hand-over is named by its place in `[Dispatch, At(p) for p in this]`.
fn resume_points(kernel: &Kernel, an: &Analysis) -> Vec<usize> {
    (0..kernel.instrs.len())
        .filter(|&pc| {
            an.block_starting(pc).is_some()
                || matches!(kernel.instrs[pc].op, Op::Load { .. } | Op::Store { .. })
        })
        .collect()
}

/// The per-gang record in the spill area of what crosses a barrier: the
/// registers and predicates live after some `bar.sync` (in their gang
/// form), the lanes waiting at each barrier, and the gang's step counts.
#[derive(Clone, Debug, Default)]
pub(in crate::engine::jit) struct Record {
    /// Per spilled register: its offset.
    regs: Vec<(Reg, i32)>,
    /// Per spilled predicate: its offset.
    preds: Vec<(u8, i32)>,
    /// Offset of the waiting-lane sets (one `I32` per barrier).
    waits: i32,
    /// Offset of the step count, and of the per-lane `left` and `missed`
    /// vectors.
    steps: i32,
    /// Bytes per gang.
    pub size: usize,
}

impl Record {
    /// The layout for a kernel's spilled registers and predicates; in
    /// lockstep (`inv`), without the invariant registers and those a gang
    /// recomputes when it resumes (`remat`), and with one word of live
    /// lanes instead of the waiting lanes of each barrier.
    fn new(
        an: &Analysis,
        sh: &Shapes,
        count_steps: bool,
        inv: Option<&Invariant>,
        remat: &[Reg],
    ) -> Record {
        let mut at = 0i32;
        let mut take = |bytes: i32| {
            let o = at;
            at += bytes;
            o
        };
        let regs = an
            .spilled
            .iter()
            .filter(|&&r| inv.is_none_or(|inv| !kept_in_registers(inv, sh, r)))
            .filter(|r| !remat.contains(r))
            .map(|&r| {
                let bytes = match (sh.regs[r as usize], an.kinds[r as usize]) {
                    (Shape::Uniform | Shape::Affine(_), _) => 8,
                    (Shape::Varying, Kind::I64 | Kind::F64) => 32,
                    (Shape::Varying, _) => 16,
                };
                (r, take(bytes))
            })
            .collect();
        let preds = an
            .spilled_preds
            .iter()
            .map(|&p| (p, take(if sh.uniform_preds[p as usize] { 8 } else { 16 })))
            .collect();
        let words = if inv.is_some() { 1 } else { an.barriers.len() };
        let waits = take(4 * words as i32);
        let steps = take(if count_steps { 8 + 64 } else { 0 });
        Record {
            regs,
            preds,
            waits,
            steps,
            size: (at as usize).next_multiple_of(16),
        }
    }
}

/// Translates `kernel` for blocks of shape `shape` into `func` on the gang
/// tier (the caller checked [`eligible`]). Returns the bytes of spill
/// area a block needs and, for a hot part (`part` is `Hot` and the kernel
/// is compiled in two), where each of its hand-overs goes on
/// ([`Gang::handovers`]).
pub(in crate::engine::jit) fn translate(
    func: &mut Function,
    fctx: &mut FunctionBuilderContext,
    v: &Variant<'_>,
    sh: &Shapes,
    target: &Target,
    part: Part,
) -> (usize, Option<Handovers>) {
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
    // The general part's arguments: the hand-over state and its index.
    let resume_args = (part == Part::General).then(|| {
        let p = b.block_params(entry);
        (p[1], p[2])
    });
    // Every variable's type, in declaration order (a hand-over moves
    // each through memory).
    let mut var_types: Vec<types::Type> = Vec::new();
    macro_rules! var {
        ($b:expr, $t:expr) => {{
            let t = $t;
            var_types.push(t);
            $b.declare_var(t)
        }};
    }
    let load = |b: &mut FunctionBuilder<'_>, off: usize| {
        b.ins()
            .load(types::I64, MemFlagsData::trusted(), frame, off as i32)
    };
    let first = load(&mut b, offset_of!(Frame, first_block));
    let grid = [0, 1, 2].map(|i| load(&mut b, offset_of!(Frame, grid) + 8 * i));
    let max_steps = load(&mut b, offset_of!(Frame, max_steps));
    let stop = load(&mut b, offset_of!(Frame, stop));
    let buffers = load(&mut b, offset_of!(Frame, buffers));
    let scalars = load(&mut b, offset_of!(Frame, scalars));
    let shared = load(&mut b, offset_of!(Frame, shared));
    let regs_mem = load(&mut b, offset_of!(Frame, regs));

    let mut regs = [None; NUM_REGS];
    for &r in &an.regs {
        let kind = an.kinds[r as usize];
        regs[r as usize] = Some(match sh.regs[r as usize] {
            Shape::Uniform | Shape::Affine(_) => {
                Slot::Scalar(var!(b, super::values::kind_type(kind)))
            }
            Shape::Varying => match kind {
                Kind::I64 | Kind::F64 => Slot::Two(
                    var!(b, vector::kind_vtype(kind)),
                    var!(b, vector::kind_vtype(kind)),
                ),
                _ => Slot::One(var!(b, vector::kind_vtype(kind))),
            },
        });
    }
    let mut preds = [None; NUM_PREDS];
    for &p in &an.preds {
        preds[p as usize] = Some(if sh.uniform_preds[p as usize] {
            PSlot::Uni(var!(b, types::I8))
        } else {
            PSlot::Vec(var!(b, types::I32X4))
        });
    }
    // Barriers make lanes wait too: the same machinery.
    let divergent = sh.partial.iter().any(|&p| p) || !an.barriers.is_empty();
    let inv = lockstep_invariants(kernel, an, sh, count_steps);
    let lockstep::Remat { regs: remat, defs } = inv
        .as_ref()
        .map(|_| lockstep::rematerialized(kernel, an, shape))
        .unwrap_or_default();
    let record = Record::new(an, sh, count_steps, inv.as_ref(), &remat);
    let lock = inv.as_ref().map(|inv| {
        let lockstep::Trips {
            pure,
            skips,
            tails,
            guarded,
        } = lockstep::shortened_trips(kernel, an, inv, shape);
        let snaps: Vec<Reg> = an
            .spilled
            .iter()
            .copied()
            .filter(|&r| kept_in_registers(inv, sh, r))
            .collect();
        lockstep::Lockstep {
            snaps: snaps
                .iter()
                .zip((lockstep::PASS_SNAPS..).step_by(8))
                .map(|(&r, offset)| {
                    let t = super::values::kind_type(an.kinds[r as usize]);
                    (r, var!(b, t), offset)
                })
                .collect(),
            at: var!(b, types::I32),
            pass: b.create_sized_stack_slot(StackSlotData::new(
                StackSlotKind::ExplicitSlot,
                lockstep::PASS_SNAPS as u32 + 8 * snaps.len() as u32,
                3,
            )),
            pure,
            skips,
            guarded,
            pure_run: var!(b, types::I8),
            tails,
            tail_run: var!(b, types::I8),
            pass_end: b.create_block(),
            remat: defs,
            reach_after_loop: false,
        }
    });
    let spill = record.size * (shape.count() as usize).div_ceil(GANG as usize);
    let bbs: Vec<Block> = an.blocks.iter().map(|_| b.create_block()).collect();
    let full = has_full_version(kernel, divergent, inv.is_some());
    // Without a full version there is nothing to compile apart; with
    // barriers, lanes that wait apart (the library's reductions) hand over
    // in nearly every block, so their hot part would only delay the code
    // that runs (the one-lane tier runs their first launches meanwhile).
    let part = if full && an.barriers.is_empty() {
        part
    } else {
        Part::Whole
    };
    // A block of one or two gangs saves little against its checks.
    let checks = (full && shape.count() > 2 * GANG as u128)
        .then(|| BlockChecks::new(kernel, an, sh, facts))
        .flatten();
    let g = Gang {
        wait: an.barriers.iter().map(|_| var!(b, types::I32)).collect(),
        phase: var!(b, types::I64),
        any_wait: var!(b, types::I8),
        gang_end: b.create_block(),
        record,
        lock,
        checks,
        proven: var!(b, types::I8),
        divergent,
        pend: an.blocks.iter().map(|_| var!(b, types::I32)).collect(),
        pset: var!(b, types::I64),
        dispatch: b.create_block(),
        left: [var!(b, types::I64X2), var!(b, types::I64X2)],
        missed: [var!(b, types::I64X2), var!(b, types::I64X2)],
        block_mask: None,
        steps: var!(b, types::I64),
        gang: var!(b, types::I64),
        loop_gang: var!(b, types::I64),
        copy_k: 0,
        block: var!(b, types::I64),
        ctaid: [
            var!(b, types::I64),
            var!(b, types::I64),
            var!(b, types::I64),
        ],
        gid_base: var!(b, types::I64),
        mask: var!(b, types::I32),
        bbs: bbs.clone(),
        bbs_full: if full {
            an.blocks.iter().map(|_| b.create_block()).collect()
        } else {
            Vec::new()
        },
        full: false,
        run_all: false,
        thresholds: Vec::new(),
        entry_at: if full {
            let mut at = vec![None; kernel.instrs.len()];
            for pc in resume_points(kernel, an) {
                at[pc] = Some(match an.block_starting(pc) {
                    Some(bi) => bbs[bi],
                    None => b.create_block(),
                });
            }
            at
        } else {
            Vec::new()
        },
        divisor_checked: false,
        gang_next: b.create_block(),
        stopped: b.create_block(),
        fault: b.create_block(),
        finish: {
            let f = b.create_block();
            b.append_block_param(f, types::I32);
            b.append_block_param(f, types::I64);
            f
        },
        back_edges: Vec::new(),
        b,
        kernel,
        an,
        sh,
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
        regs_mem,
        helpers: Helpers::new(target.call_conv),
        mode: Mode::Uniform,
        lane_out: [None; 4],
        lane_pred_out: [None; 4],
        write_mask: None,
        fault_bits: None,
        part,
        handing_over: false,
        handovers: Vec::new(),
        resume_args,
        var_types,
    };
    let handovers = (part == Part::Hot).then(|| g.handovers());
    g.emit(first, target.frontend);
    (spill, handovers)
}

impl<'a> Gang<'a> {
    fn emit(mut self, first: Value, frontend: cranelift_codegen::isa::TargetFrontendConfig) {
        let block_head = self.b.create_block();
        let block_next = self.b.create_block();
        let done = self.b.create_block();

        // The general part starts where the hot one handed over, or, once
        // compiled, runs launches from their start (`frame::START`).
        let resume = (self.part == Part::General).then(|| self.b.create_block());
        if let (Some(r), Some((_, index))) = (resume, self.resume_args) {
            let fresh = self.b.create_block();
            let start = self.b.ins().icmp_imm_s(
                IntCC::Equal,
                index,
                i64::from(crate::engine::jit::frame::START),
            );
            self.b.ins().brif(start, fresh, &[], r, &[]);
            self.b.switch_to_block(fresh);
        }
        self.b.def_var(self.block, first);
        self.b.ins().jump(block_head, &[]);

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
        if self.checks.is_some() {
            self.block_checks();
        }
        super::memory::zero_shared(&mut self.b, self.shared, self.kernel.shared_bytes);
        let zero = self.b.ins().iconst(types::I64, 0);
        self.b.def_var(self.phase, zero);
        if self.lock.is_some() {
            self.lockstep_block_start();
        }
        let phase_head = self.b.create_block();
        let phase_end = match &self.lock {
            Some(l) => l.pass_end,
            None => self.b.create_block(),
        };
        self.b.ins().jump(phase_head, &[]);

        // for phase in 0..: every gang runs until its lanes exit or wait
        // at a barrier; then the barriers release.
        self.b.switch_to_block(phase_head);
        let zero = self.b.ins().iconst(types::I64, 0);
        self.b.def_var(self.gang, zero);
        let no = self.b.ins().iconst(types::I8, 0);
        self.b.def_var(self.any_wait, no);
        if self.lock.is_some() {
            self.pass_store(no, lockstep::PASS_ANY);
        }
        // for gang in 0..ceil(lanes / 4), tested at the bottom (`gang_next`):
        // a block has at least one lane. A block that passed its checks
        // runs its own loop of the full version (`proven_loop`).
        let start = self.b.create_block();
        let proven_loop = self.checks.is_some().then(|| GangLoop {
            start: self.b.create_block(),
            gang_next: self.b.create_block(),
        });
        let first_loop = self.first_stretch().then(|| GangLoop {
            start: self.b.create_block(),
            gang_next: self.b.create_block(),
        });
        match (&proven_loop, &first_loop) {
            (Some(l), _) => {
                let proven = self.b.use_var(self.proven);
                self.b.ins().brif(proven, l.start, &[], start, &[]);
            }
            (None, Some(f)) => {
                let resuming = self.pass_load(types::I8, lockstep::PASS_RESUMING);
                self.b.ins().brif(resuming, start, &[], f.start, &[]);
            }
            (None, None) => {
                self.b.ins().jump(start, &[]);
            }
        }
        self.b.switch_to_block(start);
        if !self.an.barriers.is_empty() {
            // (In lockstep, from the pass state: one memory test a visit,
            // where the variable was carried around the gang loop.)
            let phase = match self.lock {
                Some(_) => self.pass_load(types::I8, lockstep::PASS_RESUMING),
                None => self.b.use_var(self.phase),
            };
            let (fresh, resume) = (self.b.create_block(), self.b.create_block());
            self.b.ins().brif(phase, resume, &[], fresh, &[]);
            self.b.switch_to_block(resume);
            if self.lock.is_some() {
                self.lockstep_resume();
            } else {
                self.resume_gang();
            }
            self.b.switch_to_block(fresh);
            if self.lock.is_some() {
                self.lockstep_runs(false);
            }
        }
        // A block that failed its checks runs the general version only.
        self.start_gang(proven_loop.is_none());
        if let Some(l) = &proven_loop {
            self.b.switch_to_block(l.start);
            let g = self.b.use_var(self.gang);
            self.b.def_var(self.loop_gang, g);
            self.start_gang(true);
        }

        let general = self.b.func.dfg.num_blocks();
        // The hot part has no general version: its gangs hand over.
        if self.part != Part::Hot {
            for bi in 0..self.an.blocks.len() {
                self.basic_block(bi);
            }
        }
        if !self.bbs_full.is_empty() && self.part != Part::Hot {
            // With a full version, the general one runs only for a block's
            // partial last gang and after some lanes exit: laid out cold.
            for i in general..self.b.func.dfg.num_blocks() {
                self.b.set_cold_block(Block::from_u32(i as u32));
            }
            for bb in self.bbs.iter().chain(self.entry_at.iter().flatten()) {
                self.b.set_cold_block(*bb);
            }
        }
        if !self.bbs_full.is_empty() {
            self.full = true;
            let general_ends = (self.gang_next, self.gang_end);
            match &proven_loop {
                // With block checks, the full version runs in the proven
                // loop: its gangs end there.
                Some(l) => self.proven_copies(l),
                None => {
                    for bi in 0..self.an.blocks.len() {
                        self.basic_block(bi);
                    }
                }
            }
            (self.gang_next, self.gang_end) = general_ends;
            self.full = false;
        }
        if let Some(f) = &first_loop {
            self.first_stretch_loop(f, phase_end);
        }
        if let Some(l) = &proven_loop {
            // No barriers (`BlockChecks`): a gang's end is the next gang.
            self.b.switch_to_block(l.gang_next);
            self.next_gang(l.start, phase_end);
        }
        for (check, target) in std::mem::take(&mut self.back_edges) {
            self.b.switch_to_block(check);
            self.check_stop();
            self.b.ins().jump(target, &[]);
        }
        if self.part != Part::Hot {
            self.emit_dispatch();
        }
        self.emit_gang_end();

        self.b.switch_to_block(phase_end);
        if self.an.barriers.is_empty() {
            self.b.ins().jump(block_next, &[]);
        } else {
            let any = match self.lock {
                Some(_) => self.pass_load(types::I8, lockstep::PASS_ANY),
                None => self.b.use_var(self.any_wait),
            };
            let again = self.b.create_block();
            self.b.ins().brif(any, again, &[], block_next, &[]);
            self.b.switch_to_block(again);
            if self.lock.is_some() {
                // (For the back edges that every way around passes a
                // barrier: `Gang::jump`.)
                self.check_stop();
                self.lockstep_next_pass();
            }
            let phase = self.b.use_var(self.phase);
            let phase = self.b.ins().iadd_imm_s(phase, 1);
            self.b.def_var(self.phase, phase);
            self.b.ins().jump(phase_head, &[]);
        }

        self.b.switch_to_block(self.gang_next);
        self.next_gang(start, phase_end);

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
        if self.count_steps {
            self.emit_finish();
        }
        match resume {
            Some(r) => self.emit_resume(r),
            None => self.emit_handover_stubs(),
        }
        self.b.seal_all_blocks();
        self.b.finalize(frontend);
    }

    /// The variables a hand-over moves: the kernel's registers and
    /// predicates with their storage ids (moved where live), and the
    /// gang's other state (always moved; the waiting-lane machinery only
    /// where lanes may wait).
    fn state_vars(&self) -> (Vec<(u16, Variable)>, Vec<Variable>) {
        let mut id: Vec<Option<u16>> = vec![None; self.var_types.len()];
        for &r in &self.an.regs {
            match self.slot(r) {
                Slot::Scalar(v) | Slot::One(v) => id[v.index()] = Some(r as u16),
                Slot::Two(lo, hi) => {
                    id[lo.index()] = Some(r as u16);
                    id[hi.index()] = Some(r as u16);
                }
            }
        }
        for &p in &self.an.preds {
            let (PSlot::Uni(v) | PSlot::Vec(v)) = self.pslot(p);
            id[v.index()] = Some(pred_id(p));
        }
        let mut unused = vec![false; self.var_types.len()];
        if !self.divergent {
            let waiting = self.pend.iter().chain(&self.wait).chain(&self.left);
            for v in waiting.chain(&self.missed).chain([&self.pset]) {
                unused[v.index()] = true;
            }
        }
        let mut slots = Vec::new();
        let mut others = Vec::new();
        for (i, sid) in id.into_iter().enumerate() {
            let v = Variable::from_u32(i as u32);
            match sid {
                Some(sid) => slots.push((sid, v)),
                None if !unused[i] => others.push(v),
                None => {}
            }
        }
        (slots, others)
    }

    /// What is live of the kernel's registers and predicates where the
    /// general version resumes at `to` (only that travels).
    fn live_at(&self, to: Resume) -> StorageSet {
        match to {
            // Lanes wait at the starts of blocks.
            Resume::Dispatch => self.an.live_anywhere,
            Resume::At(pc) => crate::engine::jit::analysis::live_before(self.kernel, self.an, pc),
        }
    }

    /// Every place the general part may be entered, by hand-over index.
    fn resumes(&self) -> Vec<Resume> {
        std::iter::once(Resume::Dispatch)
            .chain(
                resume_points(self.kernel, self.an)
                    .into_iter()
                    .map(Resume::At),
            )
            .collect()
    }

    /// The hot part's hand-over stubs: each stores what is live of the
    /// kernel's registers and predicates where it resumes, and a shared
    /// tail the gang's other state, in a stack slot (16 bytes a variable,
    /// at its index), then calls `frame::general`: the general part runs
    /// the rest of the frame's blocks from there, and the stub returns its
    /// status; or the interpreter ran the gang's lanes to their end from
    /// the same state ([`Handovers`] says how it holds each register and
    /// predicate), and the hot part goes on with the next gang
    /// (`status::CONTINUE`).
    fn emit_handover_stubs(&mut self) {
        if self.part != Part::Hot || self.handovers.is_empty() {
            return;
        }
        let (slots, others) = self.state_vars();
        let resumes = self.resumes();
        let size = 16 * self.var_types.len() as u32;
        let ss = self.b.create_sized_stack_slot(StackSlotData::new(
            StackSlotKind::ExplicitSlot,
            size,
            4,
        ));
        let flags = MemFlagsData::trusted();
        let tail = self.b.create_block();
        self.b.set_cold_block(tail);
        let index = self.b.append_block_param(tail, types::I32);
        for i in 0..self.handovers.len() {
            let Handover { to, stub } = self.handovers[i];
            let live = self.live_at(to);
            let n = resumes
                .iter()
                .position(|&r| r == to)
                .expect("every hand-over is a resume point");
            self.b.switch_to_block(stub);
            self.b.set_cold_block(stub);
            let at = self.b.ins().stack_addr(types::I64, ss, 0);
            for &(sid, v) in &slots {
                if live.contains(sid) {
                    let x = self.b.use_var(v);
                    self.b.ins().store(flags, x, at, 16 * v.index() as i32);
                }
            }
            let n = self.b.ins().iconst(types::I32, n as i64);
            self.b.ins().jump(tail, &[BlockArg::Value(n)]);
        }
        self.b.switch_to_block(tail);
        let at = self.b.ins().stack_addr(types::I64, ss, 0);
        for &v in &others {
            let x = self.b.use_var(v);
            self.b.ins().store(flags, x, at, 16 * v.index() as i32);
        }
        let mask = self.b.use_var(self.mask);
        let block = self.b.use_var(self.block);
        let gang = self.b.use_var(self.gang);
        let steps = self.b.use_var(self.steps);
        let st = self.call_helper(
            Helper::General,
            &[self.frame, at, index, mask, block, gang, steps],
        );
        // The interpreter ran the gang's lanes to their end: the next gang.
        let (next, leave) = (self.b.create_block(), self.b.create_block());
        self.b.set_cold_block(next);
        self.b.set_cold_block(leave);
        let go_on = self
            .b
            .ins()
            .icmp_imm_s(IntCC::Equal, st, i64::from(status::CONTINUE));
        self.b.ins().brif(go_on, next, &[], leave, &[]);
        self.b.switch_to_block(next);
        let z = self.b.ins().iconst(types::I32, 0);
        self.b.def_var(self.mask, z);
        self.b.ins().jump(self.gang_next, &[]);
        self.b.switch_to_block(leave);
        self.b.ins().return_(&[st]);
    }

    /// What the interpreter needs to run a gang the hot part hands over
    /// ([`Handovers`]).
    pub(in crate::engine::jit) fn handovers(&self) -> Handovers {
        let places = self
            .resumes()
            .into_iter()
            .map(|r| match r {
                Resume::Dispatch => None,
                Resume::At(pc) => {
                    let back = match self.an.block_of(pc).map(|b| &self.an.blocks[b]) {
                        Some(b) if b.start != pc => b.end - pc,
                        _ => 0,
                    };
                    Some(Place {
                        pc: pc as u32,
                        back: back as u32,
                        live: self.live_at(r),
                    })
                }
            })
            .collect();
        let var = |v: Variable| v.index() as u32;
        let mut held = Vec::new();
        for &r in &self.an.regs {
            let kind = self.an.kinds[r as usize];
            let sign = kind == Kind::I32Sign;
            held.push((
                r as u16,
                match self.slot(r) {
                    Slot::Scalar(v) => Held::Scalar {
                        var: var(v),
                        wide: matches!(kind, Kind::I64 | Kind::F64),
                        sign,
                        stride: match self.sh.regs[r as usize] {
                            Shape::Affine(st) => st,
                            _ => 0,
                        },
                    },
                    Slot::One(v) => Held::Four { var: var(v), sign },
                    Slot::Two(lo, hi) => Held::Pairs {
                        lo: var(lo),
                        hi: var(hi),
                    },
                },
            ));
        }
        for &p in &self.an.preds {
            held.push((
                pred_id(p),
                match self.pslot(p) {
                    PSlot::Uni(v) => Held::Pred { var: var(v) },
                    PSlot::Vec(v) => Held::PredFour { var: var(v) },
                },
            ));
        }
        Handovers { places, held }
    }

    /// The general part's start (`resume`): the gang's state loaded as
    /// the hot part's stub stored it, then on at the hand-over's place.
    fn emit_resume(&mut self, resume: Block) {
        let (at, index) = self
            .resume_args
            .expect("the general part has its arguments");
        let (slots, others) = self.state_vars();
        let flags = MemFlagsData::trusted();
        self.b.switch_to_block(resume);
        self.b.set_cold_block(resume);
        for &v in &others {
            let t = self.var_types[v.index()];
            let x = self.b.ins().load(t, flags, at, 16 * v.index() as i32);
            self.b.def_var(v, x);
        }
        let resumes = self.resumes();
        let loads: Vec<Block> = resumes.iter().map(|_| self.b.create_block()).collect();
        // An index no hot part makes: an internal error.
        let bad = self.b.create_block();
        let pool = &mut self.b.func.dfg.value_lists;
        let table: Vec<BlockCall> = loads.iter().map(|&l| BlockCall::new(l, [], pool)).collect();
        let default = BlockCall::new(bad, [], pool);
        let jt = self
            .b
            .create_jump_table(JumpTableData::new(default, &table));
        self.b.ins().br_table(index, jt);
        for (&to, &l) in resumes.iter().zip(&loads) {
            let live = self.live_at(to);
            self.b.switch_to_block(l);
            self.b.set_cold_block(l);
            for &(sid, v) in &slots {
                if live.contains(sid) {
                    let t = self.var_types[v.index()];
                    let x = self.b.ins().load(t, flags, at, 16 * v.index() as i32);
                    self.b.def_var(v, x);
                }
            }
            let target = self.handover(to);
            self.b.ins().jump(target, &[]);
        }
        self.b.switch_to_block(bad);
        self.b.set_cold_block(bad);
        let s = self.b.ins().iconst(types::I32, status::BAD_HANDOVER as i64);
        self.b.ins().return_(&[s]);
    }

    /// The full version in the proven loop, in copies that run
    /// consecutive gangs ([`GangLoop`]): each copy's gang ends in a block
    /// that starts the next gang in the next copy, and the last copy's in
    /// the loop's test. How many copies: [`copies_for`], from the size
    /// of the first.
    fn proven_copies(&mut self, l: &GangLoop) {
        let first = self.bbs_full.clone();
        let before = self.b.func.dfg.num_insts();
        let mut end = self.full_copy();
        let copies = copies_for(self.lanes, self.b.func.dfg.num_insts() - before);
        for _ in 1..copies {
            self.b.switch_to_block(end);
            self.bbs_full = self
                .an
                .blocks
                .iter()
                .map(|_| self.b.create_block())
                .collect();
            self.advance_gang();
            self.copy_k += 1;
            self.start_gang(true);
            end = self.full_copy();
        }
        self.copy_k = 0;
        self.b.switch_to_block(end);
        self.b.ins().jump(l.gang_next, &[]);
        self.bbs_full = first;
    }

    /// One copy of the full version, into `bbs_full`: its gang ends in the
    /// block returned (left empty).
    fn full_copy(&mut self) -> Block {
        let end = self.b.create_block();
        (self.gang_next, self.gang_end) = (end, end);
        for bi in 0..self.an.blocks.len() {
            self.basic_block(bi);
        }
        end
    }

    /// A gang starts: its live lanes (all four, fewer in a block's last
    /// gang: the block shape is known, so is that gang and its lanes),
    /// fresh registers, and the full version when it has every lane and
    /// `full` allows it, the general one otherwise.
    fn start_gang(&mut self, full: bool) {
        let all = self.b.ins().iconst(types::I32, 0xF);
        let tail = self.lanes % GANG as i64;
        let alive = if tail == 0 {
            all
        } else {
            let gang = self.b.use_var(self.gang);
            let last = self
                .b
                .ins()
                .icmp_imm_s(IntCC::Equal, gang, self.lanes / GANG as i64);
            let some = self.b.ins().iconst(types::I32, (1 << tail) - 1);
            self.b.ins().select(last, some, all)
        };
        self.b.def_var(self.mask, alive);
        self.define_fresh();
        // The general version's entry, whichever version is being emitted
        // (the proven loop's copies start gangs from the full one).
        let entry = match self.an.block_starting(0) {
            Some(b) if !self.bbs_full.is_empty() => {
                self.handover(Resume::At(self.an.blocks[b].start))
            }
            Some(b) => self.bbs[b],
            None => self.gang_next,
        };
        if self.bbs_full.is_empty() || !full {
            self.b.ins().jump(entry, &[]);
        } else if tail == 0 {
            self.b.ins().jump(self.bbs_full[0], &[]);
        } else {
            let whole = self.b.ins().icmp_imm_s(IntCC::Equal, alive, 0xF);
            self.b.ins().brif(whole, self.bbs_full[0], &[], entry, &[]);
        }
    }

    /// The next gang of the block, at `start`, or the pass's end.
    fn next_gang(&mut self, start: Block, pass_end: Block) {
        let gang = self.advance_gang();
        let more = match &self.lock {
            // An exit may have ended the block's later gangs.
            Some(l) if l.tails.iter().any(Option::is_some) => {
                let gangs = self.pass_load(types::I64, lockstep::PASS_GANGS);
                self.b.ins().icmp(IntCC::UnsignedLessThan, gang, gangs)
            }
            _ => self.within_block(gang),
        };
        self.b.ins().brif(more, start, &[], pass_end, &[]);
    }

    /// The next gang: `gang + 1`, defined and returned.
    fn advance_gang(&mut self) -> Value {
        let gang = self.b.use_var(self.gang);
        let gang = self.b.ins().iadd_imm_s(gang, 1);
        self.b.def_var(self.gang, gang);
        gang
    }

    /// Whether `gang` is one of the block's gangs (`I8`).
    fn within_block(&mut self, gang: Value) -> Value {
        let gangs = self.gangs();
        self.b
            .ins()
            .icmp_imm_s(IntCC::UnsignedLessThan, gang, gangs)
    }

    /// The block's gangs: `ceil(lanes / 4)`.
    fn gangs(&self) -> i64 {
        (self.lanes + GANG as i64 - 1) / GANG as i64
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

    /// The gang's first lane (`%laneid` of lane 0), `I64`. In the proven
    /// loop's copies, from the loop's gang plus the copy's number (which
    /// Cranelift folds into an address, where `gang + k` took an
    /// instruction of its own).
    fn lane0(&mut self) -> Value {
        self.lane0_as(types::I64)
    }

    /// [`Gang::lane0`] computed in type `ty` (`I64`, or `I32` from the
    /// gang's low half).
    fn lane0_as(&mut self, ty: cranelift_codegen::ir::Type) -> Value {
        let (g, k) = if self.copy_k > 0 {
            (self.b.use_var(self.loop_gang), self.copy_k)
        } else {
            (self.b.use_var(self.gang), 0)
        };
        let g = if ty == types::I64 {
            g
        } else {
            self.b.ins().ireduce(ty, g)
        };
        let l = self.b.ins().imul_imm_s(g, GANG as i64);
        if k > 0 {
            self.b.ins().iadd_imm_s(l, k * GANG as i64)
        } else {
            l
        }
    }

    /// Registers zero, predicates false, no steps: the gang starts.
    fn define_fresh(&mut self) {
        self.define_fresh_regs();
        self.define_fresh_waiting();
    }

    /// [`Gang::define_fresh`]'s registers, predicates and step count.
    fn define_fresh_regs(&mut self) {
        self.zero_storage(|_| true);
        let z = self.b.ins().iconst(types::I64, 0);
        self.b.def_var(self.steps, z);
    }

    /// [`Gang::define_fresh`]'s bookkeeping of waiting lanes (none).
    fn define_fresh_waiting(&mut self) {
        if self.divergent {
            let z = self.b.ins().iconst(types::I64, 0);
            self.b.def_var(self.pset, z);
            let z32 = self.b.ins().iconst(types::I32, 0);
            for i in 0..self.pend.len() {
                self.b.def_var(self.pend[i], z32);
            }
            for i in 0..self.wait.len() {
                self.b.def_var(self.wait[i], z32);
            }
            let zv = vector::vconst(&mut self.b, types::I64X2, [0; 16]);
            for v in self.left.into_iter().chain(self.missed) {
                self.b.def_var(v, zv);
            }
        }
    }

    /// Registers zero and predicates false, those whose storage id
    /// (`flow::pred_id` for predicates) `pick` takes.
    fn zero_storage(&mut self, pick: impl Fn(u16) -> bool) {
        for i in 0..self.an.regs.len() {
            let r = self.an.regs[i];
            if !pick(r as u16) {
                continue;
            }
            let kind = self.an.kinds[r as usize];
            match self.slot(r) {
                Slot::Scalar(v) => {
                    let z = zero_of(&mut self.b, kind);
                    self.b.def_var(v, z);
                }
                Slot::One(v) => {
                    if let Vector::One(z) = vector::zero_vec(&mut self.b, kind) {
                        self.b.def_var(v, z);
                    }
                }
                Slot::Two(lo, hi) => {
                    if let Vector::Two(zl, zh) = vector::zero_vec(&mut self.b, kind) {
                        self.b.def_var(lo, zl);
                        self.b.def_var(hi, zh);
                    }
                }
            }
        }
        for i in 0..self.an.preds.len() {
            let p = self.an.preds[i];
            if !pick(pred_id(p)) {
                continue;
            }
            match self.pslot(p) {
                PSlot::Uni(v) => {
                    let z = self.b.ins().iconst(types::I8, 0);
                    self.b.def_var(v, z);
                }
                PSlot::Vec(v) => {
                    let z = vector::vconst(&mut self.b, types::I32X4, [0; 16]);
                    self.b.def_var(v, z);
                }
            }
        }
    }

    fn slot(&self, r: Reg) -> Slot {
        self.regs[r as usize].expect("the analysis lists every register the kernel uses")
    }

    fn pslot(&self, p: u8) -> PSlot {
        self.preds[p as usize].expect("the analysis lists every predicate the kernel uses")
    }

    fn target(&mut self, pc: usize) -> Block {
        match self.an.block_starting(pc) {
            Some(b) => self.bb(b),
            None => self.gang_next,
        }
    }

    /// Basic block `b` in the version being emitted.
    fn bb(&mut self, b: usize) -> Block {
        if self.full {
            self.bbs_full[b]
        } else if self.handing_over {
            self.handover(Resume::At(self.an.blocks[b].start))
        } else {
            self.bbs[b]
        }
    }

    /// Where the full version goes on in the general version at `to`:
    /// there, or in the hot part (which has no general version) the stub
    /// that hands the gang over to the general part.
    fn handover(&mut self, to: Resume) -> Block {
        if self.part == Part::Hot {
            if let Some(h) = self.handovers.iter().find(|h| h.to == to) {
                return h.stub;
            }
            let stub = self.b.create_block();
            self.handovers.push(Handover { to, stub });
            return stub;
        }
        match to {
            Resume::Dispatch => self.dispatch,
            Resume::At(pc) => self.entry_at[pc].expect("hand-overs are at resume points"),
        }
    }

    /// The gang leaves the full version at instruction `pc` (not yet run,
    /// one of [`resume_points`]) and goes on in the general version.
    fn leave_full(&mut self, pc: usize) {
        self.enter_general();
        let all = self.b.ins().iconst(types::I32, 0xF);
        self.b.def_var(self.mask, all);
        let t = self.handover(Resume::At(pc));
        self.b.ins().jump(t, &[]);
    }

    /// In the general version, before instruction `pc` of a basic block
    /// starting at `start`: a resume point mid-block starts a block of its
    /// own, which the full version may enter.
    fn resume_point(&mut self, pc: usize, start: usize) {
        if self.full || pc == start {
            return;
        }
        let Some(e) = self.entry_at.get(pc).copied().flatten() else {
            return;
        };
        self.b.ins().jump(e, &[]);
        self.b.switch_to_block(e);
        if self.block_mask.is_some() {
            // Values of the block's start do not reach here from the full
            // version.
            let mask = self.b.use_var(self.mask);
            self.block_mask = Some(vector::bits_to_mask(&mut self.b, mask));
        }
    }

    /// The lanes that run an instruction without a guard (`I32`).
    fn live_bits(&mut self) -> Value {
        if self.full {
            self.b.ins().iconst(types::I32, 0xF)
        } else {
            self.b.use_var(self.mask)
        }
    }

    fn edge(&mut self, from: usize, to: usize) -> Block {
        let target = self.target(to);
        if to > from {
            return target;
        }
        let check = self.b.create_block();
        self.back_edges.push((check, target));
        check
    }

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
        self.thresholds.clear();
        let start = self.bb(bi);
        self.b.switch_to_block(start);
        // Without a full version, the general one is the hot code: what
        // no block reads before writing it (a temporary of one block) is
        // dead in every lane here, wherever the gang's other lanes wait,
        // so it starts afresh, and no old value of it (kept by a masked
        // write) travels around loops and through the dispatch as a block
        // parameter (Mandelbrot 7% faster). With a full version the
        // general one runs cold and is left as it is: fewer parameters
        // there shortened the slowest compilations by under a tenth, and
        // moved the register allocator's spills into the full version's
        // hot code (block_sum 15% slower).
        if self.bbs_full.is_empty() {
            let live = self.an.live_anywhere;
            self.zero_storage(|id| !live.contains(id));
        }
        // In the full version no lane waits anywhere.
        if self.divergent && !self.full {
            self.join_waiting(bi);
        }
        if self.lock.is_some() {
            self.lockstep_block_entry(bi);
        }
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
            self.finish_exactly(bi, s, body);
            self.b.switch_to_block(body);
            self.b.def_var(self.steps, after);
        }
        self.block_mask = if self.sh.partial[bi] && !self.full {
            let mask = self.b.use_var(self.mask);
            Some(vector::bits_to_mask(&mut self.b, mask))
        } else {
            None
        };
        for pc in bb.start..bb.end - 1 {
            self.resume_point(pc, bb.start);
            self.instr(pc);
        }
        let last = bb.end - 1;
        let instr = self.kernel.instrs[last];
        let next = self.an.block_starting(last + 1);
        let leaves = |t: u32| t as usize >= self.kernel.instrs.len();
        match instr.op {
            Op::Bra { target } if !leaves(target) => {
                let t = self
                    .an
                    .block_starting(target as usize)
                    .expect("branch targets start blocks");
                self.branch(bi, instr.guard, t, next);
            }
            // An exit the block's checks showed no lane takes.
            Op::Bra { .. } | Op::Exit if self.proven_exit(last) => self.go(next),
            // A branch past the end leaves the kernel: an exit.
            Op::Bra { .. } | Op::Exit => {
                if self.lock.is_some() {
                    self.lockstep_tail(bi, instr.guard);
                }
                self.exit(instr.guard, next)
            }
            Op::Bar => {
                let k = self
                    .an
                    .barriers
                    .iter()
                    .position(|&b| b == last)
                    .expect("every bar.sync is listed");
                match instr.guard {
                    None => self.barrier(k, Some(bi)),
                    Some(g) => match self.guard_value(g.pred, g.negated) {
                        GPred::Uni(p) => {
                            let (wait, on) = (self.b.create_block(), self.b.create_block());
                            self.b.ins().brif(p, wait, &[], on, &[]);
                            self.b.switch_to_block(wait);
                            self.barrier(k, None);
                            self.b.switch_to_block(on);
                            self.go(next);
                        }
                        GPred::Vec(_) => unreachable!("`Shapes` refuses varying bar.sync guards"),
                    },
                }
            }
            _ => {
                self.resume_point(last, bb.start);
                self.instr(last);
                self.go(next);
            }
        }
        self.block_mask = None;
    }

    /// Lanes waiting at block `bi` join the running ones (most entries
    /// find none: a test and a branch).
    fn join_waiting(&mut self, bi: usize) {
        let waiting = self.b.use_var(self.pend[bi]);
        let (join, go) = (self.b.create_block(), self.b.create_block());
        self.b.ins().brif(waiting, join, &[], go, &[]);
        self.b.switch_to_block(join);
        let mask = self.b.use_var(self.mask);
        let mask = self.b.ins().bor(mask, waiting);
        self.b.def_var(self.mask, mask);
        let z = self.b.ins().iconst(types::I32, 0);
        self.b.def_var(self.pend[bi], z);
        let pset = self.b.use_var(self.pset);
        let pset = self.b.ins().band_imm_s(pset, !(1i64 << bi));
        self.b.def_var(self.pset, pset);
        if self.count_steps {
            // They missed every step since they began to wait.
            let m = vector::bits_to_mask(&mut self.b, waiting);
            let (ml, mh) = vector::wide_mask(&mut self.b, m);
            let g = self.b.use_var(self.steps);
            let g = self.b.ins().splat(types::I64X2, g);
            for (half, lane_mask) in [(0, ml), (1, mh)] {
                let left = self.b.use_var(self.left[half]);
                let gap = self.b.ins().isub(g, left);
                let gap = self.b.ins().band(gap, lane_mask);
                let missed = self.b.use_var(self.missed[half]);
                let missed = self.b.ins().iadd(missed, gap);
                self.b.def_var(self.missed[half], missed);
            }
        }
        self.b.ins().jump(go, &[]);
        self.b.switch_to_block(go);
    }

    /// Lanes `lanes` (`I32`) wait at block `bi`.
    fn wait_at(&mut self, bi: usize, lanes: Value) {
        let waiting = self.b.use_var(self.pend[bi]);
        let waiting = self.b.ins().bor(waiting, lanes);
        self.b.def_var(self.pend[bi], waiting);
        let pset = self.b.use_var(self.pset);
        let pset = self.b.ins().bor_imm_s(pset, 1i64 << bi);
        self.b.def_var(self.pset, pset);
        if self.count_steps {
            let m = vector::bits_to_mask(&mut self.b, lanes);
            let (ml, mh) = vector::wide_mask(&mut self.b, m);
            let g = self.b.use_var(self.steps);
            let g = self.b.ins().splat(types::I64X2, g);
            for (half, lane_mask) in [(0, ml), (1, mh)] {
                let left = self.b.use_var(self.left[half]);
                let left = self.b.ins().bitselect(lane_mask, g, left);
                self.b.def_var(self.left[half], left);
            }
        }
    }

    /// Goes on at block `to` with the running lanes (`None`: past the end,
    /// where they exit).
    fn go(&mut self, to: Option<usize>) {
        match to {
            Some(t) => {
                let t = self.bb(t);
                self.b.ins().jump(t, &[]);
            }
            None => self.leave_all(),
        }
    }

    /// Every running lane exits.
    fn leave_all(&mut self) {
        let z = self.b.ins().iconst(types::I32, 0);
        self.b.def_var(self.mask, z);
        let d = self.no_lane_runs();
        self.b.ins().jump(d, &[]);
    }

    /// Where a gang goes when none of its lanes runs: the dispatch to
    /// waiting lanes, or, in the full version (no lane waits), its end.
    fn no_lane_runs(&mut self) -> Block {
        if self.full {
            self.gang_end
        } else if self.handing_over || self.part == Part::Hot {
            // (The hot part has no dispatch: the general part's.)
            self.handover(Resume::Dispatch)
        } else {
            self.dispatch
        }
    }

    /// A gang in the full version goes on in the general one: no lane
    /// waits anywhere. (Defined here, not carried through the full
    /// version, these values take no register there.)
    fn enter_general(&mut self) {
        if !self.divergent {
            return;
        }
        let z = self.b.ins().iconst(types::I64, 0);
        self.b.def_var(self.pset, z);
        let z32 = self.b.ins().iconst(types::I32, 0);
        for i in 0..self.pend.len() {
            self.b.def_var(self.pend[i], z32);
        }
        if self.lock.is_some() {
            // A gang resumed in the full version defined no waiting
            // lanes (`Gang::lockstep_resume`); in lockstep none wait at
            // a barrier while it runs.
            for i in 0..self.wait.len() {
                self.b.def_var(self.wait[i], z32);
            }
        }
    }

    /// All running lanes go from block `from` to block `to`. Backward: the
    /// stop flag is checked (in lockstep, once a pass instead where every
    /// way around the loop passes a barrier). Forward past blocks where lanes wait: the
    /// running lanes wait at `to` and the lowest waiting block runs first,
    /// so that lanes meet again (the smallest-pc-first rule).
    fn jump(&mut self, from: usize, to: usize) {
        let (from_pc, to_pc) = (self.an.blocks[from].end - 1, self.an.blocks[to].start);
        if to_pc <= from_pc {
            if self.lock.is_some() && lockstep::barrier_on_every_cycle(self.an, from, to) {
                let t = self.bb(to);
                self.b.ins().jump(t, &[]);
                return;
            }
            let e = self.edge(from_pc, to_pc);
            self.b.ins().jump(e, &[]);
            return;
        }
        // (In the full version no lane waits anywhere.)
        if !self.divergent || self.full || to == from + 1 {
            let t = self.bb(to);
            self.b.ins().jump(t, &[]);
            return;
        }
        let between = ((1i64 << to) - 1) & !((1i64 << (from + 1)) - 1);
        let pset = self.b.use_var(self.pset);
        let skipped = self.b.ins().band_imm_s(pset, between);
        let wait = self.b.create_block();
        let t = self.bb(to);
        self.b.ins().brif(skipped, wait, &[], t, &[]);
        self.b.switch_to_block(wait);
        let mask = self.b.use_var(self.mask);
        self.wait_at(to, mask);
        let z = self.b.ins().iconst(types::I32, 0);
        self.b.def_var(self.mask, z);
        let d = self.no_lane_runs();
        self.b.ins().jump(d, &[]);
    }

    /// The branch ending block `bi` to block `to` (guarded or not); `next`
    /// follows `bi`.
    fn branch(
        &mut self,
        bi: usize,
        guard: Option<crate::kernel::Guard>,
        to: usize,
        next: Option<usize>,
    ) {
        let Some(g) = guard else {
            self.jump(bi, to);
            return;
        };
        if let Some((raw, all, any)) = self.monotone(g.pred) {
            // A monotone guard (`tid < s`): scalar comparisons decide
            // whether no lane, every lane or some lanes take it.
            let no_lane = self.b.ins().bxor_imm_s(any, 1);
            let (take_all, take_none) = if g.negated {
                (no_lane, all)
            } else {
                (all, no_lane)
            };
            self.uniform_outcomes(bi, to, next, take_none, take_all);
            let m = if g.negated {
                self.b.ins().bnot(raw)
            } else {
                raw
            };
            self.branch_mixed(bi, m, to, next);
            return;
        }
        match self.guard_value(g.pred, g.negated) {
            GPred::Uni(p) => {
                let taken = self.b.create_block();
                let not = self.b.create_block();
                self.b.ins().brif(p, taken, &[], not, &[]);
                self.b.switch_to_block(taken);
                self.jump(bi, to);
                self.b.switch_to_block(not);
                self.go(next);
            }
            GPred::Vec(m) => {
                let bits = vector::mask_to_bits(&mut self.b, m);
                let mask = self.live_bits();
                let take = self.b.ins().band(mask, bits);
                let stay = self.b.ins().band_not(mask, bits);
                let none = self.b.ins().icmp_imm_s(IntCC::Equal, take, 0);
                let every = self.b.ins().icmp_imm_s(IntCC::Equal, stay, 0);
                self.uniform_outcomes(bi, to, next, none, every);
                self.part(bi, take, stay, to, next);
            }
        }
    }

    /// The two outcomes of the branch ending block `bi` on a varying guard
    /// where the running lanes agree: `none` (`I8`) takes it (they go on at
    /// `next`), or `every` one does (to block `to`). Leaves the builder
    /// where they disagree.
    fn uniform_outcomes(
        &mut self,
        bi: usize,
        to: usize,
        next: Option<usize>,
        none: Value,
        every: Value,
    ) {
        let (stay, some) = (self.b.create_block(), self.b.create_block());
        self.b.ins().brif(none, stay, &[], some, &[]);
        self.b.switch_to_block(stay);
        self.go(next);
        self.b.switch_to_block(some);
        let (all, mixed) = (self.b.create_block(), self.b.create_block());
        self.b.ins().brif(every, all, &[], mixed, &[]);
        self.b.switch_to_block(all);
        if self.lock.is_some() {
            self.lockstep_all_take(bi);
        }
        self.jump(bi, to);
        self.b.switch_to_block(mixed);
    }

    /// The branch ending block `bi` to block `to` on vector guard `m`
    /// (negation applied), which some but not all running lanes take.
    fn branch_mixed(&mut self, bi: usize, m: Value, to: usize, next: Option<usize>) {
        let bits = vector::mask_to_bits(&mut self.b, m);
        let mask = self.live_bits();
        let take = self.b.ins().band(mask, bits);
        let stay = self.b.ins().band_not(mask, bits);
        self.part(bi, take, stay, to, next);
    }

    /// The running lanes part at the branch ending block `bi`: `take`
    /// (`I32`) go to block `to`, `stay` to `next`; the gang goes on in
    /// the general version.
    fn part(&mut self, bi: usize, take: Value, stay: Value, to: usize, next: Option<usize>) {
        if self.full {
            self.enter_general();
        }
        let full = std::mem::replace(&mut self.full, false);
        let over = std::mem::replace(&mut self.handing_over, full);
        if self.lock.is_some() {
            self.lockstep_lanes_part();
        }
        if self.an.blocks[to].start > self.an.blocks[bi].end - 1 {
            // Forward: the lanes that branch wait at `to`.
            self.wait_at(to, take);
            self.b.def_var(self.mask, stay);
            self.go(next);
        } else {
            // Backward (a loop): the lanes that stay wait after it.
            // (Past the end, they exit.)
            if let Some(n) = next {
                self.wait_at(n, stay);
            }
            self.b.def_var(self.mask, take);
            self.jump(bi, to);
        }
        self.full = full;
        self.handing_over = over;
    }

    /// When predicate `p` is a monotone `setp`'s in the full version (see
    /// `thresholds`): its vector mask, and whether all lanes and whether
    /// any lane hold it (`I8`). Only in the full version: lanes past the
    /// block's end (in its last gang) have no facts to prove their values
    /// monotone.
    fn monotone(&mut self, p: u8) -> Option<(Value, Value, Value)> {
        if !self.full {
            return None;
        }
        let GPred::Vec(raw) = self.pred_gval(p) else {
            return None;
        };
        self.thresholds.iter().find(|t| t.0 == raw).copied()
    }

    /// An exit (or a branch past the end), guarded or not; `next` follows.
    fn exit(&mut self, guard: Option<crate::kernel::Guard>, next: Option<usize>) {
        let Some(g) = guard else {
            self.leave_all();
            return;
        };
        if let Some((raw, all, any)) = self.monotone(g.pred) {
            // A monotone guard: one scalar comparison decides the hot
            // path, "no lane leaves".
            let negated = g.negated;
            let (some, on) = (self.b.create_block(), self.b.create_block());
            self.b.set_cold_block(some);
            if negated {
                self.b.ins().brif(all, on, &[], some, &[]);
            } else {
                self.b.ins().brif(any, some, &[], on, &[]);
            }
            self.b.switch_to_block(on);
            self.go(next);
            self.b.switch_to_block(some);
            self.cold_path(|g| {
                let (out, mixed) = (g.b.create_block(), g.b.create_block());
                if negated {
                    g.b.ins().brif(any, mixed, &[], out, &[]);
                } else {
                    g.b.ins().brif(all, out, &[], mixed, &[]);
                }
                g.b.switch_to_block(out);
                g.leave_all();
                g.b.switch_to_block(mixed);
                g.exit_some(raw, negated, next);
            });
            return;
        }
        match self.guard_value(g.pred, g.negated) {
            GPred::Uni(p) => {
                let (out, on) = (self.b.create_block(), self.b.create_block());
                self.b.ins().brif(p, out, &[], on, &[]);
                self.b.switch_to_block(out);
                self.leave_all();
                self.b.switch_to_block(on);
                self.go(next);
            }
            GPred::Vec(m) => {
                let leaving = vector::mask_to_bits(&mut self.b, m);
                self.exit_lanes(leaving, next);
            }
        }
    }

    /// The lanes of predicate mask `raw` (negated when `negated`) exit.
    fn exit_some(&mut self, raw: Value, negated: bool, next: Option<usize>) {
        let m = if negated { self.b.ins().bnot(raw) } else { raw };
        let leaving = vector::mask_to_bits(&mut self.b, m);
        self.exit_lanes(leaving, next);
    }

    /// The lanes `leaving` (`I32`) leave the gang; the rest go on at
    /// `next`. In the full version, a gang that keeps all its lanes stays
    /// in it and one that keeps some goes on in the general version.
    fn exit_lanes(&mut self, leaving: Value, next: Option<usize>) {
        let mask = self.live_bits();
        let stay = self.b.ins().band_not(mask, leaving);
        self.b.def_var(self.mask, stay);
        let on = self.b.create_block();
        let none = self.no_lane_runs();
        self.b.ins().brif(stay, on, &[], none, &[]);
        self.b.switch_to_block(on);
        if self.full {
            let all = self.b.ins().icmp_imm_s(IntCC::Equal, stay, 0xF);
            let (whole, part) = (self.b.create_block(), self.b.create_block());
            self.b.ins().brif(all, whole, &[], part, &[]);
            self.b.switch_to_block(whole);
            self.go(next);
            self.b.switch_to_block(part);
            self.enter_general();
            self.full = false;
            self.handing_over = true;
            self.go(next);
            self.handing_over = false;
            self.full = true;
        } else {
            self.go(next);
        }
    }

    /// No lane runs: the lowest block with waiting lanes runs next, or the
    /// gang is done.
    fn emit_dispatch(&mut self) {
        self.b.switch_to_block(self.dispatch);
        if !self.divergent {
            self.b.ins().jump(self.gang_end, &[]);
            return;
        }
        let pset = self.b.use_var(self.pset);
        let some = self.b.create_block();
        self.b.ins().brif(pset, some, &[], self.gang_end, &[]);
        self.b.switch_to_block(some);
        let lowest = self.b.ins().ctz(pset);
        let lowest = self.b.ins().ireduce(types::I32, lowest);
        let stubs: Vec<Block> = (0..self.bbs.len()).map(|_| self.b.create_block()).collect();
        let pool = &mut self.b.func.dfg.value_lists;
        let table: Vec<BlockCall> = stubs.iter().map(|&s| BlockCall::new(s, [], pool)).collect();
        let default = BlockCall::new(self.gang_end, [], pool);
        let jt = self
            .b
            .create_jump_table(JumpTableData::new(default, &table));
        self.b.ins().br_table(lowest, jt);
        for (i, &stub) in stubs.iter().enumerate() {
            // The block's entry takes its waiting lanes in.
            self.b.switch_to_block(stub);
            let z = self.b.ins().iconst(types::I32, 0);
            self.b.def_var(self.mask, z);
            self.b.ins().jump(self.bbs[i], &[]);
        }
    }

    /// The running lanes reach `bar.sync` number `k` (ending basic block
    /// `bi` when it is unguarded): they wait there until the next pass
    /// over the block's gangs.
    fn barrier(&mut self, k: usize, bi: Option<usize>) {
        if self.lock.is_some() {
            self.lockstep_arrive(k, bi);
            return;
        }
        let mask = self.b.use_var(self.mask);
        let w = self.b.use_var(self.wait[k]);
        let w = self.b.ins().bor(w, mask);
        self.b.def_var(self.wait[k], w);
        if self.count_steps {
            self.mark_left(mask);
        }
        let z = self.b.ins().iconst(types::I32, 0);
        self.b.def_var(self.mask, z);
        self.b.ins().jump(self.dispatch, &[]);
    }

    /// Notes that lanes `lanes` (`I32`) begin to wait now.
    fn mark_left(&mut self, lanes: Value) {
        let m = vector::bits_to_mask(&mut self.b, lanes);
        let (ml, mh) = vector::wide_mask(&mut self.b, m);
        let g = self.b.use_var(self.steps);
        let g = self.b.ins().splat(types::I64X2, g);
        for (half, lane_mask) in [(0, ml), (1, mh)] {
            let left = self.b.use_var(self.left[half]);
            let left = self.b.ins().bitselect(lane_mask, g, left);
            self.b.def_var(self.left[half], left);
        }
    }

    /// `&record[gang]` (`I64`).
    fn record_addr(&mut self) -> Value {
        let gang = self.b.use_var(self.gang);
        let off = self.b.ins().imul_imm_s(gang, self.record.size as i64);
        let spill = self.b.ins().load(
            types::I64,
            MemFlagsData::trusted().with_readonly().with_can_move(),
            self.frame,
            offset_of!(Frame, spill) as i32,
        );
        self.b.ins().iadd(spill, off)
    }

    /// A gang's run ends: with barriers, it keeps what crosses them in its
    /// record (and whether any lane waits).
    fn emit_gang_end(&mut self) {
        self.b.switch_to_block(self.gang_end);
        if self.an.barriers.is_empty() {
            self.b.ins().jump(self.gang_next, &[]);
            return;
        }
        if self.lock.is_some() {
            self.lockstep_gang_end();
            return;
        }
        let at = self.record_addr();
        let flags = MemFlagsData::new().with_notrap();
        let mut any = self.b.ins().iconst(types::I32, 0);
        for k in 0..self.wait.len() {
            let w = self.b.use_var(self.wait[k]);
            self.b
                .ins()
                .store(flags, w, at, self.record.waits + 4 * k as i32);
            any = self.b.ins().bor(any, w);
        }
        let (keep, on) = (self.b.create_block(), self.b.create_block());
        self.b.ins().brif(any, keep, &[], on, &[]);
        self.b.switch_to_block(keep);
        self.store_record(at);
        if self.count_steps {
            let off = self.record.steps;
            let g = self.b.use_var(self.steps);
            self.b.ins().store(flags, g, at, off);
            for (i, v) in self.left.into_iter().chain(self.missed).enumerate() {
                let x = self.b.use_var(v);
                self.b.ins().store(flags, x, at, off + 8 + 16 * i as i32);
            }
        }
        let yes = self.b.ins().iconst(types::I8, 1);
        self.b.def_var(self.any_wait, yes);
        self.b.ins().jump(self.gang_next, &[]);
        self.b.switch_to_block(on);
        self.b.ins().jump(self.gang_next, &[]);
    }

    /// Stores the registers and predicates that cross a barrier in the
    /// gang's record at `at`.
    fn store_record(&mut self, at: Value) {
        let flags = MemFlagsData::new().with_notrap();
        for (r, off) in self.record.regs.clone() {
            match self.slot(r) {
                Slot::Scalar(v) | Slot::One(v) => {
                    let x = self.b.use_var(v);
                    self.b.ins().store(flags, x, at, off);
                }
                Slot::Two(lo, hi) => {
                    let (l, h) = (self.b.use_var(lo), self.b.use_var(hi));
                    self.b.ins().store(flags, l, at, off);
                    self.b.ins().store(flags, h, at, off + 16);
                }
            }
        }
        for (p, off) in self.record.preds.clone() {
            let v = match self.pslot(p) {
                PSlot::Uni(v) | PSlot::Vec(v) => self.b.use_var(v),
            };
            self.b.ins().store(flags, v, at, off);
        }
    }

    /// Loads what [`Gang::store_record`] stored.
    fn restore_record(&mut self, at: Value) {
        let flags = MemFlagsData::new().with_notrap();
        for (r, off) in self.record.regs.clone() {
            let kind = self.an.kinds[r as usize];
            match self.slot(r) {
                Slot::Scalar(v) => {
                    let t = super::values::kind_type(kind);
                    let x = self.b.ins().load(t, flags, at, off);
                    self.b.def_var(v, x);
                }
                Slot::One(v) => {
                    let x = self.b.ins().load(vector::kind_vtype(kind), flags, at, off);
                    self.b.def_var(v, x);
                }
                Slot::Two(lo, hi) => {
                    let t = vector::kind_vtype(kind);
                    let l = self.b.ins().load(t, flags, at, off);
                    let h = self.b.ins().load(t, flags, at, off + 16);
                    self.b.def_var(lo, l);
                    self.b.def_var(hi, h);
                }
            }
        }
        for (p, off) in self.record.preds.clone() {
            match self.pslot(p) {
                PSlot::Uni(v) => {
                    let x = self.b.ins().load(types::I8, flags, at, off);
                    self.b.def_var(v, x);
                }
                PSlot::Vec(v) => {
                    let x = self.b.ins().load(types::I32X4, flags, at, off);
                    self.b.def_var(v, x);
                }
            }
        }
    }

    /// A gang resumes after the barriers released: its lanes that wait at
    /// barrier `k` go on after it (a gang with none is done).
    fn resume_gang(&mut self) {
        let at = self.record_addr();
        let flags = MemFlagsData::new().with_notrap();
        let mut waits = Vec::new();
        let mut any = self.b.ins().iconst(types::I32, 0);
        for k in 0..self.wait.len() {
            let w = self
                .b
                .ins()
                .load(types::I32, flags, at, self.record.waits + 4 * k as i32);
            any = self.b.ins().bor(any, w);
            waits.push(w);
        }
        let go = self.b.create_block();
        self.b.ins().brif(any, go, &[], self.gang_next, &[]);
        self.b.switch_to_block(go);
        self.define_fresh();
        self.restore_record(at);
        if self.count_steps {
            let off = self.record.steps;
            let g = self.b.ins().load(types::I64, flags, at, off);
            self.b.def_var(self.steps, g);
            for (i, v) in self.left.into_iter().chain(self.missed).enumerate() {
                let x = self
                    .b
                    .ins()
                    .load(types::I64X2, flags, at, off + 8 + 16 * i as i32);
                self.b.def_var(v, x);
            }
        }
        // The waiting lanes go on after their barrier (none past the end).
        for (k, &w) in waits.iter().enumerate() {
            if let Some(rb) = self.an.block_starting(self.an.barriers[k] + 1) {
                let p = self.b.use_var(self.pend[rb]);
                let p = self.b.ins().bor(p, w);
                self.b.def_var(self.pend[rb], p);
                let pset = self.b.use_var(self.pset);
                let bit = self.b.ins().iconst(types::I64, 1i64 << rb);
                let some = self.b.ins().icmp_imm_s(IntCC::NotEqual, w, 0);
                let bit = self.b.ins().select(some, bit, pset);
                let pset = self.b.ins().bor(pset, bit);
                self.b.def_var(self.pset, pset);
            }
        }
        let z = self.b.ins().iconst(types::I32, 0);
        self.b.def_var(self.mask, z);
        self.b.ins().jump(self.dispatch, &[]);
    }

    /// The guard's value: the predicate, negated for `@!p`.
    fn guard_value(&mut self, p: u8, negated: bool) -> GPred {
        match (self.pred_gval(p), negated) {
            (GPred::Uni(v), true) => GPred::Uni(self.b.ins().bxor_imm_s(v, 1)),
            (GPred::Vec(v), true) => GPred::Vec(self.b.ins().bnot(v)),
            (v, false) => v,
        }
    }

    /// The cold path of a basic block the gang may not finish within its
    /// budget (the gang's count, `steps`, is the most any lane took). When
    /// some running lane would exceed it (always, unless lanes waited
    /// earlier and so took fewer steps), the gang goes to the shared exact
    /// path ([`Gang::emit_finish`]); otherwise the block runs on (`body`).
    fn finish_exactly(&mut self, bi: usize, steps: Value, body: Block) {
        let len = self.an.blocks[bi].len() as i64;
        if self.divergent {
            // Per lane: steps taken (the gang's count less what it missed).
            let mask = self.b.use_var(self.mask);
            let lane_steps = self.lane_steps(steps);
            let mut over = self.b.ins().iconst(types::I32, 0);
            for (k, &s) in lane_steps.iter().enumerate() {
                let after = self.b.ins().iadd_imm_s(s, len);
                let o = self
                    .b
                    .ins()
                    .icmp(IntCC::UnsignedGreaterThan, after, self.max_steps);
                let o = self.b.ins().uextend(types::I32, o);
                let o = self.b.ins().ishl_imm_s(o, k as i64);
                over = self.b.ins().bor(over, o);
            }
            let over = self.b.ins().band(over, mask);
            let finish = self.b.create_block();
            self.b.set_cold_block(finish);
            self.b.ins().brif(over, finish, &[], body, &[]);
            self.b.switch_to_block(finish);
        }
        let pc = self
            .b
            .ins()
            .iconst(types::I32, self.an.blocks[bi].start as i64);
        self.b
            .ins()
            .jump(self.finish, &[BlockArg::Value(pc), BlockArg::Value(steps)]);
    }

    /// Per lane: the steps it took, the gang's count `steps` less what it
    /// missed while waiting (divergent kernels).
    fn lane_steps(&mut self, steps: Value) -> [Value; 4] {
        let mut lane_steps = [steps; 4];
        if self.divergent {
            let halves = [
                self.b.use_var(self.missed[0]),
                self.b.use_var(self.missed[1]),
            ];
            for (k, s) in lane_steps.iter_mut().enumerate() {
                let missed = self.b.ins().extractlane(halves[k / 2], (k % 2) as u8);
                *s = self.b.ins().isub(steps, missed);
            }
        }
        lane_steps
    }

    /// The exact path near the step limit, one for all basic blocks: every
    /// running lane's registers and steps go to `Frame::regs` and the
    /// reference interpreter runs the lanes in lockstep from the block's
    /// start to the fault. It stores every register and predicate, not only
    /// the block's live ones: a register dead at the block is written
    /// before it is read, so what the interpreter gets for it never shows.
    /// (One copy instead of one per block: compile time.)
    fn emit_finish(&mut self) {
        let f = self.finish;
        self.b.set_cold_block(f);
        self.b.switch_to_block(f);
        let pc = self.b.block_params(f)[0];
        let steps = self.b.block_params(f)[1];
        let mask = self.b.use_var(self.mask);
        let lane_steps = self.lane_steps(steps);
        for i in 0..self.an.regs.len() {
            let r = self.an.regs[i];
            let v = self.gval(Src::Reg(r), ScalarType::U64);
            for k in 0..GANG as u8 {
                let bits = vector::lane_of(&mut self.b, ScalarType::U64, v, k);
                let at = 8 * (k as usize * NUM_REGS + r as usize);
                self.b
                    .ins()
                    .store(MemFlagsData::trusted(), bits, self.regs_mem, at as i32);
            }
        }
        for k in 0..GANG as u8 {
            let mut preds = self.b.ins().iconst(types::I64, 0);
            for i in 0..self.an.preds.len() {
                let p = self.an.preds[i];
                let v = self.pred_lane(p, k);
                let v = self.b.ins().uextend(types::I64, v);
                let v = self.b.ins().ishl_imm_s(v, p as i64);
                preds = self.b.ins().bor(preds, v);
            }
            let at = 8 * (GANG as usize * NUM_REGS + k as usize);
            self.b
                .ins()
                .store(MemFlagsData::trusted(), preds, self.regs_mem, at as i32);
            let at = 8 * (GANG as usize * (NUM_REGS + 1) + k as usize);
            self.b.ins().store(
                MemFlagsData::trusted(),
                lane_steps[k as usize],
                self.regs_mem,
                at as i32,
            );
        }
        let lane0 = self.lane0();
        let block = self.b.use_var(self.block);
        let mask = self.b.ins().uextend(types::I64, mask);
        let st = self.call_helper(
            Helper::FinishGang,
            &[self.frame, pc, lane0, block, steps, mask],
        );
        self.b.ins().return_(&[st]);
    }

    /// Emits one instruction that does not end a basic block.
    fn instr(&mut self, pc: usize) {
        let instr = self.kernel.instrs[pc];
        let mut cont = None;
        let mut run_bits = None;
        self.run_all = self.full;
        // A guard on a monotone comparison (`%tid.x < h`, `%gid < n`, in
        // the full version): one scalar comparison each decides "every
        // lane runs it" (then it runs unguarded: no mask, no blend) and
        // "no lane does" (skipped); only a gang the threshold cuts runs
        // the guarded form below. Measured: block_sum 1M on one thread
        // 2.1-2.2 -> 1.9 ms (its guarded load of `x`), the op library's
        // `sum` 1M 1.4-1.5 -> 1.3 ms (its tree's three guarded
        // instructions per level).
        let mono = instr
            .guard
            .and_then(|g| self.monotone(g.pred).map(|t| (g, t)));
        if let Some((g, (_, all, any))) = mono {
            let (every, none) = if g.negated {
                (self.b.ins().bxor_imm_s(any, 1), all)
            } else {
                (all, self.b.ins().bxor_imm_s(any, 1))
            };
            let (fast, not_every, mixed, c) = (
                self.b.create_block(),
                self.b.create_block(),
                self.b.create_block(),
                self.b.create_block(),
            );
            self.b.ins().brif(every, fast, &[], not_every, &[]);
            self.b.switch_to_block(not_every);
            self.b.ins().brif(none, c, &[], mixed, &[]);
            self.b.switch_to_block(fast);
            let run_bits = self.live_bits();
            self.operation(pc, run_bits);
            self.b.ins().jump(c, &[]);
            self.b.switch_to_block(mixed);
            self.run_all = self.full;
            cont = Some(c);
        }
        if let Some(g) = instr.guard {
            match self.guard_value(g.pred, g.negated) {
                GPred::Uni(p) => {
                    let run = self.b.create_block();
                    let c = self.b.create_block();
                    self.b.ins().brif(p, run, &[], c, &[]);
                    self.b.switch_to_block(run);
                    cont = Some(c);
                }
                GPred::Vec(m) => {
                    self.write_mask = Some(m);
                    self.run_all = false;
                    let bits = vector::mask_to_bits(&mut self.b, m);
                    let mask = self.live_bits();
                    run_bits = Some(self.b.ins().band(bits, mask));
                }
            }
        }
        // In a partial block, waiting lanes keep their values too.
        self.write_mask = match (self.write_mask, self.block_mask) {
            (Some(g), Some(b)) => Some(self.b.ins().band(g, b)),
            (w, b) => w.or(b),
        };
        let run_bits = match run_bits {
            Some(b) => b,
            None => self.live_bits(),
        };
        self.operation(pc, run_bits);
        self.write_mask = None;
        self.run_all = false;
        if let Some(c) = cont {
            self.b.ins().jump(c, &[]);
            self.b.switch_to_block(c);
        }
    }

    /// Instruction `pc`'s operation for lanes `run_bits` (`I32`), its
    /// guard already decided: a memory access or an ALU operation.
    fn operation(&mut self, pc: usize, run_bits: Value) {
        let instr = self.kernel.instrs[pc];
        match instr.op {
            Op::Load { .. } | Op::Store { .. } | Op::Atom { .. } | Op::Cas { .. } => {
                self.memory(pc, instr.op, run_bits)
            }
            _ => self.alu(pc, instr, run_bits),
        }
    }

    /// Four `I8` booleans as an `I32X4` mask.
    fn bools_to_mask(&mut self, xs: [Value; 4]) -> Value {
        let mut lanes = [xs[0]; 4];
        for (k, &x) in xs.iter().enumerate() {
            let w = self.b.ins().uextend(types::I32, x);
            lanes[k] = self.b.ins().ineg(w);
        }
        match vector::from_lanes(&mut self.b, ScalarType::I32, lanes) {
            Vector::One(v) => v,
            Vector::Two(v, _) => v,
        }
    }

    /// A source operand across the gang, read as `ty`, in the shape the
    /// analysis gives the read.
    fn gval(&mut self, s: Src, ty: ScalarType) -> GVal {
        let want = self.sh.read(s, ty);
        match s {
            Src::Reg(r) => {
                let kind = self.an.kinds[r as usize];
                match self.slot(r) {
                    Slot::Scalar(var) => {
                        let v = self.b.use_var(var);
                        match (want, self.sh.regs[r as usize]) {
                            (Shape::Uniform, _) => GVal::Uni(held_as(&mut self.b, v, kind, ty)),
                            (Shape::Affine(st), _) => {
                                GVal::Aff(held_as(&mut self.b, v, kind, ty), st)
                            }
                            (Shape::Varying, Shape::Affine(st)) => {
                                // An affine register read where its lanes
                                // may wrap: the lanes in its own type, then
                                // extended one by one.
                                let own = kind_scalar(kind);
                                let vec = vector::affine(&mut self.b, own, v, st);
                                GVal::Vec(vector::held_vec_as(&mut self.b, vec, kind, ty))
                            }
                            (Shape::Varying, _) => {
                                let u = held_as(&mut self.b, v, kind, ty);
                                GVal::Vec(vector::splat(&mut self.b, ty, u))
                            }
                        }
                    }
                    Slot::One(var) => {
                        let v = Vector::One(self.b.use_var(var));
                        GVal::Vec(vector::held_vec_as(&mut self.b, v, kind, ty))
                    }
                    Slot::Two(lo, hi) => {
                        let v = Vector::Two(self.b.use_var(lo), self.b.use_var(hi));
                        GVal::Vec(vector::held_vec_as(&mut self.b, v, kind, ty))
                    }
                }
            }
            Src::Imm(v) => GVal::Uni(super::values::constant(&mut self.b, ty, v)),
            Src::Param(slot) => {
                let bits = self.scalar(slot);
                GVal::Uni(bits_as(&mut self.b, bits, ty))
            }
            Src::Special(sp)
                if matches!(ty, ScalarType::U32 | ScalarType::I32)
                    && matches!(want, Shape::Uniform | Shape::Affine(_))
                    && self.counts_lanes(sp) =>
            {
                let x = self.special32(sp);
                match want {
                    Shape::Affine(st) => GVal::Aff(x, st),
                    _ => GVal::Uni(x),
                }
            }
            Src::Special(sp) => {
                let (bits, affine) = self.special(sp);
                let x = |b: &mut FunctionBuilder<'_>, v| bits_as(b, v, ty);
                match (want, affine) {
                    (Shape::Uniform, _) => GVal::Uni(x(&mut self.b, bits)),
                    (Shape::Affine(st), _) => GVal::Aff(x(&mut self.b, bits), st),
                    (Shape::Varying, true) => {
                        let v = vector::affine(&mut self.b, ScalarType::U64, bits, 1);
                        GVal::Vec(vector::held_vec_as(&mut self.b, v, Kind::I64, ty))
                    }
                    (Shape::Varying, false) => {
                        // %tid in blocks whose rows do not hold whole
                        // gangs: lane by lane.
                        let mut lanes = [bits; 4];
                        for (k, l) in lanes.iter_mut().enumerate() {
                            let v = self.special_lane(sp, k as i64);
                            *l = x(&mut self.b, v);
                        }
                        GVal::Vec(vector::from_lanes(&mut self.b, ty, lanes))
                    }
                }
            }
        }
    }

    /// A special register for the gang: lane 0's value (`I64`), and whether
    /// lanes count up from it by one.
    fn special(&mut self, s: Special) -> (Value, bool) {
        let lane0 = self.lane0();
        match s {
            Special::LaneId => (lane0, true),
            Special::Gid => {
                let base = self.b.use_var(self.gid_base);
                (self.b.ins().iadd(base, lane0), true)
            }
            Special::Tid(a) => {
                // %tid.x counts up along a gang when rows hold whole gangs.
                let flat = self.shape.y == 1 && self.shape.z == 1;
                let along = a == 0 && (flat || self.shape.x % GANG == 0);
                (self.tid(a, lane0), along)
            }
            Special::Ntid(a) => (
                self.b.ins().iconst(types::I64, self.shape.get(a) as i64),
                false,
            ),
            Special::Ctaid(a) => (self.b.use_var(self.ctaid[a as usize]), false),
            Special::Nctaid(a) => (self.grid[a as usize], false),
        }
    }

    /// Whether special register `s` counts lanes along a gang from lane
    /// 0's value of `gang * 4` plus a uniform: `%gid`, `%laneid`, and
    /// `%tid.x` in blocks of one row ([`Gang::special32`]).
    fn counts_lanes(&self, s: Special) -> bool {
        let flat = self.shape.y == 1 && self.shape.z == 1;
        matches!(s, Special::Gid | Special::LaneId) || (s == Special::Tid(0) && flat)
    }

    /// Lane 0's value of a special register that counts lanes
    /// ([`Gang::counts_lanes`]) in 32 bits, computed with 32-bit
    /// arithmetic: the same bits as [`Gang::special`]'s value truncated,
    /// but a 32-bit operation clears the upper half of its x86 register,
    /// so widening the register to 64 bits (an address) is free, where a
    /// truncation needs a move.
    fn special32(&mut self, s: Special) -> Value {
        let mut lane0 = self.lane0_as(types::I32);
        if s == Special::Gid {
            let base = self.b.use_var(self.gid_base);
            let base = self.b.ins().ireduce(types::I32, base);
            lane0 = self.b.ins().iadd(base, lane0);
        }
        lane0
    }

    /// `%tid` component `a` of lane `lane` (`I64`).
    fn tid(&mut self, a: u8, lane: Value) -> Value {
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

    /// A special register in lane `k` of the gang (`I64`).
    fn special_lane(&mut self, s: Special, k: i64) -> Value {
        let lane0 = self.lane0();
        let lane = self.b.ins().iadd_imm_s(lane0, k);
        match s {
            Special::Tid(a) => self.tid(a, lane),
            other => {
                let (v, affine) = self.special(other);
                if affine {
                    self.b.ins().iadd_imm_s(v, k)
                } else {
                    v
                }
            }
        }
    }

    /// Writes a gang value of type `ty` to register `d` (only the lanes of
    /// `write_mask`, when set).
    fn write_gval(&mut self, d: Reg, ty: ScalarType, v: GVal) {
        let kind = self.an.kinds[d as usize];
        match self.slot(d) {
            Slot::Scalar(var) => {
                let x = match v {
                    GVal::Uni(x) | GVal::Aff(x, _) => x,
                    GVal::Vec(vec) => {
                        debug_assert!(false, "a vector written to scalar register r{d}");
                        vector::lane(&mut self.b, ty, vec, 0)
                    }
                };
                let held = to_held(&mut self.b, kind, ty, x);
                self.b.def_var(var, held);
            }
            Slot::One(var) => {
                let vec = vector::materialize(&mut self.b, ty, v);
                let mut held = vector::vec_to_held(&mut self.b, kind, ty, vec);
                if let Some(m) = self.write_mask {
                    let old = Vector::One(self.b.use_var(var));
                    held = vector::blend(&mut self.b, m, held, old);
                }
                if let Vector::One(x) = held {
                    self.b.def_var(var, x);
                }
            }
            Slot::Two(lo, hi) => {
                let vec = vector::materialize(&mut self.b, ty, v);
                let mut held = vector::vec_to_held(&mut self.b, kind, ty, vec);
                if let Some(m) = self.write_mask {
                    let old = Vector::Two(self.b.use_var(lo), self.b.use_var(hi));
                    held = vector::blend(&mut self.b, m, held, old);
                }
                if let Vector::Two(l, h) = held {
                    self.b.def_var(lo, l);
                    self.b.def_var(hi, h);
                }
            }
        }
    }

    /// A predicate across the gang.
    fn pred_gval(&mut self, p: u8) -> GPred {
        match self.pslot(p) {
            PSlot::Uni(v) => GPred::Uni(self.b.use_var(v)),
            PSlot::Vec(v) => GPred::Vec(self.b.use_var(v)),
        }
    }

    /// Lane `k` of a predicate (`I8`, 0 or 1).
    fn pred_lane(&mut self, p: u8, k: u8) -> Value {
        match self.pred_gval(p) {
            GPred::Uni(v) => v,
            GPred::Vec(m) => {
                let x = self.b.ins().extractlane(m, k);
                self.b.ins().icmp_imm_s(IntCC::NotEqual, x, 0)
            }
        }
    }

    /// A predicate's value as a lane mask.
    fn pred_mask(&mut self, v: GPred) -> Value {
        match v {
            GPred::Vec(m) => m,
            GPred::Uni(u) => {
                let w = self.b.ins().uextend(types::I32, u);
                let w = self.b.ins().ineg(w);
                self.b.ins().splat(types::I32X4, w)
            }
        }
    }

    /// Sets a predicate (only the lanes of `write_mask`, when set).
    fn set_gpred(&mut self, p: u8, v: GPred) {
        match self.pslot(p) {
            PSlot::Uni(var) => {
                let x = match v {
                    GPred::Uni(x) => x,
                    GPred::Vec(m) => {
                        debug_assert!(false, "a varying value written to uniform p{p}");
                        let x = self.b.ins().extractlane(m, 0);
                        self.b.ins().icmp_imm_s(IntCC::NotEqual, x, 0)
                    }
                };
                self.b.def_var(var, x);
            }
            PSlot::Vec(var) => {
                let mut m = self.pred_mask(v);
                if let Some(w) = self.write_mask {
                    let old = self.b.use_var(var);
                    m = self.b.ins().bitselect(w, m, old);
                }
                self.b.def_var(var, m);
            }
        }
    }

    /// Leaves through the fault block when `cond` (`I8`) is set, naming
    /// `lane` (`I64`, the lane's `%laneid`).
    fn fault_at(&mut self, cond: Value, f: FaultCall, lane: Value) {
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
                BlockArg::Value(lane),
            ],
        );
        self.b.switch_to_block(ok);
    }

    /// Emits a slow path with `emit`: every block it makes is laid out
    /// after the hot code.
    fn cold_path(&mut self, emit: impl FnOnce(&mut Self)) {
        let first = self.b.func.dfg.num_blocks();
        emit(self);
        for i in first..self.b.func.dfg.num_blocks() {
            self.b
                .set_cold_block(cranelift_codegen::ir::Block::from_u32(i as u32));
        }
    }

    /// `%laneid` of the lowest lane in `bits` (`I32`, not empty).
    fn lowest_lane(&mut self, bits: Value) -> Value {
        let k = self.b.ins().ctz(bits);
        let k = self.b.ins().uextend(types::I64, k);
        let lane0 = self.lane0();
        self.b.ins().iadd(lane0, k)
    }

    fn emit_fault_block(&mut self) {
        let f = self.fault;
        self.b.set_cold_block(f);
        let code = self.b.append_block_param(f, types::I32);
        let pc = self.b.append_block_param(f, types::I32);
        let value = self.b.append_block_param(f, types::I64);
        let lane = self.b.append_block_param(f, types::I64);
        self.b.switch_to_block(f);
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

    fn launch_word(&mut self, base: Value, offset: usize) -> Value {
        self.b.ins().load(
            types::I64,
            MemFlagsData::trusted().with_readonly().with_can_move(),
            base,
            offset as i32,
        )
    }

    fn buffer_ptr(&mut self, slot: u16) -> Value {
        let at = slot as usize * size_of::<BufferRef>();
        self.launch_word(self.buffers, at + offset_of!(BufferRef, ptr))
    }

    fn buffer_len(&mut self, slot: u16) -> Value {
        let at = slot as usize * size_of::<BufferRef>();
        let at = at + offset_of!(BufferRef, len);
        if self.checks.is_none() {
            return self.launch_word(self.buffers, at);
        }
        // With block checks the hot loop reads no length: loaded where
        // used (the block's checks, the general version), not hoisted to
        // the function's entry, where the values would live across the
        // loop and the register allocator spills and reloads them in it.
        self.b.ins().load(
            types::I64,
            MemFlagsData::trusted().with_readonly(),
            self.buffers,
            at as i32,
        )
    }

    fn scalar(&mut self, slot: u16) -> Value {
        self.launch_word(self.scalars, 8 * slot as usize)
    }

    fn call_helper(&mut self, h: Helper, args: &[Value]) -> Value {
        self.helpers.call(&mut self.b, h, args)
    }
}

/// How many copies of the full version the proven loop runs a trip in
/// (`Gang::proven_copies`), for a block of `lanes` lanes and a copy of
/// `size` IR instructions: up to 4, a power of two that divides the
/// block's gangs, all of four lanes (the loop tests its end once per
/// trip), within [`PROVEN_LOOP_SIZE`] instructions in all. Short bodies
/// gain most: a vector_add launch of 16k lanes (one task) 2.6-2.7 -> 2.3
/// us with 4 copies, 2.5 us with 2; a u8 kernel's copy, five times
/// vector_add's, would only add compile time.
fn copies_for(lanes: i64, size: usize) -> i64 {
    let mut n = 4;
    while n > 1 && (lanes % (n * GANG as i64) != 0 || n as usize * size > PROVEN_LOOP_SIZE) {
        n /= 2;
    }
    n
}

/// The largest proven loop, in IR instructions, that copies make.
const PROVEN_LOOP_SIZE: usize = 256;

/// Whether the gang tier emits a full-gang version of `kernel` (see
/// [`Gang::full`]): no divergence, or barriers in lockstep (which count
/// no steps: a gang's lanes that wait inside a stretch would need the
/// per-lane bookkeeping), and small enough that twice its code stays
/// cheap to compile.
fn has_full_version(kernel: &Kernel, divergent: bool, lockstep: bool) -> bool {
    (!divergent || lockstep) && kernel.instrs.len() <= FULL_VERSION_MAX_INSTRS
}

/// The largest kernel (in instructions) given a full-gang version.
const FULL_VERSION_MAX_INSTRS: usize = 64;

/// The scalar type a register of kind `kind` holds its value in.
fn kind_scalar(kind: Kind) -> ScalarType {
    match kind {
        Kind::I32Zero => ScalarType::U32,
        Kind::I32Sign => ScalarType::I32,
        Kind::F32 => ScalarType::F32,
        Kind::I64 => ScalarType::U64,
        Kind::F64 => ScalarType::F64,
    }
}

/// The one-lane translations see lane 0 (uniform work) or lane `k`.
impl<'f> LaneCode<'f> for Gang<'f> {
    fn b(&mut self) -> &mut FunctionBuilder<'f> {
        &mut self.b
    }

    fn cold(&self) -> bool {
        !self.full && !self.bbs_full.is_empty()
    }

    fn read(&mut self, s: Src, ty: ScalarType) -> Value {
        let v = self.gval(s, ty);
        let k = match self.mode {
            Mode::Uniform => 0,
            Mode::Lane(k) => k,
        };
        vector::lane_of(&mut self.b, ty, v, k)
    }
    fn read_bits(&mut self, s: Src) -> Value {
        LaneCode::read(self, s, ScalarType::U64)
    }
    fn write(&mut self, d: Reg, ty: ScalarType, v: Value) {
        match self.mode {
            Mode::Uniform => {
                let g = match self.sh.regs[d as usize] {
                    Shape::Affine(st) => GVal::Aff(v, st),
                    _ => GVal::Uni(v),
                };
                self.write_gval(d, ty, g)
            }
            Mode::Lane(k) => self.lane_out[k as usize] = Some((ty, v)),
        }
    }
    fn write_bits(&mut self, d: Reg, bits: Value) {
        let ty = kind_scalar(self.an.kinds[d as usize]);
        let v = bits_as(&mut self.b, bits, ty);
        LaneCode::write(self, d, ty, v)
    }
    fn pred(&mut self, p: u8) -> Value {
        let k = match self.mode {
            Mode::Uniform => 0,
            Mode::Lane(k) => k,
        };
        self.pred_lane(p, k)
    }
    fn set_pred(&mut self, p: u8, v: Value) {
        match self.mode {
            Mode::Uniform => self.set_gpred(p, GPred::Uni(v)),
            Mode::Lane(k) => self.lane_pred_out[k as usize] = Some(v),
        }
    }
    fn fault_if(&mut self, cond: Value, f: FaultCall) {
        if self.divisor_checked && f.code == crate::engine::jit::frame::fault_code::DIVISION {
            return;
        }
        let lane = match self.mode {
            Mode::Uniform => {
                let bits = match self.fault_bits {
                    Some(b) => b,
                    None => self.live_bits(),
                };
                self.lowest_lane(bits)
            }
            Mode::Lane(k) => {
                let lane0 = self.lane0();
                self.b.ins().iadd_imm_s(lane0, k as i64)
            }
        };
        self.fault_at(cond, f, lane)
    }
    fn call_helper(&mut self, h: Helper, args: &[Value]) -> Value {
        Gang::call_helper(self, h, args)
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

#[cfg(test)]
mod tests {
    use super::copies_for;

    #[test]
    fn proven_loop_copies_divide_the_gangs_and_stay_within_the_size() {
        // vector_add's copy (~55 IR instructions), 256 lanes: four.
        assert_eq!(copies_for(256, 55), 4);
        // Four would pass the size, two do not.
        assert_eq!(copies_for(256, 100), 2);
        assert_eq!(copies_for(256, 129), 1);
        // The copies divide the block's gangs, and every gang is whole.
        assert_eq!(copies_for(24, 10), 2);
        assert_eq!(copies_for(28, 10), 1);
        assert_eq!(copies_for(30, 10), 1);
        assert_eq!(copies_for(6, 10), 1);
        assert_eq!(copies_for(1, 1), 1);
    }
}
