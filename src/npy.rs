//! Reading and writing `.npy` files.
//!
//! lanes moves raw little-endian bytes between `.npy` files and buffers, so a
//! read gives the element type and the bytes in C order (any shape,
//! flattened; a 0-d array is one element), and a write takes a type and bytes
//! and stores a 1-D array. The accepted dtypes are the ten LASM scalar types:
//! `u1 u2 u4 u8 i1 i2 i4 i8 f4 f8`, little-endian (`<`, or `|` for one-byte
//! types). Everything else — big-endian, `bool`, complex, strings, structured
//! dtypes, Fortran order, truncated or corrupt files — is an [`NpyError`]
//! naming the file and the problem.
//!
//! The header is interpreted by `npyz`, but only after it has been checked
//! for what a hostile file could use against it: the header must lie inside
//! the file and be at most [`MAX_HEADER_BYTES`] long, its brackets may nest
//! only a few levels, and the declared shape must fit the bytes that follow
//! it. So a file that claims a huge shape is an error, not a huge
//! allocation, and no input reaches an arithmetic overflow inside the
//! parser.
//!
//! Files are read in that order ([`open`], then [`NpyFile::read_data`]): the
//! first bytes (a file without the magic string is refused after reading
//! 12 bytes, so `/dev/zero` is refused at once), then the header, then the
//! declared size is compared with the file's length, and only then are
//! exactly the declared bytes read. A file whose length differs from what its
//! header declares is refused with both numbers, without reading its data:
//! missing data ([`NpyProblem::Truncated`]) and trailing bytes
//! ([`NpyProblem::Trailing`]; `numpy.load` would ignore them, but they are
//! more likely a wrong or corrupt file than a wish). Devices and pipes, whose
//! length is unknown, are read up to the declared size and one byte more.
//!
//! ```
//! use lanes::npy;
//! use lanes::types::ScalarType;
//!
//! let values: Vec<u8> = [1.5f32, -2.0].iter().flat_map(|v| v.to_le_bytes()).collect();
//! let file = npy::encode(ScalarType::F32, &values).unwrap();
//! let array = npy::decode(&file).unwrap();
//! assert_eq!(array.ty, ScalarType::F32);
//! assert_eq!(array.shape, vec![2]);
//! assert_eq!(array.bytes, values);
//! ```

use std::fmt;
use std::path::Path;

use npyz::{DType, Endianness, Order, TypeChar, WriterBuilder};

use crate::types::ScalarType;

/// The longest header [`decode`] accepts, in bytes. NumPy itself refuses
/// headers over 10000 bytes unless told otherwise.
pub const MAX_HEADER_BYTES: usize = 65536;

/// How deeply brackets may nest in a header. A plain array needs two levels
/// (the dict and the shape tuple); the limit keeps the recursive parser's
/// stack small whatever the file says.
const MAX_NESTING: usize = 8;

const MAGIC: &[u8; 6] = b"\x93NUMPY";

/// An array read from a `.npy` file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NpyArray {
    /// The element type.
    pub ty: ScalarType,
    /// The shape as declared (empty for a 0-d array).
    pub shape: Vec<u64>,
    /// The elements' little-endian bytes in C order.
    pub bytes: Vec<u8>,
}

impl NpyArray {
    /// The number of elements.
    pub fn len(&self) -> usize {
        self.bytes.len() / self.ty.size()
    }

