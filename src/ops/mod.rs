//! Ready kernels with Rust helpers: the op library.
//!
//! Every op is a LASM kernel in a file beside this module (see [`Family`];
//! `Family::source` shows the text for a type), rendered for its element
//! type and compiled once on first use. [`Ops`] runs them on a runtime:
//!
//! ```
//! use lanes::Runtime;
//!
//! let rt = Runtime::new();
//! let ops = rt.ops();                                   // default launch options
//! let x = rt.buffer_from(&[1.0f32, -2.0, 3.0])?;
//! let y = rt.buffer_zeroed::<f32>(3)?;
//! ops.relu(&x, &y)?;                                    // on buffers: allocates nothing
//! assert_eq!(y.read()?, vec![1.0, 0.0, 3.0]);
//! assert_eq!(ops.sum(&y)?, 4.0);
//! assert_eq!(ops.mul_scalar_vec(&[1i32, 2], 3)?, vec![3, 6]); // on host slices
//! # Ok::<(), lanes::ops::OpsError>(())
//! ```
//!
//! Each op comes in two forms: on typed [`Buffer`]s (the caller supplies
//! the outputs, and for reductions the scratch space, so nothing is
//! allocated), and on host slices (`*_vec`: copies in, runs, copies out).
//! Buffer forms read `n` = the first input's length; other inputs must have
//! the same length, outputs at least that many elements; anything else is
//! an [`OpsError`] naming the parameter. An op never panics.
//!
//! # The ops and their semantics
//!
//! | ops | types | result |
//! |---|---|---|
//! | [`add`](Ops::add) [`sub`](Ops::sub) [`mul`](Ops::mul) [`div`](Ops::div) | all | `a[i] OP b[i]`; integers wrap, integer division by 0 is an error (a fault) |
//! | [`minimum`](Ops::minimum) [`maximum`](Ops::maximum) | all | floats: NaN on one side gives the other, -0.0 below +0.0 |
//! | [`add_scalar`](Ops::add_scalar) [`mul_scalar`](Ops::mul_scalar) | all | `x[i] OP s` |
//! | [`clip`](Ops::clip) | all | `x[i].clamp(lo, hi)` as Rust defines it (NaN stays NaN; `lo <= hi` is checked) |
//! | [`abs`](Ops::abs) [`neg`](Ops::neg) | signed ints, floats | integers wrap (`abs(MIN) = MIN`) |
//! | [`relu`](Ops::relu) | signed ints, floats | `x > 0 ? x : 0` (NaN and -0.0 give +0.0) |
//! | [`sigmoid`](Ops::sigmoid) [`tanh`](Ops::tanh) [`gelu`](Ops::gelu) | floats | `1/(1+exp(-x))`, `tanh x`, `0.5x(1+tanh(sqrt(2/pi)(x+0.044715x^3)))` |
//! | [`softmax`](Ops::softmax) | floats | `exp(x[i] - max) / sum` over the whole vector |
//! | [`sum`](Ops::sum) [`min`](Ops::min) [`max`](Ops::max) | all | a tree over the whole vector (integers wrap) |
//! | [`mean`](Ops::mean) | floats | `sum / n` |
//! | [`mse`](Ops::mse) | floats | `sum((p - t)^2) / n` |
//! | [`cross_entropy`](Ops::cross_entropy) | floats | `-sum(t ln p)` (one distribution) |
//! | [`binary_cross_entropy`](Ops::binary_cross_entropy) | floats | `-sum(t ln p + (1-t) ln(1-p)) / n` |
//! | [`gemm`](Ops::gemm) [`matvec`](Ops::matvec) | floats | row-major `c = a b`, `y = a x` |
//! | [`copy`](Ops::copy) [`fill`](Ops::fill) | all | `dst[i] = src[i]`, `out[i] = v` |
//!
//! The logarithms of the losses are clamped below at -100 (PyTorch's
//! `BCELoss` rule), so a probability of exactly 0 gives a large finite
//! loss rather than inf or NaN.
//!
//! # Accuracy
//!
//! - Element-wise ops, `min`, `max`, integer sums, `gemm` and `matvec`
//!   are exact: bit for bit what the plain Rust expression or loop gives
//!   (`gemm` and `matvec` take each dot product in index order with a
//!   separate multiply and add: `acc += a * b`, from 0).
//! - `sigmoid`, `tanh`, `gelu`, `softmax` use `exp` and `tanh`, which are
//!   within 4 ulp (the language's rule; lanes' own algorithms, within 1
//!   ulp for f32 and 2 for f64), rounding correctly around them.
//! - Float sums (and so `mean`, `softmax`'s denominator and the losses) add
//!   in a fixed tree, the same on every engine and thread count: each lane
//!   first adds up to 8 elements in order, then 256 lanes meet in a binary
//!   tree, and each pass divides the count by 2048 (see `reduce.lasm`).
//!   An element passes through at most `d = 15 * passes` additions
//!   (`passes = ceil(log2048 n)`, 1 up to 2048 elements, 2 up to 4M), so
//!   the error is at most `d * u * sum(|x|)` (u = 2^-24 for f32, 2^-53 for
//!   f64). [`sum_error_bound`] computes it; the tests check it against an
//!   f64 sequential sum, and in practice the error is far smaller (measured:
//!   see the README).
//!
//! # The benchmark kernels
//!
//! [`Op`] names the fixed kernels of `lanes bench` (f32 vector add/sub/mul/
//! div/min/max, saxpy, block_sum, Mandelbrot, an empty kernel), each a
//! `.lasm` file here, compiled by [`kernel`]. The f32 helpers
//! [`vector_add`] to [`vector_max`], [`relu`], [`sigmoid`], [`saxpy`] and
//! [`block_sum`] predate [`Ops`] and stay as shorthands.

