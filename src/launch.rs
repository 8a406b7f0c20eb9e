//! Launch shapes, arguments, faults and launch errors.

use std::fmt;
use std::sync::Arc;

use crate::kernel::{Kernel, ParamKind, Space};
use crate::memory::{Buffer, BufferId, MemoryError};
use crate::types::ScalarType;

/// The most lanes one block may have.
pub const MAX_LANES_PER_BLOCK: u64 = 1024;

/// The default per-lane step budget (docs/LANGUAGE.md section 7).
pub const DEFAULT_MAX_STEPS: u64 = 1 << 32;

/// A 3-D size or index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Dim3 {
    /// x extent or coordinate.
    pub x: u32,
    /// y extent or coordinate.
    pub y: u32,
    /// z extent or coordinate.
    pub z: u32,
}

impl Dim3 {
    /// `(x, y, z)`.
    pub const fn new(x: u32, y: u32, z: u32) -> Dim3 {
        Dim3 { x, y, z }
    }

    /// `(x, 1, 1)`.
    pub const fn x(x: u32) -> Dim3 {
        Dim3 { x, y: 1, z: 1 }
    }

    /// `x * y * z`, exact.
    pub fn count(self) -> u128 {
        self.x as u128 * self.y as u128 * self.z as u128
    }

    /// The coordinate of linear index `i` in a box of this size.
    pub fn unflatten(self, i: u64) -> Dim3 {
        let (x, y) = (self.x.max(1) as u64, self.y.max(1) as u64);
        Dim3 {
            x: (i % x) as u32,
            y: ((i / x) % y) as u32,
            z: (i / (x * y)) as u32,
        }
    }

    /// Component `axis` (0 = x, 1 = y, 2 = z).
    #[inline]
    pub fn get(self, axis: u8) -> u32 {
        match axis {
            0 => self.x,
            1 => self.y,
            _ => self.z,
        }
    }
}

impl fmt::Display for Dim3 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({}, {}, {})", self.x, self.y, self.z)
    }
}

/// A typed scalar argument.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scalar {
    /// Its type.
    pub ty: ScalarType,
    /// Its register contents (extended to 64 bits per the type).
    pub bits: u64,
}

impl Scalar {
    /// Parses `text` as a value of type `ty` (decimal or `0x` hex integers;
    /// floats as Rust parses them, plus `inf`, `-inf`, `nan`). A float type
    /// keeps the sign of zero: `-0` is -0.0, as the immediate `-0` is.
    ///
    /// A finite number too large for a float type is an error, as it is for
    /// an immediate (docs/LANGUAGE.md section 3): `1e39` does not fit `f32`; infinity
    /// must be written as such (`inf`, `-inf`, `infinity`).
    pub fn parse(ty: ScalarType, text: &str) -> Result<Scalar, String> {
        let t = text.trim();
        let shown = crate::text::quote(text);
        let overflow = |infinite: bool| {
            if infinite && !t.to_ascii_lowercase().contains("inf") {
                Err(format!(
                    "`{shown}` does not fit {ty} (overflows to infinity)"
                ))
            } else {
                Ok(())
            }
        };
        let bits = match ty {
            ScalarType::F32 => {
                let v = t
                    .parse::<f32>()
                    .map_err(|_| format!("`{shown}` is not an f32"))?;
                overflow(v.is_infinite())?;
                v.to_bits() as u64
            }
            ScalarType::F64 => {
                let v = t
                    .parse::<f64>()
                    .map_err(|_| format!("`{shown}` is not an f64"))?;
                overflow(v.is_infinite())?;
                v.to_bits()
            }
            _ => {
                let (neg, digits) = match t.strip_prefix('-') {
                    Some(d) => (true, d),
                    None => (false, t),
                };
                let mag = match digits
                    .strip_prefix("0x")
                    .or_else(|| digits.strip_prefix("0X"))
                {
                    Some(h) => u128::from_str_radix(h, 16),
                    None => digits.parse::<u128>(),
                }
                .map_err(|_| format!("`{shown}` is not an integer"))?;
                let v: i128 =
                    i128::try_from(mag).map_err(|_| format!("`{shown}` does not fit {ty}"))?;
                let v = if neg { -v } else { v };
                let bits = ty.bits();
                let (lo, hi) = if ty.is_signed_int() {
                    (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1)
                } else {
                    (0, (1i128 << bits) - 1)
                };
                if v < lo || v > hi {
                    return Err(format!("`{shown}` does not fit {ty}"));
                }
                ty.extend(v as u64)
            }
        };
        Ok(Scalar { ty, bits })
    }
}

