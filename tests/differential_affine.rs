//! Differential tests aimed at index arithmetic and launch shapes: every fast
//! engine must give bit-identical buffers to the reference interpreter, and
//! fault the same way, on generated programs built around the patterns that
//! unit fusion (consecutive blocks run in lockstep) and affine/uniform
//! register tracking (`base + stride*lane`) optimise:
//!
//! - index arithmetic from every special register (`%gid`, `%tid.*`,
//!   `%ctaid.*`, `%ntid.*`, `%nctaid.*`, `%laneid`) through `mov`, `add`,
//!   `sub`, `mul` (by constants, parameters and other lane-varying registers),
//!   `shl` (by constants, also past the type width, and by registers), integer
//!   `fma`, `neg` and `cvt` between every pair of integer types, with large
//!   constants so that narrow types wrap;
//! - `setp` of every comparison against thresholds placed inside blocks, at
//!   block edges, before the first lane and after the last, and guards on
//!   `exit`, `bra` and ordinary instructions;
//! - loads and stores whose byte offset is an index scaled by the element size,
//!   by other strides (0, 2x, 3x, negative), with `+ IMM` / `- IMM`
//!   displacements, built in u64, i64, u32, i32 and u16 arithmetic with wrapping
//!   bases; grid-stride loops;
//! - with faults: accesses whose range runs out past the end or before the
//!   start of the buffer, misaligned ones, and accesses made by one lane only;
//!   where exactly one lane can fault, the fault (block, lane, instruction,
//!   kind, offset) must be identical;
//! - many small blocks in 1-D, 2-D and 3-D grids, with and without shared
//!   memory and `bar.sync` (which turn fusion off);
//! - registers and predicates read before they are written.
//!
//! Each program is generated from a list of per-statement seeds, so proptest
//! shrinks a failure by dropping statements and shrinking the launch shape.

#[path = "common/differential.rs"]
mod differential_common;

use std::fmt::Write;

use differential_common::{
    DiffCase, Init, Outcome, Rng, Shape, cases_from_env, check_engines, kind_of, render_if,
    run_with, seeded_runner, size_of,
};
use lanes::Arg;
use lanes::engine::reference;
use lanes::launch::Dim3;
use lanes::types::ScalarType;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

/// Registers r0..r15 hold generated values; r19 is never written (must read
/// as zero); r18 is a temporary of index computations; r20..r22 hold
/// addresses; r23..r25 belong to grid-stride loops; r26..r28 to barrier
/// exchanges; r17 addresses the shared tail (`shared_edge`); r29 is a
/// scratch; r30/r31 address the lane's output slot.
const WILD_REGS: u64 = 16;
/// Predicates p0..p4 are written by `setp`; p5 and p6 never are (must read
/// false); p7 belongs to loops.
const SET_PREDS: u64 = 5;
const GUARD_PREDS: u64 = 7;
/// Output slot per lane: r0..r15, r19, then predicate bytes p0..p6.
const SLOT_BYTES: u64 = 17 * 8 + 8;

const INTS: [&str; 8] = ["u8", "u16", "u32", "u64", "i8", "i16", "i32", "i64"];
const WIDE_INTS: [&str; 4] = ["u32", "u64", "i32", "i64"];
const MEM_TYPES: [&str; 10] = [
    "f32", "u32", "u8", "u16", "u64", "f64", "i32", "i8", "i16", "i64",
];
const CMPS: [&str; 6] = ["eq", "ne", "lt", "le", "gt", "ge"];
const SPECIALS: [&str; 13] = [
    "%gid",
    "%laneid",
    "%tid.x",
    "%tid.y",
    "%tid.z",
    "%ctaid.x",
    "%ctaid.y",
    "%ctaid.z",
    "%ntid.x",
    "%ntid.y",
    "%ntid.z",
    "%nctaid.x",
    "%nctaid.y",
];

/// Per-case values of the scalar parameters.
#[derive(Clone, Copy, Debug)]
struct Params {
    k: u32,
    n: u32,
    kw: u64,
    kn: i32,
}

