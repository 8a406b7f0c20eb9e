//! Program generators and checks shared by the lanes fuzz targets.
//!
//! - [`Hostile`]: anything a user could write, valid or not: every opcode
//!   family with right and wrong modifiers, registers and predicates past
//!   their range, immediates at the edges of u64 (addresses whose displacement
//!   overflows), barriers and exits anywhere, backward branches (endless
//!   loops), shared memory sizes around the limit, launch shapes that are
//!   not allowed, buffers of any length. [`check_hostile`] compiles it and,
//!   when it compiles, launches it on both engines: every outcome must be a
//!   result, a fault or a launch error, never a panic, and a buffer not bound
//!   to the launch must come back unchanged.
//! - [`Valid`]: a valid program without data races, so its result does not
//!   depend on how lanes interleave; [`check_differential`] runs it on the
//!   reference engine, the block engine and the pool engine (2 and 3
//!   workers, more than this machine's cores) and wants the same buffers, or
//!   a fault in every engine.
//!
//! Both case types print as LASM in `Debug`, so `cargo fuzz fmt TARGET FILE`
//! shows the program behind a crash.

use std::fmt::Write;

use arbitrary::{Arbitrary, Result, Unstructured};
use lanes::Dim3;

mod checks;
mod jit_case;
mod jit_gen;

pub use checks::*;
pub use jit_case::*;
pub use jit_gen::{JitInput, lockstep_case};

pub(crate) const ALL: [&str; 10] = [
    "u8", "u16", "u32", "u64", "i8", "i16", "i32", "i64", "f32", "f64",
];
pub(crate) const INTS: [&str; 8] = ["u8", "u16", "u32", "u64", "i8", "i16", "i32", "i64"];
pub(crate) const SIGNED: [&str; 6] = ["i8", "i16", "i32", "i64", "f32", "f64"];
pub(crate) const FLOATS: [&str; 2] = ["f32", "f64"];
pub(crate) const ATOM: [&str; 6] = ["u32", "i32", "u64", "i64", "f32", "f64"];
pub(crate) const CAS: [&str; 4] = ["u32", "i32", "u64", "i64"];
pub(crate) const CMPS: [&str; 6] = ["eq", "ne", "lt", "le", "gt", "ge"];
pub(crate) const MATH: [&str; 11] = [
    "sqrt", "rsqrt", "exp", "exp2", "log", "log2", "sin", "cos", "tanh", "floor", "ceil",
];
const SPECIALS: [&str; 16] = [
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
    "%bogus",
    "%tid.w",
];

/// Integers at the edges: around zero, powers of two, type limits, u64 wrap.
const EDGES: [u64; 16] = [
    0,
    1,
    2,
    3,
    4,
    7,
    8,
    0x7F,
    0x80,
    0xFFFF,
    0x7FFF_FFFF,
    0x8000_0000,
    0xFFFF_FFFF,
    0x7FFF_FFFF_FFFF_FFFF,
    0x8000_0000_0000_0000,
    u64::MAX,
];

