//! Differential tests: every fast engine must give bit-identical buffers to
//! the reference interpreter on generated programs, and fault the same way.
//!
//! The generator writes LASM text (so the assembler is exercised too):
//! arithmetic of every type, conversions, comparisons and selects, guarded
//! instructions, uniform and divergent forward branches, counted loops with
//! divergent trip counts, barriers in uniform control flow with shared-memory
//! exchange between lanes, loads from an input buffer, lane-private stores,
//! atomics (integer atomics on one shared counter, any atomic on lane-private
//! words), and, rarely, instructions that can fault.

#[path = "common/differential.rs"]
mod differential_common;

use std::fmt::Write;
use std::sync::Arc;

use differential_common::{DiffCase, Init, check_engines, render_if, render_loop, render_seeds};
use lanes::Arg;
use lanes::engine::{LaunchSpec, block};
use lanes::launch::{BoundArgs, Dim3};
use lanes::memory::Buffer;
use lanes::types::ScalarType;
use proptest::prelude::*;

/// Registers the program seeds from the input; `DATA_REGS..ALL_REGS` start
/// unwritten, so reading them checks that every engine starts registers at
/// zero (and predicates `p4`, `p5`, never set, at false), however it reuses
/// its register file from block to block.
const DATA_REGS: u8 = 12;
const ALL_REGS: u8 = 16;
/// Bytes of output per lane: 16 register slots, then predicate bytes.
const SLOT_BYTES: u64 = 136;
const INPUT_BYTES: usize = 256;

const ALL: [&str; 10] = [
    "u8", "u16", "u32", "u64", "i8", "i16", "i32", "i64", "f32", "f64",
];
const INTS: [&str; 8] = ["u8", "u16", "u32", "u64", "i8", "i16", "i32", "i64"];
const SIGNED: [&str; 6] = ["i8", "i16", "i32", "i64", "f32", "f64"];
const FLOATS: [&str; 2] = ["f32", "f64"];
const ATOM: [&str; 6] = ["u32", "i32", "u64", "i64", "f32", "f64"];

/// Which fault, if any, generated programs may raise. At most one kind per
/// program, so every engine must report that kind whichever lane faults first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Faults {
    None,
    Bounds,
    Divide,
}

#[derive(Clone, Debug)]
enum Stmt {
    Line(String),
    If {
        pred: u8,
        negated: bool,
        body: Vec<Stmt>,
    },
    Loop {
        count_reg: u8,
        body: Vec<Stmt>,
    },
    Barrier,
}

fn reg() -> impl Strategy<Value = u8> {
    0..ALL_REGS
}

fn float_literal(bits: u64, ty: &str) -> String {
    let v = if ty == "f32" {
        f32::from_bits(bits as u32) as f64
    } else {
        f64::from_bits(bits)
    };
    if v.is_nan() {
        "nan".into()
    } else if v.is_infinite() {
        if v > 0.0 { "inf".into() } else { "-inf".into() }
    } else if ty == "f32" {
        format!("{:e}", f32::from_bits(bits as u32))
    } else {
        format!("{v:e}")
    }
}

fn literal(ty: &'static str) -> impl Strategy<Value = String> {
    let interesting = prop_oneof![
        Just(0u64),
        Just(1),
        Just(u64::MAX),
        Just(0x80),
        Just(0x8000_0000),
        Just(0x8000_0000_0000_0000),
        Just(0x7FFF_FFFF),
        0u64..16,
        any::<u64>(),
    ];
    interesting.prop_map(move |bits| match ty {
        "f32" | "f64" => {
            // Mostly ordinary numbers, sometimes special values.
            let v = (bits % 2001) as f64 / 8.0 - 125.0;
            match bits % 17 {
                0 => "nan".into(),
                1 => "inf".into(),
                2 => "-inf".into(),
                3 => float_literal(bits, ty),
                _ => format!("{v:e}"),
            }
        }
        _ => {
            let t = ScalarType::from_name(ty).unwrap();
            let v = t.extend(bits);
            if t.is_signed_int() {
                format!("{}", v as i64)
            } else {
                format!("{v}")
            }
        }
    })
}