fn lit(ty: &str, bits: u64) -> String {
    let t = ScalarType::from_name(ty).unwrap();
    let v = t.extend(bits);
    if t.is_signed_int() {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// Whether `v` (non-negative) is representable as an immediate of `ty`.
fn fits(ty: &str, v: u64) -> bool {
    let t = ScalarType::from_name(ty).unwrap();
    t.extend(v) == v
}

/// Values that sit at interesting places of the launch: lane 0, block
/// edges, the last lane and beyond, and type limits.
fn threshold(rng: &mut Rng, sh: &Shape) -> u64 {
    let (lpb, total) = (sh.lpb(), sh.total());
    let edge = rng.below(sh.blocks() + 1) * lpb;
    match rng.below(16) {
        0 => 0,
        1 => 1,
        2 => lpb.wrapping_sub(1),
        3 => lpb,
        4 => lpb + 1,
        5 => total - 1,
        6 => total,
        7 => total + 1,
        8 => edge,
        9 => edge.wrapping_sub(1),
        10 => edge + 1,
        11 => rng.below(total + 2),
        12 => sh.block.x as u64 - rng.below(2),
        13 => rng.pick(&[
            0x7FFF_FFFF,
            0x8000_0000,
            0xFFFF_FFFF,
            0x7F,
            0x80,
            0xFF,
            0xFFFF,
        ]),
        14 => rng.pick(&[u64::MAX, u64::MAX - 1, 1 << 63, 1 << 32]),
        _ => rng.below(64),
    }
}

fn immediate(rng: &mut Rng, sh: &Shape) -> u64 {
    match rng.below(5) {
        0 => threshold(rng, sh),
        1 => rng.below(16),
        2 => rng.next(),
        _ => rng.pick(&[
            0,
            1,
            2,
            3,
            4,
            8,
            31,
            32,
            33,
            63,
            64,
            65,
            0x7F,
            0x80,
            0xFF,
            0x7FFF,
            0x8000,
            0xFFFF,
            0x4000_0000,
            0x7FFF_FFFF,
            0x8000_0000,
            0xFFFF_FFFF,
            1 << 32,
            1 << 63,
            u64::MAX,
            u64::MAX - 1,
            136,
            0x0101_0101,
        ]),
    }
}

fn wild_reg(rng: &mut Rng) -> String {
    // Mostly generated registers, sometimes the never-written r19.
    if rng.chance(3) {
        "r19".into()
    } else {
        format!("r{}", rng.below(WILD_REGS))
    }
}

/// A source operand of an integer instruction of type `ty`.
fn operand(rng: &mut Rng, sh: &Shape, ty: &str) -> String {
    match rng.below(20) {
        0..=8 => wild_reg(rng),
        9..=13 => rng.pick(&SPECIALS).into(),
        14..=17 => lit(ty, immediate(rng, sh)),
        _ => rng.pick(&["k", "n", "kw", "kn"]).into(),
    }
}

/// A lane-varying source: a register or a special.
fn varying(rng: &mut Rng) -> String {
    if rng.chance(50) {
        wild_reg(rng)
    } else {
        rng.pick(&SPECIALS).into()
    }
}

fn shift_amount(rng: &mut Rng, ty: &str) -> String {
    loop {
        let s: u64 = rng.pick(&[
            0, 1, 2, 3, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 255,
        ]);
        if fits(ty, s) {
            return lit(ty, s);
        }
    }
}

/// One arithmetic instruction on generated registers.
fn arith_line(rng: &mut Rng, sh: &Shape) -> String {
    let d = rng.below(WILD_REGS);
    let ty = if rng.chance(60) {
        rng.pick(&WIDE_INTS)
    } else {
        rng.pick(&INTS)
    };
    let a = operand(rng, sh, ty);
    let b = operand(rng, sh, ty);
    let c = operand(rng, sh, ty);
    match rng.below(28) {
        0..=1 => format!("mov.{ty} r{d}, {a}"),
        2..=4 => format!("add.{ty} r{d}, {a}, {b}"),
        5..=7 => format!("sub.{ty} r{d}, {a}, {b}"),
        8..=9 => format!("mul.{ty} r{d}, {a}, {b}"),
        10 => {
            // Index times a (large) constant: wraps in the narrow types.
            let m = rng.pick(&[
                0x4000_0000u64,
                0x8000_0000,
                0x1_0000,
                0x100,
                3,
                0xFFFF_FFFF,
                u64::MAX,
            ]);
            format!("mul.{ty} r{d}, {}, {}", varying(rng), lit(ty, m))
        }
        11 => format!("mul.{ty} r{d}, {}, {}", varying(rng), varying(rng)),
        12..=13 => format!("shl.{ty} r{d}, {}, {}", varying(rng), shift_amount(rng, ty)),
        14 => format!("shl.{ty} r{d}, {a}, {b}"),
        15..=16 => format!("fma.{ty} r{d}, {}, {b}, {c}", varying(rng)),
        17 => {
            let ty = rng.pick(&["i8", "i16", "i32", "i64"]);
            format!("neg.{ty} r{d}, {}", varying(rng))
        }
        18..=21 => {
            let (to, from) = (rng.pick(&INTS), rng.pick(&INTS));
            format!("cvt.{to}.{from} r{d}, {}", varying(rng))
        }
        22 => format!(
            "{}.{ty} r{d}, {a}, {b}",
            rng.pick(&["shr", "and", "or", "xor"])
        ),
        23 => format!("{}.{ty} r{d}, {a}, {b}", rng.pick(&["min", "max"])),
        24 => format!("selp.{ty} r{d}, {a}, {b}, p{}", rng.below(GUARD_PREDS)),
        25 => {
            // Division by a non-zero constant (never faults).
            let v = immediate(rng, sh) | 1;
            let v = if ScalarType::from_name(ty).unwrap().extend(v) == 0 {
                1
            } else {
                v
            };
            format!(
                "{}.{ty} r{d}, {a}, {}",
                rng.pick(&["div", "rem"]),
                lit(ty, v)
            )
        }
        26 => {
            // Through floating point and back.
            let f = rng.pick(&["f32", "f64"]);
            let (i, j) = (rng.pick(&INTS), rng.pick(&INTS));
            let a = operand(rng, sh, i);
            format!("cvt.{f}.{i} r{d}, {a}\n    cvt.{j}.{f} r{d}, r{d}")
        }
        _ => format!(
            "abs.{} r{d}, {}",
            rng.pick(&["i8", "i16", "i32", "i64"]),
            varying(rng)
        ),
    }
}

fn setp_line(rng: &mut Rng, sh: &Shape) -> String {
    let p = rng.below(SET_PREDS);
    let cmp = rng.pick(&CMPS);
    let ty = if rng.chance(85) {
        rng.pick(&INTS)
    } else {
        rng.pick(&["f32", "f64"])
    };
    let a = varying(rng);
    let b = if ty.starts_with('f') {
        varying(rng)
    } else {
        match rng.below(10) {
            0..=4 => lit(ty, threshold(rng, sh)),
            5..=6 => rng.pick(&["n", "k", "kn", "kw"]).into(),
            _ => varying(rng),
        }
    };
    if rng.chance(30) {
        format!("setp.{cmp}.{ty} p{p}, {b}, {a}")
    } else {
        format!("setp.{cmp}.{ty} p{p}, {a}, {b}")
    }
}

fn plogic_line(rng: &mut Rng) -> String {
    let (d, a, b) = (
        rng.below(SET_PREDS),
        rng.below(GUARD_PREDS),
        rng.below(GUARD_PREDS),
    );
    match rng.below(4) {
        0 => format!("not.pred p{d}, p{a}"),
        i => format!(
            "{}.pred p{d}, p{a}, p{b}",
            ["and", "or", "xor"][i as usize - 1]
        ),
    }
}

/// An index computation: code writing a value `lo..=hi` (zero-extended to 64
/// bits) into `r`, and whether different lanes of the launch get different
/// values.
struct Index {
    code: Vec<String>,
    lo: u64,
    hi: u64,
    injective: bool,
}

fn index(rng: &mut Rng, sh: &Shape, p: &Params, r: &str) -> Index {
    let (lpb, blocks, total) = (sh.lpb(), sh.blocks(), sh.total());
    let (b, g) = (sh.block, sh.grid);
    let only = |n: u64| n == total;
    let mut ix = match rng.below(20) {
        0..=2 => {
            let code = match rng.below(4) {
                0 => format!("mov.u64 {r}, %gid"),
                1 => format!("mov.u32 {r}, %gid"),
                2 => format!("cvt.u64.u32 {r}, %gid"),
                _ => format!("add.u64 {r}, %gid, 0"),
            };
            Index {
                code: vec![code],
                lo: 0,
                hi: total - 1,
                injective: true,
            }
        }
        3 => {
            // %gid by hand: linear block * lanes per block + %laneid.
            let ty = rng.pick(&["u32", "i32", "u64"]);
            let mut code = vec![
                format!("mov.{ty} {r}, %ctaid.z"),
                format!("fma.{ty} {r}, {r}, %nctaid.y, %ctaid.y"),
                format!("fma.{ty} {r}, {r}, %nctaid.x, %ctaid.x"),
            ];
            if rng.chance(50) {
                code.push(format!("mul.{ty} {r}, {r}, {lpb}"));
            } else {
                code.push(format!("mul.{ty} r18, %ntid.x, %ntid.y"));
                code.push(format!("mul.{ty} r18, r18, %ntid.z"));
                code.push(format!("mul.{ty} {r}, {r}, r18"));
            }
            code.push(format!("add.{ty} {r}, {r}, %laneid"));
            Index {
                code,
                lo: 0,
                hi: total - 1,
                injective: true,
            }
        }
        4..=5 => {
            let code = if rng.chance(50) {
                vec![format!("mov.u32 {r}, %laneid")]
            } else {
                vec![
                    format!("fma.u32 {r}, %tid.z, %ntid.y, %tid.y"),
                    format!("fma.u32 {r}, {r}, %ntid.x, %tid.x"),
                ]
            };
            Index {
                code,
                lo: 0,
                hi: lpb - 1,
                injective: blocks == 1,
            }
        }
        6..=7 => {
            // Global x index.
            let code = match rng.below(3) {
                0 => vec![format!("fma.u32 {r}, %ctaid.x, %ntid.x, %tid.x")],
                1 => vec![
                    format!("mul.u64 {r}, %ctaid.x, %ntid.x"),
                    format!("add.u64 {r}, {r}, %tid.x"),
                ],
                _ => vec![
                    format!("mov.i32 {r}, %ntid.x"),
                    format!("mul.i32 {r}, {r}, %ctaid.x"),
                    format!("add.i32 {r}, %tid.x, {r}"),
                ],
            };
            let n = (g.x * b.x) as u64;
            Index {
                code,
                lo: 0,
                hi: n - 1,
                injective: only(n),
            }
        }
        8..=9 => {
            let (s, n) = rng.pick(&[
                ("%tid.x", b.x),
                ("%tid.y", b.y),
                ("%tid.z", b.z),
                ("%ctaid.x", g.x),
                ("%ctaid.y", g.y),
                ("%ctaid.z", g.z),
            ]);
            let n = n as u64;
            Index {
                code: vec![format!("mov.u32 {r}, {s}")],
                lo: 0,
                hi: n - 1,
                injective: only(n),
            }
        }
        10 => {
            // Uniform values.
            let (code, v) = match rng.below(5) {
                0 => (format!("mov.u32 {r}, %ntid.x"), b.x as u64),
                1 => (format!("mov.u32 {r}, %nctaid.y"), g.y as u64),
                2 => (format!("mov.u64 {r}, r19"), 0),
                3 => (format!("mov.u32 {r}, k"), p.k as u64),
                _ => (format!("sub.u64 {r}, %gid, %gid"), 0),
            };
            Index {
                code: vec![code],
                lo: v,
                hi: v,
                injective: total == 1,
            }
        }
        11 => {
            // Narrow views of %gid: wrap past 255.
            let (code, m) = if rng.chance(50) {
                (format!("mov.u8 {r}, %gid"), 256)
            } else {
                (format!("cvt.u8.u64 {r}, %gid"), 256)
            };
            let hi = (total - 1).min(m - 1);
            Index {
                code: vec![code],
                lo: 0,
                hi,
                injective: total <= m,
            }
        }
        12 => {
            let hi = (total - 1).min(7);
            Index {
                code: vec![format!("and.u32 {r}, %gid, 7")],
                lo: 0,
                hi,
                injective: total <= 8,
            }
        }
        13 => {
            // Products of two lane-varying values.
            if rng.chance(50) {
                let hi = (b.x as u64 - 1) * (b.y as u64 - 1);
                Index {
                    code: vec![format!("mul.u32 {r}, %tid.x, %tid.y")],
                    lo: 0,
                    hi,
                    injective: total == 1,
                }
            } else {
                Index {
                    code: vec![format!("mul.u32 {r}, %laneid, %laneid")],
                    lo: 0,
                    hi: (lpb - 1) * (lpb - 1),
                    injective: blocks == 1,
                }
            }
        }
        14 => {
            // Linear block index times lanes per block (uniform per block).
            Index {
                code: vec![
                    format!("fma.u32 {r}, %ctaid.y, %nctaid.x, %ctaid.x"),
                    format!("fma.u32 {r}, %ctaid.z, {}, {r}", g.x * g.y),
                ],
                lo: 0,
                hi: blocks - 1,
                injective: lpb == 1,
            }
        }
        _ => {
            let inner = index(rng, sh, p, r);
            return modify(rng, inner, r);
        }
    };
    if rng.chance(25) {
        ix = modify(rng, ix, r);
    }
    ix
}

/// Value-preserving or simply transforming steps after an index.
fn modify(rng: &mut Rng, mut ix: Index, r: &str) -> Index {
    match rng.below(6) {
        0 => {
            // Reverse: hi - i.
            let form = match rng.below(3) {
                1 if ix.hi >= 1 << 31 => 0,
                f => f,
            };
            let (lo, hi) = (ix.lo, ix.hi);
            ix.code.push(match form {
                0 => format!("sub.u64 {r}, {hi}, {r}"),
                1 => format!("sub.i32 {r}, {hi}, {r}"),
                _ => format!("neg.i64 {r}, {r}\n    add.i64 {r}, {r}, {hi}"),
            });
            ix.lo = 0;
            ix.hi = hi - lo;
        }
        1 => {
            // Times two, by shifts past the type width.
            let (ty, s) = rng.pick(&[
                ("u64", 65),
                ("u32", 33),
                ("u64", 1),
                ("i32", 1),
                ("u16", 17),
            ]);
            let limit: u64 = match ty {
                "u16" => 1 << 16,
                "i32" => 1 << 31,
                "u32" => 1 << 32,
                _ => u64::MAX,
            };
            if ix.hi >= limit / 2 {
                return ix;
            }
            ix.code.push(format!("shl.{ty} {r}, {r}, {s}"));
            ix.lo *= 2;
            ix.hi *= 2;
        }
        2 => {
            // Narrow round trips that keep the value.
            if ix.hi < 128 {
                ix.code
                    .push(format!("cvt.i8.u64 {r}, {r}\n    cvt.u64.i8 {r}, {r}"));
            } else if ix.hi < 32768 {
                ix.code
                    .push(format!("cvt.i16.u32 {r}, {r}\n    cvt.i64.i16 {r}, {r}"));
            } else {
                ix.code.push(format!("cvt.u32.u64 {r}, {r}"));
            }
        }
        3 => {
            // Plus a constant then minus it again, wrapping in u32.
            ix.code.push(format!(
                "add.u32 {r}, {r}, 0xFFFFFFF0\n    sub.u32 {r}, {r}, 4294967280"
            ));
        }
        4 => {
            ix.code.push(format!("add.u64 {r}, {r}, 3"));
            ix.lo += 3;
            ix.hi += 3;
        }
        _ => {
            ix.code.push(format!("mov.u64 {r}, {r}"));
        }
    }
    ix
}

/// How an access goes wrong, if it does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flavor {
    Safe,
    /// The `bad` highest offsets run past the end.
    PastEnd(u64),
    /// The `bad` lowest offsets lie before the start.
    BeforeStart(u64),
    /// Every lane misaligned, in bounds.
    Misaligned,
    /// Every lane at one out-of-bounds offset.
    UniformOut,
    /// Offsets that overflow a u32 computation.
    Wild,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Bounds,
    Align,
}

struct Addr {
    code: Vec<String>,
    /// The address after `BUF` : "+ r20 - 8".
    operand: String,
    /// Faults, if any, come from exactly one lane.
    single: bool,
    kind: Option<Kind>,
}

/// Builds an address register `r` for an access of `sz` bytes to the window
/// `base..base+len` of a buffer of `buf_len` bytes. `distinct`: different
/// lanes must get different, non-overlapping offsets (stores).
#[allow(clippy::too_many_arguments)]
fn address(
    rng: &mut Rng,
    sh: &Shape,
    p: &Params,
    r: &str,
    sz: u64,
    base: u64,
    len: u64,
    flavor: Flavor,
    distinct: bool,
) -> Addr {
    if flavor == Flavor::Wild {
        let ix = index(rng, sh, p, r);
        let mut code = ix.code;
        let m = rng.pick(&[0x4000_0000u64, 0x8000_0000, 0x1_0000, 0xFFFF_FFF8]);
        code.push(format!("mul.u32 {r}, {r}, {m}"));
        if rng.chance(50) {
            code.push(format!("cvt.u64.i32 {r}, {r}"));
        }
        return Addr {
            code,
            operand: format!("+ {r}"),
            single: false,
            kind: Some(Kind::Bounds),
        };
    }
    // An index with a small enough range.
    let mut ix;
    let mut tries = 0;
    loop {
        ix = index(rng, sh, p, r);
        tries += 1;
        let ok_inj = !distinct || ix.injective;
        let span = (ix.hi - ix.lo) * sz * 3;
        if ok_inj && span + 4 * sz <= len {
            break;
        }
        if tries > 30 {
            ix = Index {
                code: vec![format!("mov.u64 {r}, %gid")],
                lo: 0,
                hi: sh.total() - 1,
                injective: true,
            };
            break;
        }
    }
    // Stride: a multiple of the element size, sometimes the parameter k.
    let needs_stride = distinct || matches!(flavor, Flavor::PastEnd(_) | Flavor::BeforeStart(_));
    let mut s: i128 = loop {
        let m: i128 = rng.pick(&[0, 1, 1, 1, 1, 2, 3, -1, -1, -2]);
        if !(needs_stride && m == 0) && flavor != Flavor::UniformOut {
            break m * sz as i128;
        }
        if flavor == Flavor::UniformOut {
            break 0;
        }
    };
    if flavor != Flavor::UniformOut
        && p.k as u64 % sz == 0
        && (p.k as u64) <= 3 * sz
        && !(needs_stride && p.k == 0)
        && rng.chance(20)
    {
        s = p.k as i128;
    }
    let (lo, hi) = (ix.lo as i128, ix.hi as i128);
    let szi = sz as i128;
    if s.abs() * (hi - lo) + 4 * szi > len as i128 {
        // Too wide for the window: one element per index.
        s = s.signum() * szi;
    }
    let span = s.abs() * (hi - lo);
    let (start, end) = (base as i128, (base + len) as i128);
    let n_idx = (hi - lo + 1) as u64;
    let align_down = |v: i128| v - v.rem_euclid(szi);
    let (omin, single, kind) = match flavor {
        Flavor::Safe => (align_down(rng.range(start, end - szi - span)), false, None),
        Flavor::PastEnd(bad) => {
            let bad = bad.min(n_idx) as i128;
            (
                end - szi - span + bad * s.abs(),
                bad == 1 && ix.injective,
                Some(Kind::Bounds),
            )
        }
        Flavor::BeforeStart(bad) => {
            let bad = bad.min(n_idx) as i128;
            (
                start - bad * s.abs(),
                bad == 1 && ix.injective,
                Some(Kind::Bounds),
            )
        }
        Flavor::Misaligned => {
            let o = align_down(rng.range(start, end - 2 * szi - span));
            (
                o + rng.range(1, szi - 1),
                sh.total() == 1,
                Some(Kind::Align),
            )
        }
        Flavor::UniformOut => {
            // Aligned, wholly outside: past the end or before the start.
            let o = if rng.chance(50) {
                end + szi * rng.range(0, 3)
            } else {
                start - szi * rng.range(1, 3)
            };
            (o, sh.total() == 1, Some(Kind::Bounds))
        }
        Flavor::Wild => unreachable!(),
    };
    // Displacement: a multiple of the size, never more than the smallest offset.
    let mut d: i128 = rng.pick(&[0, 0, 1, 2, 8, -1, -2, -8, 32, -32]) * szi;
    if rng.chance(10) {
        d = rng.pick(&[64, 256, -64, -256]);
    }
    if d > omin {
        d = if omin >= 0 {
            align_down(omin.min(d)).max(0)
        } else {
            omin - szi * rng.range(0, 2)
        };
    }
    if omin < 0 && d > omin {
        d = omin;
    }
    // Register part R(i) = a + s*i, with min R = omin - d >= 0.
    let rmin = omin - d;
    let a = rmin - (s * lo).min(s * hi);
    let rmax = rmin + span;
    debug_assert!(rmin >= 0);
    let mut code = ix.code;
    let wrap64 = |v: i128| (v as i64) as u64;
    let pow2 = s > 0 && (s as u64).is_power_of_two();
    let k_form = s == p.k as i128 && s != 0;
    let form = rng.below(12);
    match form {
        0 if pow2 => {
            let sh_amt = (s as u64).trailing_zeros() + if rng.chance(50) { 64 } else { 0 };
            code.push(format!("shl.u64 {r}, {r}, {sh_amt}"));
            code.push(format!("add.u64 {r}, {r}, {}", wrap64(a)));
        }
        1 if pow2 && rmax < 1 << 32 => {
            let sh_amt = (s as u64).trailing_zeros() + if rng.chance(50) { 32 } else { 0 };
            code.push(format!("shl.u32 {r}, {r}, {sh_amt}"));
            code.push(format!("add.u32 {r}, {r}, {}", wrap64(a) as u32));
        }
        2 => {
            code.push(format!("fma.u64 {r}, {r}, {}, {}", wrap64(s), wrap64(a)));
        }
        3 if rmax < 1 << 32 => {
            code.push(format!(
                "fma.u32 {r}, {r}, {}, {}",
                wrap64(s) as u32,
                wrap64(a) as u32
            ));
        }
        4 => {
            code.push(format!("mul.i64 {r}, {r}, {}", s as i64));
            code.push(format!("add.i64 {r}, {r}, {}", a as i64));
        }
        5 if rmax < 1 << 31 => {
            code.push(format!("mul.i32 {r}, {r}, {}", s as i32));
            code.push(format!("add.i32 {r}, {r}, {}", a as i32));
            code.push(format!("cvt.u64.i32 {r}, {r}"));
        }
        6 if rmax < 1 << 32 => {
            code.push(format!("mul.u32 {r}, {r}, {}", wrap64(s) as u32));
            code.push(format!("add.u32 {r}, {r}, {}", wrap64(a) as u32));
            if rng.chance(50) {
                code.push(format!("cvt.u64.u32 {r}, {r}"));
            }
        }
        7 if rmax < 1 << 16 && hi < 1 << 16 => {
            code.push(format!("mul.u16 {r}, {r}, {}", wrap64(s) as u16));
            code.push(format!("add.u16 {r}, {r}, {}", wrap64(a) as u16));
        }
        8 if s < 0 => {
            code.push(format!("mul.u64 {r}, {r}, {}", -s));
            code.push(format!("sub.u64 {r}, {}, {r}", wrap64(a)));
        }
        9 if s < 0 => {
            code.push(format!("neg.i64 {r}, {r}"));
            code.push(format!("mul.i64 {r}, {r}, {}", -s));
            code.push(format!("add.i64 {r}, {r}, {}", a as i64));
        }
        10 if k_form => {
            code.push(format!("mul.u64 {r}, {r}, k"));
            code.push(format!("add.u64 {r}, {r}, {}", wrap64(a)));
        }
        11 if s == 0 => {
            code.push(format!("sub.u64 {r}, {r}, {r}"));
            code.push(format!("add.u64 {r}, {r}, {}", wrap64(a)));
        }
        _ => {
            code.push(format!("mul.u64 {r}, {r}, {}", wrap64(s)));
            code.push(format!("add.u64 {r}, {r}, {}", wrap64(a)));
        }
    }
    let operand = match d {
        0 if rng.chance(50) => format!("+ {r}"),
        0 => format!("+ {r} + 0"),
        d if d > 0 => format!("+ {r} + {d}"),
        d => format!("+ {r} - {}", -d),
    };
    Addr {
        code,
        operand,
        single,
        kind,
    }
}

#[derive(Clone, Debug)]
enum Stmt {
    Line(String),
    If {
        pred: u64,
        negated: bool,
        body: Vec<Stmt>,
    },
    /// Lines with `{L}` standing for a fresh label number.
    Labeled(Vec<String>),
    Barrier(u64),
    Seq(Vec<Stmt>),
}

/// What the case's program needs around it.
#[derive(Clone, Copy, Debug)]
struct Layout {
    inp_len: u64,
    /// out2 is split in `stores` regions of `region` bytes, one per store
    /// statement, so that stores of different statements never overlap.
    region: u64,
    fb_len: u64,
    shared: bool,
    barrier: bool,
    /// Bytes of shared memory per private region (after the exchange area).
    sregion: u64,
}

struct Gen<'a> {
    sh: &'a Shape,
    p: &'a Params,
    lay: &'a Layout,
    stores: u64,
    sstores: u64,
}