mod activation;
mod elementwise;
mod library;
mod linalg;
mod loss;
mod reduce;

use std::sync::{Arc, OnceLock};

pub use library::Family;
pub use linalg::GEMM_TILE;
pub use reduce::{scratch_len, sum_error_bound};

use crate::buffer::{Buffer, Element};
use crate::kernel::Kernel;
use crate::memory::MemoryError;
use crate::typed::LaunchArg;
use crate::types::ScalarType;
use crate::{Dim3, Engine, LaunchError, LaunchOptions, Runtime};

/// Lanes per block of the one-dimensional ops.
///
/// ```
/// assert_eq!(lanes::ops::BLOCK_LANES, 256);
/// ```
pub const BLOCK_LANES: u32 = 256;

/// Runs the op library on a runtime with fixed launch options; see the
/// [module docs](self). Cheap to make and to copy.
///
/// ```
/// use lanes::{Engine, Runtime, ops::Ops};
///
/// let rt = Runtime::new();
/// let reference = Ops::new(&rt).engine(Engine::Reference);
/// assert_eq!(reference.add_vec(&[1u8, 2], &[3, 4])?, vec![4, 6]);
/// # Ok::<(), lanes::ops::OpsError>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Ops<'rt> {
    rt: &'rt Runtime,
    options: LaunchOptions,
}

impl Runtime {
    /// The op library on this runtime, with default launch options.
    ///
    /// ```
    /// let rt = lanes::Runtime::new();
    /// assert_eq!(rt.ops().max_vec(&[3i64, 9, -1])?, 9);
    /// # Ok::<(), lanes::ops::OpsError>(())
    /// ```
    pub fn ops(&self) -> Ops<'_> {
        Ops::new(self)
    }
}

impl<'rt> Ops<'rt> {
    /// The op library on `rt`, with default launch options.
    ///
    /// ```
    /// let rt = lanes::Runtime::new();
    /// let ops = lanes::ops::Ops::new(&rt);
    /// assert_eq!(ops.sum_vec(&[1u32, 2, 3])?, 6);
    /// # Ok::<(), lanes::ops::OpsError>(())
    /// ```
    pub fn new(rt: &'rt Runtime) -> Ops<'rt> {
        Ops {
            rt,
            options: LaunchOptions::default(),
        }
    }

    /// The same, launching with `options`.
    ///
    /// ```
    /// use lanes::{LaunchOptions, ops::OpsError};
    ///
    /// let rt = lanes::Runtime::new();
    /// let tight = rt.ops().with_options(LaunchOptions { max_steps: 2, ..LaunchOptions::default() });
    /// assert!(matches!(tight.add_vec(&[1.0f32], &[2.0]), Err(OpsError::Launch(_))));
    /// ```
    pub fn with_options(self, options: LaunchOptions) -> Ops<'rt> {
        Ops { options, ..self }
    }