fn special() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "%tid.x",
        "%tid.y",
        "%tid.z",
        "%ntid.x",
        "%ntid.y",
        "%ctaid.x",
        "%ctaid.y",
        "%nctaid.x",
        "%laneid",
        "%gid",
    ])
}

fn src(ty: &'static str) -> impl Strategy<Value = String> {
    prop_oneof![
        6 => reg().prop_map(|r| format!("r{r}")),
        2 => literal(ty),
        1 => special().prop_map(String::from),
        1 => Just("k".to_string()),
    ]
}

fn pick(set: &'static [&'static str]) -> impl Strategy<Value = &'static str> {
    prop::sample::select(set)
}

fn line(faults: Faults) -> BoxedStrategy<String> {
    let binop = (
        pick(&ALL),
        prop::sample::select(vec!["add", "sub", "mul", "min", "max"]),
    )
        .prop_flat_map(|(ty, op)| {
            (reg(), src(ty), src(ty)).prop_map(move |(d, a, b)| format!("{op}.{ty} r{d}, {a}, {b}"))
        });
    let divop =
        (pick(&ALL), prop::sample::select(vec!["div", "rem"])).prop_flat_map(move |(ty, op)| {
            (reg(), src(ty), src(ty)).prop_map(move |(d, a, b)| {
                let int = !ty.starts_with('f');
                if int && faults != Faults::Divide {
                    // Keep integer divisors non-zero: b | 1.
                    format!("or.{ty} r{d}, {b}, 1\n    {op}.{ty} r{d}, {a}, r{d}")
                } else {
                    format!("{op}.{ty} r{d}, {a}, {b}")
                }
            })
        });
    let fma = pick(&ALL).prop_flat_map(|ty| {
        (reg(), src(ty), src(ty), src(ty))
            .prop_map(move |(d, a, b, c)| format!("fma.{ty} r{d}, {a}, {b}, {c}"))
    });
    let bit = (
        pick(&INTS),
        prop::sample::select(vec!["and", "or", "xor", "shl", "shr"]),
    )
        .prop_flat_map(|(ty, op)| {
            (reg(), src(ty), src(ty)).prop_map(move |(d, a, b)| format!("{op}.{ty} r{d}, {a}, {b}"))
        });
    let not = pick(&INTS)
        .prop_flat_map(|ty| (reg(), src(ty)).prop_map(move |(d, a)| format!("not.{ty} r{d}, {a}")));
    let sign =
        (pick(&SIGNED), prop::sample::select(vec!["neg", "abs"])).prop_flat_map(|(ty, op)| {
            (reg(), src(ty)).prop_map(move |(d, a)| format!("{op}.{ty} r{d}, {a}"))
        });
    let math = (
        pick(&FLOATS),
        prop::sample::select(vec![
            "sqrt", "rsqrt", "exp", "exp2", "log", "log2", "sin", "cos", "tanh", "floor", "ceil",
        ]),
    )
        .prop_flat_map(|(ty, op)| {
            (reg(), src(ty)).prop_map(move |(d, a)| format!("{op}.{ty} r{d}, {a}"))
        });
    let cvt = (pick(&ALL), pick(&ALL)).prop_flat_map(|(to, from)| {
        (reg(), src(from)).prop_map(move |(d, a)| format!("cvt.{to}.{from} r{d}, {a}"))
    });
    let mov = pick(&ALL)
        .prop_flat_map(|ty| (reg(), src(ty)).prop_map(move |(d, a)| format!("mov.{ty} r{d}, {a}")));
    let setp = (
        pick(&ALL),
        prop::sample::select(vec!["eq", "ne", "lt", "le", "gt", "ge"]),
    )
        .prop_flat_map(|(ty, cmp)| {
            (0u8..4, src(ty), src(ty))
                .prop_map(move |(p, a, b)| format!("setp.{cmp}.{ty} p{p}, {a}, {b}"))
        });
    let selp = pick(&ALL).prop_flat_map(|ty| {
        (reg(), src(ty), src(ty), 0u8..6)
            .prop_map(move |(d, a, b, p)| format!("selp.{ty} r{d}, {a}, {b}, p{p}"))
    });
    let plogic = (
        prop::sample::select(vec!["and", "or", "xor"]),
        0u8..4,
        0u8..4,
        0u8..4,
    )
        .prop_map(|(op, d, a, b)| format!("{op}.pred p{d}, p{a}, p{b}"));
    let pnot = (0u8..4, 0u8..4).prop_map(|(d, a)| format!("not.pred p{d}, p{a}"));
    // Loads from the input at an aligned in-bounds offset (masked), or
    // (when faults are allowed) at an arbitrary register offset.
    let load = (pick(&ALL), reg(), reg(), any::<bool>()).prop_map(move |(ty, d, a, wild)| {
        if wild && faults == Faults::Bounds {
            format!("ld.global.{ty} r{d}, [inp + r{a}]")
        } else {
            format!("and.u64 r30, r{a}, 0xF8\n    ld.global.{ty} r{d}, [inp + r30]")
        }
    });
    // Stores to the lane's own slots.
    let store = (pick(&ALL), 0u64..15, src_any())
        .prop_map(|(ty, slot, a)| format!("st.global.{ty} [out + r31 + {}], {a}", slot * 8));
    let atom_private = (
        pick(&ATOM),
        prop::sample::select(vec!["add", "min", "max", "exch"]),
        reg(),
        0u64..15,
    )
        .prop_flat_map(|(ty, op, d, slot)| {
            src(ty).prop_map(move |a| {
                format!(
                    "atom.global.{op}.{ty} r{d}, [out + r31 + {}], {a}",
                    slot * 8
                )
            })
        });
    let cas_private = (
        prop::sample::select(vec!["u32", "i32", "u64", "i64"]),
        reg(),
        0u64..15,
    )
        .prop_flat_map(|(ty, d, slot)| {
            (src(ty), src(ty)).prop_map(move |(a, b)| {
                format!(
                    "atom.global.cas.{ty} r{d}, [out + r31 + {}], {a}, {b}",
                    slot * 8
                )
            })
        });
    // Shared counters with order-independent updates only: 64-bit adds at
    // one word, 32-bit unsigned max at another.
    let atom_counter = (any::<bool>(), src("u32")).prop_map(|(add, a)| {
        if add {
            format!("atom.global.add.u64 r29, [counter + 8], {a}")
        } else {
            format!("atom.global.max.u32 r29, [counter], {a}")
        }
    });
    prop_oneof![
        4 => binop,
        1 => divop,
        1 => fma,
        2 => bit,
        1 => not,
        1 => sign,
        1 => math,
        2 => cvt,
        2 => mov,
        2 => setp,
        1 => selp,
        1 => plogic,
        1 => pnot,
        2 => load,
        2 => store,
        1 => atom_private,
        1 => cas_private,
        1 => atom_counter,
    ]
    .boxed()
}