/// `v` as a literal of integer type `ty` (wrapped to it).
pub(crate) fn int_lit(ty: &str, v: u64) -> String {
    let t = lanes::types::ScalarType::from_name(ty).expect("a type");
    let v = t.extend(v);
    if t.is_signed_int() {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

pub(crate) fn edge(u: &mut Unstructured<'_>) -> Result<u64> {
    Ok(match u.int_in_range(0..=3)? {
        0 => u64::from(u.int_in_range(0u8..=32)?),
        1 => *u.choose(&EDGES)?,
        2 => u
            .choose(&EDGES)?
            .wrapping_sub(u64::from(u.int_in_range(0u8..=8)?)),
        _ => u.arbitrary()?,
    })
}

// ---------------------------------------------------------------------------
// Hostile programs
// ---------------------------------------------------------------------------

struct HostileGen<'a, 'b> {
    u: &'a mut Unstructured<'b>,
    params: Vec<String>,
    labels: u32,
}

impl HostileGen<'_, '_> {
    fn ty(&mut self) -> Result<String> {
        Ok(match self.u.int_in_range(0..=19)? {
            0 => (*self.u.choose(&["pred", "b32", "f16", "", "u128", "U32"])?).to_string(),
            _ => (*self.u.choose(&ALL)?).to_string(),
        })
    }

    fn reg(&mut self) -> Result<String> {
        Ok(match self.u.int_in_range(0..=31)? {
            0 => format!("r{}", *self.u.choose(&[255u32, 256, 999, 65536])?),
            1 => "r".to_string(),
            _ => format!("r{}", self.u.int_in_range(0u8..=15)?),
        })
    }

    fn pred(&mut self) -> Result<String> {
        Ok(match self.u.int_in_range(0..=15)? {
            0 => format!("p{}", *self.u.choose(&[15u32, 16, 100])?),
            _ => format!("p{}", self.u.int_in_range(0u8..=3)?),
        })
    }

    fn imm(&mut self, ty: &str) -> Result<String> {
        let bits = edge(self.u)?;
        Ok(match self.u.int_in_range(0..=9)? {
            0 => (*self
                .u
                .choose(&["inf", "-inf", "nan", "1.5", "-2e-3", "1e400", "-0.0"])?)
            .to_string(),
            1 => format!("-{bits}"),
            2 => format!("0x{bits:X}"),
            3 => format!("{}", f64::from_bits(bits)),
            _ if ty.starts_with('f') => format!("{}", (bits % 2001) as f64 / 8.0 - 125.0),
            _ => format!("{bits}"),
        })
    }

    fn src(&mut self, ty: &str) -> Result<String> {
        Ok(match self.u.int_in_range(0..=11)? {
            0..=5 => self.reg()?,
            6..=7 => self.imm(ty)?,
            8 => (*self.u.choose(&SPECIALS)?).to_string(),
            9 => self.param()?,
            10 => self.pred()?,
            _ => "[a]".to_string(),
        })
    }

    fn param(&mut self) -> Result<String> {
        if self.params.is_empty() || self.u.ratio(1, 16)? {
            return Ok("zz".to_string());
        }
        Ok(self.u.choose(&self.params)?.clone())
    }

    fn addr(&mut self, global: bool) -> Result<String> {
        let mut parts = Vec::new();
        if global || self.u.ratio(1, 16)? {
            parts.push(self.param()?);
        }
        if self.u.arbitrary()? {
            parts.push(self.reg()?);
        }
        let mut text = parts.join(" + ");
        if parts.is_empty() || self.u.arbitrary()? {
            let imm = edge(self.u)?;
            let minus = self.u.ratio(1, 4)?;
            if text.is_empty() {
                text = if minus {
                    format!("-{imm}")
                } else {
                    format!("{imm}")
                };
            } else {
                text = format!("{text} {} {imm}", if minus { '-' } else { '+' });
            }
        }
        Ok(format!("[{text}]"))
    }

    fn label(&mut self) -> Result<String> {
        Ok(format!("L{}", self.u.int_in_range(0..=self.labels)?))
    }

    fn space(&mut self) -> Result<&'static str> {
        Ok(*self
            .u
            .choose(&["global", "global", "shared", "shared", "local"])?)
    }

    fn instr(&mut self) -> Result<String> {
        let ty = self.ty()?;
        let text = match self.u.int_in_range(0..=17)? {
            0 => {
                let op = *self.u.choose(&[
                    "add", "sub", "mul", "div", "rem", "min", "max", "and", "or", "xor", "shl",
                    "shr",
                ])?;
                format!(
                    "{op}.{ty} {}, {}, {}",
                    self.reg()?,
                    self.src(&ty)?,
                    self.src(&ty)?
                )
            }
            1 => format!(
                "fma.{ty} {}, {}, {}, {}",
                self.reg()?,
                self.src(&ty)?,
                self.src(&ty)?,
                self.src(&ty)?
            ),
            2 => {
                let op = *self.u.choose(&["neg", "abs", "not", "mov"])?;
                format!("{op}.{ty} {}, {}", self.reg()?, self.src(&ty)?)
            }
            3 => {
                let op = *self.u.choose(&MATH)?;
                format!("{op}.{ty} {}, {}", self.reg()?, self.src(&ty)?)
            }
            4 => {
                let from = self.ty()?;
                format!("cvt.{ty}.{from} {}, {}", self.reg()?, self.src(&from)?)
            }
            5 => {
                let cmp = *self.u.choose(&CMPS)?;
                format!(
                    "setp.{cmp}.{ty} {}, {}, {}",
                    self.pred()?,
                    self.src(&ty)?,
                    self.src(&ty)?
                )
            }
            6 => format!(
                "selp.{ty} {}, {}, {}, {}",
                self.reg()?,
                self.src(&ty)?,
                self.src(&ty)?,
                self.pred()?
            ),
            7 => {
                let op = *self.u.choose(&["and", "or", "xor"])?;
                format!(
                    "{op}.pred {}, {}, {}",
                    self.pred()?,
                    self.pred()?,
                    self.pred()?
                )
            }
            8 => format!("not.pred {}, {}", self.pred()?, self.pred()?),
            9 | 10 => {
                let space = self.space()?;
                let global = space == "global";
                format!("ld.{space}.{ty} {}, {}", self.reg()?, self.addr(global)?)
            }
            11 | 12 => {
                let space = self.space()?;
                let global = space == "global";
                format!("st.{space}.{ty} {}, {}", self.addr(global)?, self.src(&ty)?)
            }
            13 => {
                let space = self.space()?;
                let global = space == "global";
                let op = *self
                    .u
                    .choose(&["add", "min", "max", "exch", "cas", "sub", "and"])?;
                let ty = if self.u.ratio(3, 4)? {
                    (*self.u.choose(&ATOM)?).to_string()
                } else {
                    ty
                };
                let mut s = format!(
                    "atom.{space}.{op}.{ty} {}, {}, {}",
                    self.reg()?,
                    self.addr(global)?,
                    self.src(&ty)?
                );
                if op == "cas" || self.u.ratio(1, 16)? {
                    let _ = write!(s, ", {}", self.src(&ty)?);
                }
                s
            }
            14 => format!("bra {}", self.label()?),
            15 => "bar.sync".to_string(),
            16 => "exit".to_string(),
            _ => {
                // Anything at all: an opcode with random operands.
                let op = *self.u.choose(&[
                    "mov",
                    "bra",
                    "bar",
                    "bar.sync.x",
                    "exit.u32",
                    "ld",
                    "st.global",
                    "atom",
                    "nop",
                    "cvt.f32",
                    "setp.eq",
                    "selp",
                    ".param",
                    ".shared",
                ])?;
                let n = self.u.int_in_range(0..=5)?;
                let mut ops = Vec::new();
                for _ in 0..n {
                    ops.push(self.src(&ty)?);
                }
                format!("{op} {}", ops.join(", "))
            }
        };
        Ok(match self.u.int_in_range(0..=7)? {
            0 => format!("@{} {text}", self.pred()?),
            1 => format!("@!{} {text}", self.pred()?),
            _ => text,
        })
    }

    fn source(&mut self) -> Result<String> {
        let mut out = String::new();
        let kernels = if self.u.ratio(1, 16)? { 2 } else { 1 };
        for ki in 0..kernels {
            let _ = writeln!(out, ".kernel k{ki}");
            self.params.clear();
            let nparams = self.u.int_in_range(0..=4)?;
            for i in 0..nparams {
                let name = *self.u.choose(&["a", "b", "c", "k", "n"])?;
                let kind = match self.u.int_in_range(0..=3)? {
                    0 | 1 => "buf".to_string(),
                    _ => self.ty()?,
                };
                // Mostly distinct names; duplicates are validation errors.
                let name = if self.u.ratio(7, 8)? {
                    format!("{name}{i}")
                } else {
                    name.to_string()
                };
                let _ = writeln!(out, ".param {name} {kind}");
                self.params.push(name);
            }
            if self.u.arbitrary()? {
                let bytes = match self.u.int_in_range(0..=5)? {
                    0 => 65536,
                    1 => 65537,
                    2 => u64::from(self.u.int_in_range(0u16..=4096)?),
                    3 => edge(self.u)?,
                    _ => u64::from(self.u.int_in_range(0u8..=64)?),
                };
                let _ = writeln!(out, ".shared {bytes}");
            }
            self.labels = self.u.int_in_range(0..=4)?;
            let n = self.u.int_in_range(0..=40)?;
            for _ in 0..n {
                if self.u.ratio(1, 8)? {
                    let l = self.label()?;
                    let _ = write!(out, "{l}: ");
                }
                let line = self.instr()?;
                let _ = writeln!(out, "    {line}");
            }
            // Labels the branches may name, so loops do form.
            for l in 0..self.labels {
                if self.u.ratio(1, 3)? {
                    let _ = writeln!(out, "L{l}:");
                }
            }
        }
        Ok(out)
    }
}

fn dim(u: &mut Unstructured<'_>, max: u32) -> Result<Dim3> {
    let mut d = [0u32; 3];
    let mut left = max;
    for x in &mut d {
        *x = u.int_in_range(1..=left.max(1))?;
        left /= *x;
    }
    Ok(Dim3::new(d[0], d[1], d[2]))
}

impl<'a> Arbitrary<'a> for Hostile {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let source = if u.ratio(1, 32)? {
            // Raw text, exactly as given.
            String::from_utf8_lossy(u.arbitrary::<&[u8]>()?).into_owned()
        } else {
            HostileGen {
                u,
                params: Vec::new(),
                labels: 0,
            }
            .source()?
        };
        let grid = if u.ratio(1, 32)? {
            Dim3::new(
                *u.choose(&[0, 1, u32::MAX])?,
                *u.choose(&[0, 1, 2])?,
                *u.choose(&[0, 1, u32::MAX])?,
            )
        } else {
            dim(u, 4)?
        };
        let block = match u.int_in_range(0..=31)? {
            0 => Dim3::new(
                *u.choose(&[0, 1, 1024, 1025])?,
                *u.choose(&[0, 1, 2])?,
                *u.choose(&[0, 1, 1024])?,
            ),
            1 => dim(u, 1024)?,
            _ => dim(u, 64)?,
        };
        let nbuf = u.int_in_range(1..=3)?;
        let mut buffers = Vec::new();
        for _ in 0..nbuf {
            let len = match u.int_in_range(0..=3)? {
                0 => 0,
                1 => u.int_in_range(1..=15)?,
                _ => u.int_in_range(16..=256)?,
            };
            let mut b = vec![0u8; len];
            for x in &mut b {
                *x = u.arbitrary().unwrap_or(0);
            }
            buffers.push(b);
        }
        let scalars = vec![edge(u)?, edge(u)?];
        let max_steps = match u.int_in_range(0..=7)? {
            0 => 0,
            1 => u.int_in_range(1..=64)?,
            _ => u.int_in_range(64..=1024)?,
        };
        // 1024-lane blocks get a small budget so one input stays fast.
        let max_steps = if block.count() > 64 {
            max_steps.min(128)
        } else {
            max_steps
        };
        Ok(Hostile {
            source,
            grid,
            block,
            buffers,
            scalars,
            max_steps,
        })
    }
}

