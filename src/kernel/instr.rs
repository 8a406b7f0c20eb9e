//! The lowered instruction form that engines run: decoded operands, resolved
//! jump targets and parameter slots, no strings.

use crate::types::{AtomType, CasType, FloatType, IntType, ScalarType, SignedType};

/// A register number, `r0`..`r255`.
pub type Reg = u8;
/// A predicate number, `p0`..`p15`.
pub type Pred = u8;

/// Number of general registers per lane.
pub const NUM_REGS: usize = 256;
/// Number of predicate registers per lane.
pub const NUM_PREDS: usize = 16;

/// A special register (docs/LANGUAGE.md section 3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Special {
    /// `%tid.{x,y,z}`: lane index in its block (axis 0..3).
    Tid(u8),
    /// `%ntid.{x,y,z}`: block size.
    Ntid(u8),
    /// `%ctaid.{x,y,z}`: block index in the grid.
    Ctaid(u8),
    /// `%nctaid.{x,y,z}`: grid size.
    Nctaid(u8),
    /// `%laneid`: linear lane index in its block.
    LaneId,
    /// `%gid`: linear global lane index (u64).
    Gid,
}

impl Special {
    /// Parses the name after `%`.
    pub fn from_name(name: &str) -> Option<Special> {
        let axis = |s: &str| match s {
            "x" => Some(0),
            "y" => Some(1),
            "z" => Some(2),
            _ => None,
        };
        match name.split_once('.') {
            None => match name {
                "laneid" => Some(Special::LaneId),
                "gid" => Some(Special::Gid),
                _ => None,
            },
            Some((base, ax)) => {
                let a = axis(ax)?;
                match base {
                    "tid" => Some(Special::Tid(a)),
                    "ntid" => Some(Special::Ntid(a)),
                    "ctaid" => Some(Special::Ctaid(a)),
                    "nctaid" => Some(Special::Nctaid(a)),
                    _ => None,
                }
            }
        }
    }
}

/// A source operand after lowering.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Src {
    /// A register.
    Reg(Reg),
    /// An immediate, already converted to the instruction's type and
    /// extended to 64 bits as a register would hold it.
    Imm(u64),
    /// A special register.
    Special(Special),
    /// A scalar parameter: index into the launch's scalar slots.
    Param(u16),
}

/// Global or shared memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Space {
    /// The launch's bound buffers.
    Global,
    /// The block's shared memory.
    Shared,
}

/// A lowered address: `[buffer + reg ± disp]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Address {
    /// For global accesses, the buffer slot (index into the launch's buffers).
    pub buffer: u16,
    /// The offset register, if any.
    pub reg: Option<Reg>,
    /// The constant displacement's magnitude.
    pub disp: u64,
    /// The displacement is subtracted.
    pub disp_negative: bool,
}

impl Address {
    /// The effective byte offset for a register value, or `None` when the sum
    /// leaves `0..=u64::MAX` (which is always out of bounds). The exact value
    /// is then [`Address::exact_offset`].
    #[inline]
    pub fn offset(&self, reg_value: u64) -> Option<u64> {
        if self.disp_negative {
            reg_value.checked_sub(self.disp)
        } else {
            reg_value.checked_add(self.disp)
        }
    }

    /// The mathematically exact offset, for fault messages.
    pub fn exact_offset(&self, reg_value: u64) -> i128 {
        let d = self.disp as i128;
        reg_value as i128 + if self.disp_negative { -d } else { d }
    }
}

/// `add sub mul min max`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ArithOp {
    /// `add`
    Add,
    /// `sub`
    Sub,
    /// `mul`
    Mul,
    /// `min`
    Min,
    /// `max`
    Max,
}

/// `div rem`: the operations that fault on integer division by zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DivOp {
    /// `div`
    Div,
    /// `rem`
    Rem,
}

/// `and or xor shl shr` on integers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BitOp {
    /// `and`
    And,
    /// `or`
    Or,
    /// `xor`
    Xor,
    /// `shl`
    Shl,
    /// `shr`
    Shr,
}

/// `neg abs`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SignOp {
    /// `neg`
    Neg,
    /// `abs`
    Abs,
}

