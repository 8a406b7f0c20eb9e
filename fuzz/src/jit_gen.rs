//! The generator of [`JitCase`]s: race-free programs shaped for the JIT's
//! tiers.
//!
//! Five out of eight are *gang-shaped*: no `bar.sync`, and every branch on
//! a predicate that is the same in all lanes of a block (computed from
//! parameters, `%ntid`, `%ctaid`, `%nctaid` and registers holding only
//! such values), so the JIT picks its 4-lane gang tier when the block has
//! 4 lanes or more. Lanes still leave on their own (`@p exit`, a branch to
//! the end), instructions run under per-lane guards, and index registers
//! are affine in the lane (`%gid * 4 + 16`, in every integer type, wrapping
//! in narrow ones) so that loads and stores become vector accesses. One in
//! eight adds per-lane branches and loops, and `bar.sync` (at the same
//! instructions in all lanes, with shared-memory exchange between
//! neighbours, or at different ones): one-lane-tier programs.
//!
//! One in four is a *lockstep* program, for the gang tier's lockstep scheme
//! (`src/engine/jit/codegen/gang/lockstep.rs`): every `bar.sync` outside
//! per-lane and gang-varying control (lanes that part meet again before
//! the next barrier), and halving loops only (`shr.uN s, s, c` exited when
//! `s` is zero: `src/engine/jit/loops.rs`), so the JIT runs it on the gang
//! tier without counting steps when the budget covers its step bound,
//! which the generator counts as the JIT does ([`JitCase::lockstep`]).
//! Between gang-shaped stretches it writes *protocols* over shared memory:
//! tree reductions (lanes below `s` fold slot `lane + s` into their own, or
//! lanes from `lanes - s` on fold `lane - s`, a barrier per trip, the
//! trip's test spelled in every orientation, with work before it, pure or
//! not, in its own basic block or not), halving loops that fold other
//! lanes' slots into a register (no shared store in the loop: race-free
//! whichever lanes run a trip), and neighbour exchanges; block-invariant
//! registers (from `k`, `s`, `x`, `%ntid`, `%ctaid`, `%nctaid`) redefined
//! between barriers and read after them; barriers under block-invariant
//! branches; per-lane exits; per-lane, row-wise and gang-uniform branches
//! and barrier-free halving loops between barriers.
//!
//! Registers: r0..r11 data (per lane), r12..r15 affine indices, r16..r19
//! block-uniform values, r20..r22 loop counters, r23..r26 and r30
//! addresses, r27 the lane's shared slot, r28 `total - 1 - %gid`, r29
//! scratch (never read back but by the epilogue), r31 the lane's `out`
//! slot, r32 `%gid` computed from the block's position, r34 the next
//! lane's shared slot. Predicates: p0..p3 per lane, p4 and p5
//! block-uniform, p7 loop tests, p8 `%gid == lane`, p9 `%laneid == M`.
//! Lockstep programs also use r35 (the lane's index in the block, written
//! once in the entry block), r36 (a protocol's halving count), r37, r38,
//! r47 (scratch), r39 (`lanes - s`), r49 (`s - 1`), r40, r41, r43
//! (block-invariant u32), r42 (the block's lanes, from `%ntid`), r44 (an
//! invariant f64), r45 (an invariant i64), r46 (the lane's index, computed
//! so that the JIT cannot tell), r48 (the count of barrier-free halving
//! loops); p10 and p11 (a protocol's loop and trip tests), p12
//! (block-invariant), p13 (per lane), p14 (barrier-free halving loops'
//! tests). The epilogue does not read p10, p11, p13, p14, and each is set
//! before it is read, so none crosses a barrier (a trip's test may only
//! shorten the pass when its predicate does not).
//!
//! Only lane-private memory is written, apart from order-independent
//! atomics (integer add, min, max) whose old values are dropped, and wild
//! stores to `junk`, which is not compared. In lockstep programs a lane's
//! shared slot has two words: the first only its lane reads, the second
//! the protocols write and read (between two barriers no lane reads a word
//! another lane writes). Each case has one source of faults ([`Faults`]);
//! the generator bounds the steps a lane can take, so only
//! [`Faults::Steps`] cases run out of budget.

use std::fmt::Write;

use arbitrary::{Arbitrary, Result, Unstructured};
use lanes::Dim3;

use crate::jit_case::{Faults, JitCase, OUT_SLOT, SHARED_SLOT, vout_regions};
use crate::{ALL, ATOM, CAS, CMPS, FLOATS, INTS, MATH, SIGNED, Valid, edge, int_lit};

/// The `jit` target's input: a [`JitCase`], or now and then a case of the
/// `differential` target (barriers in every arrangement, divergent loops).
#[derive(Debug)]
pub enum JitInput {
    /// A program shaped for the JIT's tiers.
    Shaped(JitCase),
    /// A race-free program of the `differential` target.
    Valid(Valid),
}

impl<'a> Arbitrary<'a> for JitInput {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        Ok(if u.ratio(1, 8)? {
            JitInput::Valid(u.arbitrary()?)
        } else {
            JitInput::Shaped(u.arbitrary()?)
        })
    }
}

/// How barriers appear in a one-lane-tier program.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Bars {
    /// None.
    No,
    /// Only where control is the same in the whole block: every lane
    /// passes the same barriers, so lanes may read their neighbour's
    /// shared slot between two of them, and a shared counter after the
    /// last.
    Uniform,
    /// Anywhere, also in per-lane branches and loops (lanes wait at
    /// different `bar.sync`s): each lane reads only its own shared slot.
    Divergent,
    /// A lockstep program (see the module docs): barriers only in
    /// block-invariant control, in the protocols and alone.
    Lockstep,
}

/// The most basic blocks a lockstep program starts a statement at (the
/// gang tier takes kernels of at most 64; a statement adds a few).
const MAX_BBS: u32 = 48;
/// Visits of a halving loop's test when its count starts at most 1024
/// (at least halved each trip), and when it starts anywhere in a u32.
const LANE_TRIPS: u64 = 12;
const WIDE_TRIPS: u64 = 34;
/// How the JIT bounds a lane's steps in a halving loop: each of its
/// instructions at most this many times (`src/engine/jit/loops.rs`).
const HALVING_TRIPS: u64 = 66;
/// Ways to fold another lane's value (`r38`) into a register.
const FOLDS: [&str; 8] = [
    "add.u64", "add.u64", "xor.u64", "max.u32", "min.i64", "add.f64", "mul.f32", "add.u32",
];
/// Redefinitions of block-invariant registers (r40, r41, r43 u32, r44
/// f64, r45 i64; p12), from invariant values only.
const INVARIANT_LINES: [&str; 24] = [
    "add.u32 r40, r40, 7",
    "mul.u32 r41, r41, 3",
    "shr.u32 r40, r40, 1",
    "xor.u32 r40, r40, r41",
    "mov.u32 r43, %ctaid.x",
    "add.u32 r41, r41, r43",
    "mov.u32 r41, %ntid.x",
    "sub.u32 r41, r41, r40",
    "mov.u32 r43, %nctaid.x",
    "min.u32 r40, r40, k",
    "max.u32 r43, r43, %ctaid.y",
    "selp.u32 r40, r41, r43, p12",
    "setp.gt.u32 p12, r40, r41",
    "setp.lt.u32 p12, %ctaid.x, 1",
    "@p12 add.u32 r41, r41, 1",
    "@!p12 mov.u32 r43, 5",
    "mul.f64 r44, r44, 1.5",
    "add.f64 r44, r44, x",
    "cvt.f64.u32 r44, r40",
    "add.i64 r45, r45, s",
    "shr.i64 r45, r45, 3",
    "mul.i64 r45, r45, -3",
    "div.u32 r43, r40, 7",
    "rem.u32 r41, r41, r42",
];
/// Data lines that read block-invariant registers.
const INVARIANT_READS: [&str; 6] = [
    "add.u32 r{d}, r{d}, r40",
    "xor.u64 r{d}, r{d}, r41",
    "add.f64 r{d}, r{d}, r44",
    "sub.i64 r{d}, r{d}, r45",
    "mul.u32 r{d}, r43, r{d}",
    "selp.u64 r{d}, r40, r{d}, p12",
];

const SPECIAL_SRCS: [&str; 14] = [
    "%tid.x",
    "%tid.y",
    "%tid.z",
    "%ntid.x",
    "%ntid.y",
    "%ntid.z",
    "%ctaid.x",
    "%ctaid.y",
    "%ctaid.z",
    "%nctaid.x",
    "%nctaid.y",
    "%nctaid.z",
    "%laneid",
    "%gid",
];
const UNIFORM_SPECIALS: [&str; 9] = [
    "%ntid.x",
    "%ntid.y",
    "%ntid.z",
    "%ctaid.x",
    "%ctaid.y",
    "%ctaid.z",
    "%nctaid.x",
    "%nctaid.y",
    "%nctaid.z",
];
/// Lane indices that every launch keeps inside `inp` at 16 bytes each.
const INDICES: [&str; 7] = [
    "%gid", "%laneid", "%tid.x", "%tid.y", "%tid.z", "r28", "r32",
];
/// Multipliers of affine index arithmetic.
const FACTORS: [u64; 12] = [0, 1, 2, 3, 4, 5, 8, 16, 255, 0x8000_0000, u64::MAX, 7];

struct JitGen<'a, 'b> {
    u: &'a mut Unstructured<'b>,
    out: String,
    faults: Faults,
    /// One-lane-tier program (per-lane branches and loops allowed).
    lane_mode: bool,
    bars: Bars,
    labels: u32,
    /// Worst-case steps of a lane so far, and the most allowed.
    cost: u64,
    limit: u64,
    /// Times the current line may run (loops multiply it).
    mult: u64,
    /// The JIT's bound on a lane's steps (lockstep programs): each
    /// instruction once, each of a halving loop's [`HALVING_TRIPS`] times;
    /// and the weight of the current line.
    steps_bound: u64,
    smult: u64,
    /// Inside a halving loop (lockstep programs): no loop in it (the JIT
    /// proves only unnested ones finite).
    in_loop: bool,
    /// Basic blocks so far, or more (each label and each instruction that
    /// ends one starts one).
    bbs: u32,
    /// Lanes per block, and whether `%tid.x` is the lane's index in it.
    lanes: u64,
    flat: bool,
    shared_bytes: u64,
    vout: [u64; 8],
    lane: u64,
    m: u64,
}