// ---------------------------------------------------------------------------
// Valid, race-free programs
// ---------------------------------------------------------------------------

struct ValidGen<'a, 'b> {
    u: &'a mut Unstructured<'b>,
    /// Wild loads (bounds and alignment faults) allowed.
    wild: bool,
    /// Integer division by a possibly-zero value allowed.
    divide: bool,
    /// `bar.sync` may appear in divergent code; then shared-memory exchange
    /// reads a lane's own slot only (a neighbour's slot could be written in
    /// the same barrier phase).
    divergent_bar: bool,
    labels: u32,
    lines: usize,
}

impl ValidGen<'_, '_> {
    fn reg(&mut self) -> Result<u8> {
        self.u.int_in_range(0..=DATA_REGS - 1)
    }

    fn lit(&mut self, ty: &str) -> Result<String> {
        let bits = edge(self.u)?;
        Ok(match ty {
            "f32" | "f64" => match bits % 17 {
                0 => "nan".into(),
                1 => "inf".into(),
                2 => "-inf".into(),
                3 => "-0.0".into(),
                _ => format!("{:e}", (bits % 2001) as f64 / 8.0 - 125.0),
            },
            _ => int_lit(ty, bits),
        })
    }

    fn src(&mut self, ty: &str) -> Result<String> {
        Ok(match self.u.int_in_range(0..=9)? {
            0..=5 => format!("r{}", self.reg()?),
            6 | 7 => self.lit(ty)?,
            8 => (*self.u.choose(&SPECIALS[..14])?).to_string(),
            _ => "k".to_string(),
        })
    }