/// The float math functions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MathOp {
    /// `sqrt`
    Sqrt,
    /// `rsqrt`
    Rsqrt,
    /// `exp`
    Exp,
    /// `exp2`
    Exp2,
    /// `log`
    Log,
    /// `log2`
    Log2,
    /// `sin`
    Sin,
    /// `cos`
    Cos,
    /// `tanh`
    Tanh,
    /// `floor`
    Floor,
    /// `ceil`
    Ceil,
}

/// Comparison of `setp`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CmpOp {
    /// `eq`
    Eq,
    /// `ne`
    Ne,
    /// `lt`
    Lt,
    /// `le`
    Le,
    /// `gt`
    Gt,
    /// `ge`
    Ge,
}

/// Predicate logic `and.pred or.pred xor.pred`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PredOp {
    /// `and.pred`
    And,
    /// `or.pred`
    Or,
    /// `xor.pred`
    Xor,
}

/// Atomic read-modify-write operations other than `cas`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AtomOp {
    /// `add`
    Add,
    /// `min`
    Min,
    /// `max`
    Max,
    /// `exch`
    Exch,
}

/// What an instruction does.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Op {
    /// `mov.T d, a`
    Mov { ty: ScalarType, d: Reg, a: Src },
    /// `ld.SPACE.T d, [addr]`
    Load {
        space: Space,
        ty: ScalarType,
        d: Reg,
        addr: Address,
    },
    /// `st.SPACE.T [addr], a`
    Store {
        space: Space,
        ty: ScalarType,
        addr: Address,
        a: Src,
    },
    /// `cvt.TO.FROM d, a`
    Cvt {
        to: ScalarType,
        from: ScalarType,
        d: Reg,
        a: Src,
    },
    /// `add sub mul min max`
    Arith {
        op: ArithOp,
        ty: ScalarType,
        d: Reg,
        a: Src,
        b: Src,
    },
    /// `div rem`
    Div {
        op: DivOp,
        ty: ScalarType,
        d: Reg,
        a: Src,
        b: Src,
    },
    /// `fma.T d, a, b, c`
    Fma {
        ty: ScalarType,
        d: Reg,
        a: Src,
        b: Src,
        c: Src,
    },
    /// `and or xor shl shr`
    Bit {
        op: BitOp,
        ty: IntType,
        d: Reg,
        a: Src,
        b: Src,
    },
    /// `not.T d, a`
    Not { ty: IntType, d: Reg, a: Src },
    /// `neg abs`
    Sign {
        op: SignOp,
        ty: SignedType,
        d: Reg,
        a: Src,
    },
    /// float math
    Math {
        op: MathOp,
        ty: FloatType,
        d: Reg,
        a: Src,
    },
    /// `setp.CMP.T p, a, b`
    Setp {
        cmp: CmpOp,
        ty: ScalarType,
        p: Pred,
        a: Src,
        b: Src,
    },
    /// `selp.T d, a, b, p`
    Selp {
        ty: ScalarType,
        d: Reg,
        a: Src,
        b: Src,
        p: Pred,
    },
    /// `and.pred or.pred xor.pred`
    PredLogic {
        op: PredOp,
        d: Pred,
        a: Pred,
        b: Pred,
    },
    /// `not.pred`
    PredNot { d: Pred, a: Pred },
    /// `atom.SPACE.OP.T d, [addr], a`
    Atom {
        space: Space,
        op: AtomOp,
        ty: AtomType,
        d: Reg,
        addr: Address,
        a: Src,
    },
    /// `atom.SPACE.cas.T d, [addr], a, b`
    Cas {
        space: Space,
        ty: CasType,
        d: Reg,
        addr: Address,
        a: Src,
        b: Src,
    },
    /// `bra LABEL`: target instruction index (may equal the program length).
    Bra { target: u32 },
    /// `bar.sync`
    Bar,
    /// `exit`
    Exit,
}

/// `@pN` / `@!pN`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Guard {
    /// The predicate tested.
    pub pred: Pred,
    /// Run when the predicate is false.
    pub negated: bool,
}

impl Guard {
    /// Whether a lane with predicate bits `preds` runs the instruction.
    #[inline]
    pub fn passes(&self, preds: u16) -> bool {
        ((preds >> self.pred) & 1 != 0) != self.negated
    }
}

/// One lowered instruction.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Instr {
    /// The guard, if any.
    pub guard: Option<Guard>,
    /// The operation.
    pub op: Op,
}
