//! Differential tests for kernels whose barriers every lane meets in
//! lockstep: the JIT's gang tier runs them as passes over a block's gangs
//! (see `src/engine/jit/codegen/gang/lockstep.rs`), keeps block-invariant
//! registers in machine registers across barriers, and ends a pass early
//! at a tree reduction's shortened trip. Every engine must give the
//! reference interpreter's buffers bit for bit.
//!
//! The generator writes tree reductions over shared memory (halving loops
//! that provably end, so no step counting: the gang tier takes them), as
//! branches over a level or as guards on its effects, with
//! the shortened trip's comparison in every orientation (`%tid.x < s`,
//! `s > %laneid`, `@p` / `@!p`, some that take a prefix of the lanes rather
//! than a suffix, some on data rather than the lane index), neighbour
//! exchanges between barriers, invariant registers redefined between
//! barriers (from `k`, `%ntid.x`, `%ctaid.x`) and read after them,
//! divergent `if`s and exits of some lanes before later barriers (on data,
//! or, right after a barrier, on the lane's index: an exit that may end
//! the block's later gangs, some behind a branch of the later lanes to a
//! barrier), in flat
//! and two-dimensional blocks whose lane counts need not be multiples of a
//! gang. The data registers are loaded from scattered words or, in half
//! the cases, from consecutive ones, so that a block's gangs run its first
//! stretch to the first barrier in the full version (a lockstep block's
//! first pass has a gang loop of its own for that). A second property adds
//! registers computed from the lane's index
//! (which a resuming gang may recompute rather than keep in its record),
//! written where that is sound and where it is not.

#[path = "common/differential.rs"]
mod differential_common;

use std::fmt::Write;

use differential_common::{DiffCase, Init, check_engines, compile_case, render_if, render_seeds};
use lanes::Arg;
use lanes::engine::LaunchSpec;
use lanes::engine::jit::{JitLaunch, Tier};
use lanes::launch::{BoundArgs, Dim3};
use lanes::memory::Buffer;
use proptest::prelude::*;
use std::sync::Arc;

/// Data registers `r0..r6`, seeded from the input.
const DATA_REGS: u8 = 6;
/// Bytes of output per lane: 13 register slots.
const SLOT_BYTES: u64 = 104;
const INPUT_BYTES: usize = 256;
/// Registers dumped per lane: the data, the accumulators, the invariants,
/// the lane-derived `r30`.
const DUMPED: [u8; 13] = [0, 1, 2, 3, 4, 5, 18, 21, 23, 25, 26, 27, 30];

#[derive(Clone, Debug)]
enum Stmt {
    /// A data instruction, maybe guarded.
    Line(String),
    /// An invariant update (`r21`, `r23` from `k`, `%ntid.x`, `%ctaid.x`).
    Invariant(String),
    /// A divergent `if` over data lines.
    If {
        pred: u8,
        negated: bool,
        body: Vec<String>,
    },
    /// Lanes whose data register compares so exit.
    Exit {
        reg: u8,
        cmp: &'static str,
        bound: u32,
    },
    /// After a barrier, lanes exit on a comparison of their index with a
    /// constant or an invariant (`lane >= b`, `lane != b`...): a pure run
    /// whose exit may end the block's later gangs. With `skip`, the lanes
    /// from that index on first branch over the exit to a barrier.
    LaneExit {
        lane: &'static str,
        cmp: &'static str,
        bound: String,
        swapped: bool,
        negated: bool,
        skip: Option<u32>,
    },
    /// After a barrier, every lane exits unless the invariant `r21` is
    /// below `bound` (an unguarded exit after an invariant branch).
    AllExit { bound: u32 },
    /// Store to the own shared slot, barrier, read a neighbour's, barrier.
    Exchange { from: u8, to: u8, offset: u32 },
    /// A halving loop with a barrier per trip, accumulating other lanes'
    /// values into a register (no shared store in the loop: race-free
    /// whichever lanes a trip runs).
    Reduce(Reduce),
    /// `block_sum`'s tree: lanes below `s` add the slot `s` above theirs
    /// into their own, in one of four spellings of that test (forms 0-3:
    /// the other lanes branch to the barrier), or with every effect
    /// guarded instead (forms 4-6: the library's reductions; a pass may end
    /// at the first gang none of whose lanes runs them, unless the level
    /// writes a register that crosses the barrier unguarded, as form 6
    /// does), or guarded so that the lanes from `s` on run them (form 7:
    /// they read the slot `s` below theirs and accumulate; no pass may end
    /// early there); `pre`: data lines before the test in each trip (a run
    /// that is not pure: no shortened trip may skip them).
    Tree {
        reg: u8,
        shift: u8,
        form: u8,
        lane: &'static str,
        pre: Vec<String>,
    },
    /// `r30` from the lane's index and an immediate or `k` (what a gang
    /// may recompute when it resumes instead of keeping it in its record,
    /// if this is its only write and every path to a barrier runs it):
    /// plain, guarded on data, inside a divergent `if`, in a block of its
    /// own, or from `r17` written just after it (so `r30` is not the
    /// lane's).
    Derived { line: String, place: u8 },
}