impl Gen<'_> {
    fn safe_load(&mut self, rng: &mut Rng) -> Vec<String> {
        let ty = rng.pick(&MEM_TYPES);
        let sz = size_of(ty);
        let r = format!("r{}", 20 + rng.below(3));
        let a = address(
            rng,
            self.sh,
            self.p,
            &r,
            sz,
            0,
            self.lay.inp_len,
            Flavor::Safe,
            false,
        );
        let mut code = a.code;
        code.push(format!(
            "ld.global.{ty} r{}, [inp {}]",
            rng.below(WILD_REGS),
            a.operand
        ));
        code
    }

    fn safe_store(&mut self, rng: &mut Rng) -> Vec<String> {
        let ty = rng.pick(&MEM_TYPES);
        let sz = size_of(ty);
        let r = format!("r{}", 20 + rng.below(3));
        let base = self.stores * self.lay.region;
        self.stores += 1;
        let a = address(
            rng,
            self.sh,
            self.p,
            &r,
            sz,
            base,
            self.lay.region,
            Flavor::Safe,
            true,
        );
        let mut code = a.code;
        let v = if rng.chance(80) {
            wild_reg(rng)
        } else {
            rng.pick(&SPECIALS).into()
        };
        code.push(format!("st.global.{ty} [out2 {}], {v}", a.operand));
        code
    }

    /// Store then load back through lane-private shared memory.
    fn shared_roundtrip(&mut self, rng: &mut Rng) -> Vec<String> {
        let ty = rng.pick(&MEM_TYPES);
        let sz = size_of(ty);
        let lpb = self.sh.lpb();
        let base = lpb * 8 + self.sstores * self.lay.sregion;
        self.sstores += 1;
        let r = "r20";
        let s = rng.pick(&[1i64, 1, 2, -1]) * sz as i64;
        let mut code = vec![format!("mov.u32 {r}, %laneid")];
        // Offset base + s*laneid (+ (lpb-1)*|s| for negative strides).
        let a = base as i64 + if s < 0 { -s * (lpb as i64 - 1) } else { 0 };
        code.push(format!("mul.i64 {r}, {r}, {s}"));
        code.push(format!("add.u64 {r}, {r}, {a}"));
        let v = wild_reg(rng);
        code.push(format!("st.shared.{ty} [{r}], {v}"));
        if rng.chance(50) {
            code.push(format!("add.u64 r21, {r}, 16"));
            code.push(format!(
                "ld.shared.{ty} r{}, [r21 - 16]",
                rng.below(WILD_REGS)
            ));
        } else {
            code.push(format!(
                "ld.shared.{ty} r{}, [{r} + 0]",
                rng.below(WILD_REGS)
            ));
        }
        code
    }

    /// Store then load back at the very end of shared memory: each lane's
    /// own 16-byte slot of the tail (`lpb * 16` bytes after the regions),
    /// its element at the slot's end, so the last lane's element ends at
    /// the last byte. The address's range is known when the kernel is
    /// compiled (`%laneid * 16` plus a constant), so the JIT leaves the
    /// bounds test out. `past`: the element one further, where each
    /// block's last lane faults (each lane's bytes are still its own: the
    /// first bytes of the next lane's slot, which that lane never touches).
    fn shared_edge(&mut self, rng: &mut Rng, past: bool) -> Vec<String> {
        let ty = rng.pick(&MEM_TYPES);
        let sz = size_of(ty);
        let lpb = self.sh.lpb();
        let tail = lpb * 8 + 4 * self.lay.sregion;
        let disp = tail + 16 - sz + if past { sz } else { 0 };
        let v = wild_reg(rng);
        let mut code = vec![
            "mov.u32 r17, %laneid".to_string(),
            if rng.chance(50) {
                "shl.u64 r17, r17, 4".to_string()
            } else {
                "mul.u64 r17, r17, 16".to_string()
            },
        ];
        if past && rng.chance(50) {
            // The load faults, after an in-bounds store.
            code.push(format!("st.shared.{ty} [r17 + {}], {v}", disp - sz));
        } else {
            code.push(format!("st.shared.{ty} [r17 + {disp}], {v}"));
        }
        code.push(format!(
            "ld.shared.{ty} r{}, [r17 + {disp}]",
            rng.below(WILD_REGS)
        ));
        code
    }

    fn grid_stride(&mut self, rng: &mut Rng) -> Vec<String> {
        let ty = rng.pick(&MEM_TYPES);
        let sz = size_of(ty);
        let base = self.stores * self.lay.region;
        self.stores += 1;
        let total = self.sh.total();
        let mut c = vec![];
        let (cty, init) = match rng.below(3) {
            0 => ("u64", "mov.u64 r24, %gid".to_string()),
            1 if self.sh.one_d() => ("u32", "fma.u32 r24, %ctaid.x, %ntid.x, %tid.x".to_string()),
            _ => ("u32", "mov.u32 r24, %gid".to_string()),
        };
        c.push(init);
        c.push(if self.sh.one_d() && rng.chance(50) {
            format!("mul.{cty} r23, %nctaid.x, %ntid.x")
        } else {
            format!("mov.{cty} r23, {total}")
        });
        let bound = if rng.chance(70) {
            "n".to_string()
        } else {
            format!("{}", self.p.n)
        };
        c.push("gs_top{L}:".into());
        if rng.chance(50) {
            c.push(format!("    setp.ge.{cty} p7, r24, {bound}"));
            c.push("    @p7 bra gs_end{L}".into());
        } else {
            c.push(format!("    setp.lt.{cty} p7, r24, {bound}"));
            c.push("    @!p7 bra gs_end{L}".into());
        }
        if sz > 1 && rng.chance(50) {
            c.push(format!("    shl.u64 r25, r24, {}", sz.trailing_zeros()));
        } else {
            c.push(format!("    mul.u64 r25, r24, {sz}"));
        }
        let w = rng.below(WILD_REGS);
        c.push(format!("    ld.global.{ty} r{w}, [inp + r25]"));
        for _ in 0..rng.below(3) {
            c.push(format!("    {}", arith_line(rng, self.sh)));
        }
        let v = wild_reg(rng);
        if base > 0 {
            c.push(format!("    st.global.{ty} [out2 + r25 + {base}], {v}"));
        } else {
            c.push(format!("    st.global.{ty} [out2 + r25], {v}"));
        }
        c.push(format!("    add.{cty} r24, r24, r23"));
        c.push("    bra gs_top{L}".into());
        c.push("gs_end{L}:".into());
        c
    }

    fn leaf(&mut self, rng: &mut Rng, depth: u32) -> Stmt {
        let lines = match rng.below(40) {
            0..=13 => vec![arith_line(rng, self.sh)],
            14..=19 => vec![setp_line(rng, self.sh)],
            20 => vec![plogic_line(rng)],
            21..=25 => self.safe_load(rng),
            26..=28 if self.stores < 6 => self.safe_store(rng),
            29 if self.lay.shared && self.sstores < 4 => self.shared_roundtrip(rng),
            30 if self.lay.shared => self.shared_edge(rng, false),
            31 if self.stores < 6 && depth == 0 => return Stmt::Labeled(self.grid_stride(rng)),
            32..=33 => {
                // Guarded exit on a fresh comparison.
                let p = rng.below(SET_PREDS);
                return Stmt::Line(format!(
                    "{}\n    @{}p{p} exit",
                    setp_line_pred(rng, self.sh, p),
                    if rng.chance(50) { "!" } else { "" }
                ));
            }
            34..=35 if depth < 2 => {
                let pred = rng.below(GUARD_PREDS);
                let negated = rng.chance(50);
                let n = 1 + rng.below(4);
                let body = (0..n).map(|_| self.leaf(rng, depth + 1)).collect();
                if rng.chance(60) {
                    // A fresh comparison decides the branch.
                    let pred = pred.min(SET_PREDS - 1);
                    let setp = Stmt::Line(setp_line_pred(rng, self.sh, pred));
                    return Stmt::Seq(vec![
                        setp,
                        Stmt::If {
                            pred,
                            negated,
                            body,
                        },
                    ]);
                }
                return Stmt::If {
                    pred,
                    negated,
                    body,
                };
            }
            36..=37 if self.lay.barrier && depth == 0 => {
                return Stmt::Barrier(rng.below(WILD_REGS));
            }
            _ => vec![arith_line(rng, self.sh)],
        };
        // Guard single instructions sometimes.
        if lines.len() == 1 && !lines[0].contains('\n') && rng.chance(25) {
            let p = rng.below(GUARD_PREDS);
            return Stmt::Line(format!(
                "@{}p{p} {}",
                if rng.chance(50) { "!" } else { "" },
                lines[0]
            ));
        }
        if lines.len() > 1 && rng.chance(20) {
            // Guard the access itself (the last line).
            let mut lines = lines;
            let last = lines.pop().unwrap();
            let p = rng.below(GUARD_PREDS);
            lines.push(format!(
                "@{}p{p} {last}",
                if rng.chance(50) { "!" } else { "" }
            ));
            return Stmt::Line(lines.join("\n    "));
        }
        Stmt::Line(lines.join("\n    "))
    }

    /// The one access of a fault case that may fault.
    fn faulty(&mut self, rng: &mut Rng) -> (Vec<String>, bool, Option<Kind>) {
        if self.lay.shared && rng.chance(25) {
            // Past the end of shared memory: each block's last lane.
            let single = self.sh.total() == self.sh.lpb();
            return (self.shared_edge(rng, true), single, Some(Kind::Bounds));
        }
        let ty = rng.pick(&MEM_TYPES);
        let sz = size_of(ty);
        let store = rng.chance(40);
        let len = if store {
            self.lay.fb_len
        } else {
            self.lay.inp_len
        };
        let mut flavor = match rng.below(10) {
            0..=2 => Flavor::PastEnd(1),
            3..=4 => Flavor::BeforeStart(1),
            5 => Flavor::PastEnd(1 + rng.below(5)),
            6 => Flavor::BeforeStart(1 + rng.below(5)),
            7 => Flavor::Misaligned,
            8 => Flavor::UniformOut,
            _ => Flavor::Wild,
        };
        if flavor == Flavor::Misaligned && sz == 1 {
            flavor = Flavor::PastEnd(1);
        }
        let a = address(rng, self.sh, self.p, "r22", sz, 0, len, flavor, store);
        let mut code = a.code;
        let mut single = a.single;
        let access = if store {
            format!("st.global.{ty} [fb {}], {}", a.operand, wild_reg(rng))
        } else {
            format!(
                "ld.global.{ty} r{}, [inp {}]",
                rng.below(WILD_REGS),
                a.operand
            )
        };
        if !single && rng.chance(35) {
            // Only one lane makes the access.
            let lane = rng.below(self.sh.total());
            if rng.chance(50) {
                code.push(format!("setp.eq.u64 p4, %gid, {lane}"));
                code.push(format!("@p4 {access}"));
            } else {
                code.push(format!("setp.ne.u32 p4, %gid, {lane}"));
                code.push(format!("@!p4 {access}"));
            }
            single = true;
        } else {
            code.push(access);
        }
        (code, single, a.kind)
    }
}