    fn line(&mut self) -> Result<String> {
        let d = self.reg()?;
        Ok(match self.u.int_in_range(0..=21)? {
            0..=3 => {
                let ty = *self.u.choose(&ALL)?;
                let op = *self.u.choose(&["add", "sub", "mul", "min", "max"])?;
                format!("{op}.{ty} r{d}, {}, {}", self.src(ty)?, self.src(ty)?)
            }
            4 => {
                let ty = *self.u.choose(&ALL)?;
                let op = *self.u.choose(&["div", "rem"])?;
                let (a, b) = (self.src(ty)?, self.src(ty)?);
                if !ty.starts_with('f') && !self.divide {
                    format!("or.{ty} r{d}, {b}, 1\n    {op}.{ty} r{d}, {a}, r{d}")
                } else {
                    format!("{op}.{ty} r{d}, {a}, {b}")
                }
            }
            5 => {
                let ty = *self.u.choose(&ALL)?;
                format!(
                    "fma.{ty} r{d}, {}, {}, {}",
                    self.src(ty)?,
                    self.src(ty)?,
                    self.src(ty)?
                )
            }
            6 | 7 => {
                let ty = *self.u.choose(&INTS)?;
                let op = *self.u.choose(&["and", "or", "xor", "shl", "shr"])?;
                format!("{op}.{ty} r{d}, {}, {}", self.src(ty)?, self.src(ty)?)
            }
            8 => {
                let ty = *self.u.choose(&INTS)?;
                format!("not.{ty} r{d}, {}", self.src(ty)?)
            }
            9 => {
                let ty = *self.u.choose(&SIGNED)?;
                let op = *self.u.choose(&["neg", "abs"])?;
                format!("{op}.{ty} r{d}, {}", self.src(ty)?)
            }
            10 => {
                let ty = *self.u.choose(&FLOATS)?;
                let op = *self.u.choose(&MATH)?;
                format!("{op}.{ty} r{d}, {}", self.src(ty)?)
            }
            11 => {
                let (to, from) = (*self.u.choose(&ALL)?, *self.u.choose(&ALL)?);
                format!("cvt.{to}.{from} r{d}, {}", self.src(from)?)
            }
            12 => {
                let ty = *self.u.choose(&ALL)?;
                format!("mov.{ty} r{d}, {}", self.src(ty)?)
            }
            13 | 14 => {
                let ty = *self.u.choose(&ALL)?;
                let cmp = *self.u.choose(&CMPS)?;
                let p = self.u.int_in_range(0..=3)?;
                format!("setp.{cmp}.{ty} p{p}, {}, {}", self.src(ty)?, self.src(ty)?)
            }
            15 => {
                let ty = *self.u.choose(&ALL)?;
                let p = self.u.int_in_range(0..=3)?;
                format!("selp.{ty} r{d}, {}, {}, p{p}", self.src(ty)?, self.src(ty)?)
            }
            16 => {
                let op = *self.u.choose(&["and", "or", "xor"])?;
                let (x, y, z) = (
                    self.u.int_in_range(0..=3)?,
                    self.u.int_in_range(0..=3)?,
                    self.u.int_in_range(0..=3)?,
                );
                if self.u.arbitrary()? {
                    format!("{op}.pred p{x}, p{y}, p{z}")
                } else {
                    format!("not.pred p{x}, p{y}")
                }
            }
            17 => {
                let ty = *self.u.choose(&ALL)?;
                let a = self.reg()?;
                if self.wild && self.u.ratio(1, 3)? {
                    format!("ld.global.{ty} r{d}, [inp + r{a}]")
                } else {
                    format!("and.u64 r30, r{a}, 0xF8\n    ld.global.{ty} r{d}, [inp + r30]")
                }
            }
            18 => {
                let ty = *self.u.choose(&ALL)?;
                let slot = self.u.int_in_range(0..=14u64)?;
                let a = if self.u.arbitrary()? {
                    format!("r{}", self.reg()?)
                } else {
                    "k".to_string()
                };
                format!("st.global.{ty} [out + r31 + {}], {a}", slot * 8)
            }
            19 => {
                let ty = *self.u.choose(&ATOM)?;
                let op = *self.u.choose(&["add", "min", "max", "exch"])?;
                let slot = self.u.int_in_range(0..=14u64)?;
                format!(
                    "atom.global.{op}.{ty} r{d}, [out + r31 + {}], {}",
                    slot * 8,
                    self.src(ty)?
                )
            }
            20 => {
                let ty = *self.u.choose(&CAS)?;
                let slot = self.u.int_in_range(0..=14u64)?;
                format!(
                    "atom.global.cas.{ty} r{d}, [out + r31 + {}], {}, {}",
                    slot * 8,
                    self.src(ty)?,
                    self.src(ty)?
                )
            }
            _ => {
                // Order-independent updates of counters shared by every lane;
                // the old value goes to a scratch register nobody reads.
                // (Literals of the instruction's own type: a u32 literal
                // may not fit i32.)
                match self.u.int_in_range(0..=2)? {
                    0 => format!(
                        "atom.global.add.u64 r29, [counter + 8], {}",
                        self.src("u64")?
                    ),
                    1 => format!("atom.global.max.u32 r29, [counter], {}", self.src("u32")?),
                    _ => format!(
                        "atom.global.min.i32 r29, [counter + 4], {}",
                        self.src("i32")?
                    ),
                }
            }
        })
    }

