//! Validated, lowered, immutable kernels.
//!
//! [`compile`] parses a source file, checks everything docs/LANGUAGE.md section 7 lists
//! (reporting every error of the file at once as `FILE:LINE:COL: message`),
//! and lowers each kernel into a [`Kernel`]: a flat instruction array with jump
//! targets resolved, parameters turned into dense buffer and scalar slots, and
//! each instruction's source line kept for fault messages. Kernels are shared
//! as `Arc<Kernel>`.
//!
//! Choices where the language contract was silent (collected in
//! docs/LANGUAGE.md, section 9):
//! - An integer literal used with a float type stands for its numeric value
//!   with its sign (`mov.f32 r0, 1` is 1.0, `-0` is -0.0 like `-0.0`).
//! - A hex literal may give the full bit pattern of a signed type
//!   (`mov.i32 r0, 0xFFFFFFFF` is -1); decimal literals must be in range.
//! - A finite float literal that overflows its type is a validation error.
//! - `[rX - IMM]` is accepted for shared addresses, like `[BUF + rX - IMM]`.

pub(crate) mod flow;
mod instr;
mod lower;

pub use instr::*;
pub use lower::compile;

use std::any::Any;
use std::fmt;
use std::sync::{Arc, OnceLock};

use crate::types::ScalarType;

/// What a parameter binds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamKind {
    /// A global buffer, held in buffer slot `slot`.
    Buffer {
        /// Index into the launch's buffer slots.
        slot: u16,
    },
    /// A scalar of type `ty`, held in scalar slot `slot`.
    Scalar {
        /// The declared type.
        ty: ScalarType,
        /// Index into the launch's scalar slots.
        slot: u16,
    },
}

/// A declared parameter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Param {
    /// Its name.
    pub name: String,
    /// What it binds.
    pub kind: ParamKind,
}

impl fmt::Display for ParamKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamKind::Buffer { .. } => f.write_str("buf"),
            ParamKind::Scalar { ty, .. } => write!(f, "{ty}"),
        }
    }
}

/// Where an instruction came from, for fault messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceLine {
    /// 1-based line number in the source file.
    pub line: u32,
    /// The instruction's canonical text.
    pub text: String,
}

/// A validated, lowered kernel. Immutable; share it as `Arc<Kernel>`.
#[derive(Debug, PartialEq)]
pub struct Kernel {
    /// The kernel's name.
    pub name: String,
    /// Parameters in declaration (positional) order.
    pub params: Vec<Param>,
    /// Bytes of shared memory per block.
    pub shared_bytes: u32,
    /// The program.
    pub instrs: Vec<Instr>,
    /// Per instruction: where it came from.
    pub lines: Vec<SourceLine>,
    /// Number of buffer parameters.
    pub buffer_slots: usize,
    /// Number of scalar parameters.
    pub scalar_slots: usize,
    /// What engines derive from the kernel (prepared programs, compiled
    /// code), made on first use and freed with the kernel.
    pub(crate) derived: Derived,
}

/// How many engines may keep derived data beside a kernel.
pub(crate) const DERIVED_SLOTS: usize = 4;

/// Engine-private data derived from a kernel, one slot per engine. The
/// kernel does not know the types: each engine owns a slot index and stores
/// its own type there (see `crate::engine::Slot`), so the layering reads
/// kernel -> engines, never back. Derived data takes no part in
/// comparisons.
#[derive(Default)]
pub(crate) struct Derived([OnceLock<Box<dyn Any + Send + Sync>>; DERIVED_SLOTS]);

impl Derived {
    /// The value in `slot`, made by `init` on first use. `None` when the slot
    /// already holds a value of another type (two engines claiming one
    /// slot: a bug, reported instead of a panic).
    pub(crate) fn get_or_init<T: Any + Send + Sync>(
        &self,
        slot: usize,
        init: impl FnOnce() -> T,
    ) -> Option<&T> {
        self.0
            .get(slot)?
            .get_or_init(|| Box::new(init()))
            .downcast_ref::<T>()
    }
}

impl PartialEq for Derived {
    fn eq(&self, _: &Derived) -> bool {
        true
    }
}

impl fmt::Debug for Derived {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ready = self.0.iter().filter(|s| s.get().is_some()).count();
        write!(f, "Derived({ready} ready)")
    }
}

impl Kernel {
    /// The parameter bound to buffer slot `slot`.
    pub fn buffer_param(&self, slot: u16) -> Option<&Param> {
        self.params
            .iter()
            .find(|p| matches!(p.kind, ParamKind::Buffer { slot: s } if s == slot))
    }

    /// Finds a parameter by name.
    pub fn param(&self, name: &str) -> Option<&Param> {
        self.params.iter().find(|p| p.name == name)
    }
}

/// All kernels of one source file.
#[derive(Clone, Debug, Default)]
pub struct Program {
    /// The kernels, in file order.
    pub kernels: Vec<Arc<Kernel>>,
}

impl Program {
    /// The kernel called `name`.
    pub fn kernel(&self, name: &str) -> Option<&Arc<Kernel>> {
        self.kernels.iter().find(|k| k.name == name)
    }

    /// The kernel names, in file order.
    pub fn names(&self) -> Vec<&str> {
        self.kernels.iter().map(|k| k.name.as_str()).collect()
    }
}