#[derive(Clone, Debug)]
struct Reduce {
    reg: u8,
    /// Where the halving count starts: `%ntid.x`, the block's lanes, or the
    /// invariant `r21` (maybe huge).
    start: &'static str,
    /// Shift per trip (1..=3).
    shift: u8,
    /// The trip's test: lane index source, comparison, operand order and
    /// guard sense (a data register instead of the lane for some).
    lane: &'static str,
    cmp: &'static str,
    swapped: bool,
    negated: bool,
    /// Extra data lines in the trip's body.
    body: Vec<String>,
}

fn data_reg() -> impl Strategy<Value = u8> {
    0..DATA_REGS
}

fn data_line() -> impl Strategy<Value = String> {
    let op = prop_oneof![
        Just("add.u32"),
        Just("sub.u32"),
        Just("mul.u32"),
        Just("xor.u32"),
        Just("min.u32"),
        Just("max.i32"),
        Just("add.u64"),
        Just("shr.u32"),
        Just("shl.u64"),
    ];
    let operand = prop_oneof![
        data_reg().prop_map(|r| format!("r{r}")),
        (0u32..40).prop_map(|v| v.to_string()),
        Just("r21".to_string()),
        Just("%laneid".to_string()),
        Just("%tid.x".to_string()),
    ];
    let arith = (op, data_reg(), data_reg(), operand)
        .prop_map(|(op, d, a, b)| format!("{op} r{d}, r{a}, {b}"));
    let float = (data_reg(), data_reg(), data_reg()).prop_map(|(d, a, b)| {
        format!("cvt.f32.u32 r{d}, r{a}\n    add.f32 r{d}, r{d}, 0.5\n    cvt.u32.f32 r{b}, r{d}")
    });
    let setp = (
        0u8..4,
        pick(&["lt", "le", "gt", "ge", "eq", "ne"]),
        data_reg(),
        0u32..64,
    )
        .prop_map(|(p, c, a, b)| format!("setp.{c}.u32 p{p}, r{a}, {b}"));
    let selp = (data_reg(), data_reg(), data_reg(), 0u8..4)
        .prop_map(|(d, a, b, p)| format!("selp.u32 r{d}, r{a}, r{b}, p{p}"));
    let line = prop_oneof![4 => arith, 1 => float, 2 => setp, 1 => selp];
    (line, prop::option::weighted(0.2, (0u8..4, any::<bool>()))).prop_map(|(l, g)| match g {
        Some((p, neg)) if !l.contains('\n') => {
            format!("@{}p{p} {l}", if neg { "!" } else { "" })
        }
        _ => l,
    })
}

fn pick(set: &'static [&'static str]) -> impl Strategy<Value = &'static str> {
    prop::sample::select(set)
}

