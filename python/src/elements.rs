//! The ten element types, between NumPy dtypes and lanes' typed buffers.

use lanes::Buffer;
use lanes::types::ScalarType;
use numpy::{PyArrayDescr, PyArrayDescrMethods, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::prelude::*;

use crate::errors::{Result, argument};

/// An element type that both lanes and NumPy know: `u8 .. f64`.
pub(crate) trait Elem: lanes::Element + numpy::Element + Copy {
    /// The typed buffer inside `b`, if it holds this type.
    fn of(b: &AnyBuffer) -> Option<&Buffer<Self>>;
    /// `b` as an [`AnyBuffer`].
    fn wrap(b: Buffer<Self>) -> AnyBuffer;
}

/// A typed buffer of any element type.
#[derive(Debug)]
pub(crate) enum AnyBuffer {
    U8(Buffer<u8>),
    U16(Buffer<u16>),
    U32(Buffer<u32>),
    U64(Buffer<u64>),
    I8(Buffer<i8>),
    I16(Buffer<i16>),
    I32(Buffer<i32>),
    I64(Buffer<i64>),
    F32(Buffer<f32>),
    F64(Buffer<f64>),
}

macro_rules! elems {
    ($($t:ident $variant:ident),*) => {$(
        impl Elem for $t {
            fn of(b: &AnyBuffer) -> Option<&Buffer<$t>> {
                match b {
                    AnyBuffer::$variant(b) => Some(b),
                    _ => None,
                }
            }
            fn wrap(b: Buffer<$t>) -> AnyBuffer {
                AnyBuffer::$variant(b)
            }
        }
    )*};
}
elems!(u8 U8, u16 U16, u32 U32, u64 U64, i8 I8, i16 I16, i32 I32, i64 I64, f32 F32, f64 F64);

/// Runs `$body` with `$t` the Rust type of scalar type `$ty`.
macro_rules! with_type {
    ($ty:expr, $t:ident => $body:expr) => {
        match $ty {
            lanes::types::ScalarType::U8 => {
                type $t = u8;
                $body
            }
            lanes::types::ScalarType::U16 => {
                type $t = u16;
                $body
            }
            lanes::types::ScalarType::U32 => {
                type $t = u32;
                $body
            }
            lanes::types::ScalarType::U64 => {
                type $t = u64;
                $body
            }
            lanes::types::ScalarType::I8 => {
                type $t = i8;
                $body
            }
            lanes::types::ScalarType::I16 => {
                type $t = i16;
                $body
            }
            lanes::types::ScalarType::I32 => {
                type $t = i32;
                $body
            }
            lanes::types::ScalarType::I64 => {
                type $t = i64;
                $body
            }
            lanes::types::ScalarType::F32 => {
                type $t = f32;
                $body
            }
            lanes::types::ScalarType::F64 => {
                type $t = f64;
                $body
            }
        }
    };
}
pub(crate) use with_type;

/// Runs `$body` with `$b` the typed buffer inside an [`AnyBuffer`].
macro_rules! with_buffer {
    ($buffer:expr, $b:ident => $body:expr) => {
        match $buffer {
            $crate::elements::AnyBuffer::U8($b) => $body,
            $crate::elements::AnyBuffer::U16($b) => $body,
            $crate::elements::AnyBuffer::U32($b) => $body,
            $crate::elements::AnyBuffer::U64($b) => $body,
            $crate::elements::AnyBuffer::I8($b) => $body,
            $crate::elements::AnyBuffer::I16($b) => $body,
            $crate::elements::AnyBuffer::I32($b) => $body,
            $crate::elements::AnyBuffer::I64($b) => $body,
            $crate::elements::AnyBuffer::F32($b) => $body,
            $crate::elements::AnyBuffer::F64($b) => $body,
        }
    };
}
pub(crate) use with_buffer;

impl AnyBuffer {
    /// The launch argument for this buffer.
    pub(crate) fn launch_arg(&self) -> lanes::LaunchArg<'_> {
        with_buffer!(self, b => b.into())
    }

    /// The element type.
    pub(crate) fn element(&self) -> ScalarType {
        with_buffer!(self, b => b.element_type())
    }

    /// Number of elements.
    pub(crate) fn len(&self) -> usize {
        with_buffer!(self, b => b.len())
    }
}

