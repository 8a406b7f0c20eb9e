//! Validation and lowering from the syntax tree to [`Kernel`]s.

use std::collections::HashMap;
use std::sync::Arc;

use super::instr::*;
use super::{Kernel, Param, ParamKind, Program, SourceLine};
use crate::asm::{self, Diagnostic, Diagnostics, Literal, Operand, OperandKind, Span};
use crate::types::{AtomType, CasType, FloatType, IntType, ScalarType, SignedType};

/// The most shared memory a kernel may reserve, in bytes.
pub const MAX_SHARED_BYTES: u64 = 65536;

/// Parses, validates and lowers every kernel of a source file.
///
/// `file` is the name used in error messages. On failure every error found
/// (syntax and validation, in all kernels) is returned, each as
/// `FILE:LINE:COL: message`.
pub fn compile(file: &str, source: &str) -> Result<Program, Diagnostics> {
    let (module, mut errors) = asm::parse(source);
    let mut kernels = Vec::new();
    let mut seen: HashMap<String, Span> = HashMap::new();
    let no_kernel = module.kernels.is_empty();
    // Each kernel's syntax tree is consumed as it is lowered, so its memory
    // goes back while the lowered kernel grows.
    for def in module.kernels {
        if let Some(first) = seen.insert(def.name.clone(), def.span) {
            errors.push(Diagnostic::new(
                def.span,
                format!(
                    "duplicate kernel `{}` (first defined on line {})",
                    def.name, first.line
                ),
            ));
        }
        if let Some(k) = lower_kernel(def, &mut errors) {
            kernels.push(Arc::new(k));
        }
    }
    if no_kernel && errors.is_empty() {
        errors.push(Diagnostic::new(
            Span::new(1, 1),
            "no kernel in file (a kernel starts with `.kernel NAME`)",
        ));
    }
    if errors.is_empty() {
        Ok(Program { kernels })
    } else {
        Err(Diagnostics::new(file, errors))
    }
}

fn is_reserved_name(name: &str) -> bool {
    let reg_like = |p: char| {
        name.strip_prefix(p)
            .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
    };
    reg_like('r') || reg_like('p') || name == "inf" || name == "nan"
}

fn lower_kernel(mut def: asm::KernelDef, errors: &mut Vec<Diagnostic>) -> Option<Kernel> {
    let before = errors.len();
    let mut params = Vec::new();
    let mut by_name: HashMap<String, ParamKind> = HashMap::new();
    let (mut buffers, mut scalars) = (0u16, 0u16);
    for p in &def.params {
        if is_reserved_name(&p.name) {
            errors.push(Diagnostic::new(
                p.span,
                format!(
                    "parameter name `{}` is reserved (registers, predicates, inf, nan)",
                    p.name
                ),
            ));
            continue;
        }
        let kind = if p.ty == "buf" {
            if buffers == u16::MAX {
                errors.push(Diagnostic::new(
                    p.span,
                    format!("too many buffer parameters (at most {})", u16::MAX),
                ));
                continue;
            }
            buffers += 1;
            ParamKind::Buffer { slot: buffers - 1 }
        } else if let Some(ty) = ScalarType::from_name(&p.ty) {
            if scalars == u16::MAX {
                errors.push(Diagnostic::new(
                    p.span,
                    format!("too many scalar parameters (at most {})", u16::MAX),
                ));
                continue;
            }
            scalars += 1;
            ParamKind::Scalar {
                ty,
                slot: scalars - 1,
            }
        } else {
            errors.push(Diagnostic::new(
                p.ty_span,
                format!(
                    "unknown parameter type `{}` (expected `buf` or one of u8 u16 u32 u64 i8 i16 i32 i64 f32 f64)",
                    p.ty
                ),
            ));
            continue;
        };
        if by_name.insert(p.name.clone(), kind).is_some() {
            errors.push(Diagnostic::new(
                p.span,
                format!("duplicate parameter `{}`", p.name),
            ));
            continue;
        }
        params.push(Param {
            name: p.name.clone(),
            kind,
        });
    }
    let mut shared_bytes = 0u32;
    for (i, (bytes, span)) in def.shared.iter().enumerate() {
        if i > 0 {
            errors.push(Diagnostic::new(*span, "duplicate `.shared` directive"));
        } else if *bytes > MAX_SHARED_BYTES {
            errors.push(Diagnostic::new(
                *span,
                format!("`.shared {bytes}` exceeds the limit of {MAX_SHARED_BYTES} bytes"),
            ));
        } else {
            shared_bytes = *bytes as u32;
        }
    }

    // Labels name the index of the next instruction.
    let mut labels: HashMap<String, (u32, Span)> = HashMap::new();
    let mut count = 0u32;
    for s in &mut def.body {
        match s {
            asm::Statement::Label { name, span } => {
                if is_reserved_name(name) {
                    // `bra r1` would read `r1` as a register: such a label
                    // could never be jumped to.
                    errors.push(Diagnostic::new(
                        *span,
                        format!(
                            "label name `{name}` is reserved (registers, predicates, inf, nan)"
                        ),
                    ));
                } else if let Some((_, first)) = labels.get(name.as_str()) {
                    errors.push(Diagnostic::new(
                        *span,
                        format!(
                            "duplicate label `{name}` (first defined on line {})",
                            first.line
                        ),
                    ));
                } else {
                    labels.insert(std::mem::take(name), (count, *span));
                }
            }
            asm::Statement::Instr(_) => count += 1,
        }
    }

    let lower = Lowerer {
        params: &by_name,
        labels: &labels,
    };
    let mut instrs = Vec::with_capacity(count as usize);
    let mut lines = Vec::with_capacity(count as usize);
    for s in std::mem::take(&mut def.body) {
        if let asm::Statement::Instr(i) = s {
            match lower.instr(&i) {
                Ok(instr) => instrs.push(instr),
                Err(e) => errors.push(e),
            }
            lines.push(SourceLine {
                line: i.span.line,
                text: asm::print_instruction(&i),
            });
        }
    }
    if errors.len() > before {
        return None;
    }
    Some(Kernel {
        name: def.name,
        params,
        shared_bytes,
        instrs,
        lines,
        buffer_slots: buffers as usize,
        scalar_slots: scalars as usize,
        derived: Default::default(),
    })
}