fn src_any() -> impl Strategy<Value = String> {
    prop_oneof![reg().prop_map(|r| format!("r{r}")), Just("k".to_string())]
}

fn guarded(faults: Faults) -> impl Strategy<Value = Stmt> {
    (
        line(faults),
        prop::option::weighted(0.2, (0u8..6, any::<bool>())),
    )
        .prop_map(|(l, g)| match g {
            // Only guard single-instruction lines.
            Some((p, neg)) if !l.contains('\n') => {
                Stmt::Line(format!("@{}p{p} {l}", if neg { "!" } else { "" }))
            }
            _ => Stmt::Line(l),
        })
}

fn body(depth: u32, uniform: bool, faults: Faults) -> BoxedStrategy<Vec<Stmt>> {
    let leaf = guarded(faults).boxed();
    if depth == 0 {
        return prop::collection::vec(leaf, 1..8).boxed();
    }
    let nested_if = (0u8..4, any::<bool>(), body(depth - 1, false, faults)).prop_map(
        |(pred, negated, body)| Stmt::If {
            pred,
            negated,
            body,
        },
    );
    let nested_loop = (0u8..DATA_REGS, body(depth - 1, false, faults))
        .prop_map(|(count_reg, body)| Stmt::Loop { count_reg, body });
    let mut choices: Vec<(u32, BoxedStrategy<Stmt>)> =
        vec![(8, leaf), (1, nested_if.boxed()), (1, nested_loop.boxed())];
    if uniform {
        choices.push((1, Just(Stmt::Barrier).boxed()));
    }
    prop::collection::vec(prop::strategy::Union::new_weighted(choices), 1..10).boxed()
}

