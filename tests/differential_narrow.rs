//! Differential tests aimed at the block engine's 32-bit register vectors
//! (`src/engine/block/narrow.rs`): registers written by the whole unit with
//! type `f32`/`u32`/`i32` (contiguous loads, `mov`/`add`/`sub`/`mul`/`min`/
//! `max`, `f32` `div`/`fma`/math) are kept as `u32` lanes and widened back
//! (zero-extended for `f32`/`u32`, sign-extended for `i32`) for any other
//! reader. Every fast engine (the block engine, the pool engine with 1, 2 and
//! 5 threads) must give bit-identical buffers to the reference interpreter,
//! and fault the same way, on generated programs that
//!
//! - load `f32`/`u32`/`i32` (and, for contrast, 1-, 2- and 8-byte types)
//!   contiguously from an input of awkward bit patterns (negative zero, NaN
//!   payloads, infinities, subnormals, `i32::MIN`/`MAX`, top bit set), at
//!   `gid*4 + D` with displacements that start runs at 4 mod 8, built in
//!   several ways, and also strided, reversed, per-block and uniform;
//! - chain 32-bit arithmetic, `min`/`max` (with `-0.0`/`+0.0` and NaN),
//!   `fma`, `div`, math functions on mixes of 32-bit vectors, immediates,
//!   parameters, specials and registers written by 64-bit instructions;
//! - read those registers with other types (`mov.u64`, `add.u64`, `cvt` to
//!   64 bits, `setp` on 64-bit types, `selp`, bit operations, 1-, 2- and
//!   8-byte stores, atomics, as addresses of gathers and scatters) and write
//!   them under divergent guards, in divergent branches and loops;
//! - compare them with `setp.{eq,ne,lt,le,gt,ge}.{f32,u32,i32}` and guard
//!   `exit`, `bra` and ordinary instructions on the results;
//! - store them contiguously (4 bytes, also at 4 mod 8) and not;
//! - divide `u32`/`i32` (general path; a fault property divides by zero).
//!
//! At the end every lane stores every generated register as `u64` (so the
//! upper halves are compared too) and every predicate. Launch shapes include
//! many small blocks (fused into one unit), single big blocks, 1-D, 2-D and
//! 3-D grids, and a `%gid >= n` guard that cuts the last block.
//!
//! `NARROW_CASES` sets the cases per property (default 96).

#[path = "common/differential.rs"]
mod differential_common;

use std::fmt::Write;

use differential_common::{
    DiffCase, Init, Outcome, Rng, Shape, cases_from_env, check_engines, kind_of, render_if,
    render_loop, run_with, seeded_runner, size_of,
};
use lanes::Arg;
use lanes::engine::reference;
use lanes::launch::Dim3;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

/// r0..r11 hold generated values; r12 is never written (must read zero).
/// r16 = %gid*4 (affine); r17..r19 address temporaries; r20..r22 loop
/// counters; r23..r25 gather/shared temporaries; r29 scratch; r31 the
/// lane's output slot.
const DATA: u64 = 12;
const DUMPED_REGS: u64 = 13;
/// p0..p4 are written by `setp`; p5 never (must read false); p6 the exit
/// guard; p7 loops.
const SET_PREDS: u64 = 5;
const GUARD_PREDS: u64 = 6;
const SLOT_BYTES: u64 = DUMPED_REGS * 8 + 8;
const MAX_STORES: u64 = 10;

const NARROW: [&str; 3] = ["f32", "u32", "i32"];
const CMPS: [&str; 6] = ["eq", "ne", "lt", "le", "gt", "ge"];
const MATH: [&str; 11] = [
    "sqrt", "rsqrt", "exp", "exp2", "log", "log2", "sin", "cos", "tanh", "floor", "ceil",
];
const ALL: [&str; 10] = [
    "u8", "u16", "u32", "u64", "i8", "i16", "i32", "i64", "f32", "f64",
];

/// 32-bit words worth testing, as f32, u32 and i32 alike.
const WORDS: [u32; 34] = [
    0x0000_0000,
    0x8000_0000, // -0.0, i32::MIN
    0x7FC0_0000, // quiet NaN
    0x7FC0_0001, // NaN with payload
    0xFFC0_0000, // negative NaN
    0x7F80_0001, // signalling NaN
    0x7FA5_A5A5,
    0xFFFF_FFFF, // NaN, -1, u32::MAX
    0x7F80_0000, // inf
    0xFF80_0000, // -inf
    0x0000_0001, // smallest subnormal
    0x8000_0001,
    0x007F_FFFF, // largest subnormal
    0x807F_FFFF,
    0x0080_0000, // smallest normal
    0x7FFF_FFFF, // NaN, i32::MAX
    0x3F80_0000, // 1.0
    0xBF80_0000, // -1.0
    0x3F00_0000, // 0.5
    0x4049_0FDB, // pi
    0x7F7F_FFFF, // f32::MAX
    0xFF7F_FFFF,
    0x4B00_0000, // 2^23
    0xCB00_0001,
    0x42F6_E979, // 123.456
    0xC2C8_0000, // -100
    0x42B2_0000, // 89 (exp overflows past ~88.7)
    2,
    3,
    7,
    0xFFFF_FFFE,
    0x8000_00FF,
    0x0000_FFFF,
    0x1000_0000,
];

const FLOAT_LITS: [&str; 20] = [
    "0.0",
    "-0.0",
    "1.0",
    "-1.0",
    "0.5",
    "1.5",
    "-2.5",
    "3",
    "inf",
    "-inf",
    "nan",
    "1e-45",
    "-1e-40",
    "1.17549435e-38",
    "3.4028235e38",
    "-3.4028235e38",
    "16777216.0",
    "100.0",
    "0.1",
    "-88.5",
];

fn word(rng: &mut Rng) -> u32 {
    match rng.below(22) {
        0..=10 => rng.pick(&WORDS),
        20 => 0x8000_0000,
        21 => 0,
        11..=14 => {
            // Small integers, both signs.
            let v = rng.below(17) as u32;
            if rng.chance(50) { v } else { v.wrapping_neg() }
        }
        _ => rng.next() as u32,
    }
}

/// Per-case values of the scalar parameters.
#[derive(Clone, Copy, Debug)]
struct Params {
    k: u32,
    n: u32,
    kw: u64,
    kn: i32,
    /// Bits of the f32 parameter.
    kf: u32,
}

#[derive(Clone, Debug)]
enum Stmt {
    Line(String),
    If {
        pred: u64,
        negated: bool,
        body: Vec<Stmt>,
    },
    /// `init` sets the counter `r{20+depth}` (at most 3).
    Loop {
        init: String,
        body: Vec<Stmt>,
    },
}