fn size_of(ty: &str) -> u64 {
    lanes::types::ScalarType::from_name(ty)
        .expect("a type")
        .size() as u64
}

impl JitGen<'_, '_> {
    fn emit(&mut self, line: &str) {
        for l in line.lines() {
            let _ = writeln!(self.out, "    {l}");
            self.cost += self.mult;
            self.steps_bound += self.smult;
            let op = match l.strip_prefix('@') {
                Some(guarded) => guarded.split_once(' ').map_or("", |(_, op)| op),
                None => l,
            };
            if op.starts_with("bra ") || op == "exit" || op == "bar.sync" {
                self.bbs += 1;
            }
        }
    }

    /// Emits `text` with `guard` on each of its instructions.
    fn emit_guarded(&mut self, guard: &str, text: &str) {
        for l in text.lines() {
            self.emit(&format!("{guard}{l}"));
        }
    }

    fn label(&mut self, name: &str) {
        let _ = writeln!(self.out, "{name}:");
        self.bbs += 1;
    }

    fn lockstep(&self) -> bool {
        self.bars == Bars::Lockstep
    }

    /// Bytes at the start of a lane's shared slot that only it reads and
    /// writes outside the epilogue (the rest is the protocols' in lockstep
    /// programs).
    fn own_shared(&self) -> u64 {
        if self.lockstep() { 8 } else { SHARED_SLOT }
    }

    fn ratio(&mut self, a: u8, b: u8) -> Result<bool> {
        self.u.ratio(a, b)
    }

    fn pick<T: Copy>(&mut self, xs: &[T]) -> Result<T> {
        Ok(*self.u.choose(xs)?)
    }

    fn data(&mut self) -> Result<u8> {
        self.u.int_in_range(0..=11)
    }

    /// A literal of type `ty`.
    fn lit(&mut self, ty: &str) -> Result<String> {
        let bits = edge(self.u)?;
        Ok(match ty {
            "f32" | "f64" => match bits % 19 {
                0 => "nan".into(),
                1 => "inf".into(),
                2 => "-inf".into(),
                3 => "-0.0".into(),
                4 => "0.0".into(),
                5 => "1e-40".into(),
                _ => format!("{:e}", (bits % 2001) as f64 / 8.0 - 125.0),
            },
            _ => int_lit(ty, bits),
        })
    }

    /// Any source operand.
    fn src(&mut self, ty: &str) -> Result<String> {
        Ok(match self.u.int_in_range(0..=15)? {
            0..=6 => format!("r{}", self.data()?),
            7 => format!("r{}", self.u.int_in_range(12..=15)?),
            8 => format!("r{}", self.u.int_in_range(16..=19)?),
            9 | 10 => self.lit(ty)?,
            11 | 12 => self.pick(&SPECIAL_SRCS)?.to_string(),
            _ => self.pick(&["k", "s", "x"])?.to_string(),
        })
    }

    /// A source operand with the same value in every lane of a block.
    fn usrc(&mut self, ty: &str) -> Result<String> {
        Ok(match self.u.int_in_range(0..=7)? {
            0..=2 => format!("r{}", self.u.int_in_range(16..=19)?),
            3 | 4 => self.lit(ty)?,
            5 => self.pick(&UNIFORM_SPECIALS)?.to_string(),
            _ => self.pick(&["k", "s", "x"])?.to_string(),
        })
    }

    /// A source operand affine in the lane (or uniform).
    fn asrc(&mut self) -> Result<String> {
        Ok(match self.u.int_in_range(0..=5)? {
            0 | 1 => format!("r{}", self.u.int_in_range(12..=15)?),
            2 => "r28".to_string(),
            3 => "r32".to_string(),
            _ => self.pick(&SPECIAL_SRCS)?.to_string(),
        })
    }

    /// Any predicate for a guard (per lane or uniform).
    fn guard_pred(&mut self) -> Result<String> {
        let p = self.pick(&[0u8, 1, 2, 3, 4, 5, 8, 9])?;
        let neg = if self.u.arbitrary()? { "!" } else { "" };
        Ok(format!("@{neg}p{p} "))
    }

    /// `n` bytes aligned to `size`, below `end`.
    fn offset(&mut self, size: u64, end: u64) -> Result<u64> {
        Ok(size * self.u.int_in_range(0..=(end / size).saturating_sub(1))?)
    }

    /// An integer division that cannot fault unless the case allows it.
    fn divide(&mut self, op: &str, ty: &str, d: &str, a: &str, b: &str, scratch: &str) -> String {
        if ty.starts_with('f') || self.faults == Faults::Division {
            format!("{op}.{ty} {d}, {a}, {b}")
        } else {
            format!("or.{ty} {scratch}, {b}, 1\n{op}.{ty} {d}, {a}, {scratch}")
        }
    }

    /// Arithmetic into data register `d` from any sources.
    fn alu(&mut self, d: u8) -> Result<String> {
        let d = format!("r{d}");
        Ok(match self.u.int_in_range(0..=12)? {
            0..=2 => {
                let ty = self.pick(&ALL)?;
                let op = self.pick(&["add", "sub", "mul", "min", "max"])?;
                format!("{op}.{ty} {d}, {}, {}", self.src(ty)?, self.src(ty)?)
            }
            3 => {
                let ty = self.pick(&ALL)?;
                let op = self.pick(&["div", "rem"])?;
                let (a, b) = (self.src(ty)?, self.src(ty)?);
                self.divide(op, ty, &d, &a, &b, "r30")
            }
            4 => {
                let ty = self.pick(&ALL)?;
                format!(
                    "fma.{ty} {d}, {}, {}, {}",
                    self.src(ty)?,
                    self.src(ty)?,
                    self.src(ty)?
                )
            }
            5 => {
                let ty = self.pick(&INTS)?;
                let op = self.pick(&["and", "or", "xor", "shl", "shr"])?;
                format!("{op}.{ty} {d}, {}, {}", self.src(ty)?, self.src(ty)?)
            }
            6 => {
                let ty = self.pick(&INTS)?;
                format!("not.{ty} {d}, {}", self.src(ty)?)
            }
            7 => {
                let ty = self.pick(&SIGNED)?;
                let op = self.pick(&["neg", "abs"])?;
                format!("{op}.{ty} {d}, {}", self.src(ty)?)
            }
            8 => {
                let ty = self.pick(&FLOATS)?;
                let op = self.pick(&MATH)?;
                format!("{op}.{ty} {d}, {}", self.src(ty)?)
            }
            9 => {
                let (to, from) = (self.pick(&ALL)?, self.pick(&ALL)?);
                format!("cvt.{to}.{from} {d}, {}", self.src(from)?)
            }
            10 => {
                let ty = self.pick(&ALL)?;
                format!("mov.{ty} {d}, {}", self.src(ty)?)
            }
            _ => {
                let ty = self.pick(&ALL)?;
                let p = self.pick(&[0u8, 1, 2, 3, 4, 5, 8, 9])?;
                format!("selp.{ty} {d}, {}, {}, p{p}", self.src(ty)?, self.src(ty)?)
            }
        })
    }

    /// A per-lane predicate (p0..p3).
    fn lane_pred(&mut self) -> Result<String> {
        let p = self.u.int_in_range(0..=3)?;
        Ok(if self.ratio(1, 5)? {
            let op = self.pick(&["and", "or", "xor"])?;
            let a = self.pick(&[0u8, 1, 2, 3, 4, 5, 8, 9])?;
            let b = self.pick(&[0u8, 1, 2, 3, 4, 5, 8, 9])?;
            if self.u.arbitrary()? {
                format!("{op}.pred p{p}, p{a}, p{b}")
            } else {
                format!("not.pred p{p}, p{a}")
            }
        } else {
            let ty = self.pick(&ALL)?;
            let cmp = self.pick(&CMPS)?;
            format!("setp.{cmp}.{ty} p{p}, {}, {}", self.src(ty)?, self.src(ty)?)
        })
    }

    /// Block-uniform work: r16..r19, p4, p5. Only in block-uniform control.
    fn uniform(&mut self) -> Result<()> {
        let guard = if self.ratio(1, 6)? {
            format!("@{}p{} ", self.pick(&["", "!"])?, self.pick(&[4, 5])?)
        } else {
            String::new()
        };
        let d = format!("r{}", self.u.int_in_range(16..=19)?);
        let line = match self.u.int_in_range(0..=9)? {
            0..=2 => {
                let ty = self.pick(&ALL)?;
                let op = self.pick(&["add", "sub", "mul", "min", "max"])?;
                format!("{op}.{ty} {d}, {}, {}", self.usrc(ty)?, self.usrc(ty)?)
            }
            3 => {
                let ty = self.pick(&ALL)?;
                let (a, b) = (self.usrc(ty)?, self.usrc(ty)?);
                match self.pick(&["div", "rem", "fma"])? {
                    "fma" => format!("fma.{ty} {d}, {a}, {b}, {}", self.usrc(ty)?),
                    // The scratch must stay uniform too: the result itself.
                    op => self.divide(op, ty, &d, &a, &b, &d),
                }
            }
            4 => {
                let (to, from) = (self.pick(&ALL)?, self.pick(&ALL)?);
                format!("cvt.{to}.{from} {d}, {}", self.usrc(from)?)
            }
            5 => {
                let ty = self.pick(&FLOATS)?;
                let op = self.pick(&MATH)?;
                format!("{op}.{ty} {d}, {}", self.usrc(ty)?)
            }
            6 => {
                let ty = self.pick(&ALL)?;
                format!(
                    "ld.global.{ty} {d}, [inp + {}]",
                    self.offset(size_of(ty), 512)?
                )
            }
            7 | 8 => {
                let ty = self.pick(&ALL)?;
                let cmp = self.pick(&CMPS)?;
                let p = self.pick(&[4, 5])?;
                format!(
                    "setp.{cmp}.{ty} p{p}, {}, {}",
                    self.usrc(ty)?,
                    self.usrc(ty)?
                )
            }
            _ => {
                let op = self.pick(&["and", "or", "xor"])?;
                let (p, a, b) = (
                    self.pick(&[4, 5])?,
                    self.pick(&[4, 5])?,
                    self.pick(&[4, 5])?,
                );
                if self.u.arbitrary()? {
                    format!("{op}.pred p{p}, p{a}, p{b}")
                } else {
                    format!("not.pred p{p}, p{a}")
                }
            }
        };
        self.emit_guarded(&guard, &line);
        Ok(())
    }