    /// The same, launching on `engine`.
    ///
    /// ```
    /// let rt = lanes::Runtime::new();
    /// let ops = rt.ops().engine(lanes::Engine::Reference);
    /// assert_eq!(ops.options().engine, lanes::Engine::Reference);
    /// ```
    pub fn engine(mut self, engine: Engine) -> Ops<'rt> {
        self.options.engine = engine;
        self
    }

    /// The launch options in use.
    ///
    /// ```
    /// let rt = lanes::Runtime::new();
    /// assert_eq!(rt.ops().options(), lanes::LaunchOptions::default());
    /// ```
    pub fn options(&self) -> LaunchOptions {
        self.options
    }

    /// The runtime the ops run on.
    ///
    /// ```
    /// let rt = lanes::Runtime::new();
    /// assert!(std::ptr::eq(rt.ops().runtime(), &rt));
    /// ```
    pub fn runtime(&self) -> &'rt Runtime {
        self.rt
    }

    /// Launches kernel `{name}_{ty}` of `family`.
    fn launch(
        &self,
        family: Family,
        ty: ScalarType,
        name: &str,
        grid: Dim3,
        block: Dim3,
        args: &[LaunchArg<'_>],
    ) -> Result<(), OpsError> {
        let kernel = family.kernel(ty, name)?;
        let mut launch = kernel.launch(grid, block).options(self.options);
        for &a in args {
            launch = launch.arg(a);
        }
        launch.run(self.rt)?;
        Ok(())
    }

    /// Launches a one-dimensional op over `n` lanes (256-lane blocks).
    fn launch_1d(
        &self,
        family: Family,
        ty: ScalarType,
        name: &str,
        n: u32,
        args: &[LaunchArg<'_>],
    ) -> Result<(), OpsError> {
        let grid = Dim3::x(n.div_ceil(BLOCK_LANES).max(1));
        self.launch(family, ty, name, grid, Dim3::x(BLOCK_LANES), args)
    }

    /// A buffer holding `values`, freed when dropped.
    fn upload<T: Element>(&self, values: &[T]) -> Result<Buffer<T>, OpsError> {
        Ok(self.rt.buffer_from(values)?)
    }

    /// A zeroed buffer of `len` elements, freed when dropped.
    fn zeroed<T: Element>(&self, len: usize) -> Result<Buffer<T>, OpsError> {
        Ok(self.rt.buffer_zeroed(len)?)
    }
}

/// Why an op failed. Every variant about an argument names it.
///
/// ```
/// use lanes::ops::OpsError;
///
/// let rt = lanes::Runtime::new();
/// let err = rt.ops().add_vec(&[1u8, 2], &[3]).unwrap_err();
/// assert!(matches!(err, OpsError::LengthMismatch { param: "b", .. }));
/// assert_eq!(err.to_string(), "`b` has 1 elements but `a` has 2: they must have the same length");
/// ```
#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    /// Two inputs that must have the same length do not.
    #[error(
        "`{param}` has {len} elements but `{other}` has {other_len}: they must have the same length"
    )]
    LengthMismatch {
        /// The parameter found wrong.
        param: &'static str,
        /// Its length.
        len: usize,
        /// The parameter it must match.
        other: &'static str,
        /// That one's length.
        other_len: usize,
    },
    /// A buffer shorter than the op needs (an output, or scratch space).
    #[error("`{param}` has {len} elements, the op needs at least {need}")]
    TooShort {
        /// The parameter.
        param: &'static str,
        /// Its length.
        len: usize,
        /// Elements needed.
        need: usize,
    },
    /// A host input whose length does not fit the shape given.
    #[error("`{param}` has {len} elements, expected {expected} ({shape})")]
    WrongLength {
        /// The parameter.
        param: &'static str,
        /// Its length.
        len: usize,
        /// The length the shape implies.
        expected: usize,
        /// The shape, as text (`m x k = 3 x 4`).
        shape: String,
    },
    /// More elements than a `u32` count can describe.
    #[error("{len} elements is more than the ops handle ({})", u32::MAX)]
    TooLong {
        /// The length given.
        len: usize,
    },
    /// A reduction with no defined result on no elements (min, max, mean,
    /// the losses).
    #[error("`{param}` is empty: the {op} of no elements is undefined")]
    Empty {
        /// The parameter.
        param: &'static str,
        /// The op.
        op: &'static str,
    },
    /// The same buffer given for two parameters that must differ.
    #[error("`{param}` is the same buffer as `{other}`: {op} needs them distinct")]
    Aliased {
        /// The parameter.
        param: &'static str,
        /// The one it repeats.
        other: &'static str,
        /// The op.
        op: &'static str,
    },
    /// A scalar argument outside what the op accepts.
    #[error("invalid `{param}`: {message}")]
    InvalidArgument {
        /// The parameter.
        param: &'static str,
        /// What is wrong.
        message: String,
    },
    /// A buffer could not be made, read or written.
    #[error(transparent)]
    Memory(#[from] MemoryError),
    /// The launch failed (a fault, such as an integer division by zero).
    #[error(transparent)]
    Launch(#[from] LaunchError),
    /// A kernel of the library does not compile (a bug of this crate; its
    /// tests compile every one).
    #[error("built-in kernel {name} is broken: {message}")]
    BuiltIn {
        /// The kernel and its file.
        name: String,
        /// The compiler's message.
        message: String,
    },
}

/// `n` as the kernels' u32 count.
fn count(n: usize) -> Result<u32, OpsError> {
    u32::try_from(n).map_err(|_| OpsError::TooLong { len: n })
}

/// `param` (of `len` elements) must be as long as `other`.
fn same_len(
    param: &'static str,
    len: usize,
    other: &'static str,
    other_len: usize,
) -> Result<(), OpsError> {
    if len == other_len {
        Ok(())
    } else {
        Err(OpsError::LengthMismatch {
            param,
            len,
            other,
            other_len,
        })
    }
}

/// `param` (of `len` elements) must hold at least `need`.
fn at_least(param: &'static str, len: usize, need: usize) -> Result<(), OpsError> {
    if len >= need {
        Ok(())
    } else {
        Err(OpsError::TooShort { param, len, need })
    }
}

/// Buffers `a` and `b` (parameters `param` and `other`) must differ.
fn distinct<T: Element>(
    op: &'static str,
    (param, a): (&'static str, &Buffer<T>),
    (other, b): (&'static str, &Buffer<T>),
) -> Result<(), OpsError> {
    if a.id() == b.id() {
        Err(OpsError::Aliased { param, other, op })
    } else {
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// The benchmark suite's fixed kernels and the original f32 helpers.

/// A fixed kernel of the benchmark suite (see the [module docs](self)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// `out = a + b` (f32).
    Add,
    /// `out = a - b` (f32).
    Sub,
    /// `out = a * b` (f32).
    Mul,
    /// `out = a / b` (f32).
    Div,
    /// `out = min(a, b)` (f32).
    Min,
    /// `out = max(a, b)` (f32).
    Max,
    /// `out = alpha * x + y` (f32, fused).
    Saxpy,
    /// `out[0] += sum(x)` (f32): a shared-memory tree per block, one atomic
    /// add per block.
    BlockSum,
    /// `out[i]` = escape-time steps of pixel `i` (u32); see `mandelbrot.lasm`.
    Mandelbrot,
    /// Does nothing (launch cost only).
    Empty,
}

impl Op {
    /// Every op.
    pub const ALL: [Op; 10] = [
        Op::Add,
        Op::Sub,
        Op::Mul,
        Op::Div,
        Op::Min,
        Op::Max,
        Op::Saxpy,
        Op::BlockSum,
        Op::Mandelbrot,
        Op::Empty,
    ];

    /// The kernel's name in its source.
    ///
    /// ```
    /// assert_eq!(lanes::ops::Op::Add.name(), "vector_add");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Op::Add => "vector_add",
            Op::Sub => "vector_sub",
            Op::Mul => "vector_mul",
            Op::Div => "vector_div",
            Op::Min => "vector_min",
            Op::Max => "vector_max",
            Op::Saxpy => "saxpy",
            Op::BlockSum => "block_sum",
            Op::Mandelbrot => "mandelbrot",
            Op::Empty => "empty",
        }
    }

    /// The kernel's LASM source text.
    ///
    /// ```
    /// assert!(lanes::ops::Op::Saxpy.source().contains("fma.f32"));
    /// ```
    pub fn source(self) -> &'static str {
        match self {
            Op::Add => include_str!("vector_add.lasm"),
            Op::Sub => include_str!("vector_sub.lasm"),
            Op::Mul => include_str!("vector_mul.lasm"),
            Op::Div => include_str!("vector_div.lasm"),
            Op::Min => include_str!("vector_min.lasm"),
            Op::Max => include_str!("vector_max.lasm"),
            Op::Saxpy => include_str!("saxpy.lasm"),
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
///
/// ```
/// use lanes::ops::{Op, kernel};
///
/// assert_eq!(kernel(Op::Empty).name, "empty");
/// ```
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

/// `out[i] = a[i] + b[i]` (f32); shorthand for [`Ops::add_vec`].
///
/// ```
/// use lanes::{LaunchOptions, Runtime, ops};
///
/// let rt = Runtime::new();
/// let c = ops::vector_add(&rt, &[1.0, 2.0], &[10.0, 20.0], LaunchOptions::default())?;
/// assert_eq!(c, vec![11.0, 22.0]);
/// # Ok::<(), ops::OpsError>(())
/// ```
pub fn vector_add(
    rt: &Runtime,
    a: &[f32],
    b: &[f32],
    options: LaunchOptions,
) -> Result<Vec<f32>, OpsError> {
    rt.ops().with_options(options).add_vec(a, b)
}

/// `out[i] = a[i] - b[i]` (f32); shorthand for [`Ops::sub_vec`].
///
/// ```
/// let rt = lanes::Runtime::new();
/// let c = lanes::ops::vector_sub(&rt, &[1.0], &[0.5], Default::default())?;
/// assert_eq!(c, vec![0.5]);
/// # Ok::<(), lanes::ops::OpsError>(())
/// ```
pub fn vector_sub(
    rt: &Runtime,
    a: &[f32],
    b: &[f32],
    options: LaunchOptions,
) -> Result<Vec<f32>, OpsError> {
    rt.ops().with_options(options).sub_vec(a, b)
}

/// `out[i] = a[i] * b[i]` (f32); shorthand for [`Ops::mul_vec`].
///
/// ```
/// let rt = lanes::Runtime::new();
/// assert_eq!(lanes::ops::vector_mul(&rt, &[3.0], &[0.5], Default::default())?, vec![1.5]);
/// # Ok::<(), lanes::ops::OpsError>(())
/// ```
pub fn vector_mul(
    rt: &Runtime,
    a: &[f32],
    b: &[f32],
    options: LaunchOptions,
) -> Result<Vec<f32>, OpsError> {
    rt.ops().with_options(options).mul_vec(a, b)
}

/// `out[i] = a[i] / b[i]` (f32); shorthand for [`Ops::div_vec`].
///
/// ```
/// let rt = lanes::Runtime::new();
/// assert_eq!(lanes::ops::vector_div(&rt, &[3.0], &[2.0], Default::default())?, vec![1.5]);
/// # Ok::<(), lanes::ops::OpsError>(())
/// ```
pub fn vector_div(
    rt: &Runtime,
    a: &[f32],
    b: &[f32],
    options: LaunchOptions,
) -> Result<Vec<f32>, OpsError> {
    rt.ops().with_options(options).div_vec(a, b)
}

/// `out[i] = a[i].min(b[i])` (f32); shorthand for [`Ops::minimum_vec`].
///
/// ```
/// let rt = lanes::Runtime::new();
/// assert_eq!(lanes::ops::vector_min(&rt, &[3.0], &[2.0], Default::default())?, vec![2.0]);
/// # Ok::<(), lanes::ops::OpsError>(())
/// ```
pub fn vector_min(
    rt: &Runtime,
    a: &[f32],
    b: &[f32],
    options: LaunchOptions,
) -> Result<Vec<f32>, OpsError> {
    rt.ops().with_options(options).minimum_vec(a, b)
}

/// `out[i] = a[i].max(b[i])` (f32); shorthand for [`Ops::maximum_vec`].
///
/// ```
/// let rt = lanes::Runtime::new();
/// assert_eq!(lanes::ops::vector_max(&rt, &[3.0], &[2.0], Default::default())?, vec![3.0]);
/// # Ok::<(), lanes::ops::OpsError>(())
/// ```
pub fn vector_max(
    rt: &Runtime,
    a: &[f32],
    b: &[f32],
    options: LaunchOptions,
) -> Result<Vec<f32>, OpsError> {
    rt.ops().with_options(options).maximum_vec(a, b)
}

/// `out[i] = if x[i] > 0 { x[i] } else { 0 }` (f32); shorthand for
/// [`Ops::relu_vec`].
///
/// ```
/// let rt = lanes::Runtime::new();
/// assert_eq!(lanes::ops::relu(&rt, &[-1.0, 2.0], Default::default())?, vec![0.0, 2.0]);
/// # Ok::<(), lanes::ops::OpsError>(())
/// ```
pub fn relu(rt: &Runtime, x: &[f32], options: LaunchOptions) -> Result<Vec<f32>, OpsError> {
    rt.ops().with_options(options).relu_vec(x)
}

/// `out[i] = 1 / (1 + exp(-x[i]))` (f32); shorthand for
/// [`Ops::sigmoid_vec`].
///
/// ```
/// let rt = lanes::Runtime::new();
/// assert_eq!(lanes::ops::sigmoid(&rt, &[0.0], Default::default())?, vec![0.5]);
/// # Ok::<(), lanes::ops::OpsError>(())
/// ```
pub fn sigmoid(rt: &Runtime, x: &[f32], options: LaunchOptions) -> Result<Vec<f32>, OpsError> {
    rt.ops().with_options(options).sigmoid_vec(x)
}

/// `out[i] = alpha * x[i] + y[i]`, fused: bit for bit
/// `alpha.mul_add(x[i], y[i])` (the benchmark's `saxpy.lasm`).
///
/// ```
/// let rt = lanes::Runtime::new();
/// let out = lanes::ops::saxpy(&rt, 2.0, &[1.0, 2.0], &[0.5, 0.5], Default::default())?;
/// assert_eq!(out, vec![2.5, 4.5]);
/// # Ok::<(), lanes::ops::OpsError>(())
/// ```
pub fn saxpy(
    rt: &Runtime,
    alpha: f32,
    x: &[f32],
    y: &[f32],
    options: LaunchOptions,
) -> Result<Vec<f32>, OpsError> {
    same_len("y", y.len(), "x", x.len())?;
    let n = count(x.len())?;
    let ops = rt.ops().with_options(options);
    let (bx, by) = (ops.upload(x)?, ops.upload(y)?);
    let out = ops.zeroed::<f32>(x.len())?;
    let grid = Dim3::x(n.div_ceil(BLOCK_LANES).max(1));
    kernel(Op::Saxpy)
        .launch(grid, Dim3::x(BLOCK_LANES))
        .arg(alpha)
        .arg(&bx)
        .arg(&by)
        .arg(&out)
        .arg(n)
        .options(options)
        .run(rt)?;
    Ok(out.read()?)
}

/// The sum of `x` (0 for an empty slice) by the benchmark's `block_sum`
/// kernel: a tree per block and one atomic add per block, so the blocks'
/// sums are added in an unspecified order (exact when every partial sum
/// is, as with small integers). [`Ops::sum`] adds in a fixed order.
///
/// ```
/// let rt = lanes::Runtime::new();
/// assert_eq!(lanes::ops::block_sum(&rt, &[1.0, 2.0, 3.0], Default::default())?, 6.0);
/// # Ok::<(), lanes::ops::OpsError>(())
/// ```
pub fn block_sum(rt: &Runtime, x: &[f32], options: LaunchOptions) -> Result<f32, OpsError> {
    let n = count(x.len())?;
    let ops = rt.ops().with_options(options);
    let bx = ops.upload(x)?;
    let out = ops.zeroed::<f32>(1)?;
    let grid = Dim3::x(n.div_ceil(BLOCK_LANES).max(1));
    kernel(Op::BlockSum)
        .launch(grid, Dim3::x(BLOCK_LANES))
        .arg(&bx)
        .arg(&out)
        .arg(n)
        .options(options)
        .run(rt)?;
    let mut sum = [0.0];
    out.read_into(&mut sum)?;
    Ok(sum[0])
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