struct Lowerer<'a> {
    params: &'a HashMap<String, ParamKind>,
    labels: &'a HashMap<String, (u32, Span)>,
}

/// An opcode split into its name and modifiers, with their spans.
struct Opcode<'a> {
    text: &'a str,
    name: &'a str,
    mods: Vec<(&'a str, Span)>,
    span: Span,
}

impl<'a> Opcode<'a> {
    fn new(i: &'a asm::Instruction) -> Opcode<'a> {
        let mut parts = i.opcode.split('.');
        let name = parts.next().unwrap_or("");
        let mut col = i.opcode_span.col + name.chars().count() as u32 + 1;
        let mut mods = Vec::new();
        for p in parts {
            mods.push((p, Span::new(i.opcode_span.line, col)));
            col += p.chars().count() as u32 + 1;
        }
        Opcode {
            text: &i.opcode,
            name,
            mods,
            span: i.opcode_span,
        }
    }

    fn expect_mods(&self, n: usize, form: &str) -> Result<(), Diagnostic> {
        if self.mods.len() == n {
            return Ok(());
        }
        let span = self.mods.get(n).map_or(self.span, |m| m.1);
        Err(Diagnostic::new(
            span,
            format!("`{}` is not a valid form: expected `{form}`", self.text),
        ))
    }

    fn ty(&self, index: usize) -> Result<ScalarType, Diagnostic> {
        let (word, span) = self.mods[index];
        ScalarType::from_name(word).ok_or_else(|| {
            Diagnostic::new(
                span,
                format!(
                    "unknown type modifier `.{word}` in `{}` (types: u8 u16 u32 u64 i8 i16 i32 i64 f32 f64)",
                    self.text
                ),
            )
        })
    }

    fn subset<T>(
        &self,
        index: usize,
        pick: fn(ScalarType) -> Option<T>,
        allowed: &str,
    ) -> Result<T, Diagnostic> {
        let ty = self.ty(index)?;
        pick(ty).ok_or_else(|| {
            Diagnostic::new(
                self.mods[index].1,
                format!(
                    "`{}` does not take type `{ty}` (allowed: {allowed})",
                    self.name
                ),
            )
        })
    }

    fn space(&self, index: usize) -> Result<Space, Diagnostic> {
        let (word, span) = self.mods[index];
        match word {
            "global" => Ok(Space::Global),
            "shared" => Ok(Space::Shared),
            _ => Err(Diagnostic::new(
                span,
                format!("expected a state space `.global` or `.shared`, found `.{word}`"),
            )),
        }
    }
}

fn operands<'o, const N: usize>(
    i: &'o asm::Instruction,
    form: &str,
) -> Result<[&'o Operand; N], Diagnostic> {
    let found = i.operands.len();
    if found != N {
        let span = i.operands.get(N).map_or(i.opcode_span, |o| o.span);
        return Err(Diagnostic::new(
            span,
            format!(
                "`{}` takes {N} operand{} ({form}), found {found}",
                i.opcode,
                if N == 1 { "" } else { "s" }
            ),
        ));
    }
    let mut it = i.operands.iter();
    Ok(std::array::from_fn(|_| it.next().expect("length checked")))
}