    /// Index arithmetic into r12..r15: affine in the lane, mostly.
    fn affine(&mut self) -> Result<()> {
        let d = format!("r{}", self.u.int_in_range(12..=15)?);
        let ty = if self.ratio(1, 2)? {
            self.pick(&["u32", "u64"])?
        } else {
            self.pick(&INTS)?
        };
        let c = |g: &mut Self| -> Result<String> {
            let f = g.pick(&FACTORS)?;
            Ok(int_lit(ty, f))
        };
        let line = match self.u.int_in_range(0..=9)? {
            0 => format!("mov.{ty} {d}, {}", self.asrc()?),
            1 | 2 => {
                let op = self.pick(&["add", "sub"])?;
                let b = match self.u.int_in_range(0..=2)? {
                    0 => c(self)?,
                    1 => self.usrc(ty)?,
                    _ => self.asrc()?,
                };
                let a = self.asrc()?;
                if self.u.arbitrary()? {
                    format!("{op}.{ty} {d}, {a}, {b}")
                } else {
                    format!("{op}.{ty} {d}, {b}, {a}")
                }
            }
            3 => format!("mul.{ty} {d}, {}, {}", self.asrc()?, c(self)?),
            4 => format!("mul.{ty} {d}, {}, {}", c(self)?, self.asrc()?),
            5 => format!(
                "shl.{ty} {d}, {}, {}",
                self.asrc()?,
                self.u.int_in_range(0..=40u8)?
            ),
            6 => format!(
                "fma.{ty} {d}, {}, {}, {}",
                self.asrc()?,
                c(self)?,
                self.usrc(ty)?
            ),
            7 => {
                let ty = self.pick(&["i8", "i16", "i32", "i64"])?;
                format!("neg.{ty} {d}, {}", self.asrc()?)
            }
            8 => {
                let (to, from) = (self.pick(&INTS)?, self.pick(&INTS)?);
                format!("cvt.{to}.{from} {d}, {}", self.asrc()?)
            }
            _ => {
                // Not affine any more.
                let op = self.pick(&["and", "shr", "min", "max", "rem"])?;
                if op == "rem" {
                    let (a, b) = (self.asrc()?, self.usrc(ty)?);
                    self.divide(op, ty, &d, &a, &b, "r30")
                } else {
                    format!("{op}.{ty} {d}, {}, {}", self.asrc()?, c(self)?)
                }
            }
        };
        // A per-lane guard makes the register vary (still a valid program).
        let guard = if self.ratio(1, 16)? {
            self.guard_pred()?
        } else {
            String::new()
        };
        self.emit_guarded(&guard, &line);
        Ok(())
    }

    /// Computes `index * stride` into `reg`, in one of several ways that
    /// give the same value for every index in [`INDICES`].
    fn scaled(&mut self, reg: &str, index: &str, stride: u64) -> Result<()> {
        let text = match self.u.int_in_range(0..=4)? {
            0 if stride.is_power_of_two() => {
                format!("shl.u64 {reg}, {index}, {}", stride.trailing_zeros())
            }
            1 => format!("mul.u32 {reg}, {index}, {stride}"),
            2 => format!("cvt.u64.u32 {reg}, {index}\nmul.u64 {reg}, {reg}, {stride}"),
            3 if !index.starts_with('r') || index == "r32" => {
                // u16 is enough for lane indices below 1024 (times 16 at most).
                if index == "%laneid" || index.starts_with("%tid") {
                    format!("mul.u16 {reg}, {index}, {stride}")
                } else {
                    format!("mul.u64 {reg}, {index}, {stride}")
                }
            }
            _ => format!("mul.u64 {reg}, {index}, {stride}"),
        };
        self.emit(&text);
        Ok(())
    }

    /// A memory operand `[base + reg + off]` in one of the address forms
    /// (`reg` holds the index part; may use `tmp`).
    fn address(&mut self, base: &str, reg: &str, off: u64, tmp: &str) -> Result<String> {
        Ok(match self.u.int_in_range(0..=3)? {
            0 if off == 0 => format!("[{base}{reg}]"),
            1 => {
                let d = self.pick(&[1u64, 8, 24, 0x1000, 0xFFFF_FFFF])?;
                self.emit(&format!("add.u64 {tmp}, {reg}, {}", off + d));
                format!("[{base}{tmp} - {d}]")
            }
            2 => {
                self.emit(&format!("add.u64 {tmp}, {reg}, {off}"));
                format!("[{base}{tmp}]")
            }
            _ => format!("[{base}{reg} + {off}]"),
        })
    }

    /// A lane index and the `vout` region where the lane owns the element
    /// at that index, for elements of `size` bytes.
    fn vout_element(&mut self, size: u64) -> Result<(&'static str, u64)> {
        let (index, d) = self.pick(&[("%gid", 0), ("%gid", 0), ("r32", 0), ("r28", 1)])?;
        Ok((index, self.vout[2 * size.trailing_zeros() as usize + d]))
    }

    /// A load into data register `d`.
    fn load(&mut self, d: u8, guard: &str) -> Result<()> {
        let ty = self.pick(&ALL)?;
        let size = size_of(ty);
        let text = match self.u.int_in_range(0..=9)? {
            0..=3 => {
                // Contiguous or strided in the lane index.
                let index = self.pick(&INDICES)?;
                let stride = self.pick(&[size, size, size * 2, 16])?;
                self.scaled("r23", index, stride)?;
                let off = self.offset(size, 128)?;
                let a = self.address("inp + ", "r23", off, "r24")?;
                format!("ld.global.{ty} r{d}, {a}")
            }
            4 => {
                // Narrow index arithmetic that wraps below 256.
                let index = self.pick(&INDICES)?;
                let op = self.pick(&["mul", "shl"])?;
                let by = if op == "mul" {
                    size * u64::from(self.u.int_in_range(1..=9u8)?)
                } else {
                    u64::from(size.trailing_zeros()) + u64::from(self.u.int_in_range(0..=3u8)?)
                };
                self.emit(&format!("{op}.u8 r23, {index}, {by}"));
                if self.u.arbitrary()? {
                    let add = size * u64::from(self.u.int_in_range(0..=255u8)?);
                    self.emit(&format!("add.u8 r23, r23, {}", add % 256));
                }
                format!("ld.global.{ty} r{d}, [inp + r23]")
            }
            5 => {
                // A gather: the address comes from data.
                let a = self.data()?;
                self.emit(&format!("and.u64 r30, r{a}, 0x1F8"));
                let off = self.offset(size, 128)?;
                let a = self.address("inp + ", "r30", off, "r24")?;
                format!("ld.global.{ty} r{d}, {a}")
            }
            6 => {
                let off = self.offset(size, 512)?;
                if off == 0 && self.u.arbitrary()? {
                    format!("ld.global.{ty} r{d}, [inp]")
                } else {
                    format!("ld.global.{ty} r{d}, [inp + {off}]")
                }
            }
            7 => {
                self.emit("shl.u64 r23, %gid, 3");
                format!("ld.global.u64 r{d}, [edge + r23]")
            }
            8 => {
                // The lane's own shared slot or `out` slot.
                if self.u.arbitrary()? {
                    let off = self.offset(size, SHARED_SLOT)?;
                    let a = self.address("", "r27", off, "r24")?;
                    format!("ld.shared.{ty} r{d}, {a}")
                } else {
                    let off = self.offset(size, OUT_SLOT)?;
                    let a = self.address("out + ", "r31", off, "r24")?;
                    format!("ld.global.{ty} r{d}, {a}")
                }
            }
            _ => {
                // The lane's own element of `vout`.
                let (index, r) = self.vout_element(size)?;
                self.scaled("r26", index, size)?;
                let a = self.address("vout + ", "r26", r, "r24")?;
                format!("ld.global.{ty} r{d}, {a}")
            }
        };
        self.emit(&format!("{guard}{text}"));
        Ok(())
    }

    /// A store to memory only this lane writes.
    fn store(&mut self, guard: &str) -> Result<()> {
        let ty = self.pick(&ALL)?;
        let size = size_of(ty);
        let v = self.src(ty)?;
        let text = match self.u.int_in_range(0..=7)? {
            0 | 1 => {
                let off = self.offset(size, OUT_SLOT)?;
                let a = self.address("out + ", "r31", off, "r25")?;
                format!("st.global.{ty} {a}, {v}")
            }
            2 | 3 => {
                // Contiguous: a vector store on the gang tier.
                let (index, r) = self.vout_element(size)?;
                self.scaled("r26", index, size)?;
                let a = self.address("vout + ", "r26", r, "r25")?;
                format!("st.global.{ty} {a}, {v}")
            }
            4 => {
                let off = self.offset(size, self.own_shared())?;
                let a = self.address("", "r27", off, "r25")?;
                format!("st.shared.{ty} {a}, {v}")
            }
            5 => {
                // One lane, at a constant address (inside its own slot).
                let off = self.offset(size, self.own_shared())?;
                let at = self.m * SHARED_SLOT + off;
                self.emit(&format!("@p9 st.shared.{ty} [{at}], {v}"));
                let off = self.lane * OUT_SLOT + self.offset(size, OUT_SLOT)?;
                if off == 0 {
                    self.emit(&format!("@p8 st.global.{ty} [out], {v}"));
                } else {
                    self.emit(&format!("@p8 st.global.{ty} [out + {off}], {v}"));
                }
                return Ok(());
            }
            6 => {
                self.emit("shl.u64 r23, %gid, 3");
                let v = self.src("u64")?;
                format!("st.global.u64 [edge + r23], {v}")
            }
            _ => {
                let off = self.offset(size, OUT_SLOT)?;
                format!("st.global.{ty} [out + r31 + {off}], {v}")
            }
        };
        self.emit(&format!("{guard}{text}"));
        Ok(())
    }