macro_rules! scalar_from {
    ($($t:ident $variant:ident),*) => {$(
        impl From<$t> for Scalar {
            fn from(v: $t) -> Scalar {
                Scalar { ty: ScalarType::$variant, bits: ScalarType::$variant.extend(v as u64) }
            }
        }
    )*};
}
scalar_from!(u8 U8, u16 U16, u32 U32, u64 U64, i8 I8, i16 I16, i32 I32, i64 I64);

impl From<f32> for Scalar {
    fn from(v: f32) -> Scalar {
        Scalar {
            ty: ScalarType::F32,
            bits: v.to_bits() as u64,
        }
    }
}

impl From<f64> for Scalar {
    fn from(v: f64) -> Scalar {
        Scalar {
            ty: ScalarType::F64,
            bits: v.to_bits(),
        }
    }
}

/// One launch argument.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Arg {
    /// A buffer for a `buf` parameter.
    Buffer(BufferId),
    /// A value for a scalar parameter; its type must be the parameter's.
    Scalar(Scalar),
}

impl From<BufferId> for Arg {
    fn from(b: BufferId) -> Arg {
        Arg::Buffer(b)
    }
}

impl<T: Into<Scalar>> From<T> for Arg {
    fn from(v: T) -> Arg {
        Arg::Scalar(v.into())
    }
}

/// What went wrong in a lane.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// An access with bytes outside its memory.
    OutOfBounds {
        /// Global or shared.
        space: Space,
        /// The buffer parameter's name (global accesses).
        buffer: Option<String>,
        /// The first byte's exact offset: the address register read as
        /// u64, plus or minus the displacement, never wrapped
        /// (docs/LANGUAGE.md section 4), so it lies in
        /// `-(2^64 - 1)..=2^65 - 2`; every engine reports this same value.
        /// The message shows an offset from 2^63 to 2^64 as the negative
        /// number a kernel with signed index arithmetic computed (`-192`,
        /// the u64 beside it) and one past `u64::MAX` as `2^64 + N`.
        offset: i128,
        /// Bytes accessed.
        size: usize,
        /// The memory's length.
        len: usize,
    },
    /// An access whose offset is not a multiple of its size.
    Misaligned {
        /// Global or shared.
        space: Space,
        /// The buffer parameter's name (global accesses).
        buffer: Option<String>,
        /// First byte.
        offset: u64,
        /// Bytes accessed.
        size: usize,
    },
    /// Integer `div` or `rem` by zero.
    DivisionByZero,
    /// The lane ran more instructions than the launch's step limit.
    StepLimit {
        /// The limit.
        limit: u64,
    },
}

fn where_(space: Space, buffer: &Option<String>) -> String {
    match (space, buffer) {
        (Space::Global, Some(b)) => format!("global buffer `{b}`"),
        (Space::Global, None) => "global buffer".to_string(),
        (Space::Shared, _) => "shared memory".to_string(),
    }
}

/// An out-of-bounds offset as a user reads it. A register holding
/// 2^64 - 192 almost always holds -192 (a lane that computed index -48 of
/// an f32 buffer), so offsets from 2^63 to 2^64 show as that signed value,
/// with the u64 beside it; the exact sum past `u64::MAX` shows as
/// `2^64 + N`, since the address does not wrap.
struct ShownOffset(i128);

impl fmt::Display for ShownOffset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const TWO_64: i128 = 1 << 64;
        let o = self.0;
        if o < 1 << 63 {
            write!(f, "{o}")
        } else if o < TWO_64 {
            write!(f, "{} (as u64: {o})", o - TWO_64)
        } else {
            write!(
                f,
                "2^64 + {} (past u64::MAX; offsets do not wrap)",
                o - TWO_64
            )
        }
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FaultKind::OutOfBounds {
                space,
                buffer,
                offset,
                size,
                len,
            } => write!(
                f,
                "out of bounds: {size}-byte access at offset {} of {} ({len} bytes)",
                ShownOffset(*offset),
                where_(*space, buffer)
            ),
            FaultKind::Misaligned {
                space,
                buffer,
                offset,
                size,
            } => write!(
                f,
                "misaligned: {size}-byte access at offset {offset} of {} (offset must be a multiple of {size})",
                where_(*space, buffer)
            ),
            FaultKind::DivisionByZero => f.write_str("integer division by zero"),
            FaultKind::StepLimit { limit } => {
                write!(f, "step limit exceeded ({limit} instructions per lane)")
            }
        }
    }
}