fn invariant_line() -> impl Strategy<Value = String> {
    pick(&[
        "add.u32 r21, r21, 7",
        "mul.u32 r21, r21, 3",
        "shr.u32 r21, r21, 1",
        "xor.u32 r21, r21, r22",
        "mov.u32 r23, %ctaid.x",
        "add.u32 r21, r21, r23",
        "mov.u32 r23, %ntid.x",
        "sub.u32 r23, r23, r21",
        "add.u32 r0, r0, r21",
    ])
    .prop_map(str::to_string)
}

fn reduce() -> impl Strategy<Value = Reduce> {
    (
        data_reg(),
        pick(&["%ntid.x", "LANES", "r21"]),
        1u8..=3,
        pick(&["r20", "%laneid", "r19", "%tid.x", "r0"]),
        pick(&["lt", "le", "gt", "ge"]),
        any::<bool>(),
        any::<bool>(),
        prop::collection::vec(data_line(), 0..3),
    )
        .prop_map(
            |(reg, start, shift, lane, cmp, swapped, negated, body)| Reduce {
                reg,
                start,
                shift,
                lane,
                cmp,
                swapped,
                negated,
                body,
            },
        )
}

fn stmt() -> impl Strategy<Value = Stmt> {
    prop_oneof![
        4 => data_line().prop_map(Stmt::Line),
        2 => invariant_line().prop_map(Stmt::Invariant),
        1 => (0u8..4, any::<bool>(), prop::collection::vec(data_line(), 1..4))
            .prop_map(|(pred, negated, body)| Stmt::If { pred, negated, body }),
        1 => (data_reg(), pick(&["lt", "gt", "eq"]), 0u32..64)
            .prop_map(|(reg, cmp, bound)| Stmt::Exit { reg, cmp, bound }),
        2 => (data_reg(), data_reg(), 1u32..5)
            .prop_map(|(from, to, offset)| Stmt::Exchange { from, to, offset }),
        2 => (
            pick(&["r20", "%laneid", "r19", "%tid.x"]),
            pick(&["lt", "le", "gt", "ge", "eq", "ne"]),
            prop_oneof![4 => (0u32..90).prop_map(|b| b.to_string()), 1 => Just("r21".to_string())],
            any::<bool>(),
            any::<bool>(),
            prop::option::weighted(0.3, 0u32..90),
        )
            .prop_map(|(lane, cmp, bound, swapped, negated, skip)| Stmt::LaneExit {
                lane,
                cmp,
                bound,
                swapped,
                negated,
                skip,
            }),
        1 => (0u32..400).prop_map(|bound| Stmt::AllExit { bound }),
        2 => reduce().prop_map(Stmt::Reduce),
        2 => (
            data_reg(),
            1u8..=2,
            0u8..8,
            pick(&["r20", "%laneid", "r19", "%tid.x"]),
            prop::collection::vec(data_line(), 0..3),
        )
            .prop_map(|(reg, shift, form, lane, pre)| Stmt::Tree { reg, shift, form, lane, pre }),
    ]
}

