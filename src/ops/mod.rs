//! Ready kernels with Rust helpers.
//!
//! Each kernel's LASM text is a `.lasm` file beside this module (see
//! [`Op::source`]), compiled once on first use ([`kernel`]). The helpers
//! copy their inputs into fresh buffers, launch with 256-lane blocks over
//! `ceil(n / 256)` blocks (at least one), read the result back and free every
//! buffer they made, also when something fails.
//!
//! All work on `f32`. Their results, bit for bit:
//! - `vector_add/sub/mul/div`: `a[i] OP b[i]`; `vector_min/max`:
//!   `f32::min`/`f32::max` (a NaN on one side gives the other side).
//! - [`saxpy`]: `alpha.mul_add(x[i], y[i])`, one fused multiply-add.
//! - [`relu`]: `if x > 0.0 { x } else { 0.0 }` (NaN and -0.0 give +0.0).
//! - [`sigmoid`]: `1 / (1 + exp(-x))`, within a few ulp (`exp` is within
//!   4 ulp, ISA.md section 4).
//! - [`block_sum`]: the sum in an unspecified order (exact when every partial
//!   sum is, as with small integers).
//!
//! Two kernels have no helper and are launched directly (the benchmark suite,
//! `lanes::bench`, uses them): [`Op::Mandelbrot`], a divergent compute-bound
//! escape-time loop (`mandelbrot.lasm` says its parameters and the exact
//! arithmetic), and [`Op::Empty`], which does nothing and so measures the
//! cost of a launch.
//!
//! ```
//! use lanes::{LaunchOptions, Runtime, ops};
//!
//! let rt = Runtime::new();
//! let c = ops::vector_add(&rt, &[1.0, 2.0], &[10.0, 20.0], LaunchOptions::default()).unwrap();
//! assert_eq!(c, vec![11.0, 22.0]);
//! ```

use std::sync::{Arc, OnceLock};

use crate::kernel::Kernel;
use crate::memory::{BufferId, MemoryError};
use crate::{Arg, Dim3, LaunchError, LaunchOptions, Runtime};

/// Lanes per block for every op.
pub const BLOCK_LANES: u32 = 256;

/// A ready kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// `out = a + b`.
    Add,
    /// `out = a - b`.
    Sub,
    /// `out = a * b`.
    Mul,
    /// `out = a / b`.
    Div,
    /// `out = min(a, b)`.
    Min,
    /// `out = max(a, b)`.
    Max,
    /// `out = alpha * x + y` (fused).
    Saxpy,
    /// `out = x > 0 ? x : 0`.
    Relu,
    /// `out = 1 / (1 + exp(-x))`.
    Sigmoid,
    /// `out[0] += sum(x)`.
    BlockSum,
    /// `out[i]` = escape-time steps of pixel `i` (u32); see `mandelbrot.lasm`.
    Mandelbrot,
    /// Does nothing (launch cost only).
    Empty,
}

impl Op {
    /// Every op.
    pub const ALL: [Op; 12] = [
        Op::Add,
        Op::Sub,
        Op::Mul,
        Op::Div,
        Op::Min,
        Op::Max,
        Op::Saxpy,
        Op::Relu,
        Op::Sigmoid,
        Op::BlockSum,
        Op::Mandelbrot,
        Op::Empty,
    ];