/// A comparison writing `p` (for exits and branches).
fn setp_line_pred(rng: &mut Rng, sh: &Shape, p: u64) -> String {
    let l = setp_line(rng, sh);
    // Replace the destination predicate.
    let (head, rest) = l.split_once(" p").unwrap();
    let rest = rest.split_once(',').unwrap().1;
    format!("{head} p{p},{rest}")
}

fn render(stmts: &[Stmt], out: &mut String, labels: &mut u32, shared: bool) {
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
                render(body, out, labels, shared)
            }),
            Stmt::Labeled(lines) => {
                *labels += 1;
                for (i, l) in lines.iter().enumerate() {
                    let l = l.replace("{L}", &labels.to_string());
                    if i == 0 || !l.starts_with(' ') && !l.ends_with(':') {
                        let _ = writeln!(out, "    {l}");
                    } else {
                        let _ = writeln!(out, "{l}");
                    }
                }
            }
            Stmt::Seq(body) => render(body, out, labels, shared),
            Stmt::Barrier(_) if !shared => {
                let _ = writeln!(out, "    bar.sync");
            }
            Stmt::Barrier(r) => {
                // Exchange with neighbours through shared memory: r26 is this
                // lane's word, r27 the next lane's, r28 the mirrored lane's.
                let _ = writeln!(out, "    st.shared.u64 [r26], r{r}");
                let _ = writeln!(out, "    bar.sync");
                let _ = writeln!(out, "    ld.shared.u64 r{}, [r27]", (r + 1) % WILD_REGS);
                let _ = writeln!(out, "    ld.shared.u32 r{}, [r28 + 4]", (r + 2) % WILD_REGS);
                let _ = writeln!(out, "    ld.shared.u64 r{}, [0]", (r + 3) % WILD_REGS);
                let _ = writeln!(out, "    bar.sync");
            }
        }
    }
}

