//! The kernel files of the op library, rendered per element type and
//! compiled once.

use std::sync::{Arc, OnceLock};

use super::OpsError;
use crate::kernel::{Kernel, Program};
use crate::types::ScalarType;

/// Every element type.
const ALL: &[ScalarType] = &ScalarType::ALL;
/// The types with a sign.
const SIGNED: &[ScalarType] = &[
    ScalarType::I8,
    ScalarType::I16,
    ScalarType::I32,
    ScalarType::I64,
    ScalarType::F32,
    ScalarType::F64,
];
/// The float types.
const FLOAT: &[ScalarType] = &[ScalarType::F32, ScalarType::F64];

/// A kernel file of the library: LASM text with placeholders for the
/// element type, rendered for each type it is offered for.
///
/// ```
/// use lanes::ops::Family;
/// use lanes::types::ScalarType;
///
/// let text = Family::Elementwise.source(ScalarType::I16).unwrap();
/// assert!(text.contains(".kernel add_i16"));
/// assert!(Family::Activation.source(ScalarType::I16).is_none(), "float only");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Family {
    /// `elementwise.lasm`: add sub mul div minimum maximum, add_scalar
    /// mul_scalar, clip, copy, fill. Every type.
    Elementwise,
    /// `signed.lasm`: abs neg relu. Signed integers and floats.
    Signed,
    /// `activation.lasm`: sigmoid tanh gelu and the softmax steps. Floats.
    Activation,
    /// `reduce.lasm`: one pass of the sum, min and max trees. Every type.
    Reduce,
    /// `loss.lasm`: the first pass of mse, cross-entropy and binary
    /// cross-entropy. Floats.
    Loss,
    /// `linalg.lasm`: gemm and matvec. Floats.
    Linalg,
}

impl Family {
    /// Every family.
    pub const ALL: [Family; 6] = [
        Family::Elementwise,
        Family::Signed,
        Family::Activation,
        Family::Reduce,
        Family::Loss,
        Family::Linalg,
    ];

    /// The template's file name in `src/ops/`.
    ///
    /// ```
    /// assert_eq!(lanes::ops::Family::Reduce.file_name(), "reduce.lasm");
    /// ```
    pub fn file_name(self) -> &'static str {
        match self {
            Family::Elementwise => "elementwise.lasm",
            Family::Signed => "signed.lasm",
            Family::Activation => "activation.lasm",
            Family::Reduce => "reduce.lasm",
            Family::Loss => "loss.lasm",
            Family::Linalg => "linalg.lasm",
        }
    }

    /// The template: LASM with `{T}` (type name), `{S}` (log2 of its size),
    /// `{SIZE}` (its size), `{SHARED}` (256 elements in bytes), `{MAX}` and
    /// `{LOWEST}` (its extreme values) in place of the type.
    ///
    /// ```
    /// assert!(lanes::ops::Family::Linalg.template().contains(".kernel gemm_{T}"));
    /// ```
    pub fn template(self) -> &'static str {
        match self {
            Family::Elementwise => include_str!("elementwise.lasm"),
            Family::Signed => include_str!("signed.lasm"),
            Family::Activation => include_str!("activation.lasm"),
            Family::Reduce => include_str!("reduce.lasm"),
            Family::Loss => include_str!("loss.lasm"),
            Family::Linalg => include_str!("linalg.lasm"),
        }
    }

    /// The element types the family is offered for.
    ///
    /// ```
    /// use lanes::{ops::Family, types::ScalarType};
    ///
    /// assert!(Family::Signed.types().contains(&ScalarType::I8));
    /// assert!(!Family::Signed.types().contains(&ScalarType::U8));
    /// ```
    pub fn types(self) -> &'static [ScalarType] {
        match self {
            Family::Elementwise | Family::Reduce => ALL,
            Family::Signed => SIGNED,
            Family::Activation | Family::Loss | Family::Linalg => FLOAT,
        }
    }

    /// The template rendered for `ty`: the LASM source the library compiles
    /// (`None` if the family is not offered for `ty`).
    ///
    /// ```
    /// use lanes::{ops::Family, types::ScalarType};
    ///
    /// let text = Family::Reduce.source(ScalarType::U8).unwrap();
    /// assert!(text.contains("r3, 255"), "min starts from u8's largest value");
    /// ```
    pub fn source(self, ty: ScalarType) -> Option<String> {
        if !self.types().contains(&ty) {
            return None;
        }
        let size = ty.size();
        let (max, lowest) = extremes(ty);
        Some(
            self.template()
                .replace("{T}", ty.name())
                .replace("{SIZE}", &size.to_string())
                .replace("{S}", &size.trailing_zeros().to_string())
                .replace("{SHARED}", &(256 * size).to_string())
                .replace("{MAX}", &max)
                .replace("{LOWEST}", &lowest),
        )
    }

    /// The compiled kernel `{name}_{ty}` of this family, compiled on first
    /// use (once per family and type) and shared after.
    pub(crate) fn kernel(self, ty: ScalarType, name: &str) -> Result<Arc<Kernel>, OpsError> {
        static PROGRAMS: [[OnceLock<Result<Program, String>>; 10]; 6] =
            [const { [const { OnceLock::new() }; 10] }; 6];
        let full = format!("{name}_{ty}");
        let broken = |message: String| OpsError::BuiltIn {
            name: format!("{full} ({})", self.file_name()),
            message,
        };
        let program = PROGRAMS[self as usize][ty as usize].get_or_init(|| {
            let source = self
                .source(ty)
                .ok_or_else(|| format!("not offered for {ty}"))?;
            crate::compile(self.file_name(), &source).map_err(|d| d.to_string())
        });
        let program = program.as_ref().map_err(|e| broken(e.clone()))?;
        program
            .kernel(&full)
            .cloned()
            .ok_or_else(|| broken("no such kernel".to_string()))
    }
}

/// The largest and the lowest value of `ty` as LASM literals.
fn extremes(ty: ScalarType) -> (String, String) {
    match ty {
        ScalarType::F32 | ScalarType::F64 => ("inf".into(), "-inf".into()),
        ScalarType::U8 | ScalarType::U16 | ScalarType::U32 | ScalarType::U64 => {
            let max = u64::MAX >> (64 - ty.bits());
            (max.to_string(), "0".into())
        }
        ScalarType::I8 | ScalarType::I16 | ScalarType::I32 | ScalarType::I64 => {
            let max = i64::MAX >> (64 - ty.bits());
            (max.to_string(), (-max - 1).to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_compiles_for_every_type_it_offers() {
        for family in Family::ALL {
            for &ty in family.types() {
                let source = family.source(ty).unwrap();
                let left = source
                    .match_indices('{')
                    .any(|(i, _)| source[i + 1..].starts_with(|c: char| c.is_ascii_uppercase()));
                assert!(!left, "{family:?} {ty}: a placeholder is left");
                let program = crate::compile(family.file_name(), &source)
                    .unwrap_or_else(|d| panic!("{family:?} for {ty}:\n{d}"));
                for k in &program.kernels {
                    assert!(k.name.ends_with(&format!("_{ty}")), "{}", k.name);
                }
            }
        }
    }

    #[test]
    fn extremes_are_the_types_bounds() {
        assert_eq!(extremes(ScalarType::U8), ("255".into(), "0".into()));
        assert_eq!(extremes(ScalarType::I8), ("127".into(), "-128".into()));
        assert_eq!(
            extremes(ScalarType::I64),
            (i64::MAX.to_string(), i64::MIN.to_string())
        );
        assert_eq!(extremes(ScalarType::U64).0, u64::MAX.to_string());
    }
}