struct Gen<'a> {
    sh: &'a Shape,
    region: u64,
    stores: u64,
    faults: bool,
    shared: bool,
    /// Bytes of shared memory per lane-private region.
    sregion: u64,
}

/// A data register to read: mostly a hot few, sometimes the never-written r12.
fn dreg(rng: &mut Rng) -> String {
    match rng.below(100) {
        0..=3 => "r12".into(),
        4..=69 => format!("r{}", rng.below(6)),
        _ => format!("r{}", rng.below(DATA)),
    }
}

fn dst(rng: &mut Rng) -> u64 {
    if rng.chance(70) {
        rng.below(6)
    } else {
        rng.below(DATA)
    }
}

fn nty(rng: &mut Rng) -> &'static str {
    match rng.below(4) {
        0 | 1 => "f32",
        2 => "u32",
        _ => "i32",
    }
}

fn lit(rng: &mut Rng, ty: &str) -> String {
    match ty {
        "f32" | "f64" => match rng.pick(&FLOAT_LITS) {
            "nan" if nan_loose() => "inf".into(),
            l => l.into(),
        },
        "u32" => format!(
            "{}",
            rng.pick(&[
                0u32,
                1,
                2,
                3,
                4,
                31,
                32,
                255,
                0x7FFF_FFFF,
                0x8000_0000,
                0xFFFF_FFFF
            ])
        ),
        "i32" => rng
            .pick(&[
                "0",
                "1",
                "-1",
                "5",
                "-7",
                "2147483647",
                "-2147483648",
                "0xFFFFFFFF",
                "0x80000000",
                "65536",
            ])
            .into(),
        "u64" => rng
            .pick(&[
                "0",
                "1",
                "0xFFFFFFFF",
                "0x100000000",
                "0xFFFFFFFFFFFFFFFF",
                "3",
            ])
            .into(),
        "i64" => rng
            .pick(&[
                "0",
                "1",
                "-1",
                "0x80000000",
                "-4294967296",
                "9223372036854775807",
            ])
            .into(),
        "u8" | "u16" => rng.pick(&["0", "1", "255", "7"]).into(),
        _ => rng.pick(&["0", "1", "-1", "-128", "127"]).into(),
    }
}

/// A source of a 32-bit instruction of type `ty`.
fn src32(rng: &mut Rng, ty: &str) -> String {
    match rng.below(100) {
        0..=64 => dreg(rng),
        65..=79 => lit(rng, ty),
        80..=87 => {
            // Parameters: uniform (a float parameter for floats mostly).
            if ty == "f32" && rng.chance(60) {
                "kf".into()
            } else {
                rng.pick(&["k", "n", "kw", "kn", "kf"]).into()
            }
        }
        88..=93 => rng
            .pick(&["%ntid.x", "%nctaid.x", "%ctaid.x", "%ntid.y"])
            .into(),
        _ => rng
            .pick(&["%gid", "%tid.x", "%laneid", "r16", "r31", "r20"])
            .into(),
    }
}