#[derive(Clone, Debug)]
struct Case {
    source: String,
    grid: Dim3,
    block: Dim3,
    params: Params,
    layout: Layout,
    out2_len: u64,
    inp_seed: u64,
    /// A fault, if any, comes from exactly one lane: compare it whole.
    single: bool,
    /// The kind any fault must have.
    kind: Option<Kind>,
    /// The program cannot fault (the reference must succeed).
    safe: bool,
    max_steps: u64,
}

fn dim(max_product: u32) -> impl Strategy<Value = Dim3> {
    prop_oneof![
        3 => (1u32..=max_product).prop_map(Dim3::x),
        2 => (1u32..=4).prop_map(Dim3::x),
        2 => (1u32..=8, 1u32..=8).prop_map(|(x, y)| Dim3::new(x, y, 1)),
        2 => (1u32..=4, 1u32..=4, 1u32..=4).prop_map(|(x, y, z)| Dim3::new(x, y, z)),
        1 => (1u32..=3, 1u32..=3, 1u32..=3).prop_map(|(x, y, z)| Dim3::new(x, y, z)),
    ]
}

fn build(
    sh: Shape,
    seeds: &[u64],
    pseed: u64,
    mode: u64,
    fault: Option<(u64, usize)>,
    inp_seed: u64,
) -> Case {
    let total = sh.total();
    let mut prng = Rng(pseed);
    let params = Params {
        k: prng.pick(&[0u32, 1, 2, 4, 8, 16, 24, 3, 6, 0x4000_0000, u32::MAX]),
        n: prng.below(3 * total + 1) as u32,
        kw: prng.pick(&[0x4000_0000u64, 1 << 32, u64::MAX, 1 << 63, 7, prng.0]),
        kn: prng.pick(&[-1i32, -2, -4, -8, i32::MIN, -(total as i32), 5]),
    };
    let (shared, barrier) = match mode % 6 {
        0..=2 => (false, false),
        3 => (true, true),
        4 => (true, false),
        _ => (false, true),
    };
    let lpb = sh.lpb();
    let layout = Layout {
        inp_len: 24 * total + 512,
        region: 24 * total + 512,
        fb_len: 24 * total + 64,
        shared,
        barrier,
        sregion: 24 * lpb + 64,
    };
    let mut g = Gen {
        sh: &sh,
        p: &params,
        lay: &layout,
        stores: 0,
        sstores: 0,
    };
    let mut stmts: Vec<Stmt> = seeds
        .iter()
        .map(|&s| {
            let mut rng = Rng(s);
            g.leaf(&mut rng, 0)
        })
        .collect();
    let (mut single, mut kind) = (false, None);
    if let Some((seed, pos)) = fault {
        let mut rng = Rng(seed);
        let (code, s, k) = g.faulty(&mut rng);
        single = s;
        kind = k;
        stmts.insert(pos.min(stmts.len()), Stmt::Line(code.join("\n    ")));
    }
    let mut out = String::new();
    let _ = writeln!(out, ".kernel gen");
    let _ = writeln!(out, ".param inp buf");
    let _ = writeln!(out, ".param out buf");
    let _ = writeln!(out, ".param out2 buf");
    let _ = writeln!(out, ".param fb buf");
    let _ = writeln!(out, ".param k u32");
    let _ = writeln!(out, ".param n u32");
    let _ = writeln!(out, ".param kw u64");
    let _ = writeln!(out, ".param kn i32");
    if shared {
        // The exchange area, four regions, the tail (`shared_edge`).
        let _ = writeln!(out, ".shared {}", lpb * 24 + 4 * layout.sregion);
    }
    // r31: this lane's output slot, in one of several equivalent ways.
    match pseed % 4 {
        0 => {
            let _ = writeln!(out, "    mul.u64 r31, %gid, {SLOT_BYTES}");
        }
        1 => {
            let _ = writeln!(
                out,
                "    mov.u64 r31, %gid\n    mul.u64 r31, r31, {SLOT_BYTES}"
            );
        }
        2 => {
            let _ = writeln!(out, "    fma.u64 r31, %gid, {SLOT_BYTES}, 0");
        }
        _ => {
            // 144 = 128 + 16
            let _ = writeln!(
                out,
                "    shl.u64 r30, %gid, 7\n    shl.u64 r31, %gid, 68\n    add.u64 r31, r31, r30"
            );
        }
    }
    if barrier && shared {
        let _ = writeln!(out, "    mov.u32 r26, %laneid");
        let _ = writeln!(out, "    add.u32 r27, r26, 1");
        let _ = writeln!(out, "    rem.u32 r27, r27, {lpb}");
        let _ = writeln!(out, "    sub.u32 r28, {}, r26", lpb - 1);
        let _ = writeln!(out, "    shl.u64 r26, r26, 3");
        let _ = writeln!(out, "    shl.u32 r27, r27, 3");
        let _ = writeln!(out, "    mul.u64 r28, r28, 8");
    }
    let mut labels = 0;
    render(&stmts, &mut out, &mut labels, shared);
    for r in 0..WILD_REGS {
        let _ = writeln!(out, "    st.global.u64 [out + r31 + {}], r{r}", r * 8);
    }
    let _ = writeln!(out, "    st.global.u64 [out + r31 + 128], r19");
    for p in 0..GUARD_PREDS {
        let _ = writeln!(out, "    selp.u64 r29, 1, 0, p{p}");
        let _ = writeln!(out, "    st.global.u8 [out + r31 + {}], r29", 136 + p);
    }
    let out2_len = (g.stores.max(1)) * layout.region;
    Case {
        source: out,
        grid: sh.grid,
        block: sh.block,
        params,
        layout,
        out2_len,
        inp_seed,
        single,
        kind,
        safe: fault.is_none(),
        max_steps: 1 << 20,
    }
}

fn case(faulty: bool) -> impl Strategy<Value = Case> {
    (
        dim(64),
        dim(64),
        prop::collection::vec(any::<u64>(), 1..20),
        any::<u64>(),
        0u64..6,
        any::<(u64, usize)>(),
        any::<u64>(),
    )
        .prop_map(move |(grid, block, seeds, pseed, mode, f, inp_seed)| {
            let sh = Shape { grid, block };
            let fault = faulty.then_some((f.0, f.1 % (seeds.len() + 1)));
            build(sh, &seeds, pseed, mode, fault, inp_seed)
        })
}