    /// True when the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

/// What is wrong with a `.npy` file or a write request.
#[derive(Debug, thiserror::Error)]
pub enum NpyProblem {
    /// The file could not be read or written.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The file does not start with the `.npy` magic string.
    #[error("not an .npy file (it does not start with \\x93NUMPY)")]
    NotNpy,
    /// A format version other than 1.0, 2.0 or 3.0.
    #[error("unsupported .npy format version {0}.{1}")]
    Version(u8, u8),
    /// The file ends inside the header.
    #[error("truncated header: the file ends before the header does")]
    TruncatedHeader,
    /// The header text is malformed or unusable.
    #[error("bad header: {0}")]
    Header(String),
    /// A dtype lanes does not handle.
    #[error(
        "unsupported dtype {descr}: {why}; lanes reads little-endian u1 u2 u4 u8 i1 i2 i4 i8 f4 f8"
    )]
    Dtype {
        /// The dtype as written in the file.
        descr: String,
        /// Why it is refused.
        why: String,
    },
    /// The array is stored in Fortran (column-major) order.
    #[error(
        "Fortran-order arrays are not supported; save a C-order array (numpy.ascontiguousarray)"
    )]
    FortranOrder,
    /// The declared shape needs more bytes than the file holds.
    #[error(
        "truncated data: shape {shape:?} needs {needed} bytes of data but the file has {available}"
    )]
    Truncated {
        /// The declared shape.
        shape: Vec<u64>,
        /// Bytes the shape needs, if it can be counted at all.
        needed: String,
        /// Bytes after the header.
        available: usize,
    },
    /// The file has bytes after the data its header declares.
    #[error(
        "trailing data: shape {shape:?} needs {needed} bytes of data but the file has {available} bytes after its header"
    )]
    Trailing {
        /// The declared shape.
        shape: Vec<u64>,
        /// Bytes the shape needs.
        needed: usize,
        /// Bytes after the header (for a device or pipe: `needed + 1`,
        /// as far as it was read).
        available: u64,
    },
    /// Bytes to write whose length is not a whole number of elements.
    #[error("{len} bytes is not a whole number of {ty} elements ({size} bytes each)")]
    ByteLength {
        /// The byte count.
        len: usize,
        /// The element type.
        ty: ScalarType,
        /// Its size.
        size: usize,
    },
}

/// An error reading or writing a `.npy` file: the file and the problem.
#[derive(Debug, thiserror::Error)]
pub struct NpyError {
    /// The file, as the caller named it.
    pub file: String,
    /// What went wrong.
    #[source]
    pub problem: NpyProblem,
}

impl fmt::Display for NpyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.file, self.problem)
    }
}

/// Reads a `.npy` file: [`open`], then [`NpyFile::read_data`].
pub fn read(path: impl AsRef<Path>) -> Result<NpyArray, NpyError> {
    let file = open(path)?;
    let (ty, shape) = (file.ty, file.shape.clone());
    let bytes = file.read_data()?;
    Ok(NpyArray { ty, shape, bytes })
}

/// An open `.npy` file whose header was read and checked, and (for a
/// regular file) whose length matches what the header declares; its data is
/// not read yet.
#[derive(Debug)]
pub struct NpyFile {
    /// The element type.
    pub ty: ScalarType,
    /// The shape as declared (empty for a 0-d array).
    pub shape: Vec<u64>,
    /// Bytes of data the header declares.
    pub data_len: usize,
    name: String,
    file: std::fs::File,
    /// False for devices and pipes: their length is unknown.
    regular: bool,
}