/// NumPy's name for a scalar type (`float32`).
pub(crate) fn numpy_name(ty: ScalarType) -> &'static str {
    match ty {
        ScalarType::U8 => "uint8",
        ScalarType::U16 => "uint16",
        ScalarType::U32 => "uint32",
        ScalarType::U64 => "uint64",
        ScalarType::I8 => "int8",
        ScalarType::I16 => "int16",
        ScalarType::I32 => "int32",
        ScalarType::I64 => "int64",
        ScalarType::F32 => "float32",
        ScalarType::F64 => "float64",
    }
}

/// The scalar type of a dtype, or why it has none.
pub(crate) fn scalar_type_of(
    dtype: &Bound<'_, PyArrayDescr>,
) -> std::result::Result<ScalarType, String> {
    let size = dtype.itemsize();
    let ty = match (dtype.kind(), size) {
        (b'u', 1) => Some(ScalarType::U8),
        (b'u', 2) => Some(ScalarType::U16),
        (b'u', 4) => Some(ScalarType::U32),
        (b'u', 8) => Some(ScalarType::U64),
        (b'i', 1) => Some(ScalarType::I8),
        (b'i', 2) => Some(ScalarType::I16),
        (b'i', 4) => Some(ScalarType::I32),
        (b'i', 8) => Some(ScalarType::I64),
        (b'f', 4) => Some(ScalarType::F32),
        (b'f', 8) => Some(ScalarType::F64),
        _ => None,
    };
    // Only an error needs the dtype's name (a Python call).
    let shown = || {
        dtype
            .str()
            .map(|s| s.to_string())
            .unwrap_or_else(|_| "?".to_string())
    };
    match ty {
        Some(_) if dtype.is_native_byteorder() == Some(false) => Err(format!(
            "dtype {} is not in the machine's byte order (use arr.astype(arr.dtype.newbyteorder('=')))",
            shown()
        )),
        Some(ty) => Ok(ty),
        None => Err(format!(
            "dtype {} is not an element type of lanes (uint8/16/32/64, int8/16/32/64, float32, float64)",
            shown()
        )),
    }
}

/// The scalar type of `array`'s dtype; an `ArgumentError` about `what`
/// when it has none.
pub(crate) fn array_type(array: &Bound<'_, PyUntypedArray>, what: &str) -> Result<ScalarType> {
    scalar_type_of(&array.dtype()).map_err(|why| argument(format!("{what}: {why}")))
}

/// The scalar type named by a dtype-like Python object (`"float32"`,
/// `numpy.float32`, a dtype, or a lanes name such as `"f32"`).
pub(crate) fn dtype_arg(py: Python<'_>, dtype: &Bound<'_, PyAny>) -> Result<ScalarType> {
    if let Ok(name) = dtype.extract::<&str>() {
        if let Some(ty) = ScalarType::from_name(name) {
            return Ok(ty);
        }
    }
    let descr = PyArrayDescr::new(py, dtype).map_err(|e| argument(format!("dtype: {e}")))?;
    scalar_type_of(&descr).map_err(|why| argument(format!("dtype: {why}")))
}

/// The NumPy dtype of a scalar type.
pub(crate) fn dtype_of(py: Python<'_>, ty: ScalarType) -> Bound<'_, PyArrayDescr> {
    with_type!(ty, T => numpy::dtype::<T>(py))
}

/// A shape as Python writes a tuple: `(5,)`, `(3, 4)`, `()`.
pub(crate) fn shape_text(shape: &[usize]) -> String {
    match shape {
        [d] => format!("({d},)"),
        _ => {
            let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
            format!("({})", dims.join(", "))
        }
    }
}