impl Gen<'_> {
    fn total(&self) -> u64 {
        self.sh.total()
    }

    /// A 32-bit instruction the narrow path may run.
    fn narrow_arith(&self, rng: &mut Rng) -> String {
        let ty = nty(rng);
        let d = dst(rng);
        // Chains: the destination is often a source.
        let a = if rng.chance(35) {
            format!("r{d}")
        } else {
            src32(rng, ty)
        };
        let b = src32(rng, ty);
        let c = src32(rng, ty);
        let ops = if ty == "f32" { 16 } else { 8 };
        match rng.below(ops) {
            0 => format!("mov.{ty} r{d}, {a}"),
            1 | 2 => format!("add.{ty} r{d}, {a}, {b}"),
            3 => format!("sub.{ty} r{d}, {a}, {b}"),
            4 => format!("mul.{ty} r{d}, {a}, {b}"),
            5 | 6 | 14 | 15 => {
                let op = rng.pick(&["min", "max"]);
                if ty == "f32" && rng.chance(60) {
                    // Signed zeros and NaN against each other.
                    let z = match rng.pick(&["0.0", "-0.0", "-0.0", "0.0", "nan", "kf"]) {
                        "nan" if nan_loose() => "inf",
                        z => z,
                    };
                    if rng.chance(50) {
                        format!("{op}.f32 r{d}, {a}, {z}")
                    } else {
                        format!("{op}.f32 r{d}, {z}, {a}")
                    }
                } else {
                    format!("{op}.{ty} r{d}, {a}, {b}")
                }
            }
            7 => {
                // A retyped copy: the same bits, now another writer type.
                let other = rng.pick(&NARROW);
                format!("mov.{other} r{d}, {}", dreg(rng))
            }
            8 | 9 => format!("div.f32 r{d}, {a}, {b}"),
            10 | 11 => format!("fma.f32 r{d}, {a}, {b}, {c}"),
            _ => format!("{}.f32 r{d}, {a}", rng.pick(&MATH)),
        }
    }

    /// Signed zeros in a 32-bit vector: `x * 0.0` is `-0.0` for negative
    /// `x`, `+0.0` for positive.
    fn zeros(&self, rng: &mut Rng) -> String {
        let d = dst(rng);
        let a = dreg(rng);
        let z = rng.pick(&["0.0", "-0.0"]);
        let op = rng.pick(&["min", "max"]);
        let b = dreg(rng);
        if rng.chance(50) {
            format!(
                "mul.f32 r{d}, {a}, {z}\n    {op}.f32 r{d}, r{d}, {}",
                rng.pick(&["-0.0", "0.0", "kf"])
            )
        } else {
            format!("mul.f32 r{d}, {a}, {z}\n    {op}.f32 r{d}, {b}, r{d}")
        }
    }

    /// A reader of another type, or a 64-bit writer.
    fn wide_read(&self, rng: &mut Rng) -> String {
        let d = dst(rng);
        let a = dreg(rng);
        let b = dreg(rng);
        let p = rng.below(SET_PREDS);
        match rng.below(22) {
            0 => format!("mov.u64 r{d}, {a}"),
            1 => format!(
                "add.u64 r{d}, {a}, {}",
                if rng.chance(50) { b } else { lit(rng, "u64") }
            ),
            2 => format!("sub.i64 r{d}, {a}, {b}"),
            3 => format!("mul.u64 r{d}, {a}, 3"),
            4 => format!("cvt.f64.f32 r{d}, {a}"),
            5 => format!("cvt.i64.i32 r{d}, {a}"),
            6 => format!("cvt.u64.u32 r{d}, {a}"),
            7 => {
                let (to, from) = if rng.chance(50) {
                    (rng.pick(&ALL), rng.pick(&NARROW))
                } else {
                    (rng.pick(&NARROW), rng.pick(&ALL))
                };
                format!("cvt.{to}.{from} r{d}, {a}")
            }
            8 | 9 => {
                let ty = rng.pick(&["u64", "i64", "f64", "u64"]);
                let b = if rng.chance(30) { lit(rng, ty) } else { b };
                format!("setp.{}.{ty} p{p}, {a}, {b}", rng.pick(&CMPS))
            }
            10 | 11 => {
                let ty = rng.pick(&ALL);
                let b = if rng.chance(30) { lit(rng, ty) } else { b };
                format!("selp.{ty} r{d}, {a}, {b}, p{}", rng.below(GUARD_PREDS))
            }
            12 => format!(
                "{}.{} r{d}, {a}, {}",
                rng.pick(&["and", "or", "xor"]),
                rng.pick(&["u32", "i32", "u64"]),
                if rng.chance(50) {
                    b
                } else {
                    "0x7FFFFFFF".into()
                }
            ),
            13 => format!(
                "{}.{} r{d}, {a}, {}",
                rng.pick(&["shl", "shr"]),
                rng.pick(&["u32", "i32"]),
                rng.pick(&["1", "31", "8"])
            ),
            14 => format!(
                "{}.{} r{d}, {a}",
                rng.pick(&["neg", "abs"]),
                rng.pick(&["f32", "i32"])
            ),
            15 => format!("not.u32 r{d}, {a}"),
            16 => format!("rem.f32 r{d}, {a}, {b}"),
            17 => format!(
                "{}.f64 r{d}, {a}, {b}",
                rng.pick(&["add", "div", "min", "max"])
            ),
            18 => format!("fma.{} r{d}, {a}, {b}, {a}", rng.pick(&["u32", "i32"])),
            19 => format!("{}.f64 r{d}, {a}", rng.pick(&MATH)),
            20 => {
                // A 32-bit op on a 64-bit register written just now.
                let ty = nty(rng);
                format!(
                    "add.u64 r{d}, {a}, {}\n    add.{ty} r{d}, r{d}, {}",
                    lit(rng, "u64"),
                    src32(rng, ty)
                )
            }
            _ => format!(
                "mov.u64 r{d}, {}",
                rng.pick(&["%gid", "kw", "0xFFFFFFFF80000000", "r16"])
            ),
        }
    }

    fn narrow_setp(&self, rng: &mut Rng, p: u64) -> String {
        let ty = nty(rng);
        let a = dreg(rng);
        let b = src32(rng, ty);
        let cmp = rng.pick(&CMPS);
        if rng.chance(25) {
            format!("setp.{cmp}.{ty} p{p}, {b}, {a}")
        } else {
            format!("setp.{cmp}.{ty} p{p}, {a}, {b}")
        }
    }

    /// Code and address operand (after the buffer name) reaching element
    /// `gid` (or a permutation of it) of size `sz` at byte offset `base + D`
    /// for some `D` in 0..=512; `distinct`: different lanes, different
    /// elements. Offsets stay below `base + 8*total + 520`.
    fn address(&self, rng: &mut Rng, sz: u64, base: u64, distinct: bool) -> (Vec<String>, String) {
        let total = self.total();
        let sh = self.sh;
        let r = format!("r{}", 17 + rng.below(3));
        let d = base
            + match rng.below(4) {
                0 => 0,
                1 => sz * rng.below(4),
                2 => rng.pick(&[4, 12, 36, 260, 508]) / sz * sz,
                _ => rng.below(512 / sz + 1) * sz,
            };
        let log = sz.trailing_zeros();
        let mut code = vec![];
        let mut reg = r.clone();
        match rng.below(14) {
            0..=3 if sz == 4 => reg = "r16".into(),
            0..=1 => code.push(format!("shl.u64 {r}, %gid, {log}")),
            2 => code.push(format!("mul.u64 {r}, %gid, {sz}")),
            3 => {
                code.push(format!("mov.u32 {r}, %gid"));
                code.push(format!("mul.u32 {r}, {r}, {sz}"));
            }
            4 => {
                // gid*sz + C, the C taken off again in the displacement.
                let c = rng.pick(&[1u64, 3, 4, 8, 12, 64, 260, 1000]);
                code.push(format!("fma.u64 {r}, %gid, {sz}, {c}"));
                let disp = d as i64 - c as i64;
                let op = if disp >= 0 {
                    format!("+ {r} + {disp}")
                } else {
                    format!("+ {r} - {}", -disp)
                };
                return (code, op);
            }
            5 => {
                code.push(format!("cvt.u64.u32 {r}, %gid"));
                code.push(format!("shl.u32 {r}, {r}, {log}"));
            }
            6 if sz <= 4 => {
                // Stride of two elements.
                code.push(format!("mul.u64 {r}, %gid, {}", 2 * sz));
            }
            7 => {
                // Reversed.
                code.push(format!("sub.u64 {r}, {}, %gid", total - 1));
                code.push(format!("mul.u64 {r}, {r}, {sz}"));
            }
            8 if !distinct || sh.grid.x * sh.block.x == total as u32 => {
                // Global x index: contiguous only per row in 2-D.
                code.push(format!("fma.u32 {r}, %ctaid.x, %ntid.x, %tid.x"));
                code.push(format!("mul.u32 {r}, {r}, {sz}"));
            }
            9 if !distinct || sh.blocks() == 1 => {
                code.push(format!("mov.u32 {r}, %laneid"));
                code.push(format!("shl.u64 {r}, {r}, {log}"));
            }
            10 if !distinct => {
                // Uniform.
                return (code, format!("+ {d}"));
            }
            _ => code.push(format!("mul.u64 {r}, %gid, {sz}")),
        }
        let op = if d == 0 && rng.chance(50) {
            format!("+ {reg}")
        } else {
            format!("+ {reg} + {d}")
        };
        (code, op)
    }

    fn load(&self, rng: &mut Rng, narrow: bool) -> Vec<String> {
        let ty = if narrow {
            nty(rng)
        } else {
            rng.pick(&["u8", "u16", "u64", "f64", "i8", "i16", "i64"])
        };
        let sz = size_of(ty);
        let (mut code, op) = self.address(rng, sz, 0, false);
        code.push(format!("ld.global.{ty} r{}, [inp {op}]", dst(rng)));
        code
    }

    fn next_region(&mut self) -> Option<u64> {
        if self.stores >= MAX_STORES {
            return None;
        }
        self.stores += 1;
        Some((self.stores - 1) * self.region)
    }

    fn store(&mut self, rng: &mut Rng) -> Option<Vec<String>> {
        let base = self.next_region()?;
        let ty = if rng.chance(70) {
            nty(rng)
        } else {
            rng.pick(&["u8", "u16", "u64", "f64", "i8", "i16"])
        };
        let sz = size_of(ty);
        let (mut code, op) = self.address(rng, sz, base, true);
        let v = match rng.below(20) {
            0 => "%gid".to_string(),
            1 => lit(rng, ty),
            _ => dreg(rng),
        };
        code.push(format!("st.global.{ty} [out2 {op}], {v}"));
        Some(code)
    }

    /// Atomics on lane-private words (any order-dependent op is fine) or on
    /// shared counters (commutative integer ops only).
    fn atom(&mut self, rng: &mut Rng) -> Option<Vec<String>> {
        let v = dreg(rng);
        if rng.chance(35) {
            let (op, ty, at) = rng.pick(&[
                ("add", "u32", 0),
                ("max", "i32", 4),
                ("min", "u32", 8),
                ("add", "u64", 16),
            ]);
            return Some(vec![format!(
                "atom.global.{op}.{ty} r29, [cnt + {at}], {v}"
            )]);
        }
        let base = self.next_region()?;
        let (op, ty) = rng.pick(&[
            ("add", "u32"),
            ("add", "u32"),
            ("add", "i32"),
            ("max", "i32"),
            ("min", "u32"),
            ("exch", "f32"),
            ("add", "f32"),
            ("exch", "u32"),
        ]);
        let (mut code, addr) = self.address(rng, 4, base, true);
        let d = dst(rng);
        // Twice, so that the second sees the first's result.
        code.push(format!("atom.global.{op}.{ty} r{d}, [out2 {addr}], {v}"));
        if rng.chance(50) {
            code.push(format!("atom.global.{op}.{ty} r{d}, [out2 {addr}], r{d}"));
        }
        if rng.chance(30) {
            code.push(format!(
                "atom.global.cas.u32 r{}, [out2 {addr}], {}, {}",
                dst(rng),
                dreg(rng),
                dreg(rng)
            ));
        }
        Some(code)
    }

    /// Loads through a 32-bit index vector: `idx` holds a permutation of
    /// 0..total, scaled in 32-bit arithmetic; scatters through it too.
    fn gather(&mut self, rng: &mut Rng) -> Option<Vec<String>> {
        let r = "r24";
        let ity = rng.pick(&["u32", "i32", "u32"]);
        let mut code = vec![format!("ld.global.{ity} {r}, [idx + r16]")];
        let scatter = rng.chance(35);
        let ty = if rng.chance(75) {
            nty(rng)
        } else {
            rng.pick(&["u64", "f64", "u16", "u8"])
        };
        let sz = size_of(ty);
        match (sz, rng.below(3)) {
            (1, _) => {}
            (_, 0) => code.push(format!("mul.{ity} {r}, {r}, {sz}")),
            (2, _) => code.push(format!("add.{ity} {r}, {r}, {r}")),
            (4, 1) => code.push(format!(
                "mul.{ity} {r}, {r}, 2\n    add.{ity} {r}, {r}, {r}"
            )),
            _ => code.push(format!("shl.{ity} {r}, {r}, {}", sz.trailing_zeros())),
        }
        if scatter {
            let base = self.next_region()?;
            code.push(format!(
                "st.global.{ty} [out2 + {r} + {base}], {}",
                dreg(rng)
            ));
        } else {
            let disp = rng.pick(&[0, 0, 8, 64]);
            code.push(format!(
                "ld.global.{ty} r{}, [inp + {r} + {disp}]",
                dst(rng)
            ));
        }
        Some(code)
    }

    fn divide(&self, rng: &mut Rng) -> Vec<String> {
        let ty = rng.pick(&["u32", "i32"]);
        let op = rng.pick(&["div", "rem"]);
        let (d, a, b) = (dst(rng), dreg(rng), dreg(rng));
        if self.faults && rng.chance(70) {
            vec![format!("{op}.{ty} r{d}, {a}, {b}")]
        } else if rng.chance(50) {
            // max(b, 1) runs on 32-bit vectors; never zero.
            vec![
                format!("max.u32 r29, {b}, 1"),
                format!("{op}.{ty} r{d}, {a}, r29"),
            ]
        } else {
            vec![
                format!("or.{ty} r29, {b}, 1"),
                format!("{op}.{ty} r{d}, {a}, r29"),
            ]
        }
    }

    fn shared_roundtrip(&mut self, rng: &mut Rng) -> Vec<String> {
        let base = self.sregion * rng.below(4);
        let (t1, t2) = (nty(rng), nty(rng));
        let mut c = vec![
            "mov.u32 r23, %laneid".to_string(),
            "shl.u64 r23, r23, 2".to_string(),
        ];
        c.push(format!("st.shared.{t1} [r23 + {base}], {}", dreg(rng)));
        c.push(format!("ld.shared.{t2} r{}, [r23 + {base}]", dst(rng)));
        c
    }

    fn leaf(&mut self, rng: &mut Rng, depth: u64) -> Stmt {
        let lines: Vec<String> = match rng.below(100) {
            0..=19 => vec![self.narrow_arith(rng)],
            20..=29 => self.load(rng, true),
            30..=32 => self.load(rng, false),
            33..=42 => vec![self.wide_read(rng)],
            43..=50 => {
                let p = rng.below(SET_PREDS);
                vec![self.narrow_setp(rng, p)]
            }
            51..=57 => match self.store(rng) {
                Some(c) => c,
                None => vec![self.narrow_arith(rng)],
            },
            58..=60 => match self.atom(rng) {
                Some(c) => c,
                None => vec![self.wide_read(rng)],
            },
            61..=63 => match self.gather(rng) {
                Some(c) => c,
                None => self.load(rng, true),
            },
            64..=66 => self.divide(rng),
            67..=71 => {
                // A partially guarded 32-bit write of a live register.
                let p = rng.below(SET_PREDS);
                let setp = self.narrow_setp(rng, p);
                let w = self.narrow_arith(rng);
                return Stmt::Line(format!(
                    "{setp}\n    @{}p{p} {w}",
                    if rng.chance(50) { "!" } else { "" }
                ));
            }
            72 => {
                let p = rng.below(SET_PREDS);
                let setp = self.narrow_setp(rng, p);
                return Stmt::Line(format!(
                    "{setp}\n    @{}p{p} exit",
                    if rng.chance(50) { "!" } else { "" }
                ));
            }
            74..=79 if depth < 2 => {
                let pred = rng.below(SET_PREDS);
                let negated = rng.chance(50);
                let n = 1 + rng.below(4);
                let body = (0..n).map(|_| self.leaf(rng, depth + 1)).collect();
                if rng.chance(70) {
                    let setp = Stmt::Line(self.narrow_setp(rng, pred));
                    return Stmt::If {
                        pred: u64::MAX,
                        negated,
                        body: vec![
                            setp,
                            Stmt::If {
                                pred,
                                negated,
                                body,
                            },
                        ],
                    };
                }
                return Stmt::If {
                    pred: rng.below(GUARD_PREDS),
                    negated,
                    body,
                };
            }
            80..=84 if depth < 2 => {
                let c = 20 + depth;
                let init = match rng.below(5) {
                    // Divergent: 32-bit min of a data register.
                    0 | 1 => format!("min.u32 r{c}, {}, 3", dreg(rng)),
                    2 => format!("and.u32 r{c}, {}, 3", dreg(rng)),
                    3 => format!("rem.u32 r{c}, %gid, 3"),
                    // Uniform: the whole unit iterates.
                    _ => format!("and.u32 r{c}, k, 3"),
                };
                let n = 1 + rng.below(4);
                let body = (0..n).map(|_| self.leaf(rng, depth + 1)).collect();
                return Stmt::Loop { init, body };
            }
            85..=87 if self.shared => self.shared_roundtrip(rng),
            89..=91 => vec![self.zeros(rng)],
            88 => {
                let (d, a, b) = (
                    rng.below(SET_PREDS),
                    rng.below(GUARD_PREDS),
                    rng.below(GUARD_PREDS),
                );
                vec![format!(
                    "{}.pred p{d}, p{a}, p{b}",
                    rng.pick(&["and", "or", "xor"])
                )]
            }
            _ => vec![self.narrow_arith(rng)],
        };
        let p = rng.below(GUARD_PREDS);
        let neg = if rng.chance(50) { "!" } else { "" };
        if lines.len() == 1 && !lines[0].contains('\n') && rng.chance(20) {
            return Stmt::Line(format!("@{neg}p{p} {}", lines[0]));
        }
        if lines.len() > 1 && rng.chance(15) {
            let mut lines = lines;
            let last = lines.pop().unwrap();
            lines.push(format!("@{neg}p{p} {last}"));
            return Stmt::Line(lines.join("\n    "));
        }
        Stmt::Line(lines.join("\n    "))
    }
}