    /// An atomic on lane-private memory, or an order-independent counter.
    fn atomic(&mut self, guard: &str) -> Result<()> {
        let d = self.data()?;
        let cas = self.ratio(1, 4)?;
        let ty = if cas {
            self.pick(&CAS)?
        } else {
            self.pick(&ATOM)?
        };
        let size = size_of(ty);
        let op = if cas {
            "cas".to_string()
        } else {
            self.pick(&["add", "min", "max", "exch"])?.to_string()
        };
        let operands = |g: &mut Self| -> Result<String> {
            Ok(if cas {
                format!("{}, {}", g.src(ty)?, g.src(ty)?)
            } else {
                g.src(ty)?
            })
        };
        let text = match self.u.int_in_range(0..=5)? {
            0 | 1 => {
                let off = self.offset(size, OUT_SLOT)?;
                let a = self.address("out + ", "r31", off, "r25")?;
                format!("atom.global.{op}.{ty} r{d}, {a}, {}", operands(self)?)
            }
            2 => {
                let (index, r) = self.vout_element(size)?;
                self.scaled("r26", index, size)?;
                let a = self.address("vout + ", "r26", r, "r25")?;
                format!("atom.global.{op}.{ty} r{d}, {a}, {}", operands(self)?)
            }
            3 => {
                let off = self.offset(size, self.own_shared())?;
                let a = self.address("", "r27", off, "r25")?;
                format!("atom.shared.{op}.{ty} r{d}, {a}, {}", operands(self)?)
            }
            4 if matches!(self.bars, Bars::Uniform | Bars::Lockstep) => {
                let at = self.shared_bytes - 8;
                match self.u.int_in_range(0..=1)? {
                    0 => format!("atom.shared.add.u32 r29, [{at}], {}", self.src("u32")?),
                    _ => format!(
                        "atom.shared.max.i32 r29, [{}], {}",
                        at + 4,
                        self.src("i32")?
                    ),
                }
            }
            _ => match self.u.int_in_range(0..=2)? {
                0 => format!(
                    "atom.global.add.u64 r29, [counter + 8], {}",
                    self.src("u64")?
                ),
                1 => format!("atom.global.max.u32 r29, [counter], {}", self.src("u32")?),
                _ => format!(
                    "atom.global.min.i32 r29, [counter + 4], {}",
                    self.src("i32")?
                ),
            },
        };
        self.emit(&format!("{guard}{text}"));
        Ok(())
    }

    /// An operation that may fault, as the case's [`Faults`] allows.
    fn wild(&mut self) -> Result<()> {
        let ty = self.pick(&ALL)?;
        let size = size_of(ty);
        let d = self.data()?;
        let a = self.data()?;
        match self.faults {
            Faults::Memory => {
                let guard = if self.ratio(1, 3)? {
                    self.guard_pred()?
                } else {
                    String::new()
                };
                let off = self.u.int_in_range(0..=130u64)?;
                let text = match self.u.int_in_range(0..=6)? {
                    0 => format!("ld.global.{ty} r{d}, [inp + r{a} + {off}]"),
                    1 => {
                        let v = self.src(ty)?;
                        format!("st.global.{ty} [junk + r{a}], {v}")
                    }
                    2 => {
                        // A contiguous access past the end of `junk` in
                        // some lanes, or misaligned.
                        let index = self.pick(&INDICES)?;
                        self.scaled("r23", index, size)?;
                        let v = self.src(ty)?;
                        format!("st.global.{ty} [junk + r23 + {off}], {v}")
                    }
                    3 => {
                        let index = self.pick(&INDICES)?;
                        let stride = self.pick(&[size, 16])?;
                        self.scaled("r23", index, stride)?;
                        format!("ld.global.{ty} r{d}, [inp + r23 + {off}]")
                    }
                    4 => {
                        // Signed narrow index arithmetic: negative offsets.
                        let index = self.pick(&INDICES)?;
                        self.emit(&format!("mul.i8 r23, {index}, {}", size * 3));
                        format!("ld.global.{ty} r{d}, [inp + r23]")
                    }
                    5 => {
                        let at = self.shared_bytes - size + self.u.int_in_range(1..=8u64)?;
                        format!("ld.shared.{ty} r{d}, [{at}]")
                    }
                    _ => {
                        // Data plus a lane index.
                        let index = self.pick(&INDICES)?;
                        let stride = self.pick(&[1, size, 8])?;
                        self.scaled("r23", index, stride)?;
                        self.emit(&format!("add.u64 r23, r23, r{a}"));
                        format!("ld.global.{ty} r{d}, [inp + r23 + {off}]")
                    }
                };
                self.emit(&format!("{guard}{text}"));
            }
            Faults::OneLane => {
                let text = match self.u.int_in_range(0..=4)? {
                    0 => format!("@p8 ld.global.{ty} r{d}, [inp + r{a}]"),
                    1 => {
                        let v = self.src(ty)?;
                        format!("@p8 st.global.{ty} [junk + r{a}], {v}")
                    }
                    2 => {
                        let ty = self.pick(&INTS)?;
                        let op = self.pick(&["div", "rem"])?;
                        format!("@p8 {op}.{ty} r{d}, {}, r{a}", self.src(ty)?)
                    }
                    3 => {
                        // Past any shared memory: out of bounds.
                        self.emit(&format!("or.u64 r30, r{a}, 0x10000"));
                        format!("@p8 ld.shared.{ty} r{d}, [r30]")
                    }
                    _ => {
                        let off = self.u.int_in_range(0..=7u64)?;
                        self.emit(&format!("mul.u64 r23, %gid, {size}"));
                        format!("@p8 ld.global.{ty} r{d}, [inp + r23 + {off}]")
                    }
                };
                self.emit(&text);
            }
            Faults::Division => {
                let ty = self.pick(&INTS)?;
                let op = self.pick(&["div", "rem"])?;
                let text = if self.ratio(1, 4)? {
                    format!("{op}.{ty} r{d}, {}, {}", self.src(ty)?, self.usrc(ty)?)
                } else {
                    format!("{op}.{ty} r{d}, {}, r{a}", self.src(ty)?)
                };
                self.emit(&text);
            }
            Faults::None | Faults::Steps => {}
        }
        Ok(())
    }

    /// Statements of a body; `uniform`: control here is the same in every
    /// lane of the block.
    fn body(&mut self, depth: u32, uniform: bool) -> Result<()> {
        let n = self.u.int_in_range(1..=10)?;
        let lockstep = self.lockstep();
        for _ in 0..n {
            // Room for the longest statement (a loop header counts once).
            if self.cost + 8 * self.mult > self.limit
                || self.u.is_empty()
                || (lockstep && self.bbs > MAX_BBS)
            {
                return Ok(());
            }
            let guard = if self.ratio(1, 5)? {
                self.guard_pred()?
            } else {
                String::new()
            };
            match self.u.int_in_range(0..=24)? {
                0..=3 => {
                    let d = self.data()?;
                    let line = self.alu(d)?;
                    self.emit_guarded(&guard, &line);
                }
                4 => {
                    let line = self.lane_pred()?;
                    self.emit(&line);
                }
                5 | 6 if uniform => self.uniform()?,
                7 | 8 => self.affine()?,
                9 | 10 => {
                    let d = self.data()?;
                    self.load(d, &guard)?;
                }
                11 | 12 => self.store(&guard)?,
                13 => self.atomic(&guard)?,
                14 if depth < 2 => {
                    // A branch the whole block takes or not.
                    self.labels += 1;
                    let skip = format!("skip{}", self.labels);
                    if self.ratio(1, 2)? && uniform {
                        self.uniform()?;
                    }
                    let neg = self.pick(&["", "!"])?;
                    let p = self.pick(&[4, 5])?;
                    self.emit(&format!("@{neg}p{p} bra {skip}"));
                    self.body(depth + 1, uniform)?;
                    self.label(&skip);
                }
                15 if depth < 2 && !self.in_loop => {
                    // A loop the whole block runs as often.
                    let src = self.usrc("u32")?;
                    if lockstep {
                        self.halving_loop(depth, &src, uniform)?;
                    } else {
                        self.counted_loop(depth, &src, uniform)?;
                    }
                }
                16 if (self.lane_mode || lockstep) && depth < 2 => {
                    self.labels += 1;
                    let skip = format!("skip{}", self.labels);
                    let neg = self.pick(&["", "!"])?;
                    let p = self.u.int_in_range(0..=3)?;
                    self.emit(&format!("@{neg}p{p} bra {skip}"));
                    self.body(depth + 1, false)?;
                    self.label(&skip);
                }
                17 if (self.lane_mode || lockstep) && depth < 2 && !self.in_loop => {
                    let src = format!("r{}", self.data()?);
                    if lockstep {
                        self.halving_loop(depth, &src, false)?;
                    } else {
                        self.counted_loop(depth, &src, false)?;
                    }
                }
                18 if self.bars == Bars::Divergent || (self.bars == Bars::Uniform && uniform) => {
                    // Exchange through shared memory: write; barrier; read;
                    // barrier (only reads between the two).
                    let src = self.src("u64")?;
                    let dst = self.data()?;
                    let read = if self.bars == Bars::Uniform {
                        "r34"
                    } else {
                        "r27"
                    };
                    self.emit(&format!("st.shared.u64 [r27], {src}"));
                    self.emit("bar.sync");
                    self.emit(&format!("ld.shared.u64 r{dst}, [{read}]"));
                    self.emit("bar.sync");
                }
                19 if self.bars == Bars::Divergent => self.emit("bar.sync"),
                20 if self.ratio(1, 3)? => {
                    let p = self.pick(&[0u8, 1, 2, 3, 8, 9])?;
                    let neg = self.pick(&["", "!"])?;
                    // (Lockstep programs: a branch to the end would put
                    // every later barrier in per-lane control.)
                    if self.ratio(1, 4)? && !lockstep {
                        self.emit(&format!("@{neg}p{p} bra done"));
                    } else {
                        self.emit(&format!("@{neg}p{p} exit"));
                    }
                }
                21 | 22 => self.wild()?,
                _ => {
                    let d = self.data()?;
                    let line = self.alu(d)?;
                    self.emit(&line);
                }
            }
        }
        Ok(())
    }