/// Opens `path` and reads and checks its header (see the module docs).
pub fn open(path: impl AsRef<Path>) -> Result<NpyFile, NpyError> {
    use std::io::Read;

    let path = path.as_ref();
    let at = |problem| NpyError {
        file: path.display().to_string(),
        problem,
    };
    let io = |e| at(NpyProblem::Io(e));
    let mut file = std::fs::File::open(path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    let regular = meta.is_file();
    // Magic, version and header length first: nothing more is read from a
    // file that is not a `.npy` file.
    let mut head = Vec::with_capacity(16);
    (&mut file)
        .take(PREFIX_BYTES as u64)
        .read_to_end(&mut head)
        .map_err(io)?;
    let data_at = header_extent(&head).map_err(at)?;
    (&mut file)
        .take((data_at - head.len().min(data_at)) as u64)
        .read_to_end(&mut head)
        .map_err(io)?;
    if head.len() < data_at {
        return Err(at(NpyProblem::TruncatedHeader));
    }
    let available = regular.then(|| meta.len().saturating_sub(data_at as u64));
    let header = parse_header(&head[..data_at], available).map_err(at)?;
    if let Some(available) = available {
        check_data_len(&header, available).map_err(at)?;
    }
    Ok(NpyFile {
        ty: header.ty,
        shape: header.shape,
        data_len: header.data_len,
        name: path.display().to_string(),
        file,
        regular,
    })
}

impl NpyFile {
    /// Reads the data: exactly the declared bytes.
    pub fn read_data(mut self) -> Result<Vec<u8>, NpyError> {
        let mut bytes = Vec::new();
        if self.regular {
            // The length was checked against the file's: this is what the
            // file holds.
            bytes.try_reserve_exact(self.data_len).map_err(|_| {
                self.error(NpyProblem::Io(std::io::Error::other(format!(
                    "cannot allocate {} bytes for its data",
                    self.data_len
                ))))
            })?;
        }
        self.read_chunks(|_, chunk| {
            bytes.extend_from_slice(chunk);
            Ok(())
        })?;
        Ok(bytes)
    }

    /// Reads the data in pieces of at most 1 MiB: `sink(offset, piece)` for
    /// each, in order. A sink error stops the read and is returned.
    pub fn read_chunks(
        &mut self,
        mut sink: impl FnMut(usize, &[u8]) -> std::io::Result<()>,
    ) -> Result<(), NpyError> {
        use std::io::Read;

        let mut piece = vec![0u8; CHUNK_BYTES.min(self.data_len.max(1))];
        let mut done = 0;
        while done < self.data_len {
            let want = piece.len().min(self.data_len - done);
            let got = match self.file.read(&mut piece[..want]) {
                Ok(0) => {
                    return Err(self.error(NpyProblem::Truncated {
                        shape: self.shape.clone(),
                        needed: self.data_len.to_string(),
                        available: done,
                    }));
                }
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.error(NpyProblem::Io(e))),
            };
            sink(done, &piece[..got]).map_err(|e| self.error(NpyProblem::Io(e)))?;
            done += got;
        }
        if !self.regular {
            // A device or pipe: one byte more is trailing data.
            let mut one = [0u8; 1];
            let more = loop {
                match self.file.read(&mut one) {
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    other => break other.map_err(|e| self.error(NpyProblem::Io(e)))?,
                }
            };
            if more > 0 {
                return Err(self.error(NpyProblem::Trailing {
                    shape: self.shape.clone(),
                    needed: self.data_len,
                    available: self.data_len as u64 + 1,
                }));
            }
        }
        Ok(())
    }

    fn error(&self, problem: NpyProblem) -> NpyError {
        NpyError {
            file: self.name.clone(),
            problem,
        }
    }
}

/// Bytes read before anything else: magic, version and header length.
const PREFIX_BYTES: usize = 12;

/// Data is read in pieces of this size.
const CHUNK_BYTES: usize = 1 << 20;

/// Writes `bytes` (little-endian elements of `ty`) as a 1-D `.npy` file.
pub fn write(path: impl AsRef<Path>, ty: ScalarType, bytes: &[u8]) -> Result<(), NpyError> {
    let path = path.as_ref();
    let at = |problem| NpyError {
        file: path.display().to_string(),
        problem,
    };
    let data = encode(ty, bytes).map_err(at)?;
    std::fs::write(path, data).map_err(|e| at(NpyProblem::Io(e)))
}

/// The `.npy` file contents for a 1-D array of `ty` holding `bytes`.
pub fn encode(ty: ScalarType, bytes: &[u8]) -> Result<Vec<u8>, NpyProblem> {
    let size = ty.size();
    if bytes.len() % size != 0 {
        return Err(NpyProblem::ByteLength {
            len: bytes.len(),
            ty,
            size,
        });
    }
    let count = (bytes.len() / size) as u64;
    let mut out = Vec::new();
    out.try_reserve_exact(bytes.len().saturating_add(128))
        .map_err(|e| NpyProblem::Io(std::io::Error::other(e)))?;
    let mut out = npyz::WriteOptions::<u8>::new()
        .dtype(dtype_of(ty))
        .shape(&[count])
        .writer(out)
        .write_header_only()?;
    out.extend_from_slice(bytes);
    Ok(out)
}

/// The NumPy dtype lanes writes for `ty`.
fn dtype_of(ty: ScalarType) -> DType {
    let descr = match ty {
        ScalarType::U8 => "|u1",
        ScalarType::U16 => "<u2",
        ScalarType::U32 => "<u4",
        ScalarType::U64 => "<u8",
        ScalarType::I8 => "|i1",
        ScalarType::I16 => "<i2",
        ScalarType::I32 => "<i4",
        ScalarType::I64 => "<i8",
        ScalarType::F32 => "<f4",
        ScalarType::F64 => "<f8",
    };
    match descr.parse() {
        Ok(ts) => DType::Plain(ts),
        // The strings above are constants that npyz always accepts.
        Err(e) => unreachable!("npyz rejected the constant dtype {descr}: {e}"),
    }
}