fn render(stmts: &[Stmt], out: &mut String, labels: &mut u32, depth: u64) {
    for s in stmts {
        match s {
            Stmt::Line(l) => {
                let _ = writeln!(out, "    {l}");
            }
            Stmt::If {
                pred: u64::MAX,
                body,
                ..
            } => render(body, out, labels, depth),
            Stmt::If {
                pred,
                negated,
                body,
            } => render_if(out, labels, pred, *negated, |out, labels| {
                render(body, out, labels, depth + 1)
            }),
            Stmt::Loop { init, body } => {
                render_loop(out, labels, 20 + depth, init, |out, labels| {
                    render(body, out, labels, depth + 1)
                });
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
    inp_seed: u64,
    /// Input words that replace the start of the generated input.
    words: Vec<u32>,
    /// Bytes per store region of out2, and regions used.
    region: u64,
    regions: u64,
    shared: bool,
    /// The program may fault (division by zero only).
    faults: bool,
}

impl Case {
    fn total(&self) -> u64 {
        (self.grid.count() * self.block.count()) as u64
    }
}

fn build(sh: Shape, seeds: &[u64], pseed: u64, mode: u64, faults: bool, inp_seed: u64) -> Case {
    let total = sh.total();
    let lpb = sh.lpb();
    let mut prng = Rng(pseed);
    let guard = prng.below(100);
    let n = match prng.below(6) {
        0 => total,
        1 => total - 1 - prng.below(lpb),
        2 => prng.below(total + 1),
        3 => total + prng.below(5),
        4 => (total - 1) / 2 + 1,
        _ => total.saturating_sub(1 + prng.below(3)),
    } as u32;
    let params = Params {
        k: prng.pick(&[
            0u32,
            1,
            2,
            3,
            5,
            0x7FFF_FFFF,
            0x8000_0000,
            u32::MAX,
            0x3F80_0000,
        ]),
        n,
        kw: prng.pick(&[
            u64::MAX,
            1 << 32,
            0xFFFF_FFFF,
            0x8000_0000_3F80_0000,
            7,
            prng.0,
        ]),
        kn: prng.pick(&[-1i32, i32::MIN, i32::MAX, 5, -100, 0]),
        kf: match word(&mut prng) {
            w if nan_loose() && f32::from_bits(w).is_nan() => 0xFFC0_0000,
            w => w,
        },
    };
    let shared = mode % 8 == 7;
    let region = 8 * total + 1024;
    let sregion = 4 * lpb + 64;
    let mut g = Gen {
        sh: &sh,
        region,
        stores: 0,
        faults,
        shared,
        sregion,
    };
    let mut stmts: Vec<Stmt> = seeds
        .iter()
        .map(|&s| {
            let mut rng = Rng(s);
            g.leaf(&mut rng, 0)
        })
        .collect();
    if faults {
        // At least one raw division.
        let mut rng = Rng(pseed ^ 0x5555);
        let (d, a, b) = (dst(&mut rng), dreg(&mut rng), dreg(&mut rng));
        let ty = rng.pick(&["u32", "i32"]);
        let at = rng.below(stmts.len() as u64 + 1) as usize;
        stmts.insert(at, Stmt::Line(format!("div.{ty} r{d}, {a}, {b}")));
    }
    // The `%gid >= n` guard: at the start (cuts the last block, or not), or
    // after some statements, or none.
    let guard_line = match prng.below(3) {
        0 => "setp.ge.u32 p6, %gid, n\n    @p6 exit",
        1 => "mov.u32 r18, %gid\n    setp.ge.u32 p6, r18, n\n    @p6 exit",
        _ => "setp.lt.u64 p6, %gid, n\n    @!p6 exit",
    };
    match guard {
        0..=39 => stmts.insert(0, Stmt::Line(guard_line.into())),
        40..=54 => {
            let at = prng.below(stmts.len() as u64 + 1) as usize;
            stmts.insert(at, Stmt::Line(guard_line.into()));
        }
        _ => {}
    }
    let mut out = String::new();
    let _ = writeln!(out, ".kernel gen");
    for p in ["inp", "idx", "out", "out2", "cnt"] {
        let _ = writeln!(out, ".param {p} buf");
    }
    let _ = writeln!(out, ".param k u32");
    let _ = writeln!(out, ".param n u32");
    let _ = writeln!(out, ".param kw u64");
    let _ = writeln!(out, ".param kn i32");
    let _ = writeln!(out, ".param kf f32");
    if shared {
        let _ = writeln!(out, ".shared {}", 4 * sregion);
    }
    match pseed % 3 {
        0 => {
            let _ = writeln!(out, "    mul.u64 r31, %gid, {SLOT_BYTES}");
        }
        1 => {
            let _ = writeln!(out, "    fma.u64 r31, %gid, {SLOT_BYTES}, 0");
        }
        _ => {
            let _ = writeln!(
                out,
                "    mov.u64 r31, %gid\n    mul.u64 r31, r31, {SLOT_BYTES}"
            );
        }
    }
    match (pseed >> 8) % 3 {
        0 => {
            let _ = writeln!(out, "    shl.u64 r16, %gid, 2");
        }
        1 => {
            let _ = writeln!(out, "    mul.u64 r16, %gid, 4");
        }
        _ => {
            let _ = writeln!(out, "    mov.u32 r16, %gid\n    mul.u32 r16, r16, 4");
        }
    }
    // Seed values: r0..r3 loaded as 32-bit vectors by the whole unit.
    for r in 0..4 {
        let ty = prng.pick(&NARROW);
        let d = 4 * prng.below(9);
        let _ = writeln!(out, "    ld.global.{ty} r{r}, [inp + r16 + {d}]");
    }
    let mut labels = 0;
    render(&stmts, &mut out, &mut labels, 0);
    for r in 0..DUMPED_REGS {
        let _ = writeln!(out, "    st.global.u64 [out + r31 + {}], r{r}", r * 8);
    }
    for p in 0..8 {
        let _ = writeln!(out, "    selp.u64 r29, 1, 0, p{p}");
        let _ = writeln!(
            out,
            "    st.global.u8 [out + r31 + {}], r29",
            DUMPED_REGS * 8 + p
        );
    }
    Case {
        source: out,
        grid: sh.grid,
        block: sh.block,
        params,
        inp_seed,
        words: vec![],
        region,
        regions: g.stores.max(1),
        shared,
        faults,
    }
}

fn shape() -> impl Strategy<Value = Shape> {
    prop_oneof![
        // Many small blocks: fused into units.
        3 => (1u32..=64, 1u32..=16).prop_map(|(g, b)| Shape { grid: Dim3::x(g), block: Dim3::x(b) }),
        // One big block.
        2 => (1u32..=256).prop_map(|b| Shape { grid: Dim3::x(1), block: Dim3::x(b) }),
        // Anything 1-D (kept to moderate totals mostly).
        2 => (1u32..=64, 1u32..=256).prop_map(|(g, b)| {
            let g = if g * b > 4096 { (4096 / b).max(1) } else { g };
            Shape { grid: Dim3::x(g), block: Dim3::x(b) }
        }),
        1 => (1u32..=64, 1u32..=256).prop_map(|(g, b)| Shape { grid: Dim3::x(g), block: Dim3::x(b) }),
        // 2-D grids and blocks.
        2 => (1u32..=8, 1u32..=8, 1u32..=16, 1u32..=16).prop_map(|(gx, gy, bx, by)| Shape {
            grid: Dim3::new(gx, gy, 1),
            block: Dim3::new(bx, by, 1),
        }),
        1 => (1u32..=4, 1u32..=4, 1u32..=4, 1u32..=4, 1u32..=4, 1u32..=4).prop_map(
            |(gx, gy, gz, bx, by, bz)| Shape {
                grid: Dim3::new(gx, gy, gz),
                block: Dim3::new(bx, by, bz),
            }
        ),
    ]
}

fn case(faults: bool) -> impl Strategy<Value = Case> {
    (
        shape(),
        prop::collection::vec(any::<u64>(), 1..24),
        any::<u64>(),
        any::<u64>(),
        any::<u64>(),
    )
        .prop_map(move |(sh, seeds, pseed, mode, inp_seed)| {
            build(sh, &seeds, pseed, mode, faults, inp_seed)
        })
}

fn inp_len(c: &Case) -> usize {
    (8 * c.total() + 1024) as usize
}

/// Input words: interesting bit patterns, small integers, random words.
fn input(c: &Case) -> Vec<u8> {
    let mut rng = Rng(c.inp_seed);
    let mut v = Vec::with_capacity(inp_len(c));
    while v.len() < inp_len(c) {
        v.extend_from_slice(&word(&mut rng).to_le_bytes());
    }
    if nan_loose() {
        // One NaN only (x86's default NaN), so that fewer operations see two.
        for w in v.chunks_mut(4) {
            if f32::from_le_bytes(w.try_into().unwrap()).is_nan() {
                w.copy_from_slice(&0xFFC0_0000u32.to_le_bytes());
            }
        }
    }
    for (i, w) in c.words.iter().enumerate() {
        v[4 * i..4 * i + 4].copy_from_slice(&w.to_le_bytes());
    }
    v
}

/// A permutation of 0..total (as u32 words), then 16 spare words.
fn index(c: &Case) -> Vec<u8> {
    let total = c.total() as usize;
    let mut p: Vec<u32> = (0..total as u32).collect();
    let mut rng = Rng(c.inp_seed ^ 0xABCD);
    match rng.below(3) {
        0 => {}
        1 => p.reverse(),
        _ => {
            for i in (1..total).rev() {
                let j = rng.below(i as u64 + 1) as usize;
                p.swap(i, j);
            }
        }
    }
    p.extend([0; 16]);
    p.iter().flat_map(|w| w.to_le_bytes()).collect()
}

/// Where in the output a byte lies, for failure messages.
fn locate(c: &Case, buffer: usize, byte: usize) -> String {
    match buffer {
        2 => {
            let lane = byte / SLOT_BYTES as usize;
            let within = byte % SLOT_BYTES as usize;
            if within < (DUMPED_REGS * 8) as usize {
                format!("lane {lane} (gid) register r{}", within / 8)
            } else {
                format!(
                    "lane {lane} (gid) predicate p{}",
                    within - (DUMPED_REGS * 8) as usize
                )
            }
        }
        3 => format!(
            "store region {} offset {}",
            byte / c.region as usize,
            byte % c.region as usize
        ),
        4 => format!("counter byte {byte}"),
        _ => String::new(),
    }
}

/// `NARROW_NAN=loose`: accept outputs that differ only in the payloads
/// (and signs) of NaNs, word by word, and generate fewer distinct NaNs (every
/// NaN input word becomes x86's default NaN, no `nan` literals). Release
/// builds need it while two-NaN `f32` adds and multiplies may return either
/// NaN (see `regression_narrow_f32_add_of_two_nans_keeps_operand_order`);
/// differences that a NaN payload causes further on (reinterpreted as an
/// integer) still fail.
fn nan_loose() -> bool {
    std::env::var("NARROW_NAN").is_ok_and(|v| v == "loose")
}

fn only_nan_payloads(w: &[u8], g: &[u8]) -> bool {
    w.chunks(8).zip(g.chunks(8)).all(|(x, y)| {
        if x == y {
            return true;
        }
        if x.len() == 8 && f64::from_bits(le(x)).is_nan() && f64::from_bits(le(y)).is_nan() {
            return true;
        }
        x.chunks(4).zip(y.chunks(4)).all(|(a, b)| {
            a == b || f32::from_bits(le(a) as u32).is_nan() && f32::from_bits(le(b) as u32).is_nan()
        })
    })
}

/// A little-endian word of up to 8 bytes.
fn le(b: &[u8]) -> u64 {
    b.iter().rev().fold(0, |v, &x| v << 8 | x as u64)
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
        vec![
            Init::Bytes(input(self)),
            Init::Bytes(index(self)),
            Init::Zeroed((self.total() * SLOT_BYTES) as usize),
            Init::Zeroed((self.regions * self.region) as usize),
            Init::Zeroed(32),
        ]
    }
    fn scalars(&self) -> Vec<(u64, Arg)> {
        let p = self.params;
        vec![
            (p.k as u64, Arg::from(p.k)),
            (p.n as u64, Arg::from(p.n)),
            (p.kw, Arg::from(p.kw)),
            (p.kn as i64 as u64, Arg::from(p.kn)),
            (p.kf as u64, Arg::from(f32::from_bits(p.kf))),
        ]
    }
    fn describe(&self) -> String {
        format!(
            "grid {:?} block {:?} params {:?} inp_seed {:#x} shared {}\n{}",
            self.grid, self.block, self.params, self.inp_seed, self.shared, self.source
        )
    }
    fn same_bytes(&self, want: &[u8], got: &[u8]) -> bool {
        want == got || (nan_loose() && only_nan_payloads(want, got))
    }
    /// The first few differing 8-byte words, located.
    fn buffer_diff(&self, buffer: usize, want: &[u8], got: &[u8]) -> String {
        let mut diffs = String::new();
        let words = want.chunks(8).zip(got.chunks(8)).enumerate();
        for (w, (x, y)) in words.filter(|(_, (x, y))| x != y).take(6) {
            let _ = writeln!(
                diffs,
                "  byte {} ({}): want {:016x}, got {:016x}",
                w * 8,
                locate(self, buffer, w * 8),
                le(x),
                le(y)
            );
        }
        format!("buffer {buffer} differs:\n{diffs}")
    }
    fn check_oracle(&self, want: &Outcome) -> Result<(), TestCaseError> {
        if let Err(f) = want {
            prop_assert!(
                self.faults,
                "generator bug: a safe program faulted: {}\n{}",
                f,
                self.describe()
            );
            prop_assert_eq!(kind_of(&f.kind), "division", "{}\n{}", f, self.describe());
        }
        Ok(())
    }
}

/// Cases per property: `NARROW_CASES` overrides (for long local runs).
fn cases() -> u32 {
    cases_from_env("NARROW_CASES", 96)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), .. ProptestConfig::default() })]

    /// 32-bit vectors, their widening readers, stores, guards, divergence.
    #[test]
    fn narrow_programs_match_reference(c in case(false)) {
        check_engines(&c)?;
    }

    /// The same with integer divisions by data that may be zero.
    #[test]
    fn narrow_division_faults_match_reference(c in case(true)) {
        check_engines(&c)?;
    }
}