    /// A loop running its body `src & 3` times, counted in `r20 + depth`.
    fn counted_loop(&mut self, depth: u32, src: &str, uniform: bool) -> Result<()> {
        self.labels += 1;
        let (top, end) = (format!("top{}", self.labels), format!("end{}", self.labels));
        let c = 20 + depth;
        self.emit(&format!("and.u32 r{c}, {src}, 3"));
        let outer = self.mult;
        self.mult *= 4;
        self.label(&top);
        self.emit(&format!("setp.eq.u32 p7, r{c}, 0\n@p7 bra {end}"));
        self.body(depth + 1, uniform)?;
        self.emit(&format!("sub.u32 r{c}, r{c}, 1\nbra {top}"));
        self.mult = outer;
        self.label(&end);
        Ok(())
    }

    /// Starts the body of a halving loop whose test a lane visits at most
    /// `trips` times; returns what [`JitGen::leave_loop`] restores.
    fn enter_loop(&mut self, trips: u64) -> (u64, u64) {
        let saved = (self.mult, self.smult);
        self.mult *= trips;
        self.smult = HALVING_TRIPS;
        self.in_loop = true;
        saved
    }

    fn leave_loop(&mut self, (mult, smult): (u64, u64)) {
        self.mult = mult;
        self.smult = smult;
        self.in_loop = false;
    }

    /// The test at the top of halving loop `n` that leaves it (for
    /// `end{n}`) when `r` is zero, in one of the forms the JIT knows. The
    /// form whose branch stays in the loop only for an `invariant` count:
    /// otherwise the lanes that branch wait at the loop's body while the
    /// others leave it, and the JIT takes the rest of the kernel for
    /// per-lane control (no barrier in lockstep after it).
    fn zero_test(&mut self, r: &str, p: &str, n: u32, invariant: bool) -> Result<()> {
        let ty = self.pick(&["u32", "u32", "u64", "u16"])?;
        let forms = if invariant { 3 } else { 2 };
        match self.u.int_in_range(0..=forms)? {
            0 | 1 => self.emit(&format!("setp.eq.{ty} {p}, {r}, 0\n@{p} bra end{n}")),
            2 => self.emit(&format!("setp.ne.{ty} {p}, {r}, 0\n@!{p} bra end{n}")),
            _ => {
                // The branch stays in the loop and the fall-through leaves
                // it: that jump is outside the loop, run once.
                self.emit(&format!("setp.ne.{ty} {p}, {r}, 0\n@{p} bra body{n}"));
                let smult = std::mem::replace(&mut self.smult, 1);
                self.emit(&format!("bra end{n}"));
                self.smult = smult;
                self.label(&format!("body{n}"));
            }
        }
        Ok(())
    }

    /// The instruction that at least halves `r` each trip: a logical right
    /// shift by an amount that is not 0 modulo its width (33 for u32 is 1).
    fn halve(&mut self, r: &str) -> Result<String> {
        let (ty, c) = self.pick(&[
            ("u32", 1),
            ("u32", 1),
            ("u32", 1),
            ("u32", 2),
            ("u32", 33),
            ("u64", 1),
            ("u64", 3),
            ("u16", 1),
            ("u8", 1),
        ])?;
        Ok(format!("shr.{ty} {r}, {r}, {c}"))
    }

    /// A barrier-free halving loop (lockstep programs), its count `src` as
    /// a u32 in r48.
    fn halving_loop(&mut self, depth: u32, src: &str, uniform: bool) -> Result<()> {
        self.labels += 1;
        let n = self.labels;
        self.emit(&format!("mov.u32 r48, {src}"));
        let saved = self.enter_loop(WIDE_TRIPS);
        self.label(&format!("top{n}"));
        self.zero_test("r48", "p14", n, false)?;
        self.body(depth + 1, uniform)?;
        let halve = self.halve("r48")?;
        self.emit(&format!("{halve}\nbra top{n}"));
        self.leave_loop(saved);
        self.label(&format!("end{n}"));
        Ok(())
    }

    /// Whether a protocol whose loop runs at most `trips` trips still fits
    /// the step budget and the basic blocks left.
    fn room(&self, trips: u64) -> bool {
        self.cost + 24 * trips * self.mult <= self.limit && self.bbs + 20 <= MAX_BBS
    }