/// Decodes the contents of a `.npy` file. Like [`read`], it refuses data
/// shorter or longer than the header declares.
pub fn decode(data: &[u8]) -> Result<NpyArray, NpyProblem> {
    let data_at = header_extent(data)?;
    if data.len() < data_at {
        return Err(NpyProblem::TruncatedHeader);
    }
    let available = (data.len() - data_at) as u64;
    let header = parse_header(&data[..data_at], Some(available))?;
    check_data_len(&header, available)?;
    Ok(NpyArray {
        ty: header.ty,
        shape: header.shape,
        bytes: data[data_at..].to_vec(),
    })
}

/// What a checked header says.
struct Header {
    ty: ScalarType,
    shape: Vec<u64>,
    /// Bytes of data it declares.
    data_len: usize,
}

/// Refuses data of another length than `header` declares.
fn check_data_len(header: &Header, available: u64) -> Result<(), NpyProblem> {
    let needed = header.data_len as u64;
    if needed > available {
        return Err(NpyProblem::Truncated {
            shape: header.shape.clone(),
            needed: needed.to_string(),
            available: usize::try_from(available).unwrap_or(usize::MAX),
        });
    }
    if needed < available {
        return Err(NpyProblem::Trailing {
            shape: header.shape.clone(),
            needed: header.data_len,
            available,
        });
    }
    Ok(())
}

/// Where the data starts, from the first bytes of a file (magic, version,
/// header length); refuses a file without the magic string, of an unknown
/// version or with a header over [`MAX_HEADER_BYTES`].
fn header_extent(data: &[u8]) -> Result<usize, NpyProblem> {
    if data.len() < 8 || &data[..6] != MAGIC {
        return Err(if MAGIC.starts_with(data) || data.starts_with(MAGIC) {
            NpyProblem::TruncatedHeader
        } else {
            NpyProblem::NotNpy
        });
    }
    let (len_bytes, text_at) = match (data[6], data[7]) {
        (1, 0) => (2, 10),
        (2, 0) | (3, 0) => (4, 12),
        (major, minor) => return Err(NpyProblem::Version(major, minor)),
    };
    if data.len() < text_at {
        return Err(NpyProblem::TruncatedHeader);
    }
    let mut len = [0u8; 4];
    len[..len_bytes].copy_from_slice(&data[8..text_at]);
    let header_len = u32::from_le_bytes(len) as usize;
    if header_len > MAX_HEADER_BYTES {
        return Err(NpyProblem::Header(format!(
            "the header is {header_len} bytes long, more than the {MAX_HEADER_BYTES} accepted"
        )));
    }
    Ok(text_at + header_len)
}

/// Checks and interprets the header `head` (the file's bytes up to its
/// data). `available`: the data bytes that follow it, when known; the
/// declared shape must fit them.
fn parse_header(head: &[u8], available: Option<u64>) -> Result<Header, NpyProblem> {
    let text_at = if head[6] == 1 { 10 } else { 12 };
    let text = std::str::from_utf8(&head[text_at..])
        .map_err(|_| NpyProblem::Header("the header is not UTF-8 text".to_string()))?;
    check_nesting(text)?;
    let value: py_literal::Value = text
        .trim_end()
        .parse()
        .map_err(|e| NpyProblem::Header(format!("not a Python literal: {e}")))?;
    if let Some(shape) = declared_shape(&value) {
        let available = available.map_or(usize::MAX, |a| usize::try_from(a).unwrap_or(usize::MAX));
        check_shape_fits(&shape, available)?;
    }
    let header =
        npyz::NpyHeader::from_reader(head).map_err(|e| NpyProblem::Header(e.to_string()))?;
    let ty = scalar_type(&header.dtype())?;
    if header.order() == Order::Fortran {
        return Err(NpyProblem::FortranOrder);
    }
    let shape = header.shape().to_vec();
    let data_len = usize::try_from(header.len())
        .ok()
        .and_then(|n| n.checked_mul(ty.size()))
        .ok_or_else(|| NpyProblem::Truncated {
            shape: shape.clone(),
            needed: format!("{} x {}", header.len(), ty.size()),
            available: available.map_or(usize::MAX, |a| usize::try_from(a).unwrap_or(usize::MAX)),
        })?;
    Ok(Header {
        ty,
        shape,
        data_len,
    })
}