/// Pseudo-random input bytes.
fn input(c: &Case) -> Vec<u8> {
    let mut rng = Rng(c.inp_seed);
    let mut v = Vec::with_capacity(c.layout.inp_len as usize + 8);
    while v.len() < c.layout.inp_len as usize {
        v.extend_from_slice(&rng.next().to_le_bytes());
    }
    v.truncate(c.layout.inp_len as usize);
    v
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
        let total = (self.grid.count() * self.block.count()) as usize;
        vec![
            Init::Bytes(input(self)),
            Init::Zeroed(total * SLOT_BYTES as usize),
            Init::Zeroed(self.out2_len as usize),
            Init::Zeroed(self.layout.fb_len as usize),
        ]
    }
    fn scalars(&self) -> Vec<(u64, Arg)> {
        let p = self.params;
        vec![
            (p.k as u64, Arg::from(p.k)),
            (p.n as u64, Arg::from(p.n)),
            (p.kw, Arg::from(p.kw)),
            (p.kn as i64 as u64, Arg::from(p.kn)),
        ]
    }
    fn describe(&self) -> String {
        format!(
            "grid {:?} block {:?} params {:?} single {} kind {:?}\n{}",
            self.grid, self.block, self.params, self.single, self.kind, self.source
        )
    }
    fn single_lane_fault(&self) -> bool {
        self.single
    }
    /// The generator's own claims, checked on the oracle.
    fn check_oracle(&self, want: &Outcome) -> Result<(), TestCaseError> {
        if let Err(f) = want {
            prop_assert!(
                !self.safe,
                "generator bug: a safe program faulted: {}\n{}",
                f,
                self.describe()
            );
            match self.kind {
                Some(Kind::Bounds) => prop_assert_eq!(
                    kind_of(&f.kind),
                    "out of bounds",
                    "{}\n{}",
                    f,
                    self.describe()
                ),
                Some(Kind::Align) => {
                    prop_assert_eq!(kind_of(&f.kind), "misaligned", "{}\n{}", f, self.describe())
                }
                None => {}
            }
        }
        Ok(())
    }
}

/// Cases per property: `AFFINE_CASES` overrides (for long local runs).
fn cases() -> u32 {
    cases_from_env("AFFINE_CASES", 128)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), .. ProptestConfig::default() })]

    /// Index arithmetic, comparisons, guards, in-bounds affine accesses.
    #[test]
    fn affine_index_programs_match_reference(c in case(false)) {
        check_engines(&c)?;
    }

    /// The same with one access that runs partly out of bounds, before the
    /// start, misaligned, or by one lane only.
    #[test]
    fn affine_access_faults_match_reference(c in case(true)) {
        check_engines(&c)?;
    }
}

/// A short element-wise kernel behind bounds guards, the shape of most
/// real kernels (`i = gid; if i >= n exit; out[i] = f(inp[i])`): an index
/// built from the special registers in one integer type, one or two
/// order or equality comparisons with a threshold at an interesting place
/// (inside a gang, at block edges, past the last lane, type limits), an
/// exit on each (negated or not), then contiguous and strided accesses at
/// the index. Short enough that the gang tier's full-gang version and its
/// threshold exits are what runs (`engine::jit`), where the long generated
/// programs above mostly exceed its size limit.
fn guarded(sh: &Shape, seed: u64) -> String {
    let mut rng = Rng(seed);
    let mut body = String::new();
    let ty = rng.pick(&WIDE_INTS);
    let index = match rng.below(6) {
        0 | 1 => format!("mov.{ty} r0, %gid"),
        2 => format!(
            "mov.{ty} r0, %ctaid.x\n    mul.{ty} r0, r0, %ntid.x\n    add.{ty} r0, r0, %tid.x"
        ),
        3 => format!("mov.{ty} r0, %laneid"),
        4 => format!(
            "mov.{ty} r0, %gid\n    add.{ty} r0, r0, {}",
            lit(
                ty,
                rng.pick(&[1, 2, 3, 5, 0x7FFF_FFFE, 0xFFFF_FFFD, u64::MAX - 2])
            )
        ),
        _ => format!("mov.{ty} r0, %gid\n    shl.{ty} r0, r0, {}", rng.below(3)),
    };
    writeln!(body, "    {index}").unwrap();
    for g in 0..1 + rng.below(2) {
        exit_guard(&mut rng, sh, ty, g, &mut body);
    }
    // Byte offsets: the index (as u64) times 4, or times 8.
    let wide = if ty.starts_with('i') { "i64" } else { "u64" };
    writeln!(body, "    cvt.{wide}.{ty} r20, r0").unwrap();
    writeln!(body, "    shl.u64 r21, r20, 2").unwrap();
    writeln!(body, "    shl.u64 r22, r20, 3").unwrap();
    writeln!(body, "    ld.global.u32 r2, [inp + r21]").unwrap();
    writeln!(body, "    add.u32 r2, r2, r0").unwrap();
    if rng.chance(50) {
        // Instructions guarded by an order comparison of the index with a
        // threshold that may fall inside a gang: the gang tier decides "all
        // lanes" and "no lane" with one scalar comparison each.
        let cmp = rng.pick(&["lt", "le", "gt", "ge"]);
        let t = lit(ty, threshold(&mut rng, sh));
        let neg = index_setp(&mut rng, &mut body, cmp, ty, 2, &t);
        writeln!(body, "    @{neg}p2 add.u32 r2, r2, 7").unwrap();
        if rng.chance(50) {
            writeln!(body, "    @{neg}p2 st.global.u32 [out + r22], r2").unwrap();
        }
    }
    match rng.below(4) {
        0 => writeln!(body, "    st.global.u32 [out2 + r21], r2").unwrap(),
        1 => writeln!(body, "    st.global.u64 [out + r22], r20").unwrap(),
        2 => {
            writeln!(body, "    ld.global.f32 r3, [inp + r21 + 4]").unwrap();
            writeln!(body, "    mul.f32 r3, r3, 0.5").unwrap();
            writeln!(body, "    st.global.f32 [out2 + r21], r3").unwrap();
        }
        _ => {
            writeln!(body, "    @p0 st.global.u32 [out2 + r21], r2").unwrap();
            writeln!(body, "    st.global.u32 [out + r22], r0").unwrap();
        }
    }
    body
}

/// `setp` of the index `r0` (type `ty`) against a threshold, `n` or `kn`,
/// and an exit on predicate `p{g}`, negated or not.
fn exit_guard(rng: &mut Rng, sh: &Shape, ty: &str, g: u64, body: &mut String) {
    let cmp = if rng.chance(85) {
        rng.pick(&["lt", "le", "gt", "ge"])
    } else {
        rng.pick(&["eq", "ne"])
    };
    let t = match rng.below(4) {
        // Unsigned `!= 0` and `== 0` are order comparisons in disguise
        // (`tid != 0` is `tid > 0`): the JIT decides them so.
        _ if (cmp == "eq" || cmp == "ne") && rng.chance(50) => "0".to_string(),
        0 => "n".to_string(),
        1 if ty.starts_with('i') => "kn".to_string(),
        _ => lit(ty, threshold(rng, sh)),
    };
    let cmp_ty = if t == "n" && ty.ends_with("64") {
        // `n` is a u32 parameter: compare in 32 bits.
        if ty.starts_with('i') { "i32" } else { "u32" }
    } else if t == "kn" {
        "i32"
    } else {
        ty
    };
    let neg = index_setp(rng, body, cmp, cmp_ty, g, &t);
    writeln!(body, "    @{neg}p{g} exit").unwrap();
}

/// `setp.{cmp}.{ty} p{g}` of the index `r0` and `t`, in either order;
/// returns the guard's negation (`!` three times in ten) for its user.
fn index_setp(
    rng: &mut Rng,
    body: &mut String,
    cmp: &str,
    ty: &str,
    g: u64,
    t: &str,
) -> &'static str {
    if rng.chance(25) {
        writeln!(body, "    setp.{cmp}.{ty} p{g}, {t}, r0").unwrap();
    } else {
        writeln!(body, "    setp.{cmp}.{ty} p{g}, r0, {t}").unwrap();
    }
    if rng.chance(30) { "!" } else { "" }
}

fn guarded_case() -> impl Strategy<Value = Case> {
    (dim(64), dim(64), any::<u64>(), any::<u64>()).prop_map(|(grid, block, seed, pseed)| {
        let sh = Shape { grid, block };
        let body = guarded(&sh, seed);
        let mut c = fixed_case_with(&body, grid, block, false, false);
        let mut prng = Rng(pseed);
        c.params.n = threshold(&mut prng, &sh) as u32;
        c.params.kn = prng.pick(&[-1i32, 0, 1, 3, 5, sh.total() as i32, i32::MIN]);
        c.inp_seed = pseed;
        c
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), .. ProptestConfig::default() })]

    /// Element-wise kernels behind bounds guards (see [`guarded`]).
    #[test]
    fn guarded_elementwise_programs_match_reference(c in guarded_case()) {
        check_engines(&c)?;
    }
}

/// The generator's mix, measured on the reference engine alone: fault cases
/// must fault often (and often in exactly one lane), safe cases must mostly
/// run to the end in many lanes. Guards against the generator degenerating.
#[test]
fn affine_generator_covers_its_targets() {
    use proptest::strategy::ValueTree;
    let mut runner = seeded_runner(7);
    let (mut faulted, mut single_faulted, mut fault_cases) = (0, 0, 0);
    let (mut dumped, mut safe_cases, mut fused_shapes) = (0, 0, 0);
    let verbose = std::env::var_os("AFFINE_STATS").is_some();
    for i in 0..120 {
        let faulty = i % 2 == 1;
        let c = case(faulty).new_tree(&mut runner).unwrap().current();
        if c.block.count() <= 16 && c.grid.count() >= 4 {
            fused_shapes += 1;
        }
        let r = run_with(&c, &reference::run);
        if verbose && i < 6 {
            eprintln!(
                "{}\n=> {:?}",
                c.describe(),
                r.as_ref().map(|_| "ok").map_err(|f| f.to_string())
            );
        }
        if faulty {
            fault_cases += 1;
            if let Err(f) = &r {
                faulted += 1;
                if c.single {
                    single_faulted += 1;
                }
                if verbose {
                    eprintln!("fault single={} {}", c.single, f);
                }
            }
        } else {
            safe_cases += 1;
            let out = r.unwrap_or_else(|f| panic!("safe case faulted: {f}\n{}", c.describe()));
            // The last predicate byte of a lane is 0 or 1 once it is dumped;
            // r19 must still be zero.
            let slots = out[1].chunks(SLOT_BYTES as usize);
            let n = slots.clone().count();
            let done = slots
                .clone()
                .filter(|s| s[136..143].iter().all(|&b| b <= 1) && s[128..136] == [0; 8])
                .count();
            assert_eq!(done, n, "bad dump\n{}", c.describe());
            if out[1]
                .chunks(SLOT_BYTES as usize)
                .any(|s| s[..128].iter().any(|&b| b != 0))
            {
                dumped += 1;
            }
        }
    }
    if verbose {
        eprintln!(
            "fault cases {fault_cases}: faulted {faulted}, single {single_faulted}; safe {safe_cases}: with data {dumped}; fused shapes {fused_shapes}"
        );
    }
    assert!(
        faulted * 2 >= fault_cases,
        "{faulted} of {fault_cases} fault cases faulted"
    );
    assert!(
        single_faulted * 5 >= faulted,
        "{single_faulted} of {faulted} faults were single-lane"
    );
    assert!(
        dumped * 10 >= safe_cases * 7,
        "{dumped} of {safe_cases} safe cases wrote data"
    );
}

