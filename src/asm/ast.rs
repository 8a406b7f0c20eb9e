//! The syntax tree of a LASM file, as written (names unresolved).

use super::diag::Span;

/// A parsed source file: one or more kernels.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Module {
    /// The kernels, in file order.
    pub kernels: Vec<KernelDef>,
}

/// One `.kernel` section.
#[derive(Clone, Debug, PartialEq)]
pub struct KernelDef {
    /// The kernel's name.
    pub name: String,
    /// Where the name is.
    pub span: Span,
    /// `.param` directives in order.
    pub params: Vec<ParamDecl>,
    /// The `.shared` directives (normally at most one).
    pub shared: Vec<(u64, Span)>,
    /// Labels and instructions in order.
    pub body: Vec<Statement>,
}

/// `.param NAME TYPE`.
#[derive(Clone, Debug, PartialEq)]
pub struct ParamDecl {
    /// Parameter name.
    pub name: String,
    /// Where the name is.
    pub span: Span,
    /// The type word as written (`buf`, `u32`, ...).
    pub ty: String,
    /// Where the type word is.
    pub ty_span: Span,
}

/// A label or an instruction.
#[derive(Clone, Debug, PartialEq)]
pub enum Statement {
    /// `NAME:`
    Label {
        /// Label name.
        name: String,
        /// Where it is.
        span: Span,
    },
    /// An instruction.
    Instr(Instruction),
}

/// `@pN` or `@!pN` before an instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Guard {
    /// `true` for `@!pN`.
    pub negated: bool,
    /// The predicate number N as written (range checked later).
    pub pred: u32,
    /// Where the guard is.
    pub span: Span,
}

/// One instruction line.
#[derive(Clone, Debug, PartialEq)]
pub struct Instruction {
    /// Optional guard.
    pub guard: Option<Guard>,
    /// The dotted opcode as written, e.g. `ld.global.f32`.
    pub opcode: String,
    /// Where the opcode is.
    pub opcode_span: Span,
    /// Operands in order.
    pub operands: Vec<Operand>,
    /// Start of the line's instruction (guard or opcode).
    pub span: Span,
}

/// An operand with its position.
#[derive(Clone, Debug, PartialEq)]
pub struct Operand {
    /// What the operand is.
    pub kind: OperandKind,
    /// Where it starts.
    pub span: Span,
}

/// The syntactic kinds of operand.
#[derive(Clone, Debug, PartialEq)]
pub enum OperandKind {
    /// `rN`
    Reg(u32),
    /// `pN`
    Pred(u32),
    /// `%name` or `%name.x`, without the `%`.
    Special(String),
    /// A bare identifier: a parameter or a label.
    Name(String),
    /// A numeric literal.
    Literal(Literal),
    /// `[ ... ]` (boxed: it is the largest kind, and most operands are not
    /// addresses, so every operand stays small).
    Address(Box<Address>),
}

/// A numeric literal as written.
#[derive(Clone, Debug, PartialEq)]
pub enum Literal {
    /// An integer: sign, magnitude, and whether it was written in hex.
    Int {
        /// A leading `-`.
        negative: bool,
        /// The magnitude.
        magnitude: u64,
        /// Written as `0x...`.
        hex: bool,
    },
    /// A float literal (`1.5`, `-2e-3`, `inf`, `nan`), text including sign.
    Float(String),
}

/// A memory address: `[BUF + rX + IMM]` and its shorter forms.
#[derive(Clone, Debug, PartialEq)]
pub struct Address {
    /// The buffer parameter, for global addresses.
    pub buffer: Option<(String, Span)>,
    /// The offset register number.
    pub reg: Option<(u32, Span)>,
    /// The constant displacement.
    pub disp: Option<Displacement>,
}

/// `+ IMM` or `- IMM` inside an address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Displacement {
    /// Subtracted rather than added.
    pub negative: bool,
    /// The magnitude in bytes.
    pub value: u64,
    /// Written in hex.
    pub hex: bool,
    /// Where the number is.
    pub span: Span,
}