/// The generator's mix, measured on the reference engine alone: safe cases
/// never fault and mostly write data; fault cases often fault.
#[test]
fn narrow_generator_covers_its_targets() {
    use proptest::strategy::ValueTree;
    let mut runner = seeded_runner(11);
    let (mut faulted, mut fault_cases, mut dumped, mut safe_cases) = (0, 0, 0, 0);
    let (mut sign_ext, mut fused, mut stores) = (0, 0, 0);
    for i in 0..80 {
        let faulty = i % 4 == 3;
        let c = case(faulty).new_tree(&mut runner).unwrap().current();
        if c.block.count() <= 16 && c.grid.count() >= 4 {
            fused += 1;
        }
        let r = run_with(&c, &reference::run);
        if faulty {
            fault_cases += 1;
            faulted += r.is_err() as u32;
            continue;
        }
        safe_cases += 1;
        let out = r.unwrap_or_else(|f| panic!("safe case faulted: {f}\n{}", c.describe()));
        let slots = out[2].chunks(SLOT_BYTES as usize);
        // r12 stays zero; predicate bytes are 0 or 1; p5 stays false.
        for s in slots.clone() {
            assert_eq!(&s[96..104], &[0; 8], "r12 written\n{}", c.describe());
            assert!(s[104..112].iter().all(|&b| b <= 1));
            assert_eq!(s[109], 0, "p5 set\n{}", c.describe());
        }
        if slots.clone().any(|s| s[..96].iter().any(|&b| b != 0)) {
            dumped += 1;
        }
        // Some register holds a sign-extended negative 32-bit value.
        if slots.clone().any(|s| {
            s[..96]
                .chunks(8)
                .any(|r| r[4..8] == [0xFF; 4] && r[3] >= 0x80)
        }) {
            sign_ext += 1;
        }
        if out[3].iter().any(|&b| b != 0) {
            stores += 1;
        }
    }
    eprintln!(
        "fault cases {fault_cases}: faulted {faulted}; safe {safe_cases}: with data {dumped}, \
         sign-extended values {sign_ext}, stores {stores}; fused shapes {fused}"
    );
    assert!(
        faulted * 4 >= fault_cases,
        "{faulted} of {fault_cases} faulted"
    );
    assert!(
        dumped * 10 >= safe_cases * 8,
        "{dumped} of {safe_cases} wrote data"
    );
    assert!(
        sign_ext * 3 >= safe_cases,
        "{sign_ext} of {safe_cases} sign-extended"
    );
    assert!(stores * 2 >= safe_cases, "{stores} of {safe_cases} stored");
}

