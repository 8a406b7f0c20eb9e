//! The scalar types of LASM (docs/LANGUAGE.md section 3) and the narrower type sets that
//! individual instruction families accept.
//!
//! Each family gets its own enum so that the lowered program can only name a
//! type the instruction allows: the engines then dispatch with total matches
//! and never meet an impossible combination.

use std::fmt;

/// A LASM scalar type: `u8 u16 u32 u64 i8 i16 i32 i64 f32 f64`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ScalarType {
    /// Unsigned 8-bit integer.
    U8,
    /// Unsigned 16-bit integer.
    U16,
    /// Unsigned 32-bit integer.
    U32,
    /// Unsigned 64-bit integer.
    U64,
    /// Signed 8-bit integer.
    I8,
    /// Signed 16-bit integer.
    I16,
    /// Signed 32-bit integer.
    I32,
    /// Signed 64-bit integer.
    I64,
    /// IEEE-754 binary32.
    F32,
    /// IEEE-754 binary64.
    F64,
}

impl ScalarType {
    /// Every scalar type, in ISA order.
    pub const ALL: [ScalarType; 10] = [
        ScalarType::U8,
        ScalarType::U16,
        ScalarType::U32,
        ScalarType::U64,
        ScalarType::I8,
        ScalarType::I16,
        ScalarType::I32,
        ScalarType::I64,
        ScalarType::F32,
        ScalarType::F64,
    ];

    /// The type's LASM name (`u32`, `f64`, ...).
    pub fn name(self) -> &'static str {
        match self {
            ScalarType::U8 => "u8",
            ScalarType::U16 => "u16",
            ScalarType::U32 => "u32",
            ScalarType::U64 => "u64",
            ScalarType::I8 => "i8",
            ScalarType::I16 => "i16",
            ScalarType::I32 => "i32",
            ScalarType::I64 => "i64",
            ScalarType::F32 => "f32",
            ScalarType::F64 => "f64",
        }
    }

    /// Parses a LASM type name.
    pub fn from_name(name: &str) -> Option<ScalarType> {
        ScalarType::ALL.into_iter().find(|t| t.name() == name)
    }

    /// Size in bytes.
    pub fn size(self) -> usize {
        match self {
            ScalarType::U8 | ScalarType::I8 => 1,
            ScalarType::U16 | ScalarType::I16 => 2,
            ScalarType::U32 | ScalarType::I32 | ScalarType::F32 => 4,
            ScalarType::U64 | ScalarType::I64 | ScalarType::F64 => 8,
        }
    }

    /// Width in bits.
    pub fn bits(self) -> u32 {
        self.size() as u32 * 8
    }

    /// True for `f32` and `f64`.
    pub fn is_float(self) -> bool {
        matches!(self, ScalarType::F32 | ScalarType::F64)
    }

    /// True for `i8`..`i64`.
    pub fn is_signed_int(self) -> bool {
        matches!(
            self,
            ScalarType::I8 | ScalarType::I16 | ScalarType::I32 | ScalarType::I64
        )
    }

    /// True for the unsigned and signed integer types.
    pub fn is_int(self) -> bool {
        !self.is_float()
    }
}

impl fmt::Display for ScalarType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

macro_rules! type_subset {
    ($(#[$doc:meta])* $name:ident { $($variant:ident),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $(
                #[allow(missing_docs)]
                $variant,
            )+
        }

        impl $name {
            /// The scalar type this stands for.
            pub fn scalar(self) -> ScalarType {
                match self {
                    $($name::$variant => ScalarType::$variant,)+
                }
            }

            /// The member of this set for `ty`, if `ty` is one.
            pub fn from_scalar(ty: ScalarType) -> Option<Self> {
                match ty {
                    $(ScalarType::$variant => Some($name::$variant),)+
                    #[allow(unreachable_patterns)]
                    _ => None,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.scalar().name())
            }
        }
    };
}

type_subset!(
    /// Integer types: bitwise operations and shifts.
    IntType { U8, U16, U32, U64, I8, I16, I32, I64 }
);
type_subset!(
    /// Signed integers and floats: `neg` and `abs`.
    SignedType { I8, I16, I32, I64, F32, F64 }
);
type_subset!(
    /// Floats: the math functions.
    FloatType { F32, F64 }
);
type_subset!(
    /// Types of `atom` add/min/max/exch.
    AtomType { U32, I32, U64, I64, F32, F64 }
);
type_subset!(
    /// Types of `atom.cas`.
    CasType { U32, I32, U64, I64 }
);

impl ScalarType {
    /// The 64-bit register value that holds a `self` value whose raw bits are
    /// the low bits of `bits`: zero-extended for unsigned and `f32`,
    /// sign-extended for signed integers (docs/LANGUAGE.md section 3).
    #[inline]
    pub fn extend(self, bits: u64) -> u64 {
        match self {
            ScalarType::U8 => bits as u8 as u64,
            ScalarType::U16 => bits as u16 as u64,
            ScalarType::U32 | ScalarType::F32 => bits as u32 as u64,
            ScalarType::U64 | ScalarType::I64 | ScalarType::F64 => bits,
            ScalarType::I8 => bits as i8 as i64 as u64,
            ScalarType::I16 => bits as i16 as i64 as u64,
            ScalarType::I32 => bits as i32 as i64 as u64,
        }
    }
}