    /// The kernel's name in its source.
    pub fn name(self) -> &'static str {
        match self {
            Op::Add => "vector_add",
            Op::Sub => "vector_sub",
            Op::Mul => "vector_mul",
            Op::Div => "vector_div",
            Op::Min => "vector_min",
            Op::Max => "vector_max",
            Op::Saxpy => "saxpy",
            Op::Relu => "relu",
            Op::Sigmoid => "sigmoid",
            Op::BlockSum => "block_sum",
            Op::Mandelbrot => "mandelbrot",
            Op::Empty => "empty",
        }
    }

    /// The kernel's LASM source text.
    pub fn source(self) -> &'static str {
        match self {
            Op::Add => include_str!("vector_add.lasm"),
            Op::Sub => include_str!("vector_sub.lasm"),
            Op::Mul => include_str!("vector_mul.lasm"),
            Op::Div => include_str!("vector_div.lasm"),
            Op::Min => include_str!("vector_min.lasm"),
            Op::Max => include_str!("vector_max.lasm"),
            Op::Saxpy => include_str!("saxpy.lasm"),
            Op::Relu => include_str!("relu.lasm"),
            Op::Sigmoid => include_str!("sigmoid.lasm"),
            Op::BlockSum => include_str!("block_sum.lasm"),
            Op::Mandelbrot => include_str!("mandelbrot.lasm"),
            Op::Empty => include_str!("empty.lasm"),
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// The compiled kernel of `op`, compiled on first use and shared after.
pub fn kernel(op: Op) -> Arc<Kernel> {
    static KERNELS: [OnceLock<Arc<Kernel>>; Op::ALL.len()] =
        [const { OnceLock::new() }; Op::ALL.len()];
    KERNELS[op.index()]
        .get_or_init(|| {
            let file = format!("ops/{}.lasm", op.name());
            let program = crate::compile(&file, op.source())
                // The sources are constants of this crate, checked by its tests.
                .unwrap_or_else(|d| panic!("built-in kernel does not compile:\n{d}"));
            match program.kernel(op.name()) {
                Some(k) => k.clone(),
                None => panic!("{file} has no kernel `{}`", op.name()),
            }
        })
        .clone()
}

/// Why an op failed.
#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    /// Two inputs of different lengths.
    #[error("inputs have different lengths: {left} and {right}")]
    LengthMismatch {
        /// The first input's length.
        left: usize,
        /// The other input's length.
        right: usize,
    },
    /// More elements than a `u32` count can describe.
    #[error("{len} elements is more than the ops handle ({})", u32::MAX)]
    TooLong {
        /// The length given.
        len: usize,
    },
    /// A buffer could not be made, read or freed.
    #[error(transparent)]
    Memory(#[from] MemoryError),
    /// The launch failed.
    #[error(transparent)]
    Launch(#[from] LaunchError),
}

/// `out[i] = a[i] + b[i]`.
pub fn vector_add(
    rt: &Runtime,
    a: &[f32],
    b: &[f32],
    options: LaunchOptions,
) -> Result<Vec<f32>, OpsError> {
    binary(rt, Op::Add, a, b, options)
}

/// `out[i] = a[i] - b[i]`.
pub fn vector_sub(
    rt: &Runtime,
    a: &[f32],
    b: &[f32],
    options: LaunchOptions,
) -> Result<Vec<f32>, OpsError> {
    binary(rt, Op::Sub, a, b, options)
}

/// `out[i] = a[i] * b[i]`.
pub fn vector_mul(
    rt: &Runtime,
    a: &[f32],
    b: &[f32],
    options: LaunchOptions,
) -> Result<Vec<f32>, OpsError> {
    binary(rt, Op::Mul, a, b, options)
}

/// `out[i] = a[i] / b[i]`.
pub fn vector_div(
    rt: &Runtime,
    a: &[f32],
    b: &[f32],
    options: LaunchOptions,
) -> Result<Vec<f32>, OpsError> {
    binary(rt, Op::Div, a, b, options)
}

/// `out[i] = a[i].min(b[i])`.
pub fn vector_min(
    rt: &Runtime,
    a: &[f32],
    b: &[f32],
    options: LaunchOptions,
) -> Result<Vec<f32>, OpsError> {
    binary(rt, Op::Min, a, b, options)
}

/// `out[i] = a[i].max(b[i])`.
pub fn vector_max(
    rt: &Runtime,
    a: &[f32],
    b: &[f32],
    options: LaunchOptions,
) -> Result<Vec<f32>, OpsError> {
    binary(rt, Op::Max, a, b, options)
}

/// Runs one of the element-wise binary ops (`Add` to `Max`) on `a` and `b`.
fn binary(
    rt: &Runtime,
    op: Op,
    a: &[f32],
    b: &[f32],
    options: LaunchOptions,
) -> Result<Vec<f32>, OpsError> {
    debug_assert!(matches!(
        op,
        Op::Add | Op::Sub | Op::Mul | Op::Div | Op::Min | Op::Max
    ));
    same_len(a, b)?;
    let n = count(a.len())?;
    let mut bufs = Buffers::new(rt);
    let ba = bufs.upload(a)?;
    let bb = bufs.upload(b)?;
    let out = bufs.zeroed(a.len())?;
    let args = [ba.into(), bb.into(), out.into(), Arg::from(n)];
    bufs.launch(op, n, &args, options)?;
    bufs.read_f32(out)
}

/// `out[i] = alpha * x[i] + y[i]`, fused: bit for bit `alpha.mul_add(x[i], y[i])`.
pub fn saxpy(
    rt: &Runtime,
    alpha: f32,
    x: &[f32],
    y: &[f32],
    options: LaunchOptions,
) -> Result<Vec<f32>, OpsError> {
    same_len(x, y)?;
    let n = count(x.len())?;
    let mut bufs = Buffers::new(rt);
    let bx = bufs.upload(x)?;
    let by = bufs.upload(y)?;
    let out = bufs.zeroed(x.len())?;
    let args = [
        Arg::from(alpha),
        bx.into(),
        by.into(),
        out.into(),
        Arg::from(n),
    ];
    bufs.launch(Op::Saxpy, n, &args, options)?;
    bufs.read_f32(out)
}

/// `out[i] = if x[i] > 0 { x[i] } else { 0 }`.
pub fn relu(rt: &Runtime, x: &[f32], options: LaunchOptions) -> Result<Vec<f32>, OpsError> {
    unary(rt, Op::Relu, x, options)
}

/// `out[i] = 1 / (1 + exp(-x[i]))`.
pub fn sigmoid(rt: &Runtime, x: &[f32], options: LaunchOptions) -> Result<Vec<f32>, OpsError> {
    unary(rt, Op::Sigmoid, x, options)
}

fn unary(rt: &Runtime, op: Op, x: &[f32], options: LaunchOptions) -> Result<Vec<f32>, OpsError> {
    let n = count(x.len())?;
    let mut bufs = Buffers::new(rt);
    let bx = bufs.upload(x)?;
    let out = bufs.zeroed(x.len())?;
    let args = [bx.into(), out.into(), Arg::from(n)];
    bufs.launch(op, n, &args, options)?;
    bufs.read_f32(out)
}

/// The sum of `x` (0 for an empty slice), added in an unspecified order.
pub fn block_sum(rt: &Runtime, x: &[f32], options: LaunchOptions) -> Result<f32, OpsError> {
    let n = count(x.len())?;
    let mut bufs = Buffers::new(rt);
    let bx = bufs.upload(x)?;
    let out = bufs.zeroed(1)?;
    let args = [bx.into(), out.into(), Arg::from(n)];
    bufs.launch(Op::BlockSum, n, &args, options)?;
    Ok(bufs.read_f32(out)?.first().copied().unwrap_or(0.0))
}

fn same_len(a: &[f32], b: &[f32]) -> Result<(), OpsError> {
    if a.len() == b.len() {
        Ok(())
    } else {
        Err(OpsError::LengthMismatch {
            left: a.len(),
            right: b.len(),
        })
    }
}

fn count(len: usize) -> Result<u32, OpsError> {
    u32::try_from(len).map_err(|_| OpsError::TooLong { len })
}

/// The buffers one helper call made; dropping it frees them all, so an early
/// return leaks nothing.
struct Buffers<'a> {
    rt: &'a Runtime,
    ids: Vec<BufferId>,
}

impl<'a> Buffers<'a> {
    fn new(rt: &'a Runtime) -> Buffers<'a> {
        Buffers {
            rt,
            ids: Vec::new(),
        }
    }

    fn upload(&mut self, values: &[f32]) -> Result<BufferId, OpsError> {
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let id = self.rt.alloc_from(&bytes)?;
        self.ids.push(id);
        Ok(id)
    }

    fn zeroed(&mut self, elements: usize) -> Result<BufferId, OpsError> {
        let bytes = elements
            .checked_mul(4)
            .ok_or(OpsError::TooLong { len: elements })?;
        let id = self.rt.alloc(bytes)?;
        self.ids.push(id);
        Ok(id)
    }

    fn launch(&self, op: Op, n: u32, args: &[Arg], options: LaunchOptions) -> Result<(), OpsError> {
        let grid = Dim3::x(n.div_ceil(BLOCK_LANES).max(1));
        self.rt
            .launch(&kernel(op), grid, Dim3::x(BLOCK_LANES), args, options)?;
        Ok(())
    }

    fn read_f32(&self, id: BufferId) -> Result<Vec<f32>, OpsError> {
        let bytes = self.rt.read(id)?;
        Ok(bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }
}

impl Drop for Buffers<'_> {
    fn drop(&mut self) {
        for id in self.ids.drain(..) {
            // Freeing a buffer this call created cannot fail; if it somehow
            // did, there is nothing better to do in a destructor.
            let _ = self.rt.free(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kernel_compiles_with_its_name() {
        for op in Op::ALL {
            assert_eq!(kernel(op).name, op.name());
            assert!(Arc::ptr_eq(&kernel(op), &kernel(op)), "compiled once");
        }
    }
}