    fn guarded(&mut self) -> Result<String> {
        let l = self.line()?;
        if !l.contains('\n') && self.u.ratio(1, 5)? {
            let p = self.u.int_in_range(0..=3)?;
            let neg = if self.u.arbitrary()? { "!" } else { "" };
            return Ok(format!("@{neg}p{p} {l}"));
        }
        Ok(l)
    }

    fn body(&mut self, out: &mut String, depth: u32, uniform: bool) -> Result<()> {
        let n = self.u.int_in_range(1..=8)?;
        for _ in 0..n {
            if self.lines > 400 {
                return Ok(());
            }
            self.lines += 1;
            match self.u.int_in_range(0..=15)? {
                0 if depth < 2 => {
                    self.labels += 1;
                    let skip = format!("skip{}", self.labels);
                    let p = self.u.int_in_range(0..=3)?;
                    let neg = if self.u.arbitrary()? { "" } else { "!" };
                    let _ = writeln!(out, "    @{neg}p{p} bra {skip}");
                    self.body(out, depth + 1, false)?;
                    let _ = writeln!(out, "{skip}:");
                }
                1 if depth < 2 => {
                    self.labels += 1;
                    let (top, end) = (format!("top{}", self.labels), format!("end{}", self.labels));
                    let c = 20 + depth;
                    let count = self.reg()?;
                    let _ = writeln!(out, "    and.u32 r{c}, r{count}, 3");
                    let _ = writeln!(out, "{top}:");
                    let _ = writeln!(out, "    setp.eq.u32 p7, r{c}, 0");
                    let _ = writeln!(out, "    @p7 bra {end}");
                    self.body(out, depth + 1, false)?;
                    let _ = writeln!(out, "    sub.u32 r{c}, r{c}, 1");
                    let _ = writeln!(out, "    bra {top}");
                    let _ = writeln!(out, "{end}:");
                }
                2 if uniform || self.divergent_bar => {
                    // Exchange through shared memory: write; barrier; read;
                    // barrier. Only reads happen between the two barriers.
                    let read = if self.divergent_bar { "r28" } else { "r27" };
                    let src = self.reg()?;
                    let dst = self.reg()?;
                    let _ = writeln!(out, "    st.shared.u64 [r28], r{src}");
                    let _ = writeln!(out, "    bar.sync");
                    let _ = writeln!(out, "    ld.shared.u64 r{dst}, [{read}]");
                    let _ = writeln!(out, "    bar.sync");
                }
                3 if self.divergent_bar => {
                    let _ = writeln!(out, "    bar.sync");
                }
                4 if self.u.ratio(1, 4)? => {
                    let p = self.u.int_in_range(0..=3)?;
                    let neg = if self.u.arbitrary()? { "!" } else { "" };
                    let _ = writeln!(out, "    @{neg}p{p} exit");
                }
                _ => {
                    let l = self.guarded()?;
                    let _ = writeln!(out, "    {l}");
                }
            }
        }
        Ok(())
    }
}