    /// The lane's index in the block: as the JIT recognizes it (`%laneid`,
    /// `%tid.x` in a flat block, r35 written once from one of them in the
    /// entry block) or not (r46, the same value from an `add`).
    fn lane_index(&mut self) -> Result<&'static str> {
        Ok(match self.u.int_in_range(0..=5)? {
            0 => "%laneid",
            1 if self.flat => "%tid.x",
            2 => "r46",
            _ => "r35",
        })
    }

    /// The block's lanes: an immediate, or r42 (computed from `%ntid`).
    fn block_lanes(&mut self) -> Result<String> {
        Ok(if self.u.arbitrary()? {
            self.lanes.to_string()
        } else {
            "r42".to_string()
        })
    }

    /// Work at the start of protocol loop `n`'s trip, before its test: none;
    /// pure (scratch and block-invariant registers only, so the JIT may
    /// still end the pass at the test); or not (work whose repeats show:
    /// data registers folded with `s`, counters; and more, memory, exits),
    /// in the test's basic block or in blocks of its own before it, or in
    /// a per-lane branch.
    fn before_test(&mut self, n: u32) -> Result<()> {
        let pure = |g: &mut Self| -> Result<()> {
            for _ in 0..g.u.int_in_range(1..=3)? {
                let line = g.pick(&[
                    "add.u32 r38, r35, r36",
                    "mul.u32 r47, r36, 3",
                    "setp.lt.u32 p13, r35, r36",
                    "add.u32 r40, r40, 1",
                    "xor.u32 r41, r41, r36",
                    "shl.u32 r38, r36, 2",
                ])?;
                g.emit(line);
            }
            Ok(())
        };
        let impure = |g: &mut Self, uniform: bool| -> Result<()> {
            let d = g.data()?;
            let at = g.shared_bytes - 8;
            let line = match g.u.int_in_range(0..=4)? {
                0 => format!("add.u32 r{d}, r{d}, r36"),
                1 => format!("xor.u64 r{d}, r{d}, r36"),
                2 => format!("mul.u64 r{d}, r{d}, 3"),
                3 => "atom.global.add.u64 r29, [counter + 8], r36".to_string(),
                _ => format!("atom.shared.add.u32 r29, [{at}], 1"),
            };
            g.emit(&line);
            if g.u.arbitrary()? {
                g.body(2, uniform)?;
            }
            Ok(())
        };
        let test = format!("test{n}");
        match self.u.int_in_range(0..=7)? {
            0 => {}
            1 => pure(self)?,
            2 => {
                pure(self)?;
                self.emit(&format!("bra {test}"));
                self.label(&test);
            }
            3 => impure(self, true)?,
            4 | 5 => {
                impure(self, true)?;
                self.emit(&format!("bra {test}"));
                self.label(&test);
            }
            _ => {
                let neg = self.pick(&["", "!"])?;
                let p = self.u.int_in_range(0..=3)?;
                self.emit(&format!("@{neg}p{p} bra {test}"));
                impure(self, false)?;
                self.label(&test);
            }
        }
        Ok(())
    }

    /// A tree reduction of a data register over the second words of the
    /// block's shared slots: lanes below `s` fold slot `lane + s` into
    /// their own (or lanes from `lanes - s` on fold `lane - s`), `s` halving
    /// from at most half the block's lanes, a barrier per trip; then every
    /// lane reads the result. The lanes that skip a trip's work branch to
    /// its barrier: a suffix of the block's lanes (the JIT may end the pass
    /// at the first gang of them), or a prefix.
    fn tree(&mut self) -> Result<()> {
        if !self.room(LANE_TRIPS) {
            return Ok(());
        }
        self.labels += 1;
        let n = self.labels;
        let lanes = self.lanes;
        let reg = self.data()?;
        let up = self.ratio(1, 3)?;
        let lane = self.lane_index()?;
        let count = self.block_lanes()?;
        self.emit(&format!("st.shared.u64 [r27 + 8], r{reg}\nbar.sync"));
        let start = match self.u.int_in_range(0..=3)? {
            0 => format!("mov.u32 r36, {count}\nshr.u32 r36, r36, 1"),
            1 if self.flat => "shr.u32 r36, %ntid.x, 1".to_string(),
            2 => format!("min.u32 r36, r40, {}", lanes / 2),
            _ => format!("shr.u32 r36, {count}, 1"),
        };
        self.emit(&start);
        let saved = self.enter_loop(LANE_TRIPS);
        self.label(&format!("top{n}"));
        self.zero_test("r36", "p10", n, true)?;
        if up {
            self.emit(&format!("sub.u32 r39, {count}, r36"));
        }
        self.before_test(n)?;
        // Branch when `lane >= s` (or, `up`, when `lane < lanes - s`).
        let ty = self.pick(&["u32", "u32", "u32", "u64", "i32", "i64", "u16"])?;
        let bound = if up { "r39" } else { "r36" };
        let test = if !up && self.ratio(1, 5)? {
            // Against s - 1.
            let neg = self.pick(&["", "!"])?;
            let cmp = if neg.is_empty() { "gt" } else { "le" };
            format!("sub.u32 r49, r36, 1\nsetp.{cmp}.{ty} p11, {lane}, r49\n@{neg}p11 bra trip{n}")
        } else {
            let (cmp, swapped) =
                self.pick(&[("lt", false), ("ge", false), ("gt", true), ("le", true)])?;
            // p means `lane >= bound` for these two, `lane < bound` else.
            let p_ge = cmp == "ge" || cmp == "le";
            let neg = if p_ge != up { "" } else { "!" };
            let (a, b) = if swapped {
                (bound, lane)
            } else {
                (lane, bound)
            };
            format!("setp.{cmp}.{ty} p11, {a}, {b}\n@{neg}p11 bra trip{n}")
        };
        self.emit(&test);
        let op = if up { "sub" } else { "add" };
        let fold = self.pick(&FOLDS)?;
        self.emit(&format!(
            "{op}.u32 r37, {lane}, r36\nshl.u32 r37, r37, 4\nld.shared.u64 r38, [r37 + 8]\n\
             ld.shared.u64 r47, [r27 + 8]\n{fold} r47, r47, r38\nst.shared.u64 [r27 + 8], r47"
        ));
        self.label(&format!("trip{n}"));
        self.emit("bar.sync");
        let halve = self.halve("r36")?;
        self.emit(&format!("{halve}\nbra top{n}"));
        self.leave_loop(saved);
        self.label(&format!("end{n}"));
        let result = if up { (lanes - 1) * SHARED_SLOT + 8 } else { 8 };
        self.emit(&format!("ld.shared.u64 r{reg}, [{result}]\nbar.sync"));
        Ok(())
    }

    /// A halving loop with a barrier per trip that folds other lanes' slots
    /// (second words) into a data register, on a test of any kind (the
    /// lane's index, data, `%gid`): no second word is written in the loop,
    /// so it is race-free whichever lanes run a trip.
    fn reduce(&mut self) -> Result<()> {
        let (start, trips) = match self.u.int_in_range(0..=5)? {
            0 => (self.lanes.to_string(), LANE_TRIPS),
            1 => ("r42".to_string(), LANE_TRIPS),
            2 => ("%ntid.x".to_string(), LANE_TRIPS),
            3 => ("r40".to_string(), WIDE_TRIPS),
            4 => ("r41".to_string(), WIDE_TRIPS),
            _ => ("k".to_string(), WIDE_TRIPS),
        };
        if !self.room(trips) {
            return Ok(());
        }
        self.labels += 1;
        let n = self.labels;
        let acc = self.data()?;
        let value = match self.u.int_in_range(0..=3)? {
            0 => "r35".to_string(),
            1 => "%gid".to_string(),
            _ => format!("r{}", self.data()?),
        };
        self.emit(&format!(
            "st.shared.u64 [r27 + 8], {value}\nbar.sync\nmov.u32 r36, {start}"
        ));
        if self.u.arbitrary()? {
            self.emit("shr.u32 r36, r36, 1");
        }
        let saved = self.enter_loop(trips);
        self.label(&format!("top{n}"));
        self.zero_test("r36", "p10", n, true)?;
        self.before_test(n)?;
        let a = match self.u.int_in_range(0..=3)? {
            0 | 1 => self.lane_index()?.to_string(),
            2 => format!("r{}", self.data()?),
            _ => "%gid".to_string(),
        };
        let cmp = self.pick(&CMPS)?;
        let ty = self.pick(&["u32", "u64", "i32"])?;
        let (x, y) = if self.u.arbitrary()? {
            (a.as_str(), "r36")
        } else {
            ("r36", a.as_str())
        };
        let neg = self.pick(&["", "!"])?;
        self.emit(&format!(
            "setp.{cmp}.{ty} p11, {x}, {y}\n@{neg}p11 bra trip{n}"
        ));
        let index = match self.u.int_in_range(0..=3)? {
            0 | 1 => self.lane_index()?.to_string(),
            2 => "r46".to_string(),
            _ => format!("r{}", self.data()?),
        };
        let count = self.block_lanes()?;
        let fold = self.pick(&FOLDS)?;
        self.emit(&format!(
            "add.u32 r37, {index}, r36\nrem.u32 r37, r37, {count}\nmul.u32 r37, r37, 16\n\
             ld.shared.u64 r38, [r37 + 8]\n{fold} r{acc}, r{acc}, r38"
        ));
        if self.u.arbitrary()? {
            self.emit(&format!("xor.u64 r{acc}, r{acc}, r36"));
        }
        if self.u.arbitrary()? {
            self.body(2, false)?;
        }
        self.label(&format!("trip{n}"));
        self.emit("bar.sync");
        let halve = self.halve("r36")?;
        self.emit(&format!("{halve}\nbra top{n}"));
        self.leave_loop(saved);
        self.label(&format!("end{n}"));
        // The last trip's reads came before its barrier: a closing one is
        // optional.
        if self.u.arbitrary()? {
            self.emit("bar.sync");
        }
        Ok(())
    }

    /// A neighbour exchange: each lane stores to its slot's second word;
    /// barrier; (work that stores to no second word;) it reads another
    /// lane's; barrier.
    fn exchange(&mut self) -> Result<()> {
        if !self.room(1) {
            return Ok(());
        }
        let value = match self.u.int_in_range(0..=3)? {
            0 => "r40".to_string(),
            1 => "r35".to_string(),
            _ => format!("r{}", self.data()?),
        };
        let to = self.data()?;
        self.emit(&format!("st.shared.u64 [r27 + 8], {value}\nbar.sync"));
        if self.ratio(1, 3)? {
            self.body(2, true)?;
        }
        let lane = self.lane_index()?;
        let count = self.block_lanes()?;
        let last = self.lanes - 1;
        let index = match self.u.int_in_range(0..=3)? {
            0 => {
                let off = self.pick(&[1, 2, 3, 5, last])?;
                format!("add.u32 r37, {lane}, {off}\nrem.u32 r37, r37, {count}")
            }
            1 => {
                let off = self.pick(&["r40", "r41", "r43"])?;
                format!("add.u32 r37, {lane}, {off}\nrem.u32 r37, r37, {count}")
            }
            2 => format!("sub.u32 r37, {last}, {lane}"),
            _ => format!("xor.u32 r37, {lane}, 1\nmin.u32 r37, r37, {last}"),
        };
        self.emit(&index);
        self.emit(&format!(
            "shl.u32 r37, r37, 4\nld.shared.u64 r{to}, [r37 + 8]\nbar.sync"
        ));
        Ok(())
    }

    /// Redefinitions of block-invariant registers, maybe read into data.
    fn invariant_lines(&mut self) -> Result<()> {
        for _ in 0..self.u.int_in_range(1..=3)? {
            let line = self.pick(&INVARIANT_LINES)?;
            self.emit(line);
        }
        if self.u.arbitrary()? {
            let d = self.data()?.to_string();
            let read = self.pick(&INVARIANT_READS)?.replace("{d}", &d);
            self.emit(&read);
        }
        Ok(())
    }

    /// Lanes that leave: on data, a suffix of the block (whole gangs), a
    /// row, a per-lane predicate, or every lane but one (after a barrier:
    /// exits that may end the block's later gangs).
    fn lane_exit(&mut self) -> Result<()> {
        let line = match self.u.int_in_range(0..=4)? {
            0 => {
                let d = self.data()?;
                let cmp = self.pick(&CMPS)?;
                let v = self.u.int_in_range(0..=64u32)?;
                format!("setp.{cmp}.u32 p13, r{d}, {v}\n@p13 exit")
            }
            1 => {
                let from = self.u.int_in_range(0..=self.lanes)?;
                format!("setp.ge.u32 p13, %laneid, {from}\n@p13 exit")
            }
            2 => {
                let row = self.u.int_in_range(0..=2u32)?;
                format!("setp.eq.u32 p13, %tid.y, {row}\n@p13 exit")
            }
            3 => {
                let neg = self.pick(&["", "!"])?;
                let p = self.u.int_in_range(0..=3)?;
                format!("@{neg}p{p} exit")
            }
            _ => {
                let index = self.lane_index()?;
                let keep = self.u.int_in_range(0..=self.lanes)?;
                let (cmp, neg) = if self.u.arbitrary()? {
                    ("ne", "")
                } else {
                    ("eq", "!")
                };
                format!("bar.sync\nsetp.{cmp}.u32 p13, {index}, {keep}\n@{neg}p13 exit")
            }
        };
        self.emit(&line);
        Ok(())
    }

    /// An `if` between barriers on a per-lane predicate, a row of the block
    /// (the same in a gang when rows are multiples of 4 lanes, but not in
    /// the whole block), or a block-uniform one loaded from memory (the
    /// JIT cannot tell it is invariant).
    fn lane_if(&mut self) -> Result<()> {
        self.labels += 1;
        let skip = format!("skip{}", self.labels);
        let neg = self.pick(&["", "!"])?;
        let (guard, uniform) = match self.u.int_in_range(0..=3)? {
            0 | 1 => (format!("@{neg}p{}", self.u.int_in_range(0..=3)?), false),
            2 => {
                let row = self.u.int_in_range(1..=2u32)?;
                self.emit(&format!("setp.lt.u32 p13, %tid.y, {row}"));
                (format!("@{neg}p13"), false)
            }
            _ => (format!("@{neg}p{}", self.pick(&[4, 5])?), true),
        };
        self.emit(&format!("{guard} bra {skip}"));
        self.body(1, uniform)?;
        self.label(&skip);
        Ok(())
    }

    /// An `if` on a block-invariant predicate around a protocol or
    /// invariant redefinitions and a barrier: every lane of a block takes
    /// the same way (blocks may differ, on `%ctaid.x`), so the barriers in
    /// it are still met in lockstep.
    fn invariant_if(&mut self) -> Result<()> {
        if !self.room(LANE_TRIPS) {
            return Ok(());
        }
        self.labels += 1;
        let skip = format!("skip{}", self.labels);
        let a = self.pick(&["r40", "r41", "r43", "%ctaid.x", "k", "%nctaid.y"])?;
        let b = if self.u.arbitrary()? {
            self.u.int_in_range(0..=8u32)?.to_string()
        } else {
            self.pick(&["r40", "r41", "r43"])?.to_string()
        };
        let cmp = self.pick(&CMPS)?;
        let neg = self.pick(&["", "!"])?;
        self.emit(&format!(
            "setp.{cmp}.u32 p12, {a}, {b}\n@{neg}p12 bra {skip}"
        ));
        match self.u.int_in_range(0..=3)? {
            0 => self.tree()?,
            1 => self.reduce()?,
            2 => self.exchange()?,
            _ => {
                self.invariant_lines()?;
                self.emit("bar.sync");
            }
        }
        self.label(&skip);
        Ok(())
    }

    /// The body of a lockstep program: gang-shaped stretches between
    /// protocols, invariant redefinitions, exits, branches and barriers. An
    /// input that has run out (zeros from here on) still gets a tree
    /// reduction: short inputs, where a fuzzer starts, reach the lockstep
    /// scheme too.
    fn lockstep_body(&mut self) -> Result<()> {
        let n = self.u.int_in_range(1..=8)?;
        for _ in 0..n {
            if self.cost + 8 * self.mult > self.limit || self.bbs > MAX_BBS {
                break;
            }
            match self.u.int_in_range(0..=15)? {
                0..=2 => self.tree()?,
                3..=5 => self.body(1, true)?,
                6 | 7 => self.reduce()?,
                8 | 9 => self.exchange()?,
                10 | 11 => self.invariant_lines()?,
                12 => self.lane_exit()?,
                13 => self.lane_if()?,
                14 => self.invariant_if()?,
                _ => self.emit("bar.sync"),
            }
        }
        Ok(())
    }
}