/// A fault with the full context of where it happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    /// The kernel's name.
    pub kernel: String,
    /// Block coordinates (`%ctaid`).
    pub block: Dim3,
    /// Lane coordinates in the block (`%tid`).
    pub lane: Dim3,
    /// Index of the faulting instruction in the kernel.
    pub instr: usize,
    /// Its source line number.
    pub line: u32,
    /// Its source text.
    pub source: String,
    /// What went wrong.
    pub kind: FaultKind,
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "kernel `{}` faulted in block {} lane {} at instruction {} (line {}: `{}`): {}",
            self.kernel,
            self.block,
            self.lane,
            self.instr,
            self.line,
            crate::text::quote(&self.source),
            self.kind
        )
    }
}

impl std::error::Error for Fault {}

/// Why a launch did not complete.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// A lane faulted; other blocks may have run.
    #[error("{0}")]
    Fault(Box<Fault>),
    /// The grid or block shape is not allowed.
    #[error("invalid launch shape: {0}")]
    Shape(String),
    /// The arguments do not match the kernel's parameters.
    #[error("invalid arguments for kernel `{kernel}`: {message}")]
    Arguments {
        /// The kernel.
        kernel: String,
        /// What is wrong.
        message: String,
    },
    /// A buffer argument does not exist.
    #[error(transparent)]
    Memory(#[from] MemoryError),
    /// The engine is not available.
    #[error("{0}")]
    Engine(String),
    /// The launch ran past its deadline ([`LaunchOptions::timeout`]) and
    /// was cancelled; blocks that finished keep their writes.
    ///
    /// [`LaunchOptions::timeout`]: crate::LaunchOptions::timeout
    #[error(
        "kernel `{kernel}` did not finish within its timeout of {}: {}",
        humantime::format_duration(*timeout),
        unfinished_list(*grid, *blocks, *unfinished, ranges)
    )]
    Timeout {
        /// The kernel.
        kernel: String,
        /// The limit it was given.
        timeout: std::time::Duration,
        /// The grid, to name blocks by their coordinates.
        grid: Dim3,
        /// Blocks in the launch.
        blocks: u64,
        /// Blocks that had not finished when it was cancelled.
        unfinished: u64,
        /// The first of them, as ranges of linear block indices (a few).
        ranges: Vec<std::ops::Range<u64>>,
    },
    /// The launch's stop flag was set by its caller
    /// ([`Runtime::launch_with_stop`]); blocks that finished keep their
    /// writes.
    ///
    /// [`Runtime::launch_with_stop`]: crate::Runtime::launch_with_stop
    #[error(
        "kernel `{kernel}` was cancelled: {}",
        unfinished_list(*grid, *blocks, *unfinished, ranges)
    )]
    Cancelled {
        /// The kernel.
        kernel: String,
        /// The grid, to name blocks by their coordinates.
        grid: Dim3,
        /// Blocks in the launch.
        blocks: u64,
        /// Blocks that had not finished when it was cancelled.
        unfinished: u64,
        /// The first of them, as ranges of linear block indices (a few).
        ranges: Vec<std::ops::Range<u64>>,
    },
}

/// `3 of 64 blocks had not finished: (1, 0, 0), (5, 0, 0)..=(6, 0, 0)`.
fn unfinished_list(
    grid: Dim3,
    blocks: u64,
    unfinished: u64,
    ranges: &[std::ops::Range<u64>],
) -> String {
    let shown: Vec<String> = ranges
        .iter()
        .map(|r| {
            let first = grid.unflatten(r.start);
            if r.end - r.start == 1 {
                first.to_string()
            } else {
                format!("{first}..={}", grid.unflatten(r.end - 1))
            }
        })
        .collect();
    let listed: u64 = ranges.iter().map(|r| r.end - r.start).sum();
    let more = if listed < unfinished {
        format!(" and {} more", unfinished - listed)
    } else {
        String::new()
    };
    format!(
        "{unfinished} of {blocks} block{} had not finished: {}{more}",
        if blocks == 1 { "" } else { "s" },
        shown.join(", ")
    )
}

impl From<Fault> for LaunchError {
    fn from(f: Fault) -> LaunchError {
        LaunchError::Fault(Box::new(f))
    }
}