/// `lane` as the lane's index in the block: `%tid.x` (and `r19`, which
/// holds it) is one only in flat blocks, elsewhere `r20` (`%laneid`).
fn lane_index(lane: &'static str, flat: bool) -> &'static str {
    if flat || lane == "r20" || lane == "%laneid" {
        lane
    } else {
        "r20"
    }
}

/// `contiguous`: the data registers are loaded from consecutive words of
/// the input (four lanes of a gang read one run), so that a block's gangs
/// can run its first stretch (up to its first barrier) without leaving
/// the full version (`Gang::first_stretch_loop`); otherwise from scattered
/// ones (a gang's run is not contiguous).
fn render(stmts: &[Stmt], block: Dim3, contiguous: bool) -> String {
    let lanes = block.count() as u32;
    let flat = block.y == 1 && block.z == 1;
    let mut out = String::new();
    let _ = writeln!(out, ".kernel gen");
    let _ = writeln!(out, ".param inp buf");
    let _ = writeln!(out, ".param out buf");
    let _ = writeln!(out, ".param k u32");
    let _ = writeln!(out, ".shared {}", lanes * 8);
    // r31: this lane's output slot; r20: its index in the block; r19:
    // %tid.x; r28: its shared slot; r21, r22: invariants.
    let _ = writeln!(out, "    mov.u64 r31, %gid");
    let _ = writeln!(out, "    mul.u64 r31, r31, {SLOT_BYTES}");
    let _ = writeln!(out, "    mov.u32 r20, %laneid");
    let _ = writeln!(out, "    mov.u32 r19, %tid.x");
    let _ = writeln!(out, "    shl.u32 r28, r20, 3");
    let _ = writeln!(out, "    mov.u32 r21, k");
    let _ = writeln!(out, "    mov.u32 r22, %ntid.x");
    if contiguous {
        // Word (lane + 8r) mod 64: consecutive in each gang (gangs start
        // at multiples of four).
        for r in 0..DATA_REGS {
            let _ = writeln!(out, "    add.u32 r{r}, r20, {}", r as u32 * 8);
            let _ = writeln!(out, "    and.u32 r{r}, r{r}, 63");
            let _ = writeln!(out, "    shl.u64 r{r}, r{r}, 2");
            let _ = writeln!(out, "    ld.global.u32 r{r}, [inp + r{r}]");
        }
    } else {
        render_seeds(&mut out, DATA_REGS, "u32");
    }
    let mut labels = 0u32;
    for s in stmts {
        match s {
            Stmt::Line(l) | Stmt::Invariant(l) => {
                let _ = writeln!(out, "    {l}");
            }
            Stmt::If {
                pred,
                negated,
                body,
            } => render_if(&mut out, &mut labels, pred, *negated, |out, _| {
                for l in body {
                    let _ = writeln!(out, "    {l}");
                }
            }),
            Stmt::Exit { reg, cmp, bound } => {
                let _ = writeln!(out, "    setp.{cmp}.u32 p4, r{reg}, {bound}");
                let _ = writeln!(out, "    @p4 exit");
            }
            Stmt::LaneExit {
                lane,
                cmp,
                bound,
                swapped,
                negated,
                skip,
            } => {
                labels += 1;
                let n = labels;
                let lane = lane_index(lane, flat);
                let (a, b) = if *swapped {
                    (bound.as_str(), lane)
                } else {
                    (lane, bound.as_str())
                };
                let _ = writeln!(out, "    bar.sync");
                if let Some(s) = skip {
                    let _ = writeln!(out, "    setp.lt.u32 p5, {lane}, {s}");
                    let _ = writeln!(out, "    @!p5 bra wait{n}");
                }
                let _ = writeln!(out, "    setp.{cmp}.u32 p4, {a}, {b}");
                let _ = writeln!(out, "    @{}p4 exit", if *negated { "!" } else { "" });
                if skip.is_some() {
                    let _ = writeln!(out, "wait{n}:");
                    let _ = writeln!(out, "    bar.sync");
                }
            }
            Stmt::Derived { line, place } => {
                labels += 1;
                let n = labels;
                match place {
                    0 => {
                        let _ = writeln!(out, "    {line}");
                    }
                    1 => {
                        let _ = writeln!(out, "    @p{} {line}", n % 4);
                    }
                    2 => render_if(&mut out, &mut labels, n % 4, false, |out, _| {
                        let _ = writeln!(out, "    {line}");
                    }),
                    3 => {
                        let _ = writeln!(out, "    bra own{n}");
                        let _ = writeln!(out, "own{n}:");
                        let _ = writeln!(out, "    {line}");
                    }
                    _ => {
                        let _ = writeln!(out, "    {}", line.replace("r20", "r17"));
                        let _ = writeln!(out, "    mov.u32 r17, %laneid");
                    }
                }
            }
            Stmt::AllExit { bound } => {
                labels += 1;
                let n = labels;
                let _ = writeln!(out, "    bar.sync");
                let _ = writeln!(out, "    setp.lt.u32 p6, r21, {bound}");
                let _ = writeln!(out, "    @p6 bra keep{n}");
                let _ = writeln!(out, "    exit");
                let _ = writeln!(out, "keep{n}:");
            }
            Stmt::Exchange { from, to, offset } => {
                let _ = writeln!(out, "    st.shared.u64 [r28], r{from}");
                let _ = writeln!(out, "    bar.sync");
                let _ = writeln!(out, "    add.u32 r24, r20, {offset}");
                let _ = writeln!(out, "    rem.u32 r24, r24, {lanes}");
                let _ = writeln!(out, "    shl.u32 r24, r24, 3");
                let _ = writeln!(out, "    ld.shared.u64 r{to}, [r24]");
                let _ = writeln!(out, "    bar.sync");
            }
            Stmt::Reduce(r) => {
                labels += 1;
                let n = labels;
                let start = if r.start == "LANES" {
                    lanes.to_string()
                } else {
                    r.start.to_string()
                };
                let (a, b) = if r.swapped {
                    ("r25", r.lane)
                } else {
                    (r.lane, "r25")
                };
                let _ = writeln!(out, "    st.shared.u64 [r28], r{}", r.reg);
                let _ = writeln!(out, "    bar.sync");
                let _ = writeln!(out, "    mov.u32 r25, {start}");
                let _ = writeln!(out, "    shr.u32 r25, r25, 1");
                let _ = writeln!(out, "top{n}:");
                let _ = writeln!(out, "    setp.eq.u32 p6, r25, 0");
                let _ = writeln!(out, "    @p6 bra end{n}");
                let _ = writeln!(out, "    setp.{}.u32 p5, {a}, {b}", r.cmp);
                let _ = writeln!(
                    out,
                    "    @{}p5 bra trip{n}",
                    if r.negated { "!" } else { "" }
                );
                let _ = writeln!(out, "    add.u32 r26, r20, r25");
                let _ = writeln!(out, "    rem.u32 r26, r26, {lanes}");
                let _ = writeln!(out, "    shl.u32 r26, r26, 3");
                let _ = writeln!(out, "    ld.shared.u64 r27, [r26]");
                let _ = writeln!(out, "    add.u64 r18, r18, r27");
                let _ = writeln!(out, "    xor.u64 r18, r18, r25");
                for l in &r.body {
                    let _ = writeln!(out, "    {l}");
                }
                let _ = writeln!(out, "trip{n}:");
                let _ = writeln!(out, "    bar.sync");
                let _ = writeln!(out, "    shr.u32 r25, r25, {}", r.shift);
                let _ = writeln!(out, "    bra top{n}");
                let _ = writeln!(out, "end{n}:");
                let _ = writeln!(out, "    add.u64 r{}, r{}, r18", r.reg, r.reg);
                let _ = writeln!(out, "    bar.sync");
            }
            Stmt::Tree {
                reg,
                shift,
                form,
                lane,
                pre,
            } => {
                labels += 1;
                let n = labels;
                let lane = lane_index(lane, flat);
                // Lanes below s run the trip, whichever spelling.
                let test = match form {
                    0 => format!("setp.lt.u32 p5, {lane}, r25\n    @!p5 bra trip{n}"),
                    1 => format!("setp.gt.u32 p5, r25, {lane}\n    @!p5 bra trip{n}"),
                    2 => format!("setp.ge.u32 p5, {lane}, r25\n    @p5 bra trip{n}"),
                    3 => format!("setp.le.u32 p5, r25, {lane}\n    @p5 bra trip{n}"),
                    4 | 7 => format!("setp.lt.u32 p5, {lane}, r25"),
                    5 => format!("setp.ge.u32 p5, {lane}, r25"),
                    _ => format!("setp.gt.u32 p5, r25, {lane}"),
                };
                // The guard of the trip's effects (forms 4-7).
                let g = match form {
                    4 | 6 => "@p5 ",
                    5 | 7 => "@!p5 ",
                    _ => "",
                };
                let _ = writeln!(out, "    st.shared.u64 [r28], r{reg}");
                let _ = writeln!(out, "    bar.sync");
                let _ = writeln!(out, "    mov.u32 r25, {lanes}");
                let _ = writeln!(out, "    shr.u32 r25, r25, 1");
                let _ = writeln!(out, "top{n}:");
                let _ = writeln!(out, "    setp.eq.u32 p6, r25, 0");
                let _ = writeln!(out, "    @p6 bra end{n}");
                if !pre.is_empty() {
                    for l in pre {
                        let _ = writeln!(out, "    {l}");
                    }
                    // The test in a block of its own, after these.
                    let _ = writeln!(out, "    bra test{n}");
                    let _ = writeln!(out, "test{n}:");
                }
                let _ = writeln!(out, "    {test}");
                // Forms 4, 5 and 7 compute the address and load into
                // temporaries (r10, r11: no barrier sees them), so only
                // their guard decides whether a level may end a pass
                // early; the others write r26 and r27, which the kernel's
                // end dumps (they cross the barrier: a gang left out would
                // keep old values).
                let (addr, val) = if matches!(form, 4 | 5 | 7) {
                    ("r10", "r11")
                } else {
                    ("r26", "r27")
                };
                if *form == 7 {
                    // Lanes from s on read the slot s below theirs and
                    // accumulate: no store, no race.
                    let _ = writeln!(out, "    sub.u32 {addr}, r20, r25");
                } else {
                    let _ = writeln!(out, "    add.u32 {addr}, r20, r25");
                }
                let _ = writeln!(out, "    shl.u32 {addr}, {addr}, 3");
                let _ = writeln!(out, "    {g}ld.shared.u64 {val}, [{addr}]");
                if *form != 7 {
                    let _ = writeln!(out, "    {g}ld.shared.u64 r18, [r28]");
                }
                let _ = writeln!(out, "    {g}add.u64 r18, r18, {val}");
                if *form != 7 {
                    let _ = writeln!(out, "    {g}st.shared.u64 [r28], r18");
                }
                if *form < 4 {
                    let _ = writeln!(out, "trip{n}:");
                }
                let _ = writeln!(out, "    bar.sync");
                let _ = writeln!(out, "    shr.u32 r25, r25, {shift}");
                let _ = writeln!(out, "    bra top{n}");
                let _ = writeln!(out, "end{n}:");
                let _ = writeln!(out, "    ld.shared.u64 r{reg}, [0]");
                let _ = writeln!(out, "    bar.sync");
            }
        }
    }
    for (i, r) in DUMPED.iter().enumerate() {
        let _ = writeln!(
            out,
            "    atom.global.exch.u64 r29, [out + r31 + {}], r{r}",
            i * 8
        );
    }
    out
}

/// A [`Stmt::Derived`]: `r30` from a lane index (`r20` = `%laneid`, `r19`
/// = `%tid.x`, which is the lane's index only in flat blocks, or
/// `%laneid` itself) and an immediate or `k`, by `shl`, `mul`, `add` (either
/// operand order) or `mov`, as u32 or u64.
fn derived() -> impl Strategy<Value = Stmt> {
    (
        pick(&["shl", "mul", "add", "mov"]),
        pick(&["u32", "u64"]),
        pick(&["r20", "r19", "%laneid"]),
        prop_oneof![(0u32..6).prop_map(|v| v.to_string()), Just("k".to_string())],
        any::<bool>(),
        0u8..5,
    )
        .prop_map(|(op, ty, lane, b, swapped, place)| {
            let line = match op {
                "mov" => format!("mov.{ty} r30, {lane}"),
                "shl" => format!("shl.{ty} r30, {lane}, {b}"),
                _ if swapped => format!("{op}.{ty} r30, {b}, {lane}"),
                _ => format!("{op}.{ty} r30, {lane}, {b}"),
            };
            Stmt::Derived { line, place }
        })
}

#[derive(Debug, Clone)]
struct Case {
    source: String,
    grid: Dim3,
    block: Dim3,
    input: Vec<u8>,
    k: u32,
}

fn case() -> impl Strategy<Value = Case> {
    case_of(stmt())
}

/// Cases whose statements `stmts` draws.
fn case_of(stmts: impl Strategy<Value = Stmt>) -> impl Strategy<Value = Case> {
    (
        (1u32..=3, 1u32..=2),
        (1u32..=40, 1u32..=2),
        prop::collection::vec(any::<u8>(), INPUT_BYTES),
        prop_oneof![0u32..300, any::<u32>()],
        prop::collection::vec(stmts, 1..7),
        any::<bool>(),
    )
        .prop_map(|(g, b, input, k, stmts, contiguous)| {
            let block = Dim3::new(b.0, b.1, 1);
            Case {
                source: render(&stmts, block, contiguous),
                grid: Dim3::new(g.0, g.1, 1),
                block,
                input,
                k,
            }
        })
}

impl DiffCase for Case {
    fn source(&self) -> &str {
        &self.source
    }
    fn grid(&self) -> Dim3 {
        self.grid
    }
    fn block(&self) -> Dim3 {
        self.block
    }
    fn max_steps(&self) -> u64 {
        1 << 20
    }
    fn buffers(&self) -> Vec<Init> {
        let total = self.grid.count() * self.block.count();
        vec![
            Init::Bytes(self.input.clone()),
            Init::Zeroed(total as usize * SLOT_BYTES as usize),
        ]
    }
    fn scalars(&self) -> Vec<(u64, Arg)> {
        vec![(self.k as u64, Arg::from(self.k))]
    }
    fn describe(&self) -> String {
        format!(
            "grid {} block {} k {}\n{}",
            self.grid, self.block, self.k, self.source
        )
    }
}

/// The tier the JIT picks for the case (on its own, as `Engine::Jit` does).
fn default_tier(c: &Case) -> Tier {
    let kernel = compile_case(c);
    let total = c.grid.count() * c.block.count();
    let args = BoundArgs {
        buffers: vec![
            Arc::new(Buffer::from_bytes(&c.input).unwrap()),
            Arc::new(Buffer::zeroed(total as usize * SLOT_BYTES as usize).unwrap()),
        ],
        scalars: vec![c.k as u64],
    };
    let stop = lanes::engine::StopFlag::new();
    let spec = LaunchSpec {
        kernel: &kernel,
        grid: c.grid,
        block: c.block,
        args: &args,
        max_steps: c.max_steps(),
        stop: &stop,
    };
    JitLaunch::with_tier(&spec, None).unwrap().tier()
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: differential_common::cases_from_env("LANES_LOCKSTEP_CASES", 64),
        .. ProptestConfig::default()
    })]

    #[test]
    fn lockstep_barrier_programs_match_reference(c in case()) {
        // Every generated kernel meets its barriers in lockstep and its
        // loops provably end: blocks of at least a gang run on the gang
        // tier's lockstep scheme, which this property is about.
        if c.block.count() >= 4 {
            prop_assert_eq!(default_tier(&c), Tier::Gang, "{}", c.describe());
        }
        check_engines(&c)?;
    }

    /// Registers from the lane's index that cross barriers: a gang may
    /// recompute them when it resumes rather than keep them in its record
    /// (`lockstep::rematerialized`), only where that gives their value.
    #[test]
    fn lane_derived_registers_match_reference(
        c in case_of(prop_oneof![2 => derived(), 3 => stmt()])
    ) {
        if c.block.count() >= 4 {
            prop_assert_eq!(default_tier(&c), Tier::Gang, "{}", c.describe());
        }
        check_engines(&c)?;
    }
}