impl Lowerer<'_> {
    fn instr(&self, i: &asm::Instruction) -> Result<Instr, Diagnostic> {
        let guard = match i.guard {
            None => None,
            Some(g) => Some(Guard {
                pred: pred_number(g.pred, g.span)?,
                negated: g.negated,
            }),
        };
        let op = self.op(i)?;
        Ok(Instr { guard, op })
    }

    fn op(&self, i: &asm::Instruction) -> Result<Op, Diagnostic> {
        let oc = Opcode::new(i);
        let name = oc.name;
        Ok(match name {
            "mov" => {
                oc.expect_mods(1, "mov.T")?;
                let ty = oc.ty(0)?;
                let [d, a] = operands(i, "d, a")?;
                Op::Mov {
                    ty,
                    d: dst(d)?,
                    a: self.src(a, ty)?,
                }
            }
            "ld" => {
                oc.expect_mods(2, "ld.SPACE.T")?;
                let space = oc.space(0)?;
                let ty = oc.ty(1)?;
                let [d, addr] = operands(i, "d, [addr]")?;
                Op::Load {
                    space,
                    ty,
                    d: dst(d)?,
                    addr: self.address(addr, space)?,
                }
            }
            "st" => {
                oc.expect_mods(2, "st.SPACE.T")?;
                let space = oc.space(0)?;
                let ty = oc.ty(1)?;
                let [addr, a] = operands(i, "[addr], a")?;
                Op::Store {
                    space,
                    ty,
                    addr: self.address(addr, space)?,
                    a: self.src(a, ty)?,
                }
            }
            "cvt" => {
                oc.expect_mods(2, "cvt.DT.ST")?;
                let to = oc.ty(0)?;
                let from = oc.ty(1)?;
                let [d, a] = operands(i, "d, a")?;
                Op::Cvt {
                    to,
                    from,
                    d: dst(d)?,
                    a: self.src(a, from)?,
                }
            }
            "add" | "sub" | "mul" | "min" | "max" | "div" | "rem" => {
                oc.expect_mods(1, &format!("{name}.T"))?;
                let ty = oc.ty(0)?;
                let [d, a, b] = operands(i, "d, a, b")?;
                let (d, a, b) = (dst(d)?, self.src(a, ty)?, self.src(b, ty)?);
                let arith = |op| Op::Arith { op, ty, d, a, b };
                let div = |op| Op::Div { op, ty, d, a, b };
                match name {
                    "add" => arith(ArithOp::Add),
                    "sub" => arith(ArithOp::Sub),
                    "mul" => arith(ArithOp::Mul),
                    "min" => arith(ArithOp::Min),
                    "max" => arith(ArithOp::Max),
                    "div" => div(DivOp::Div),
                    _ => div(DivOp::Rem),
                }
            }
            "fma" => {
                oc.expect_mods(1, "fma.T")?;
                let ty = oc.ty(0)?;
                let [d, a, b, c] = operands(i, "d, a, b, c")?;
                Op::Fma {
                    ty,
                    d: dst(d)?,
                    a: self.src(a, ty)?,
                    b: self.src(b, ty)?,
                    c: self.src(c, ty)?,
                }
            }
            "neg" | "abs" => {
                oc.expect_mods(1, &format!("{name}.T"))?;
                let ty = oc.subset(0, SignedType::from_scalar, "i8 i16 i32 i64 f32 f64")?;
                let [d, a] = operands(i, "d, a")?;
                Op::Sign {
                    op: if name == "neg" {
                        SignOp::Neg
                    } else {
                        SignOp::Abs
                    },
                    ty,
                    d: dst(d)?,
                    a: self.src(a, ty.scalar())?,
                }
            }
            "sqrt" | "rsqrt" | "exp" | "exp2" | "log" | "log2" | "sin" | "cos" | "tanh"
            | "floor" | "ceil" => {
                oc.expect_mods(1, &format!("{name}.T"))?;
                let ty = oc.subset(0, FloatType::from_scalar, "f32 f64")?;
                let [d, a] = operands(i, "d, a")?;
                let op = match name {
                    "sqrt" => MathOp::Sqrt,
                    "rsqrt" => MathOp::Rsqrt,
                    "exp" => MathOp::Exp,
                    "exp2" => MathOp::Exp2,
                    "log" => MathOp::Log,
                    "log2" => MathOp::Log2,
                    "sin" => MathOp::Sin,
                    "cos" => MathOp::Cos,
                    "tanh" => MathOp::Tanh,
                    "floor" => MathOp::Floor,
                    _ => MathOp::Ceil,
                };
                Op::Math {
                    op,
                    ty,
                    d: dst(d)?,
                    a: self.src(a, ty.scalar())?,
                }
            }
            "and" | "or" | "xor" | "shl" | "shr" | "not" => {
                oc.expect_mods(1, &format!("{name}.T"))?;
                if oc.mods[0].0 == "pred" && name != "shl" && name != "shr" {
                    return self.pred_logic(i, name);
                }
                let ty = oc.subset(0, IntType::from_scalar, "u8 u16 u32 u64 i8 i16 i32 i64")?;
                let sty = ty.scalar();
                if name == "not" {
                    let [d, a] = operands(i, "d, a")?;
                    return Ok(Op::Not {
                        ty,
                        d: dst(d)?,
                        a: self.src(a, sty)?,
                    });
                }
                let [d, a, b] = operands(i, "d, a, b")?;
                let op = match name {
                    "and" => BitOp::And,
                    "or" => BitOp::Or,
                    "xor" => BitOp::Xor,
                    "shl" => BitOp::Shl,
                    _ => BitOp::Shr,
                };
                Op::Bit {
                    op,
                    ty,
                    d: dst(d)?,
                    a: self.src(a, sty)?,
                    b: self.src(b, sty)?,
                }
            }
            "setp" => {
                oc.expect_mods(2, "setp.CMP.T")?;
                let (cw, cspan) = oc.mods[0];
                let cmp = match cw {
                    "eq" => CmpOp::Eq,
                    "ne" => CmpOp::Ne,
                    "lt" => CmpOp::Lt,
                    "le" => CmpOp::Le,
                    "gt" => CmpOp::Gt,
                    "ge" => CmpOp::Ge,
                    _ => {
                        return Err(Diagnostic::new(
                            cspan,
                            format!("unknown comparison `.{cw}` (expected eq ne lt le gt ge)"),
                        ));
                    }
                };
                let ty = oc.ty(1)?;
                let [p, a, b] = operands(i, "pD, a, b")?;
                Op::Setp {
                    cmp,
                    ty,
                    p: pred_operand(p)?,
                    a: self.src(a, ty)?,
                    b: self.src(b, ty)?,
                }
            }
            "selp" => {
                oc.expect_mods(1, "selp.T")?;
                let ty = oc.ty(0)?;
                let [d, a, b, p] = operands(i, "d, a, b, pA")?;
                Op::Selp {
                    ty,
                    d: dst(d)?,
                    a: self.src(a, ty)?,
                    b: self.src(b, ty)?,
                    p: pred_operand(p)?,
                }
            }
            "atom" => {
                oc.expect_mods(3, "atom.SPACE.OP.T")?;
                let space = oc.space(0)?;
                let (ow, ospan) = oc.mods[1];
                if ow == "cas" {
                    let ty = oc.subset(2, CasType::from_scalar, "u32 i32 u64 i64")?;
                    let [d, addr, a, b] = operands(i, "d, [addr], a, b")?;
                    return Ok(Op::Cas {
                        space,
                        ty,
                        d: dst(d)?,
                        addr: self.address(addr, space)?,
                        a: self.src(a, ty.scalar())?,
                        b: self.src(b, ty.scalar())?,
                    });
                }
                let op = match ow {
                    "add" => AtomOp::Add,
                    "min" => AtomOp::Min,
                    "max" => AtomOp::Max,
                    "exch" => AtomOp::Exch,
                    _ => {
                        return Err(Diagnostic::new(
                            ospan,
                            format!(
                                "unknown atomic operation `.{ow}` (expected add min max exch cas)"
                            ),
                        ));
                    }
                };
                let ty = oc.subset(2, AtomType::from_scalar, "u32 i32 u64 i64 f32 f64")?;
                let [d, addr, a] = operands(i, "d, [addr], a")?;
                Op::Atom {
                    space,
                    op,
                    ty,
                    d: dst(d)?,
                    addr: self.address(addr, space)?,
                    a: self.src(a, ty.scalar())?,
                }
            }
            "bra" => {
                oc.expect_mods(0, "bra LABEL")?;
                let [l] = operands(i, "LABEL")?;
                match &l.kind {
                    OperandKind::Name(n) => match self.labels.get(n.as_str()) {
                        Some((target, _)) => Op::Bra { target: *target },
                        None => {
                            return Err(Diagnostic::new(l.span, format!("unknown label `{n}`")));
                        }
                    },
                    _ => return Err(Diagnostic::new(l.span, "`bra` takes a label")),
                }
            }
            "bar" => {
                oc.expect_mods(1, "bar.sync")?;
                if oc.mods[0].0 != "sync" {
                    return Err(Diagnostic::new(
                        oc.mods[0].1,
                        format!("unknown barrier `.{}` (expected `bar.sync`)", oc.mods[0].0),
                    ));
                }
                operands::<0>(i, "no operands")?;
                Op::Bar
            }
            "exit" => {
                oc.expect_mods(0, "exit")?;
                operands::<0>(i, "no operands")?;
                Op::Exit
            }
            _ => {
                return Err(Diagnostic::new(oc.span, format!("unknown opcode `{name}`")));
            }
        })
    }

    fn pred_logic(&self, i: &asm::Instruction, name: &str) -> Result<Op, Diagnostic> {
        if name == "not" {
            let [d, a] = operands(i, "pD, pA")?;
            return Ok(Op::PredNot {
                d: pred_operand(d)?,
                a: pred_operand(a)?,
            });
        }
        let [d, a, b] = operands(i, "pD, pA, pB")?;
        let op = match name {
            "and" => PredOp::And,
            "or" => PredOp::Or,
            _ => PredOp::Xor,
        };
        Ok(Op::PredLogic {
            op,
            d: pred_operand(d)?,
            a: pred_operand(a)?,
            b: pred_operand(b)?,
        })
    }

    fn src(&self, o: &Operand, ty: ScalarType) -> Result<Src, Diagnostic> {
        match &o.kind {
            OperandKind::Reg(n) => Ok(Src::Reg(reg_number(*n, o.span)?)),
            OperandKind::Special(s) => Special::from_name(s).map(Src::Special).ok_or_else(|| {
                Diagnostic::new(
                    o.span,
                    format!(
                        "unknown special register `%{s}` (expected %tid %ntid %ctaid %nctaid with .x/.y/.z, %laneid, %gid)"
                    ),
                )
            }),
            OperandKind::Name(n) => match self.params.get(n) {
                Some(ParamKind::Scalar { slot, .. }) => Ok(Src::Param(*slot)),
                Some(ParamKind::Buffer { .. }) => Err(Diagnostic::new(
                    o.span,
                    format!("buffer `{n}` is not a value; use it in an address like `[{n} + rX]`"),
                )),
                None => Err(Diagnostic::new(
                    o.span,
                    format!("unknown name `{n}` (not a register, special register or scalar parameter)"),
                )),
            },
            OperandKind::Literal(lit) => literal_bits(lit, ty)
                .map(Src::Imm)
                .map_err(|m| Diagnostic::new(o.span, m)),
            OperandKind::Pred(_) => Err(Diagnostic::new(
                o.span,
                "a predicate is not a value operand here",
            )),
            OperandKind::Address(_) => Err(Diagnostic::new(
                o.span,
                "an address is not a value operand here",
            )),
        }
    }

    fn address(&self, o: &Operand, space: Space) -> Result<Address, Diagnostic> {
        let OperandKind::Address(a) = &o.kind else {
            return Err(Diagnostic::new(
                o.span,
                "expected a memory address in brackets, like `[buf + r1]`",
            ));
        };
        let buffer = match (space, &a.buffer) {
            (Space::Global, None) => {
                return Err(Diagnostic::new(
                    o.span,
                    "a global address needs a buffer parameter, like `[buf + r1]`",
                ));
            }
            (Space::Shared, Some((name, span))) => {
                return Err(Diagnostic::new(
                    *span,
                    format!("a shared address has no buffer; remove `{name}`"),
                ));
            }
            (Space::Shared, None) => 0,
            (Space::Global, Some((name, span))) => match self.params.get(name) {
                Some(ParamKind::Buffer { slot }) => *slot,
                Some(ParamKind::Scalar { .. }) => {
                    return Err(Diagnostic::new(
                        *span,
                        format!("`{name}` is a scalar parameter, not a buffer"),
                    ));
                }
                None => {
                    return Err(Diagnostic::new(*span, format!("unknown buffer `{name}`")));
                }
            },
        };
        let reg = match a.reg {
            Some((n, span)) => Some(reg_number(n, span)?),
            None => None,
        };
        let (disp, disp_negative) = a.disp.map_or((0, false), |d| (d.value, d.negative));
        Ok(Address {
            buffer,
            reg,
            disp,
            disp_negative,
        })
    }
}