fn render(stmts: &[Stmt], out: &mut String, labels: &mut u32, depth: u32) {
    for s in stmts {
        match s {
            Stmt::Line(l) => {
                let _ = writeln!(out, "    {l}");
            }
            Stmt::If {
                pred,
                negated,
                body,
            } => render_if(out, labels, pred, *negated, |out, labels| {
                render(body, out, labels, depth)
            }),
            Stmt::Loop { count_reg, body } => {
                // Trip count 0..=3 from a data register: divergent.
                let c = 20 + depth;
                let init = format!("and.u32 r{c}, r{count_reg}, 3");
                render_loop(out, labels, c, &init, |out, labels| {
                    render(body, out, labels, depth + 1)
                });
            }
            Stmt::Barrier => {
                // Exchange through shared memory with a neighbour lane.
                let _ = writeln!(out, "    st.shared.u64 [r28], r0");
                let _ = writeln!(out, "    bar.sync");
                let _ = writeln!(out, "    ld.shared.u64 r1, [r27]");
                let _ = writeln!(out, "    bar.sync");
            }
        }
    }
}

fn program(stmts: &[Stmt], lanes_per_block: u32) -> String {
    let mut out = String::new();
    let _ = writeln!(out, ".kernel gen");
    let _ = writeln!(out, ".param inp buf");
    let _ = writeln!(out, ".param out buf");
    let _ = writeln!(out, ".param counter buf");
    let _ = writeln!(out, ".param k u32");
    let _ = writeln!(out, ".shared {}", lanes_per_block * 8);
    // r31: this lane's output slot; r28/r27: own and neighbour shared slot.
    let _ = writeln!(out, "    mov.u64 r31, %gid");
    let _ = writeln!(out, "    mul.u64 r31, r31, {SLOT_BYTES}");
    let _ = writeln!(out, "    mov.u32 r28, %laneid");
    let _ = writeln!(out, "    add.u32 r27, r28, 1");
    let _ = writeln!(out, "    rem.u32 r27, r27, %ntid.x");
    let _ = writeln!(out, "    shl.u32 r28, r28, 3");
    let _ = writeln!(out, "    shl.u32 r27, r27, 3");
    render_seeds(&mut out, DATA_REGS, "u64");
    let mut labels = 0;
    render(stmts, &mut out, &mut labels, 0);
    // Dump the registers and predicates.
    for r in 0..ALL_REGS {
        let _ = writeln!(
            out,
            "    atom.global.exch.u64 r29, [out + r31 + {}], r{r}",
            (r as u64 % 16) * 8
        );
    }
    for p in 0..6 {
        let _ = writeln!(out, "    selp.u64 r29, 1, 0, p{p}");
        let _ = writeln!(out, "    st.global.u8 [out + r31 + {}], r29", 128 + p);
    }
    out
}

#[derive(Debug, Clone)]
struct Case {
    source: String,
    grid: Dim3,
    block: Dim3,
    input: Vec<u8>,
    k: u32,
    max_steps: u64,
}

fn case(faults: Faults) -> impl Strategy<Value = Case> {
    case_with_budget(faults, Just(1 << 20))
}