impl<'a> Arbitrary<'a> for Valid {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let grid = Dim3::new(
            u.int_in_range(1..=3)?,
            u.int_in_range(1..=2)?,
            u.int_in_range(1..=2)?,
        );
        let block = if u.ratio(1, 64)? {
            Dim3::new(*u.choose(&[128, 256, 1024])?, 1, 1)
        } else {
            Dim3::new(
                u.int_in_range(1..=40)?,
                u.int_in_range(1..=3)?,
                u.int_in_range(1..=2)?,
            )
        };
        let lanes = block.x * block.y * block.z;
        let mut g = ValidGen {
            wild: u.ratio(1, 4)?,
            divide: u.ratio(1, 6)?,
            divergent_bar: u.ratio(1, 3)?,
            u,
            labels: 0,
            lines: 0,
        };
        let mut out = String::new();
        let _ = writeln!(out, ".kernel gen");
        let _ = writeln!(out, ".param inp buf");
        let _ = writeln!(out, ".param out buf");
        let _ = writeln!(out, ".param counter buf");
        let _ = writeln!(out, ".param k u32");
        let _ = writeln!(out, ".shared {}", lanes * 8);
        // r31: this lane's output slot; r28/r27: own and neighbour shared slot.
        let _ = writeln!(out, "    mov.u64 r31, %gid");
        let _ = writeln!(out, "    mul.u64 r31, r31, {SLOT_BYTES}");
        let _ = writeln!(out, "    mov.u32 r28, %laneid");
        let _ = writeln!(out, "    add.u32 r27, r28, 1");
        let _ = writeln!(out, "    rem.u32 r27, r27, {lanes}");
        let _ = writeln!(out, "    shl.u32 r28, r28, 3");
        let _ = writeln!(out, "    shl.u32 r27, r27, 3");
        for r in 0..DATA_REGS {
            let _ = writeln!(out, "    add.u64 r{r}, %gid, {}", u64::from(r) * 8);
            let _ = writeln!(out, "    and.u64 r{r}, r{r}, 0x1F");
            let _ = writeln!(out, "    shl.u64 r{r}, r{r}, 3");
            let _ = writeln!(out, "    ld.global.u64 r{r}, [inp + r{r}]");
        }
        g.body(&mut out, 0, true)?;
        for r in 0..DATA_REGS {
            let _ = writeln!(
                out,
                "    atom.global.exch.u64 r29, [out + r31 + {}], r{r}",
                (u64::from(r) % 16) * 8
            );
        }
        for p in 0..4 {
            let _ = writeln!(out, "    selp.u64 r29, 1, 0, p{p}");
            let _ = writeln!(out, "    st.global.u8 [out + r31 + {}], r29", 120 + p);
        }
        let mut input = vec![0u8; INPUT_BYTES];
        for x in &mut input {
            *x = u.arbitrary().unwrap_or(0);
        }
        let k = u.arbitrary()?;
        let max_steps = if u.ratio(1, 4)? {
            u.int_in_range(40..=600)?
        } else {
            1 << 14
        };
        // Big blocks get a small budget so one input stays fast.
        let max_steps = if lanes > 120 {
            max_steps.min(2000)
        } else {
            max_steps
        };
        Ok(Valid {
            source: out,
            grid,
            block,
            input,
            k,
            max_steps,
        })
    }
}