/// A fixed program run like a generated case (no faults expected).
fn fixed_case(body: &str, grid: Dim3, block: Dim3, inp_seed: u64) -> Case {
    let mut source = String::from(".kernel gen\n");
    for p in ["inp", "idx", "out", "out2", "cnt"] {
        let _ = writeln!(source, ".param {p} buf");
    }
    source.push_str(".param k u32\n.param n u32\n.param kw u64\n.param kn i32\n.param kf f32\n");
    source.push_str(body);
    let total = (grid.count() * block.count()) as u64;
    Case {
        source,
        grid,
        block,
        params: Params {
            k: 3,
            n: total as u32,
            kw: u64::MAX,
            kn: -8,
            kf: 0x8000_0000,
        },
        inp_seed,
        words: vec![],
        region: 8 * total + 1024,
        regions: 4,
        shared: false,
        faults: false,
    }
}

/// Replays the body in the file named by `NARROW_REPLAY` with the shape in
/// `NARROW_SHAPE` (`gx,gy,gz,bx,by,bz`) and input seed `NARROW_SEED`: for
/// minimising failures by hand.
#[test]
#[ignore]
fn replay() {
    let body = std::fs::read_to_string(std::env::var("NARROW_REPLAY").unwrap()).unwrap();
    let d: Vec<u32> = std::env::var("NARROW_SHAPE")
        .unwrap()
        .split(',')
        .map(|v| v.trim().parse().unwrap())
        .collect();
    let seed = std::env::var("NARROW_SEED")
        .ok()
        .and_then(|s| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok())
        .unwrap_or(0);
    let mut c = fixed_case(
        &body,
        Dim3::new(d[0], d[1], d[2]),
        Dim3::new(d[3], d[4], d[5]),
        seed,
    );
    c.faults = true;
    let want = run_with(&c, &reference::run);
    eprintln!(
        "reference: {:?}",
        want.as_ref().map(|_| "ok").map_err(|f| f.to_string())
    );
    check_engines(&c).unwrap();
}