/// Checks a launch shape: 1 to 1024 lanes per block, no zero dimension, and
/// a total lane count whose `%gid` fits in u64.
pub fn check_shape(grid: Dim3, block: Dim3) -> Result<(), LaunchError> {
    for (what, d) in [("grid", grid), ("block", block)] {
        if d.x == 0 || d.y == 0 || d.z == 0 {
            return Err(LaunchError::Shape(format!(
                "every {what} dimension must be at least 1, got {d}"
            )));
        }
    }
    let lanes = block.count();
    if lanes > MAX_LANES_PER_BLOCK as u128 {
        return Err(LaunchError::Shape(format!(
            "a block has at most {MAX_LANES_PER_BLOCK} lanes, got {} x {} x {} = {lanes}",
            block.x, block.y, block.z
        )));
    }
    if grid.count() * lanes > u64::MAX as u128 {
        return Err(LaunchError::Shape(format!(
            "grid {grid} of blocks {block} has more lanes than %gid (u64) can number"
        )));
    }
    Ok(())
}

/// A launch's arguments resolved to buffers and scalar slot values.
#[derive(Debug, Clone)]
pub struct BoundArgs {
    /// Buffers by buffer slot.
    pub buffers: Vec<Arc<Buffer>>,
    /// Scalar register values by scalar slot.
    pub scalars: Vec<u64>,
}

/// Checks `args` against the kernel's parameters and resolves buffer ids with
/// `lookup`.
pub fn bind_args(
    kernel: &Kernel,
    args: &[Arg],
    mut lookup: impl FnMut(BufferId) -> Result<Arc<Buffer>, MemoryError>,
) -> Result<BoundArgs, LaunchError> {
    let err = |message: String| LaunchError::Arguments {
        kernel: kernel.name.clone(),
        message,
    };
    if args.len() != kernel.params.len() {
        let names: Vec<String> = kernel
            .params
            .iter()
            .take(crate::text::LISTED_NAMES)
            .map(|p| format!("{} {}", crate::text::quote(&p.name), p.kind))
            .collect();
        return Err(err(format!(
            "expected {} argument(s) ({}), got {}",
            kernel.params.len(),
            crate::text::list_of(&names, kernel.params.len()),
            args.len()
        )));
    }
    let mut buffers = Vec::with_capacity(kernel.buffer_slots);
    let mut scalars = Vec::with_capacity(kernel.scalar_slots);
    for (p, a) in kernel.params.iter().zip(args) {
        match (p.kind, a) {
            (ParamKind::Buffer { .. }, Arg::Buffer(id)) => buffers.push(lookup(*id)?),
            (ParamKind::Scalar { ty, .. }, Arg::Scalar(s)) => {
                if s.ty != ty {
                    return Err(err(format!(
                        "parameter `{}` is {ty}, got a {} value",
                        p.name, s.ty
                    )));
                }
                scalars.push(ty.extend(s.bits));
            }
            (ParamKind::Buffer { .. }, Arg::Scalar(_)) => {
                return Err(err(format!(
                    "parameter `{}` is a buffer, got a scalar",
                    p.name
                )));
            }
            (ParamKind::Scalar { ty, .. }, Arg::Buffer(_)) => {
                return Err(err(format!("parameter `{}` is {ty}, got a buffer", p.name)));
            }
        }
    }
    Ok(BoundArgs { buffers, scalars })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_arguments_that_overflow_are_refused_like_immediates() {
        for (ty, text) in [
            (ScalarType::F32, "1e39"),
            (ScalarType::F32, "-1e39"),
            (ScalarType::F32, "340282366920938463463374607431768211456"),
            (ScalarType::F64, "1e309"),
            (ScalarType::F64, "-1e309"),
        ] {
            let e = Scalar::parse(ty, text).unwrap_err();
            assert!(
                e.contains("overflows to infinity") && e.contains(text),
                "{e}"
            );
        }
        // Infinity written as such, the largest finite values and values
        // that round to them stay allowed.
        for (ty, text, want) in [
            (ScalarType::F32, "inf", f32::INFINITY as f64),
            (ScalarType::F32, "-infinity", f32::NEG_INFINITY as f64),
            (ScalarType::F32, "3.4028235e38", f32::MAX as f64),
            (ScalarType::F64, "-inf", f64::NEG_INFINITY),
            (ScalarType::F64, "1.7976931348623157e308", f64::MAX),
        ] {
            let s = Scalar::parse(ty, text).unwrap();
            let got = match ty {
                ScalarType::F32 => f32::from_bits(s.bits as u32) as f64,
                _ => f64::from_bits(s.bits),
            };
            assert_eq!(got, want, "{text}");
        }
        assert!(Scalar::parse(ScalarType::F32, "nan").is_ok());
        // Long input comes back shortened, with its length.
        let long = "9".repeat(1 << 20);
        let e = Scalar::parse(ScalarType::U32, &long).unwrap_err();
        assert!(e.len() < 200 && e.contains("(1048576 bytes)"), "{e}");
    }
}