fn reg_number(n: u32, span: Span) -> Result<Reg, Diagnostic> {
    u8::try_from(n).map_err(|_| {
        Diagnostic::new(
            span,
            format!("register r{n} out of range (r0..r{})", NUM_REGS - 1),
        )
    })
}

fn pred_number(n: u32, span: Span) -> Result<Pred, Diagnostic> {
    if (n as usize) < NUM_PREDS {
        Ok(n as Pred)
    } else {
        Err(Diagnostic::new(
            span,
            format!("predicate p{n} out of range (p0..p{})", NUM_PREDS - 1),
        ))
    }
}

fn dst(o: &Operand) -> Result<Reg, Diagnostic> {
    match o.kind {
        OperandKind::Reg(n) => reg_number(n, o.span),
        _ => Err(Diagnostic::new(
            o.span,
            "the destination must be a register `rN`",
        )),
    }
}

fn pred_operand(o: &Operand) -> Result<Pred, Diagnostic> {
    match o.kind {
        OperandKind::Pred(n) => pred_number(n, o.span),
        _ => Err(Diagnostic::new(
            o.span,
            "expected a predicate register `pN`",
        )),
    }
}

/// Converts a literal to the register value of type `ty`, or says why it
/// does not fit.
pub(crate) fn literal_bits(lit: &Literal, ty: ScalarType) -> Result<u64, String> {
    match lit {
        Literal::Int {
            negative,
            magnitude,
            hex,
        } => {
            let (negative, magnitude, hex) = (*negative, *magnitude, *hex);
            let shown = format!(
                "{}{}",
                if negative { "-" } else { "" },
                if hex {
                    format!("0x{magnitude:X}")
                } else {
                    magnitude.to_string()
                }
            );
            let value: i128 = if negative {
                -(magnitude as i128)
            } else {
                magnitude as i128
            };
            // A float type takes the magnitude, then the sign, so that `-0`
            // is -0.0 like `-0.0` (negating after rounding gives the same
            // value as rounding the negative number: the rounding is
            // symmetric).
            match ty {
                ScalarType::F32 => {
                    let v = magnitude as f32;
                    Ok((if negative { -v } else { v }).to_bits() as u64)
                }
                ScalarType::F64 => {
                    let v = magnitude as f64;
                    Ok((if negative { -v } else { v }).to_bits())
                }
                _ => {
                    let bits = ty.bits();
                    let (lo, hi): (i128, i128) = if ty.is_signed_int() {
                        let hi = if hex && !negative {
                            (1i128 << bits) - 1
                        } else {
                            (1i128 << (bits - 1)) - 1
                        };
                        (-(1i128 << (bits - 1)), hi)
                    } else {
                        (0, (1i128 << bits) - 1)
                    };
                    if value < lo || value > hi {
                        Err(format!("immediate {shown} does not fit type {ty}"))
                    } else {
                        Ok(ty.extend(value as u64))
                    }
                }
            }
        }
        Literal::Float(text) => {
            let bits = match ty {
                ScalarType::F32 => text
                    .parse::<f32>()
                    .ok()
                    .map(|v| (v.is_infinite(), v.to_bits() as u64)),
                ScalarType::F64 => text
                    .parse::<f64>()
                    .ok()
                    .map(|v| (v.is_infinite(), v.to_bits())),
                _ => {
                    return Err(format!(
                        "float immediate {text} used with integer type {ty}"
                    ));
                }
            };
            match bits {
                Some((true, _)) if !text.contains("inf") => Err(format!(
                    "immediate {text} does not fit type {ty} (overflows to infinity)"
                )),
                Some((_, b)) => Ok(b),
                None => Err(format!("malformed float immediate `{text}`")),
            }
        }
    }
}
