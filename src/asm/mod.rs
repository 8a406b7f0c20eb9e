//! The LASM assembler front end: source text to a syntax tree and back.
//!
//! [`parse`] turns source text into a [`Module`] of kernel definitions,
//! keeping a [`Span`] on every piece so later stages can point at it.
//! The parser only checks the *shape* of each line (punctuation, operand
//! syntax); what the opcode means, whether its operands fit it and whether
//! labels and parameters exist is the job of [`crate::kernel`], so that a file
//! with many mistakes reports all of them in one pass.
//!
//! [`print`] writes the canonical text of a module; parsing that text gives
//! the same module back (apart from spans).

mod ast;
mod diag;
mod lexer;
mod parser;
mod printer;

pub use ast::{
    Address, Displacement, Guard, Instruction, KernelDef, Literal, Module, Operand, OperandKind,
    ParamDecl, Statement,
};
pub use diag::{Diagnostic, Diagnostics, Span};
pub use parser::parse;
pub use printer::{print, print_instruction};