/// A fixed program run like a generated case (fault-free).
fn fixed_case(body: &str, grid: Dim3, block: Dim3) -> Case {
    fixed_case_with(body, grid, block, true, false)
}

/// Replays the body in the file named by `AFFINE_REPLAY` with the shape in
/// `AFFINE_SHAPE` (`gx,gy,gz,bx,by,bz`): for minimising failures by hand.
#[test]
#[ignore]
fn replay() {
    let body = std::fs::read_to_string(std::env::var("AFFINE_REPLAY").unwrap()).unwrap();
    let d: Vec<u32> = std::env::var("AFFINE_SHAPE")
        .unwrap()
        .split(',')
        .map(|v| v.trim().parse().unwrap())
        .collect();
    let c = fixed_case_with(
        &body,
        Dim3::new(d[0], d[1], d[2]),
        Dim3::new(d[3], d[4], d[5]),
        false,
        std::env::var_os("AFFINE_SINGLE").is_some(),
    );
    let want = run_with(&c, &reference::run);
    eprintln!(
        "reference: {:?}",
        want.as_ref().map(|_| "ok").map_err(|f| f.to_string())
    );
    check_engines(&c).unwrap();
}

fn fixed_case_with(body: &str, grid: Dim3, block: Dim3, safe: bool, single: bool) -> Case {
    let total = (grid.count() * block.count()) as u64;
    let layout = Layout {
        inp_len: 24 * total + 512,
        region: 24 * total + 512,
        fb_len: 24 * total + 64,
        shared: false,
        barrier: false,
        sregion: 0,
    };
    let mut source = String::from(
        ".kernel gen\n.param inp buf\n.param out buf\n.param out2 buf\n.param fb buf\n\
         .param k u32\n.param n u32\n.param kw u64\n.param kn i32\n",
    );
    source.push_str(body);
    Case {
        source,
        grid,
        block,
        params: Params {
            k: 3,
            n: 10,
            kw: u64::MAX,
            kn: -8,
        },
        layout,
        out2_len: layout.region,
        inp_seed: 0,
        single,
        kind: None,
        safe,
        max_steps: 1 << 20,
    }
}

/// Found by `affine_index_programs_match_reference` on the in-progress
/// affine-tracking engine (not on the committed one): a store whose address
/// is `1100 + 2*lane` (an i64 stride-2 affine offset with a `- IMM`
/// displacement) of a uniform value; the block engine left the last lane's
/// element (byte 1156, lane 28 of 29) unwritten.
#[test]
fn regression_affine_store_stride_two_keeps_last_lane() {
    let c = fixed_case(
        "    mov.u32 r0, 1\n\
         \x20   mov.u64 r21, %gid\n\
         \x20   mul.i64 r21, r21, 2\n\
         \x20   add.i64 r21, r21, 1164\n\
         \x20   st.global.i16 [out2 + r21 - 64], r0\n",
        Dim3::x(1),
        Dim3::x(29),
    );
    check_engines(&c).unwrap();
}

/// Found by `affine_access_faults_match_reference` on the in-progress engine:
/// a byte copy `out2[gid] = inp[gid]` with grid 2 and block (1, 4, 1); the
/// block engine left the last lane of each block (bytes 3 and 7) unwritten.
#[test]
fn regression_affine_byte_copy_keeps_last_lane_of_each_block() {
    let c = fixed_case(
        "    mov.u32 r24, %gid\n\
         \x20   mul.u64 r25, r24, 1\n\
         \x20   ld.global.i8 r12, [inp + r25]\n\
         \x20   st.global.i8 [out2 + r25], r12\n",
        Dim3::x(2),
        Dim3::new(1, 4, 1),
    );
    check_engines(&c).unwrap();
}

/// Found by `affine_access_faults_match_reference` on the in-progress fused
/// engine (and still failing there when this was written): a grid of
/// one-lane blocks where only the lane with `%gid == G` loads from a uniform
/// out-of-bounds address. The reference faults in block (G, 0, 0); the block
/// engine returned Ok for G = 1, 2 with 4 blocks, G = 1 with 3 blocks and
/// G = 1..=3 with 8 blocks (the first and last lane of the group were caught).
#[test]
fn regression_fused_guarded_single_lane_fault_is_reported() {
    for blocks in [3, 4, 8] {
        for g in 0..blocks {
            let body =
                format!("    setp.eq.u64 p4, %gid, {g}\n    @p4 ld.global.i16 r11, [inp + 1000]\n");
            let c = fixed_case_with(&body, Dim3::x(blocks), Dim3::x(1), false, true);
            assert!(run_with(&c, &reference::run).is_err());
            check_engines(&c).unwrap();
        }
    }
}

/// Unsigned `x != 0` and `x == 0` of an affine `x` are order comparisons
/// (`x > 0`, `x <= 0`), which the gang tier decides with one scalar
/// comparison per end lane: every form, zero on either side, guarding an
/// exit or a branch, with the surviving lanes' stores visible (nonzero).
#[test]
fn zero_tests_of_affine_indices_match_reference() {
    for x in ["%gid", "%tid.x", "%laneid"] {
        for cmp in ["ne", "eq"] {
            for zero_left in [false, true] {
                for neg in ["", "!"] {
                    let setp = if zero_left {
                        format!("setp.{cmp}.u32 p0, 0, r0")
                    } else {
                        format!("setp.{cmp}.u32 p0, r0, 0")
                    };
                    for end in ["exit", "bra done"] {
                        let body = format!(
                            "    mov.u32 r0, {x}\n    {setp}\n    @{neg}p0 {end}\n\
                             \x20   mov.u64 r20, %gid\n    shl.u64 r21, r20, 2\n\
                             \x20   add.u32 r2, r0, 5\n    st.global.u32 [out2 + r21], r2\n\
                             done:\n    st.global.u32 [out2 + r21 + 256], 9\n"
                        );
                        for block in [4, 8, 13] {
                            let c = fixed_case(&body, Dim3::x(3), Dim3::x(block));
                            check_engines(&c).unwrap_or_else(|e| panic!("{e}\n{body}"));
                        }
                    }
                }
            }
        }
    }
}

/// Block-local registers written in a partial block (some lanes wait at
/// the branch's target) keep their shape there; a uniform load or
/// division in such a block that faults names the first lane that runs
/// it, and addresses made from affine block-local registers are checked
/// per running lane; a register read after the block is not local.
#[test]
fn block_local_values_in_partial_blocks_match_reference() {
    let ops = [
        "ld.global.u32 r1, [inp + 4]",
        "ld.global.u32 r1, [inp + 100000]",
        "div.u32 r1, 7, k",
        "div.u32 r1, 7, r9",
        "add.u32 r1, r0, k",
        "mul.u32 r1, r0, 4294967295",
    ];
    // Read after the block too (by lanes that skipped it: not local), or
    // not; written before the branch with the same stride, or not.
    let tails = ["", "    st.global.u32 [out2 + r21 + 512], r1\n"];
    let heads = ["", "    add.u32 r1, r0, 1\n"];
    let variants = tails.iter().flat_map(|t| heads.map(|h| (h, t)));
    for ((head, tail), op) in variants.flat_map(|v| ops.map(|op| (v, op))) {
        for t in [0, 1, 2, 5] {
            let body = format!(
                "    mov.u32 r0, %tid.x\n{head}    sub.u32 r9, k, 3\n    setp.lt.u32 p0, r0, {t}\n\
                 \x20   @p0 bra done\n    {op}\n    add.u32 r2, r1, r0\n    shl.u64 r3, r2, 2\n\
                 \x20   st.global.u32 [out2 + r3], r1\n\
                 done:\n    mov.u64 r20, %gid\n    shl.u64 r21, r20, 2\n\
                 \x20   st.global.u32 [out2 + r21 + 256], r0\n{tail}"
            );
            for block in [4, 8, 13] {
                // Loaded values make wild addresses: faults are expected.
                let c = fixed_case_with(&body, Dim3::x(2), Dim3::x(block), false, false);
                check_engines(&c).unwrap_or_else(|e| panic!("{e}\n{body}"));
            }
        }
    }
}

/// A loop counter whose range the analysis widens (`s += 1` from near the
/// top of `u32`, past the wrap): `tid + s` read as `u64` is affine only
/// when no lane can wrap, and here lanes do, in later iterations.
#[test]
fn widened_loop_ranges_keep_wrapping_lanes_exact() {
    for (start, step) in [(0xffff_fff0u32, 1u32), (0xffff_ff00, 8), (40, 0xffff_fffe)] {
        let body = format!(
            "    mov.u32 r0, %tid.x\n    mov.u32 r5, {start}\n    mov.u32 r6, 0\n\
             top:\n    add.u32 r1, r0, r5\n    mov.u64 r4, r1\n\
             \x20   and.u32 r7, r6, 7\n    shl.u32 r7, r7, 3\n    add.u32 r7, r7, r0\n\
             \x20   shl.u64 r8, r7, 3\n    st.global.u64 [out2 + r8], r4\n\
             \x20   add.u32 r5, r5, {step}\n    add.u32 r6, r6, 1\n\
             \x20   setp.lt.u32 p0, r6, 40\n    @p0 bra top\n"
        );
        for block in [4, 8] {
            let c = fixed_case(&body, Dim3::x(1), Dim3::x(block));
            check_engines(&c).unwrap_or_else(|e| panic!("{e}\n{body}"));
        }
    }
}