/// Sign extension of `i32` vectors, zero extension of `f32`/`u32` ones, and
/// their retyped copies, read back as 64 bits in a fused launch and a
/// single block, with the guard cutting the last block.
#[test]
fn narrow_widening_is_exact() {
    let body = "    mul.u64 r31, %gid, 112\n\
                \x20   shl.u64 r16, %gid, 2\n\
                \x20   setp.ge.u32 p6, %gid, n\n\
                \x20   ld.global.i32 r0, [inp + r16 + 4]\n\
                \x20   ld.global.u32 r1, [inp + r16 + 4]\n\
                \x20   ld.global.f32 r2, [inp + r16 + 4]\n\
                \x20   mov.i32 r3, r1\n\
                \x20   mov.u32 r4, r0\n\
                \x20   add.i32 r5, r2, 0\n\
                \x20   min.f32 r6, r2, -0.0\n\
                \x20   max.f32 r7, 0.0, r2\n\
                \x20   cvt.i64.i32 r8, r0\n\
                \x20   add.u64 r9, r0, 0\n\
                \x20   setp.lt.i32 p0, r0, 0\n\
                \x20   setp.ne.f32 p1, r2, r2\n\
                \x20   @p0 add.f32 r10, r2, 1.0\n\
                \x20   st.global.f32 [out2 + r16 + 4], r6\n\
                \x20   mov.u64 r17, %gid\n\
                \x20   st.global.u8 [out2 + r17 + 100000], r2\n\
                \x20   @p6 exit\n\
                \x20   st.global.u64 [out + r31], r0\n\
                \x20   st.global.u64 [out + r31 + 8], r1\n\
                \x20   st.global.u64 [out + r31 + 16], r2\n\
                \x20   st.global.u64 [out + r31 + 24], r3\n\
                \x20   st.global.u64 [out + r31 + 32], r4\n\
                \x20   st.global.u64 [out + r31 + 40], r5\n\
                \x20   st.global.u64 [out + r31 + 48], r6\n\
                \x20   st.global.u64 [out + r31 + 56], r7\n\
                \x20   st.global.u64 [out + r31 + 64], r8\n\
                \x20   st.global.u64 [out + r31 + 72], r9\n\
                \x20   st.global.u64 [out + r31 + 80], r10\n\
                \x20   selp.u64 r29, 1, 0, p0\n\
                \x20   st.global.u8 [out + r31 + 104], r29\n\
                \x20   selp.u64 r29, 1, 0, p1\n\
                \x20   st.global.u8 [out + r31 + 105], r29\n";
    for (grid, block) in [(40, 3), (1, 121), (7, 16)] {
        for seed in 0..4 {
            let mut c = fixed_case(body, Dim3::x(grid), Dim3::x(block), seed);
            c.params.n = grid * block - 2;
            c.region = 200_000;
            c.regions = 1;
            check_engines(&c).unwrap();
        }
    }
}