/// A block shape: 1-D, 2-D or 3-D, x a multiple of 4 or not.
fn block_shape(u: &mut Unstructured<'_>) -> Result<Dim3> {
    if u.ratio(1, 32)? {
        return Ok(Dim3::x(*u.choose(&[128, 256, 1024])?));
    }
    let x = if u.arbitrary()? {
        4 * u.int_in_range(1..=10)?
    } else {
        u.int_in_range(1..=40)?
    };
    Ok(match u.int_in_range(0..=2)? {
        0 => Dim3::x(x),
        1 => Dim3::new(x, u.int_in_range(2..=3)?, 1),
        _ => Dim3::new(x, u.int_in_range(1..=3)?, 2),
    })
}

/// What a [`JitCase`]'s program is made of (see the module docs).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Gang,
    Lane,
    Lockstep,
}

impl<'a> Arbitrary<'a> for JitCase {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        generate(u, None)
    }
}

/// A lockstep case (see the module docs), for tests that want only those.
pub fn lockstep_case(u: &mut Unstructured<'_>) -> Result<JitCase> {
    generate(u, Some(Mode::Lockstep))
}

/// A case, of the mode the input picks unless `mode` says.
fn generate(u: &mut Unstructured<'_>, mode: Option<Mode>) -> Result<JitCase> {
    let block = block_shape(u)?;
    let lanes = block.count() as u64;
    let grid = if lanes > 256 {
        Dim3::x(1)
    } else {
        Dim3::new(
            u.int_in_range(1..=3)?,
            u.int_in_range(1..=2)?,
            u.int_in_range(1..=2)?,
        )
    };
    let total = (grid.count() * block.count()) as u64;
    let faults = *u.choose(&[
        Faults::None,
        Faults::None,
        Faults::Memory,
        Faults::OneLane,
        Faults::Division,
        Faults::Steps,
    ])?;
    // One byte. Before lockstep programs, `byte % 4 == 0` picked the
    // one-lane mode: half of those and an eighth of the others are now
    // lockstep ones, and the rest mean what they meant.
    let mode = match mode {
        Some(mode) => mode,
        None => match u.int_in_range(0..=15u8)? {
            0 | 8 => Mode::Lane,
            2 | 4 | 10 | 12 => Mode::Lockstep,
            _ => Mode::Gang,
        },
    };
    let lane_mode = mode == Mode::Lane;
    let bars = match mode {
        Mode::Lane => *u.choose(&[Bars::No, Bars::Uniform, Bars::Divergent])?,
        Mode::Lockstep => Bars::Lockstep,
        Mode::Gang => Bars::No,
    };
    let lane = u.int_in_range(0..=total - 1)?;
    let m = u.int_in_range(0..=lanes - 1)?;
    let shared_bytes = lanes * SHARED_SLOT + 8;
    let (vout, _) = vout_regions(total);
    let mut g = JitGen {
        u,
        out: String::new(),
        faults,
        lane_mode,
        bars,
        labels: 0,
        cost: 0,
        // About a million reference-engine steps per case at most.
        limit: (1_000_000 / total).clamp(300, 4000),
        mult: 1,
        steps_bound: 0,
        smult: 1,
        in_loop: false,
        bbs: 0,
        lanes,
        flat: block.y == 1 && block.z == 1,
        shared_bytes,
        vout,
        lane,
        m,
    };
    let _ = writeln!(
        g.out,
        ".kernel gen\n.param inp buf\n.param out buf\n.param vout buf\n.param edge buf\n\
         .param junk buf\n.param counter buf\n.param k u32\n.param s i64\n.param x f64\n\
         .shared {shared_bytes}"
    );
    g.emit(&format!(
        "mov.u64 r31, %gid\nmul.u64 r31, r31, {OUT_SLOT}\nmov.u32 r27, %laneid\n\
         shl.u32 r27, r27, 4\nsub.u64 r28, {}, %gid\nsetp.eq.u64 p8, %gid, {lane}\n\
         setp.eq.u32 p9, %laneid, {m}\nmul.u32 r32, %nctaid.y, %ctaid.z\n\
         add.u32 r32, r32, %ctaid.y\nmul.u32 r32, r32, %nctaid.x\nadd.u32 r32, r32, %ctaid.x\n\
         mul.u64 r32, r32, {lanes}\nadd.u64 r32, r32, %laneid\nadd.u32 r34, %laneid, 1\n\
         rem.u32 r34, r34, {lanes}\nshl.u32 r34, r34, 4\nshl.u64 r23, %gid, 3",
        total - 1
    ));
    for r in 0..12 {
        g.emit(&format!("ld.global.u64 r{r}, [inp + r23 + {}]", r * 8));
    }
    g.emit(
        "mov.u64 r12, %gid\nmov.u32 r13, %laneid\nmov.u32 r14, %tid.x\nmov.u32 r15, %tid.y\n\
         mov.u32 r16, k\nmov.i64 r17, s\nmov.f64 r18, x\nmov.u32 r19, %ctaid.x",
    );
    if g.lockstep() {
        let r35 = match g.u.int_in_range(0..=3)? {
            0 if g.flat => "mov.u32 r35, %tid.x",
            1 => "mov.u64 r35, %laneid",
            // Narrower than the JIT's lane indices: no shortened trip.
            2 => "mov.u16 r35, %laneid",
            _ => "mov.u32 r35, %laneid",
        };
        g.emit(r35);
        g.emit(
            "add.u32 r46, %laneid, 0\nmov.u32 r40, k\nmov.u32 r41, %ntid.x\n\
             mul.u32 r42, %ntid.x, %ntid.y\nmul.u32 r42, r42, %ntid.z\nmov.u32 r43, %ctaid.x\n\
             mov.f64 r44, x\nmov.i64 r45, s",
        );
    }
    // The epilogue's steps.
    g.limit = g.limit.saturating_sub(g.cost + 80);
    g.cost = 0;
    if g.lockstep() {
        g.lockstep_body()?;
    } else {
        g.body(0, true)?;
    }
    let body_cost = g.cost;
    if matches!(g.bars, Bars::Uniform | Bars::Lockstep) {
        // (At 232: the predicates' bytes from 176 on would cover 184.)
        let at = g.shared_bytes - 8;
        g.emit(&format!(
            "bar.sync\nld.shared.u64 r29, [{at}]\nst.global.u64 [out + r31 + 232], r29"
        ));
    }
    for r in 0..20 {
        if g.u.ratio(1, 4)? {
            g.emit(&format!(
                "atom.global.exch.u64 r29, [out + r31 + {}], r{r}",
                r * 8
            ));
        } else {
            g.emit(&format!("st.global.u64 [out + r31 + {}], r{r}", r * 8));
        }
    }
    if g.lockstep() {
        g.emit(
            "st.global.u64 [out + r31 + 192], r40\nst.global.u64 [out + r31 + 200], r41\n\
             st.global.u64 [out + r31 + 208], r43\nst.global.u64 [out + r31 + 216], r44\n\
             st.global.u64 [out + r31 + 224], r45",
        );
    }
    g.emit(
        "ld.shared.u64 r29, [r27]\nst.global.u64 [out + r31 + 160], r29\n\
         ld.shared.u64 r29, [r27 + 8]\nst.global.u64 [out + r31 + 168], r29",
    );
    for p in 0..10 {
        g.emit(&format!(
            "selp.u64 r29, 1, 0, p{p}\nst.global.u8 [out + r31 + {}], r29",
            176 + p
        ));
    }
    g.label("done");
    let source = std::mem::take(&mut g.out);
    // The JIT's bound on a lockstep program's steps: a budget of at least
    // that runs on its gang tier without counting steps.
    let lockstep = g.lockstep().then_some(g.steps_bound);
    let jit_bound = lockstep.unwrap_or(0);
    let bound = 120 + body_cost + 100;
    let max_steps = match (faults, lockstep) {
        (Faults::Steps, _) => match u.int_in_range(0..=3)? {
            0 => u.int_in_range(0..=60)?,
            1 => u.int_in_range(bound / 2..=bound)?,
            // Enough for every lane (the generator's bound), but short of
            // the JIT's: counted, one lane at a time.
            2 if jit_bound > 0 => u.int_in_range(bound.min(jit_bound - 1)..=jit_bound - 1)?,
            _ => u.int_in_range(1..=bound)?,
        },
        (_, Some(b)) => *u.choose(&[b, b, b + 1, 1 << 32, u64::MAX])?,
        (_, None) => *u.choose(&[bound, bound, 1 << 32, u64::MAX])?,
    };
    let pattern_len = u.int_in_range(1..=37)?;
    let mut pattern = Vec::with_capacity(pattern_len);
    for _ in 0..pattern_len {
        pattern.push(match u.int_in_range(0..=5)? {
            0 => edge(u)?,
            1 => *u.choose(&[
                0x7FF8_0000_0000_0001u64,
                0xFFF8_0000_0000_1234,
                0x7FF0_0000_0000_0005,
                f64::INFINITY.to_bits(),
                (-0.0f64).to_bits(),
                1.5f64.to_bits(),
                0x7FC0_0001_FFC0_1234,
                0x8000_0000_7F80_0000,
                0x3FC0_0000_BF80_0000,
            ])?,
            2 => u64::from(u.int_in_range(0..=600u16)?),
            _ => u.arbitrary()?,
        });
    }
    let normal = (total * 16 + 128).max(1024) as usize;
    let inp_len = if faults == Faults::Memory && u.arbitrary()? {
        u.int_in_range((total * 8 + 96) as usize..=normal)?
    } else {
        normal
    };
    let edge_len = if faults == Faults::OneLane && lane == total - 1 {
        ((total - 1) * 8 + u.int_in_range(0..=7)?) as usize
    } else {
        (total * 8) as usize
    };
    let junk_len = u.int_in_range(0..=(total * 8 + 16) as usize)?;
    Ok(JitCase {
        source,
        grid,
        block,
        pattern,
        inp_len,
        edge_len,
        junk_len,
        k: u.arbitrary()?,
        s: edge(u)? as i64,
        x: if u.arbitrary()? {
            (f64::from(u.int_in_range(-40..=40i8)?) / 4.0).to_bits()
        } else {
            u.arbitrary()?
        },
        max_steps,
        faults,
        lane,
        lockstep,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Case, check_jit};
    use lanes::engine::jit::Tier;

    /// Bytes from splitmix64.
    fn bytes(seed: u64, n: usize) -> Vec<u8> {
        let mut x = seed;
        (0..n.div_ceil(8))
            .flat_map(|_| {
                x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
                let mut z = x;
                z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                (z ^ (z >> 31)).to_le_bytes()
            })
            .collect()
    }

    fn env(name: &str, default: u64) -> u64 {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    }

    /// What [`check_seeds`] saw.
    #[derive(Default)]
    struct Seen {
        gang: u64,
        /// Cases whose check failed (with `JIT_GEN_FAILS`).
        failed: u64,
        /// Reference outcomes by fault mode and whether it faulted.
        outcomes: std::collections::BTreeMap<String, u32>,
    }

    /// Checks the cases `make` generates from the seeds `first..first +
    /// cases` (`bytes(seed ^ salt)`). With `JIT_GEN_FAILS=DIR`, writes the
    /// ones whose check fails, for any reason, there (`SEED.txt`) and goes
    /// on.
    fn check_seeds(
        first: u64,
        cases: u64,
        salt: u64,
        make: impl Fn(&mut Unstructured<'_>) -> Result<JitCase>,
    ) -> Seen {
        let mut seen = Seen::default();
        for seed in first..first + cases {
            let data = bytes(seed ^ salt, 4096);
            let case = make(&mut Unstructured::new(&data)).unwrap();
            let kernel = crate::compile_case(&case);
            let want = crate::run_direct(&case, &kernel, &lanes::engine::reference::run);
            *seen
                .outcomes
                .entry(format!("{:?} {}", case.faults, want.is_err()))
                .or_insert(0) += 1;
            let tier = if let Ok(dir) = std::env::var("JIT_GEN_FAILS") {
                let checked =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check_jit(&case)));
                match checked {
                    Ok(tier) => tier,
                    Err(p) => {
                        let message = panic_message(p);
                        let first = message.lines().next().unwrap_or_default();
                        std::fs::write(format!("{dir}/{seed}.txt"), format!("{case:?}"))
                            .expect("write the case");
                        eprintln!("seed {seed}: {first}");
                        seen.failed += 1;
                        continue;
                    }
                }
            } else {
                check_jit(&case)
            };
            if tier == Tier::Gang {
                seen.gang += 1;
            }
        }
        seen
    }

    #[test]
    fn generated_cases_reach_both_tiers_and_every_fault_mode() {
        let cases = env("JIT_GEN_CASES", 60);
        let seen = check_seeds(env("JIT_GEN_FIRST", 0), cases, 0, |u| generate(u, None));
        let gang = seen.gang;
        eprintln!(
            "{gang} of {cases} on the gang tier, {} failed; outcomes {:?}",
            seen.failed, seen.outcomes
        );
        if std::env::var("JIT_GEN_FAILS").is_ok() {
            return;
        }
        assert!(gang * 3 > cases, "{gang} of {cases} on the gang tier");
    }

    /// Lockstep cases from fixed seeds (`JIT_LOCKSTEP_CASES`, from
    /// `JIT_GEN_FIRST`): each gives the reference engine's buffers on both
    /// tiers and runs on the gang tier when its block has a gang and its
    /// budget covers the JIT's step bound (the check asserts it); most do,
    /// and most have a barrier in a halving loop.
    #[test]
    fn lockstep_cases_match_and_reach_the_gang_tier() {
        let cases = env("JIT_LOCKSTEP_CASES", 200);
        let first = env("JIT_GEN_FIRST", 0);
        let salt = 0x4C0C_C57E;
        let seen = check_seeds(first, cases, salt, lockstep_case);
        let gang = seen.gang;
        let looped = (first..first + cases)
            .filter(|&seed| {
                let data = bytes(seed ^ salt, 4096);
                let case = lockstep_case(&mut Unstructured::new(&data)).unwrap();
                case.source.contains("\ntrip")
            })
            .count() as u64;
        eprintln!(
            "{gang} of {cases} on the gang tier, {looped} with a barrier in a loop, {} failed; \
             outcomes {:?}",
            seen.failed, seen.outcomes
        );
        if std::env::var("JIT_GEN_FAILS").is_ok() {
            return;
        }
        assert!(gang * 3 > cases * 2, "{gang} of {cases} on the gang tier");
        assert!(
            looped * 2 > cases,
            "{looped} of {cases} with a barrier in a loop"
        );
    }

    /// A panic's message.
    fn panic_message(p: Box<dyn std::any::Any + Send>) -> String {
        p.downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()
    }

    /// Whether `case` still fails as a JIT finding does (not a generator
    /// bug, not a compile error).
    fn fails(case: &dyn Case) -> Option<String> {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            check_jit(case);
        }));
        let message = match result {
            Ok(()) => return None,
            Err(p) => panic_message(p),
        };
        let finding = message.starts_with("JIT")
            || message.contains("the JIT")
            || message.contains("unbound buffer");
        finding.then_some(message)
    }

    /// A case the minimizer can shrink.
    trait Shrink: Case + Clone {
        fn source_mut(&mut self) -> &mut String;
        fn shape_mut(&mut self) -> (&mut Dim3, &mut Dim3);
        /// Makes the rest of the case fit a smaller launch.
        fn fit(&mut self) {}
        /// Drops what the generator promised of the program (dropping
        /// lines breaks it), keeping what the checks compare.
        fn forget(&mut self) {}
    }

    impl Shrink for JitCase {
        fn source_mut(&mut self) -> &mut String {
            &mut self.source
        }
        fn shape_mut(&mut self) -> (&mut Dim3, &mut Dim3) {
            (&mut self.grid, &mut self.block)
        }
        fn forget(&mut self) {
            self.lockstep = None;
        }
        fn fit(&mut self) {
            let total = self.total();
            self.lane = self.lane.min(total - 1);
            self.inp_len = self.inp_len.min((total * 16 + 128).max(1024) as usize);
            self.edge_len = self.edge_len.min(total as usize * 8);
        }
    }

    impl Shrink for Valid {
        fn source_mut(&mut self) -> &mut String {
            &mut self.source
        }
        fn shape_mut(&mut self) -> (&mut Dim3, &mut Dim3) {
            (&mut self.grid, &mut self.block)
        }
    }

    /// Reads a `differential` case back from its `Debug` text.
    fn parse_valid(text: &str) -> Valid {
        let num = |name: &str| -> &str {
            let at = text.find(&format!(" {name} ")).expect("a field") + name.len() + 2;
            let rest = &text[at..];
            &rest[..rest.find([' ', '\n']).unwrap_or(rest.len())]
        };
        let dim = |name: &str| -> Dim3 {
            let at = text.find(&format!(" {name} (")).expect("a shape") + name.len() + 3;
            let rest = &text[at..];
            let v: Vec<u32> = rest[..rest.find(')').expect("`)`")]
                .split(',')
                .map(|x| x.trim().parse().expect("a number"))
                .collect();
            Dim3::new(v[0], v[1], v[2])
        };
        let input_at = text.find("// input [").expect("an input") + 10;
        let input = &text[input_at..];
        Valid {
            source: text[text.find(".kernel").expect("a kernel")..].to_string(),
            grid: dim("grid"),
            block: dim("block"),
            input: input[..input.find(']').expect("`]`")]
                .split(',')
                .map(|b| b.trim().parse().expect("a byte"))
                .collect(),
            k: num("k").parse().expect("k"),
            max_steps: num("max_steps").parse().expect("max_steps"),
        }
    }

    /// Drops instructions and shrinks the launch while the case still
    /// fails.
    fn minimize<C: Shrink>(mut case: C) -> C {
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        assert!(fails(&case).is_some(), "the case does not fail");
        case.forget();
        loop {
            let before = format!("{case:?}");
            // Drop instruction lines, last first.
            let mut i = case.source().lines().count();
            while i > 0 {
                i -= 1;
                let lines: Vec<String> = case.source().lines().map(String::from).collect();
                let line = lines[i].trim();
                if line.is_empty() || line.starts_with('.') {
                    continue;
                }
                let mut next = case.clone();
                *next.source_mut() = lines
                    .iter()
                    .enumerate()
                    .filter(|&(j, _)| j != i)
                    .map(|(_, l)| format!("{l}\n"))
                    .collect();
                if fails(&next).is_some() {
                    case = next;
                }
            }
            // Smaller launches.
            let (grid, block) = (case.grid(), case.block());
            for (g, b) in [
                (Dim3::x(1), block),
                (grid, Dim3::new(block.x, block.y, 1)),
                (grid, Dim3::new(block.x, 1, block.z)),
                (grid, Dim3::new(4, block.y, block.z)),
                (grid, Dim3::new(8, block.y, block.z)),
            ] {
                if (g, b) == (case.grid(), case.block()) {
                    continue;
                }
                let mut next = case.clone();
                let (ng, nb) = next.shape_mut();
                (*ng, *nb) = (g, b);
                next.fit();
                if fails(&next).is_some() {
                    case = next;
                }
            }
            if before == format!("{case:?}") {
                break;
            }
        }
        std::panic::set_hook(hook);
        eprintln!("{case:?}");
        case
    }

    /// Replays the case in the file `JIT_REPLAY` (its `Debug` text, of a
    /// `JitCase` or a `differential` case); with `JIT_MINIMIZE=1`, first
    /// drops every line and shrinks the launch as long as it still fails,
    /// and prints what is left.
    #[test]
    #[ignore = "a tool: JIT_REPLAY=FILE [JIT_MINIMIZE=1]"]
    fn replay() {
        let path = std::env::var("JIT_REPLAY").expect("JIT_REPLAY=FILE");
        let text = std::fs::read_to_string(path).expect("read the case");
        let shrink = std::env::var("JIT_MINIMIZE").is_ok_and(|v| v == "1");
        if text.contains("// input [") {
            let mut case = parse_valid(&text);
            if shrink {
                case = minimize(case);
            }
            check_jit(&case);
        } else {
            let mut case: JitCase = text.parse().expect("a case");
            if shrink {
                case = minimize(case);
            }
            check_jit(&case);
        }
    }
}