fn case_with_budget(
    faults: Faults,
    budget: impl Strategy<Value = u64> + Clone + 'static,
) -> impl Strategy<Value = Case> {
    (
        (1u32..=3, 1u32..=2, 1u32..=2),
        (1u32..=40, 1u32..=3, 1u32..=2),
        prop::collection::vec(any::<u8>(), INPUT_BYTES),
        any::<u32>(),
    )
        .prop_flat_map(move |(g, b, input, k)| {
            let lanes = b.0 * b.1 * b.2;
            (body(2, true, faults), budget.clone()).prop_map(move |(stmts, max_steps)| Case {
                source: program(&stmts, lanes),
                grid: Dim3::new(g.0, g.1, g.2),
                block: Dim3::new(b.0, b.1, b.2),
                input: input.clone(),
                k,
                max_steps,
            })
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
        self.max_steps
    }
    fn buffers(&self) -> Vec<Init> {
        let total = self.grid.count() * self.block.count();
        vec![
            Init::Bytes(self.input.clone()),
            Init::Zeroed(total as usize * SLOT_BYTES as usize),
            Init::Zeroed(16),
        ]
    }
    fn scalars(&self) -> Vec<(u64, Arg)> {
        vec![(self.k as u64, Arg::from(self.k))]
    }
    fn describe(&self) -> String {
        self.source.clone()
    }
    /// Faults that different lanes may raise first in different engines are
    /// compared by class: bad accesses (bounds or alignment), division, steps.
    fn fault_kind(&self, kind: &lanes::FaultKind) -> &'static str {
        match kind {
            lanes::FaultKind::OutOfBounds { .. } | lanes::FaultKind::Misaligned { .. } => "access",
            lanes::FaultKind::DivisionByZero => "division",
            lanes::FaultKind::StepLimit { .. } => "steps",
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, .. ProptestConfig::default() })]

    #[test]
    fn block_engine_matches_reference(c in case(Faults::None)) {
        check_engines(&c)?;
    }

    #[test]
    fn block_engine_faults_out_of_bounds_like_reference(c in case(Faults::Bounds)) {
        check_engines(&c)?;
    }

    #[test]
    fn block_engine_faults_on_division_like_reference(c in case(Faults::Divide)) {
        check_engines(&c)?;
    }

    /// Budgets near the programs' lengths: the step count of every lane,
    /// through divergence and reconvergence, must match exactly.
    #[test]
    fn block_engine_counts_steps_like_reference(c in case_with_budget(Faults::None, 80u64..400)) {
        check_engines(&c)?;
    }
}

#[test]
fn counter_atomics_are_exact() {
    // Many lanes add to one counter: integer atomics are order-independent.
    let src = ".kernel k\n.param c buf\n    atom.global.add.u32 r0, [c], 3\n    atom.global.max.i64 r1, [c + 8], %gid\n";
    let prog = lanes::compile("k.lasm", src).unwrap();
    let kernel = prog.kernel("k").unwrap();
    let c = Arc::new(Buffer::zeroed(16).unwrap());
    let args = BoundArgs {
        buffers: vec![c.clone()],
        scalars: vec![],
    };
    let spec = LaunchSpec {
        kernel,
        grid: Dim3::x(5),
        block: Dim3::x(64),
        args: &args,
        max_steps: 1000,
        stop: &lanes::engine::StopFlag::new(),
    };
    block::run(&spec).unwrap();
    assert_eq!(c.load(0, 4).unwrap(), 3 * 5 * 64);
    assert_eq!(c.load(8, 8).unwrap(), 5 * 64 - 1);
}

#[test]
fn regression_lanes_waiting_at_a_barrier_keep_what_the_others_write_after_parting() {
    // Lanes 0 and 1 of each block branch to `a`; the others wait at the
    // first barrier while they write r1 and reach the second. The gang tier
    // ran `a` as if no lane waited (only waiting at the branch's target
    // counted), wrote r1 = 5 for all four lanes of the gang, and lanes 2 and
    // 3 stored 5 instead of their own 0 (found reading the shape analysis;
    // `Tier::Gang` only: the JIT's own choice for such kernels is one lane
    // at a time).
    let src = ".kernel gen\n.param inp buf\n.param out buf\n.param counter buf\n.param k u32\n\
               \x20   mov.u32 r0, %laneid\n    setp.lt.u32 p0, r0, 2\n    @p0 bra a\n    bar.sync\n\
               \x20   mov.u64 r2, %gid\n    shl.u64 r2, r2, 3\n    st.global.u32 [out + r2], r1\n    exit\n\
               a:\n    mov.u32 r1, 5\n    bar.sync\n";
    for block in [Dim3::x(8), Dim3::x(6), Dim3::new(3, 2, 1)] {
        let c = Case {
            source: src.to_string(),
            grid: Dim3::x(2),
            block,
            input: vec![0; INPUT_BYTES],
            k: 0,
            max_steps: 1 << 20,
        };
        check_engines(&c).unwrap();
    }
}