/// Found by `narrow_programs_match_reference` in release builds only: an
/// `f32` add of two NaNs with different payloads. The reference returns the
/// first operand's NaN (x86 `addss` keeps its first source), the block
/// engine's 32-bit vector loop (`narrow::map2`, a lane vector plus a splat)
/// returned the second's: LLVM treats `fadd`/`fmul` as commutative and may
/// swap the operands of the vectorized loop, and Rust does not specify which
/// NaN payload a NaN-in, NaN-out operation returns. docs/LANGUAGE.md promises
/// bit-identical results for correctly rounded operations in every engine.
/// Debug builds (no vectorization) agree.
#[test]
fn regression_narrow_f32_add_of_two_nans_keeps_operand_order() {
    let body = "    mul.u64 r31, %gid, 112\n\
                \x20   shl.u64 r16, %gid, 2\n\
                \x20   ld.global.f32 r0, [inp + r16]\n\
                \x20   ld.global.f32 r1, [inp + r16 + 64]\n\
                \x20   add.f32 r2, r0, kf\n\
                \x20   add.f32 r3, r0, nan\n\
                \x20   mul.f32 r4, r0, kf\n\
                \x20   add.f32 r5, r0, r1\n\
                \x20   mul.f32 r6, r1, r0\n\
                \x20   add.f32 r7, kf, r0\n\
                \x20   fma.f32 r8, r0, r1, kf\n\
                \x20   st.global.u64 [out + r31], r2\n\
                \x20   st.global.u64 [out + r31 + 8], r3\n\
                \x20   st.global.u64 [out + r31 + 16], r4\n\
                \x20   st.global.u64 [out + r31 + 24], r5\n\
                \x20   st.global.u64 [out + r31 + 32], r6\n\
                \x20   st.global.u64 [out + r31 + 40], r7\n\
                \x20   st.global.u64 [out + r31 + 48], r8\n";
    for lanes in [1, 2, 16, 33] {
        let mut c = fixed_case(body, Dim3::x(1), Dim3::x(lanes), 1);
        c.params.kf = 0x7FFF_FFFF;
        // NaN payloads, both signs, quiet and signalling.
        c.words = (0..16 + 16 + lanes)
            .map(|i| [0x7FC0_0001, 0xFFC0_1234, 0x7F80_0001, 0xFFFF_FFFE][i as usize % 4])
            .collect();
        check_engines(&c).unwrap();
    }
}