/// A straight-line element-wise kernel whose exits and accesses the gang
/// tier checks once per block (`engine::jit`'s block checks): an index
/// (block-linear along the block, or only along a gang: `%tid.x` in blocks
/// of several rows, `and`, a wrapping narrow type), exits on order
/// comparisons of it, and loads and stores at consecutive elements with
/// displacements, in buffers whose ends fall inside blocks.
fn blockwide(sh: &Shape, seed: u64) -> String {
    let mut rng = Rng(seed);
    let mut body = String::new();
    let ty = rng.pick(&WIDE_INTS);
    let pick = rng.below(9);
    // `%gid`, plus or minus a constant: one element per lane in the whole
    // launch, so a lane may update its element in place.
    let own = matches!(pick, 0 | 1 | 5 | 8);
    let index = match pick {
        0 | 1 => format!("mov.{ty} r0, %gid"),
        2 => format!(
            "mov.{ty} r0, %ctaid.x\n    mul.{ty} r0, r0, %ntid.x\n    add.{ty} r0, r0, %tid.x"
        ),
        3 => format!("mov.{ty} r0, %laneid\n    add.{ty} r0, r0, k"),
        4 => format!("mov.{ty} r0, %tid.x"),
        5 => format!(
            "mov.{ty} r0, %gid\n    add.{ty} r0, r0, {}",
            lit(
                ty,
                rng.pick(&[1, 3, 0x7FFF_FFF0, 0xFFFF_FFF0, u64::MAX - 5])
            )
        ),
        6 => format!(
            "mov.{ty} r0, %gid\n    and.{ty} r0, r0, {}",
            rng.pick(&[7, 0xF3, 255])
        ),
        7 => format!("mov.u16 r0, %gid\n    cvt.{ty}.u16 r0, r0"),
        _ => format!("mov.{ty} r0, %gid\n    sub.{ty} r0, r0, 2"),
    };
    writeln!(body, "    {index}").unwrap();
    for g in 0..rng.below(3) {
        exit_guard(&mut rng, sh, ty, g, &mut body);
    }
    let wide = if ty.starts_with('i') { "i64" } else { "u64" };
    // Widened by a conversion, or by reading the register as 64 bits.
    if rng.chance(50) {
        writeln!(body, "    cvt.{wide}.{ty} r20, r0").unwrap();
    } else {
        writeln!(body, "    mov.{wide} r20, r0").unwrap();
    }
    writeln!(body, "    shl.u64 r21, r20, 2").unwrap();
    writeln!(body, "    shl.u64 r22, r20, 3").unwrap();
    // Whole elements only: every fault is out of bounds (fault kinds
    // must agree when several lanes fault).
    let disp = |rng: &mut Rng, size: u64| {
        let d = rng.pick(&[0, 0, 1, 4, -1]);
        match d {
            0 => String::new(),
            d if d < 0 => format!(" - {}", size),
            d => format!(" + {}", d as u64 * size),
        }
    };
    let d = disp(&mut rng, 4);
    writeln!(body, "    ld.global.u32 r2, [inp + r21{d}]").unwrap();
    writeln!(body, "    add.u32 r2, r2, r0").unwrap();
    match rng.below(if own { 4 } else { 3 }) {
        0 => {
            let d = disp(&mut rng, 4);
            writeln!(body, "    st.global.u32 [out2 + r21{d}], r2").unwrap()
        }
        // In place: a gang that ran twice shows.
        3 => {
            let d = disp(&mut rng, 4);
            writeln!(body, "    ld.global.u32 r4, [out2 + r21{d}]").unwrap();
            writeln!(body, "    add.u32 r4, r4, r2").unwrap();
            writeln!(body, "    st.global.u32 [out2 + r21{d}], r4").unwrap()
        }
        1 => {
            let d = disp(&mut rng, 8);
            writeln!(body, "    st.global.u64 [out2 + r22{d}], r20").unwrap()
        }
        _ => {
            let d = disp(&mut rng, 4);
            writeln!(body, "    ld.global.f32 r3, [inp + r21{d}]").unwrap();
            writeln!(body, "    add.f32 r3, r3, 1.5").unwrap();
            writeln!(body, "    st.global.f32 [out2 + r21], r3").unwrap();
        }
    }
    body
}

fn blockwide_case() -> impl Strategy<Value = Case> {
    let blocks = prop_oneof![
        (1u32..=5, 1u32..=40).prop_map(|(g, b)| (Dim3::x(g), Dim3::x(4 * b))),
        (1u32..=5, 5u32..=70).prop_map(|(g, b)| (Dim3::x(g), Dim3::x(b))),
        dim(64).prop_flat_map(|g| dim(64).prop_map(move |b| (g, b))),
    ];
    (blocks, any::<u64>(), any::<u64>()).prop_map(|((grid, block), seed, pseed)| {
        let sh = Shape { grid, block };
        let body = blockwide(&sh, seed);
        let mut c = fixed_case_with(&body, grid, block, false, false);
        let mut prng = Rng(pseed);
        c.params.n = threshold(&mut prng, &sh) as u32;
        c.params.k = prng.pick(&[0, 1, 5, 0xFFFF_FFF0]);
        c.inp_seed = pseed;
        // Buffer ends inside blocks, at their edges, or past every lane.
        let (lpb, total) = (sh.lpb(), sh.total());
        let mut end = |unit: u64| match prng.below(6) {
            0 => unit * total,
            1 => unit * total.saturating_sub(1),
            2 => unit * (total - lpb / 2),
            3 => unit * prng.below(total + 1),
            4 => unit * total + prng.below(8),
            _ => 8 * total + 512,
        };
        c.layout.inp_len = end(4);
        c.out2_len = end(if c.source.contains("r22") { 8 } else { 4 });
        c
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), .. ProptestConfig::default() })]

    /// Kernels whose bounds and exits the gang tier checks once per block
    /// (see [`blockwide`]).
    #[test]
    fn blockwide_checked_programs_match_reference(c in blockwide_case()) {
        check_engines(&c)?;
    }
}

/// The block checks at the edges of what they cover, by hand: every lane
/// of every block writes unless an exit takes it or the last element falls
/// just outside the buffer (a fault in one lane: compared whole), for
/// blocks of one, two and many gangs, with and without a partial last gang.
#[test]
fn blockwide_checks_at_buffer_and_exit_edges_match_reference() {
    for block in [4u32, 8, 12, 13, 64] {
        let grid = 3u32;
        let total = (grid * block) as u64;
        for (exit, neg) in [
            ("", ""),
            ("setp.ge.u32 p0, r0, n", ""),
            ("setp.lt.u32 p0, r0, n", "!"),
        ] {
            let guard = if exit.is_empty() {
                String::new()
            } else {
                format!("    {exit}\n    @{neg}p0 exit\n")
            };
            let body = format!(
                "    mov.u32 r0, %gid\n{guard}    cvt.u64.u32 r20, r0\n    shl.u64 r21, r20, 2\n\
                 \x20   ld.global.u32 r2, [inp + r21]\n    add.u32 r2, r2, 7\n\
                 \x20   st.global.u32 [out2 + r21], r2\n"
            );
            for n in [
                0,
                1,
                block as u64 - 1,
                block as u64,
                block as u64 + 1,
                total - 1,
                total,
            ] {
                for short in [0u64, 1, 2] {
                    // Lanes below `n` run; the buffers hold `n` elements, or
                    // one fewer (then lane `n - 1` alone faults), or every
                    // lane's (only the exit stops the others).
                    let mut c = fixed_case_with(&body, Dim3::x(grid), Dim3::x(block), false, true);
                    let run = if exit.is_empty() || short == 2 {
                        total
                    } else {
                        n
                    };
                    c.params.n = n as u32;
                    c.layout.inp_len = 4 * run.saturating_sub(short % 2);
                    c.out2_len = 4 * run;
                    check_engines(&c)
                        .unwrap_or_else(|e| panic!("{e}\nn {n} short {short}\n{body}"));
                }
            }
        }
    }
}

/// Exits the block checks may leave out, by hand: every comparison (in
/// either order, negated or not) of an index that wraps in its type
/// inside the grid or does not, against thresholds inside blocks and at
/// their edges; the accesses (at `%gid`) always in bounds, so only the
/// exits decide which lanes write.
#[test]
fn blockwide_exit_forms_match_reference() {
    // Index, comparison type: an i32 index compared as u32 wraps where
    // it turns negative.
    let indices = [
        ("mov.u32 r0, %gid", "u32"),
        ("mov.u32 r0, %gid\n    add.u32 r0, r0, 4294967280", "u32"),
        ("mov.i32 r0, %gid\n    add.i32 r0, r0, 2147483632", "i32"),
        ("mov.i32 r0, %gid\n    sub.i32 r0, r0, 20", "u32"),
        ("mov.u32 r4, %gid\n    sub.u32 r0, 40, r4", "u32"),
        ("mov.u32 r0, %tid.x", "u32"),
    ];
    for (index, ty) in indices {
        for cmp in ["lt", "le", "gt", "ge", "eq", "ne"] {
            for swap in [false, true] {
                for neg in ["", "!"] {
                    let setp = if swap {
                        format!("setp.{cmp}.{ty} p0, n, r0")
                    } else {
                        format!("setp.{cmp}.{ty} p0, r0, n")
                    };
                    let body = format!(
                        "    {index}\n    {setp}\n    @{neg}p0 exit\n    mov.u64 r20, %gid\n\
                         \x20   shl.u64 r21, r20, 2\n    ld.global.u32 r2, [inp + r21]\n\
                         \x20   add.u32 r2, r2, r0\n    st.global.u32 [out2 + r21], r2\n"
                    );
                    for n in [0u32, 5, 16, 20, 31, 47] {
                        let mut c = fixed_case(&body, Dim3::x(3), Dim3::x(32));
                        c.params.n = n;
                        check_engines(&c).unwrap_or_else(|e| panic!("{e}\nn {n}\n{body}"));
                    }
                }
            }
        }
    }
}