fn check_nesting(text: &str) -> Result<(), NpyProblem> {
    let mut depth = 0usize;
    for c in text.chars() {
        match c {
            '(' | '[' | '{' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(NpyProblem::Header(format!(
                        "brackets nest more than {MAX_NESTING} levels deep"
                    )));
                }
            }
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// The `shape` entry of the header dict, if it is a sequence of integers.
/// Anything else is left for npyz to report.
fn declared_shape(value: &py_literal::Value) -> Option<Vec<ShapeDim>> {
    use py_literal::Value;
    let Value::Dict(entries) = value else {
        return None;
    };
    let (_, shape) = entries
        .iter()
        .find(|(k, _)| matches!(k, Value::String(s) if s == "shape"))?;
    let dims = match shape {
        Value::Tuple(d) | Value::List(d) => d,
        _ => return None,
    };
    dims.iter()
        .map(|d| match d {
            Value::Integer(n) => Some(match u64::try_from(n) {
                Ok(v) => ShapeDim::Fits(v),
                Err(_) if n.to_string().starts_with('-') => ShapeDim::Negative,
                Err(_) => ShapeDim::Huge,
            }),
            _ => None,
        })
        .collect()
}

/// A declared dimension, as far as the guard cares.
enum ShapeDim {
    Fits(u64),
    Negative,
    Huge,
}

/// Refuses a shape whose element count cannot fit the `available` data bytes
/// (every dtype has at least one byte per element), and one whose nonzero
/// dimensions multiply past `u64` (npyz computes such products unchecked).
fn check_shape_fits(shape: &[ShapeDim], available: usize) -> Result<(), NpyProblem> {
    let mut nonzero: u128 = 1;
    let mut any_zero = false;
    let mut shown = Vec::with_capacity(shape.len());
    for d in shape {
        match d {
            ShapeDim::Negative => {
                return Err(NpyProblem::Header(
                    "the shape has a negative dimension".to_string(),
                ));
            }
            ShapeDim::Huge => {
                return Err(NpyProblem::Header(
                    "a shape dimension does not fit in 64 bits".to_string(),
                ));
            }
            ShapeDim::Fits(0) => {
                any_zero = true;
                shown.push(0);
            }
            ShapeDim::Fits(v) => {
                shown.push(*v);
                nonzero = nonzero.saturating_mul(*v as u128);
            }
        }
    }
    if nonzero > u64::MAX as u128 {
        return Err(NpyProblem::Truncated {
            shape: shown,
            needed: "more than 2^64".to_string(),
            available,
        });
    }
    let count = if any_zero { 0 } else { nonzero };
    if count > available as u128 {
        return Err(NpyProblem::Truncated {
            shape: shown,
            needed: format!("at least {count}"),
            available,
        });
    }
    Ok(())
}

/// The scalar type of a dtype, or why lanes cannot use it.
fn scalar_type(dtype: &DType) -> Result<ScalarType, NpyProblem> {
    let refuse = |why: &str| NpyProblem::Dtype {
        descr: dtype.descr(),
        why: why.to_string(),
    };
    let ts = match dtype {
        DType::Plain(ts) => ts,
        DType::Record(_) => return Err(refuse("structured dtypes are not supported")),
        DType::Array(..) => return Err(refuse("sub-array dtypes are not supported")),
    };
    let size = ts.size_field();
    let ty = match (ts.type_char(), size) {
        (TypeChar::Uint, 1) => ScalarType::U8,
        (TypeChar::Uint, 2) => ScalarType::U16,
        (TypeChar::Uint, 4) => ScalarType::U32,
        (TypeChar::Uint, 8) => ScalarType::U64,
        (TypeChar::Int, 1) => ScalarType::I8,
        (TypeChar::Int, 2) => ScalarType::I16,
        (TypeChar::Int, 4) => ScalarType::I32,
        (TypeChar::Int, 8) => ScalarType::I64,
        (TypeChar::Float, 4) => ScalarType::F32,
        (TypeChar::Float, 8) => ScalarType::F64,
        (TypeChar::Float, _) => return Err(refuse("only 4- and 8-byte floats are supported")),
        (TypeChar::Bool, _) => {
            return Err(refuse(
                "bool arrays are not supported (convert with astype(numpy.uint8))",
            ));
        }
        (TypeChar::Complex, _) => return Err(refuse("complex numbers are not supported")),
        _ => return Err(refuse("not a numeric type")),
    };
    match (ts.endianness(), size) {
        (Endianness::Little, _) | (Endianness::Irrelevant, 1) => Ok(ty),
        (Endianness::Big, _) => Err(refuse("big-endian data is not supported")),
        (Endianness::Irrelevant, _) => Err(refuse("a multi-byte type needs a byte order")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A raw `.npy` file with header text `dict` and `data` after it.
    fn raw(version: u8, dict: &str, data: &[u8]) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.push(version);
        out.push(0);
        let text = format!("{dict}\n");
        if version == 1 {
            out.extend_from_slice(&(text.len() as u16).to_le_bytes());
        } else {
            out.extend_from_slice(&(text.len() as u32).to_le_bytes());
        }
        out.extend_from_slice(text.as_bytes());
        out.extend_from_slice(data);
        out
    }

    fn dict(descr: &str, fortran: bool, shape: &str) -> String {
        let f = if fortran { "True" } else { "False" };
        format!("{{'descr': '{descr}', 'fortran_order': {f}, 'shape': {shape}, }}")
    }

    fn problem(data: &[u8]) -> String {
        match decode(data) {
            Ok(a) => panic!("decoded {a:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn every_type_round_trips() {
        for ty in ScalarType::ALL {
            let bytes: Vec<u8> = (0..ty.size() * 5).map(|i| (i * 37 + 1) as u8).collect();
            let file = encode(ty, &bytes).unwrap();
            assert_eq!(
                file.len() % 64,
                bytes.len() % 64,
                "header is 64-byte aligned"
            );
            let a = decode(&file).unwrap();
            assert_eq!((a.ty, a.shape.as_slice(), a.len()), (ty, &[5u64][..], 5));
            assert_eq!(a.bytes, bytes);
        }
    }

    #[test]
    fn empty_arrays_round_trip() {
        let a = decode(&encode(ScalarType::F64, &[]).unwrap()).unwrap();
        assert_eq!(
            (a.ty, a.shape.as_slice(), a.is_empty()),
            (ScalarType::F64, &[0u64][..], true)
        );
    }

    #[test]
    fn every_dtype_string_reads() {
        let cases = [
            ("|u1", ScalarType::U8),
            ("<u1", ScalarType::U8),
            ("<u2", ScalarType::U16),
            ("<u4", ScalarType::U32),
            ("<u8", ScalarType::U64),
            ("|i1", ScalarType::I8),
            ("<i2", ScalarType::I16),
            ("<i4", ScalarType::I32),
            ("<i8", ScalarType::I64),
            ("<f4", ScalarType::F32),
            ("<f8", ScalarType::F64),
        ];
        for (descr, ty) in cases {
            let bytes: Vec<u8> = (0..ty.size() as u8 * 3).collect();
            let a = decode(&raw(1, &dict(descr, false, "(3,)"), &bytes)).unwrap();
            assert_eq!((a.ty, a.bytes), (ty, bytes), "{descr}");
        }
    }

    #[test]
    fn shapes_flatten_in_c_order_and_0d_is_one_element() {
        let bytes: Vec<u8> = (0..24).collect();
        let a = decode(&raw(1, &dict("<i4", false, "(2, 3)"), &bytes)).unwrap();
        assert_eq!((a.shape, a.bytes), (vec![2, 3], bytes.clone()));
        let a = decode(&raw(2, &dict("<f4", false, "()"), &bytes[..4])).unwrap();
        assert_eq!((a.shape, a.bytes), (vec![], bytes[..4].to_vec()));
        let a = decode(&raw(3, &dict("<u2", false, "(0, 7)"), &[])).unwrap();
        assert!(a.is_empty());
    }

    #[test]
    fn trailing_bytes_are_refused_with_both_lengths() {
        let msg = problem(&raw(1, &dict("|u1", false, "(2,)"), &[1, 2, 3]));
        assert!(
            msg.contains("trailing data")
                && msg.contains("needs 2 bytes")
                && msg.contains("has 3 bytes"),
            "{msg}"
        );
    }

    #[test]
    fn files_are_checked_before_their_data_is_read() {
        let dir = tempfile::tempdir().unwrap();
        // One declared element, then a (sparse) GiB: refused from the
        // lengths alone, naming both.
        let path = dir.path().join("trailing.npy");
        std::fs::write(&path, raw(1, &dict("<f4", false, "(1,)"), &[0; 4])).unwrap();
        let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        let header_and_data = file.metadata().unwrap().len();
        file.set_len(header_and_data + (1 << 30)).unwrap();
        let msg = open(&path).unwrap_err().to_string();
        assert!(
            msg.contains("trailing data")
                && msg.contains("needs 4 bytes")
                && msg.contains(&format!("has {} bytes", 4 + (1u64 << 30))),
            "{msg}"
        );
        // Short data: refused the same way.
        let path = dir.path().join("short.npy");
        std::fs::write(&path, raw(1, &dict("<f4", false, "(3,)"), &[0; 8])).unwrap();
        let msg = open(&path).unwrap_err().to_string();
        assert!(
            msg.contains("needs 12 bytes") && msg.ends_with("has 8"),
            "{msg}"
        );
        // The header, then exactly the declared bytes, in pieces.
        let path = dir.path().join("ok.npy");
        let values: Vec<u8> = (0..(3 << 20) + 5).map(|i| (i % 251) as u8).collect();
        write(&path, ScalarType::U8, &values).unwrap();
        let mut f = open(&path).unwrap();
        assert_eq!((f.ty, f.data_len), (ScalarType::U8, values.len()));
        let mut got = Vec::new();
        let mut pieces = 0;
        f.read_chunks(|at, piece| {
            assert_eq!(at, got.len());
            got.extend_from_slice(piece);
            pieces += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!(got, values);
        assert!(pieces >= 4, "{pieces} pieces");
    }

    #[cfg(unix)]
    #[test]
    fn endless_devices_are_refused_at_once() {
        // Not a `.npy` file: refused after its first bytes.
        let msg = read("/dev/zero").unwrap_err().to_string();
        assert!(msg.contains("not an .npy file"), "{msg}");
        let msg = read("/dev/null").unwrap_err().to_string();
        assert!(msg.contains("truncated header"), "{msg}");
    }

    #[test]
    fn unsupported_dtypes_are_refused() {
        for (descr, what) in [
            (">f4", "big-endian"),
            (">i2", "big-endian"),
            ("|b1", "bool"),
            ("<c8", "complex"),
            ("<f2", "4- and 8-byte"),
            ("|S4", "not a numeric type"),
            ("<U2", "not a numeric type"),
            ("<M8[s]", "not a numeric type"),
            ("|f4", "endianness"),
        ] {
            let msg = problem(&raw(1, &dict(descr, false, "(1,)"), &[0; 16]));
            assert!(msg.contains(what), "{descr}: {msg}");
        }
        let structured =
            "{'descr': [('a', '<i4'), ('b', '<f4')], 'fortran_order': False, 'shape': (1,), }";
        assert!(problem(&raw(1, structured, &[0; 8])).contains("structured"));
    }

    #[test]
    fn fortran_order_is_refused() {
        let msg = problem(&raw(1, &dict("<f4", true, "(2, 2)"), &[0; 16]));
        assert!(msg.contains("Fortran"), "{msg}");
    }

    #[test]
    fn bad_headers_are_errors() {
        let good = raw(1, &dict("<f4", false, "(2,)"), &[0; 8]);
        assert!(problem(b"").contains("truncated header"));
        assert!(problem(&good[..5]).contains("truncated header"));
        assert!(problem(b"PK\x03\x04 not numpy at all").contains("not an .npy file"));
        let mut v = good.clone();
        v[6] = 9;
        assert!(problem(&v).contains("version 9.0"));
        assert!(problem(&good[..30]).contains("truncated header"));
        assert!(problem(&good[..good.len() - 1]).contains("truncated data"));
        assert!(problem(&raw(1, "not python", &[])).contains("bad header"));
        assert!(problem(&raw(1, "[1, 2]", &[])).contains("bad header"));
        assert!(
            problem(&raw(1, "{'descr': '<f4', 'shape': (1,)}", &[0; 4])).contains("fortran_order")
        );
        assert!(problem(&raw(1, &dict("<f4", false, "(-1,)"), &[0; 4])).contains("negative"));
        assert!(problem(&raw(1, &dict("<f4", false, "(1.5,)"), &[0; 4])).contains("bad header"));
        assert!(problem(&raw(1, &dict("<f4", false, "(2**3,)"), &[0; 4])).contains("bad header"));
        let mut v = raw(1, &dict("<f4", false, "(1,)"), &[0; 4]);
        v[20] = 0xFF;
        assert!(problem(&v).contains("UTF-8"));
    }

    #[test]
    fn huge_declared_shapes_are_refused_without_allocating() {
        for shape in [
            "(1000000000000,)",
            "(4294967296, 4294967296)",
            "(18446744073709551615, 2)",
            "(4294967296, 4294967296, 0)",
            "(0, 4294967296, 4294967296)",
            "(18446744073709551616,)",
            "(3,)",
        ] {
            let msg = problem(&raw(2, &dict("<f8", false, shape), &[0; 16]));
            assert!(
                msg.contains("truncated data") || msg.contains("64 bits"),
                "{shape}: {msg}"
            );
        }
    }

    #[test]
    fn hostile_header_lengths_and_nesting_are_refused() {
        let mut v = MAGIC.to_vec();
        v.extend_from_slice(&[2, 0]);
        v.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(problem(&v).contains("more than"));
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        let v = raw(2, &deep, &[]);
        assert!(problem(&v).contains("more than"));
        let nested = format!(
            "{{'descr': '<f4', 'fortran_order': False, 'shape': {}1,{}}}",
            "(".repeat(20),
            ")".repeat(20)
        );
        assert!(problem(&raw(1, &nested, &[])).contains("nest"));
    }

    #[test]
    fn write_refuses_partial_elements_and_names_the_file() {
        assert!(matches!(
            encode(ScalarType::U32, &[1, 2, 3]),
            Err(NpyProblem::ByteLength { len: 3, .. })
        ));
        let err = read("/nonexistent/dir/x.npy").unwrap_err();
        assert!(
            err.to_string().starts_with("/nonexistent/dir/x.npy: "),
            "{err}"
        );
    }

    #[test]
    fn files_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.npy");
        let bytes: Vec<u8> = [-1i16, 7, 300]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        write(&path, ScalarType::I16, &bytes).unwrap();
        let a = read(&path).unwrap();
        assert_eq!((a.ty, a.bytes), (ScalarType::I16, bytes));
        // npyz reads what we wrote, as typed values.
        let file = std::fs::File::open(&path).unwrap();
        let values: Vec<i16> = npyz::NpyFile::new(file).unwrap().into_vec().unwrap();
        assert_eq!(values, vec![-1, 7, 300]);
    }

    mod fuzz {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            #[test]
            fn random_headers_never_panic(text in "[{}()\\[\\],: '\"a-z0-9<>|*.eE+-]{0,80}") {
                let _ = decode(&raw(1, &text, &[0; 64]));
            }

            #[test]
            fn random_bytes_never_panic(mut bytes in proptest::collection::vec(any::<u8>(), 0..200), valid_prefix in any::<bool>()) {
                if valid_prefix && bytes.len() >= 8 {
                    bytes[..6].copy_from_slice(MAGIC);
                    bytes[6] = 1;
                    bytes[7] = 0;
                }
                let _ = decode(&bytes);
            }

            #[test]
            fn truncating_a_valid_file_is_an_error(cut in 0usize..200) {
                let file = encode(ScalarType::F32, &[7u8; 64]).unwrap();
                let cut = cut.min(file.len() - 1);
                prop_assert!(decode(&file[..cut]).is_err());
            }
        }
    }
}
