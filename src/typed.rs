//! Launches written as a chain: `kernel.launch(grid, block).arg(&a).arg(n).run(&rt)`.
//!
//! [`Kernel::launch`] starts a [`LaunchBuilder`]; each [`LaunchBuilder::arg`]
//! takes the next parameter's argument in declaration order: a typed
//! [`Buffer`] by reference, a number of a scalar type (`1000u32`, `2.5f32`),
//! or, for tools, a raw [`BufferId`] or [`Arg`]. [`LaunchBuilder::run`]
//! checks everything [`Runtime::launch`] checks (argument count and kinds,
//! scalar types, the launch shape) and, for typed buffers, two more things,
//! each an error naming the parameter:
//!
//! - the buffer belongs to the runtime the launch runs on;
//! - its element type is the one the kernel reads and writes through that
//!   parameter, when the kernel uses a single type for it (a buffer of `i32`
//!   for a parameter the kernel only accesses as `f32` is a mistake). A
//!   kernel that reinterprets bytes (accesses one parameter with several
//!   types) accepts any element type; to pass a buffer to a kernel that
//!   reads it as another type on purpose, pass its [`Buffer::id`].
//!
//! ```
//! use lanes::{Dim3, Runtime};
//!
//! let rt = Runtime::new();
//! let program = rt.compile(
//!     "scale.lasm",
//!     ".kernel scale\n.param x buf\n.param s f32\n.param n u32\n\
//!      mov.u32 r0, %gid\n setp.ge.u32 p0, r0, n\n @p0 exit\n\
//!      shl.u64 r1, r0, 2\n ld.global.f32 r2, [x + r1]\n\
//!      mul.f32 r2, r2, s\n st.global.f32 [x + r1], r2\n",
//! )?;
//! let scale = program.kernel("scale").ok_or("no kernel `scale`")?;
//! let x = rt.buffer_from(&[1.0f32, 2.0, 3.0])?;
//! scale.launch(Dim3::x(1), Dim3::x(256)).arg(&x).arg(0.5f32).arg(3u32).run(&rt)?;
//! assert_eq!(x.read()?, vec![0.5, 1.0, 1.5]);
//!
//! // A buffer of the wrong element type is an error naming the parameter.
//! let ints = rt.buffer_from(&[1i32, 2, 3])?;
//! let err = scale.launch(Dim3::x(1), Dim3::x(256)).arg(&ints).arg(0.5f32).arg(3u32).run(&rt);
//! assert!(err.unwrap_err().to_string().contains("parameter `x`"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::marker::PhantomData;
use std::sync::Arc;

use crate::buffer::{Buffer, Element};
use crate::engine::StopFlag;
use crate::kernel::{Kernel, Op, ParamKind, Space};
use crate::launch::{Arg, Dim3, LaunchError, Scalar};
use crate::memory::BufferId;
use crate::runtime::{Engine, LaunchOptions, LaunchStats, Runtime};
use crate::types::ScalarType;

/// One argument of a [`LaunchBuilder`]: made from `&Buffer<T>`, a number of
/// a scalar type, a [`Scalar`], a [`BufferId`] or an [`Arg`] (the `From`
/// impls), so that [`LaunchBuilder::arg`] takes any of them.
///
/// ```
/// use lanes::LaunchArg;
///
/// let rt = lanes::Runtime::new();
/// let b = rt.buffer_zeroed::<u8>(4)?;
/// let args: [LaunchArg<'_>; 3] = [(&b).into(), 7u32.into(), b.id().into()];
/// # let _ = args;
/// # Ok::<(), lanes::memory::MemoryError>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct LaunchArg<'a> {
    arg: Arg,
    /// For a typed buffer: its element type and its runtime.
    typed: Option<(ScalarType, usize)>,
    _borrow: PhantomData<&'a ()>,
}

impl<'a, T: Element> From<&'a Buffer<T>> for LaunchArg<'a> {
    fn from(b: &'a Buffer<T>) -> LaunchArg<'a> {
        LaunchArg {
            arg: Arg::Buffer(b.id()),
            typed: Some((T::TYPE, b.owner())),
            _borrow: PhantomData,
        }
    }
}

impl From<Arg> for LaunchArg<'_> {
    fn from(arg: Arg) -> Self {
        LaunchArg {
            arg,
            typed: None,
            _borrow: PhantomData,
        }
    }
}

impl From<BufferId> for LaunchArg<'_> {
    fn from(id: BufferId) -> Self {
        Arg::Buffer(id).into()
    }
}

impl From<Scalar> for LaunchArg<'_> {
    fn from(s: Scalar) -> Self {
        Arg::Scalar(s).into()
    }
}

/// A number of a scalar type (`1000u32`, `2.5f32`) for a scalar parameter
/// of that type.
impl<T: Element> From<T> for LaunchArg<'_> {
    fn from(v: T) -> Self {
        Arg::Scalar(v.into()).into()
    }
}

/// A launch being put together; see the [module docs](self). Made by
/// [`Kernel::launch`]; borrows the buffers it was given until it runs.
///
/// ```
/// use lanes::{Dim3, Engine, Runtime};
///
/// let rt = Runtime::new();
/// let k = rt.compile("k.lasm", ".kernel k\n.param out buf\n mov.u64 r0, %gid\n shl.u64 r1, r0, 3\n st.global.u64 [out + r1], r0\n")?;
/// let out = rt.buffer_zeroed::<u64>(64)?;
/// let stats = k.kernels[0]
///     .launch(Dim3::x(2), Dim3::x(32))
///     .arg(&out)
///     .engine(Engine::Reference)
///     .run(&rt)?;
/// assert_eq!(stats.lanes, 64);
/// assert_eq!(out.read()?[63], 63);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
#[must_use = "a launch runs only when `run` is called"]
pub struct LaunchBuilder<'k, 'a> {
    kernel: &'k Arc<Kernel>,
    grid: Dim3,
    block: Dim3,
    args: Vec<LaunchArg<'a>>,
    options: LaunchOptions,
    stop: Option<&'a StopFlag>,
}

impl Kernel {
    /// Starts a launch of this kernel over `grid` blocks of `block` lanes;
    /// add the arguments with [`LaunchBuilder::arg`], then
    /// [`LaunchBuilder::run`] it.
    ///
    /// ```
    /// use lanes::{Dim3, Runtime};
    ///
    /// let rt = Runtime::new();
    /// let p = rt.compile("e.lasm", ".kernel e\n exit\n")?;
    /// let stats = p.kernels[0].launch(Dim3::x(4), Dim3::x(8)).run(&rt)?;
    /// assert_eq!(stats.blocks, 4);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn launch<'k, 'a>(self: &'k Arc<Self>, grid: Dim3, block: Dim3) -> LaunchBuilder<'k, 'a> {
        LaunchBuilder {
            kernel: self,
            grid,
            block,
            args: Vec::with_capacity(self.params.len()),
            options: LaunchOptions::default(),
            stop: None,
        }
    }
}

impl<'a> LaunchBuilder<'_, 'a> {
    /// The next parameter's argument.
    ///
    /// ```
    /// use lanes::{Dim3, Runtime};
    ///
    /// let rt = Runtime::new();
    /// let p = rt.compile("f.lasm", ".kernel fill\n.param out buf\n.param v i16\n\
    ///     mov.u64 r0, %gid\n shl.u64 r0, r0, 1\n st.global.i16 [out + r0], v\n")?;
    /// let out = rt.buffer_zeroed::<i16>(3)?;
    /// p.kernels[0].launch(Dim3::x(1), Dim3::x(3)).arg(&out).arg(-7i16).run(&rt)?;
    /// assert_eq!(out.read()?, vec![-7; 3]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn arg(mut self, arg: impl Into<LaunchArg<'a>>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// All options at once (engine, step limit).
    ///
    /// ```
    /// use lanes::{Dim3, LaunchOptions, Runtime};
    ///
    /// let rt = Runtime::new();
    /// let p = rt.compile("l.lasm", ".kernel spin\nloop:\n bra loop\n")?;
    /// let options = LaunchOptions { max_steps: 100, ..LaunchOptions::default() };
    /// let err = p.kernels[0].launch(Dim3::x(1), Dim3::x(1)).options(options).run(&rt);
    /// assert!(err.unwrap_err().to_string().contains("step limit"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn options(mut self, options: LaunchOptions) -> Self {
        self.options = options;
        self
    }

    /// The engine that runs the launch.
    ///
    /// ```
    /// use lanes::{Dim3, Engine, Runtime};
    ///
    /// let rt = Runtime::new();
    /// let p = rt.compile("e.lasm", ".kernel e\n exit\n")?;
    /// let stats = p.kernels[0].launch(Dim3::x(1), Dim3::x(1)).engine(Engine::Reference).run(&rt)?;
    /// assert_eq!(stats.tasks, 0, "the reference engine runs no pool tasks");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn engine(mut self, engine: Engine) -> Self {
        self.options.engine = engine;
        self
    }

    /// The per-lane step budget.
    ///
    /// ```
    /// use lanes::{Dim3, Runtime};
    ///
    /// let rt = Runtime::new();
    /// let p = rt.compile("l.lasm", ".kernel spin\nloop:\n bra loop\n")?;
    /// assert!(p.kernels[0].launch(Dim3::x(1), Dim3::x(1)).max_steps(10).run(&rt).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn max_steps(mut self, max_steps: u64) -> Self {
        self.options.max_steps = max_steps;
        self
    }

    /// How long the launch waits for the JIT to compile the kernel before
    /// starting its blocks on the block engine (see
    /// [`LaunchOptions::jit_wait`]; `Duration::MAX`: every block on
    /// compiled code).
    ///
    /// ```
    /// use lanes::{Dim3, Engine, Runtime};
    /// use std::time::Duration;
    ///
    /// let rt = Runtime::new();
    /// let p = rt.compile("e.lasm", ".kernel e\n exit\n")?;
    /// let launch = p.kernels[0].launch(Dim3::x(64), Dim3::x(32)).engine(Engine::Jit);
    /// let stats = launch.jit_wait(Duration::MAX).run(&rt)?;
    /// assert_eq!(stats.blocks_before_jit, 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn jit_wait(mut self, wait: std::time::Duration) -> Self {
        self.options.jit_wait = wait;
        self
    }

    /// A stop flag that another thread may set to cancel the launch (see
    /// [`Runtime::launch_with_stop`]).
    ///
    /// ```
    /// use lanes::{Dim3, LaunchError, Runtime, engine::StopFlag};
    ///
    /// let rt = Runtime::new();
    /// let p = rt.compile("e.lasm", ".kernel e\n exit\n")?;
    /// let stop = StopFlag::new();
    /// stop.set(); // already set: nothing runs
    /// let err = p.kernels[0].launch(Dim3::x(8), Dim3::x(1)).stop_flag(&stop).run(&rt);
    /// assert!(matches!(err, Err(LaunchError::Cancelled { unfinished: 8, .. })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn stop_flag(mut self, stop: &'a StopFlag) -> Self {
        self.stop = Some(stop);
        self
    }

    /// Checks the typed arguments (see the [module docs](self)) and runs the
    /// launch on `rt` ([`Runtime::launch`]).
    ///
    /// ```
    /// use lanes::{Dim3, Runtime};
    ///
    /// let (rt, other) = (Runtime::new(), Runtime::new());
    /// let p = rt.compile("t.lasm", ".kernel touch\n.param x buf\n ld.global.u8 r0, [x]\n")?;
    /// let x = other.buffer_zeroed::<u8>(1)?;
    /// let err = p.kernels[0].launch(Dim3::x(1), Dim3::x(1)).arg(&x).run(&rt).unwrap_err();
    /// assert!(err.to_string().contains("another runtime"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn run(self, rt: &Runtime) -> Result<LaunchStats, LaunchError> {
        let kernel = self.kernel;
        let owner = rt.buffer_owner();
        for (position, (param, a)) in kernel.params.iter().zip(&self.args).enumerate() {
            let Some((ty, from)) = a.typed else { continue };
            let err = |message: String| LaunchError::Arguments {
                kernel: kernel.name.clone(),
                message,
            };
            if from != owner {
                return Err(err(format!(
                    "argument {} for parameter `{}` is a buffer of another runtime",
                    position + 1,
                    param.name
                )));
            }
            if let ParamKind::Buffer { slot } = param.kind {
                if let Some(used) = single_access_type(kernel, slot) {
                    if used != ty {
                        return Err(err(format!(
                            "parameter `{}` is accessed as {used} by the kernel, got a buffer of {ty} \
                             (pass the buffer's id() to reinterpret its bytes)",
                            param.name
                        )));
                    }
                }
            }
        }
        let args: Vec<Arg> = self.args.iter().map(|a| a.arg).collect();
        match self.stop {
            Some(stop) => {
                rt.launch_with_stop(kernel, self.grid, self.block, &args, self.options, stop)
            }
            None => rt.launch(kernel, self.grid, self.block, &args, self.options),
        }
    }
}

/// How a kernel uses one of its buffer parameters, as far as its
/// instructions tell ([`Kernel::buffer_usage`]): what a binding needs to
/// check an array against the parameter, and whether results must be
/// copied back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BufferUsage {
    /// The one type every global access through the parameter uses; `None`
    /// when the kernel never touches it or reinterprets its bytes with
    /// several types (then any element type is accepted).
    pub element: Option<ScalarType>,
    /// Whether the kernel stores to it or updates it atomically.
    pub written: bool,
}

impl Kernel {
    /// How the kernel uses buffer parameter `name`; `None` when it has no
    /// buffer parameter of that name.
    ///
    /// ```
    /// use lanes::{typed::BufferUsage, types::ScalarType};
    ///
    /// let p = lanes::compile("s.lasm", ".kernel scale\n.param x buf\n.param y buf\n\
    ///     ld.global.f32 r0, [x]\n st.global.f32 [y], r0\n")?;
    /// let k = &p.kernels[0];
    /// assert_eq!(k.buffer_usage("x"), Some(BufferUsage { element: Some(ScalarType::F32), written: false }));
    /// assert_eq!(k.buffer_usage("y").map(|u| u.written), Some(true));
    /// assert_eq!(k.buffer_usage("z"), None);
    /// # Ok::<(), lanes::asm::Diagnostics>(())
    /// ```
    pub fn buffer_usage(&self, name: &str) -> Option<BufferUsage> {
        let Some(ParamKind::Buffer { slot }) = self.param(name).map(|p| p.kind) else {
            return None;
        };
        let written = self.instrs.iter().any(|instr| match instr.op {
            Op::Store {
                space: Space::Global,
                addr,
                ..
            }
            | Op::Atom {
                space: Space::Global,
                addr,
                ..
            }
            | Op::Cas {
                space: Space::Global,
                addr,
                ..
            } => addr.buffer == slot,
            _ => false,
        });
        Some(BufferUsage {
            element: single_access_type(self, slot),
            written,
        })
    }
}

/// The one type every global access through buffer slot `slot` uses, if
/// there is exactly one (`None` when the kernel never touches the buffer or
/// reinterprets it with several types).
fn single_access_type(kernel: &Kernel, slot: u16) -> Option<ScalarType> {
    let mut found = None;
    for instr in &kernel.instrs {
        let (ty, addr) = match instr.op {
            Op::Load {
                space: Space::Global,
                ty,
                addr,
                ..
            }
            | Op::Store {
                space: Space::Global,
                ty,
                addr,
                ..
            } => (ty, addr),
            Op::Atom {
                space: Space::Global,
                ty,
                addr,
                ..
            } => (ty.scalar(), addr),
            Op::Cas {
                space: Space::Global,
                ty,
                addr,
                ..
            } => (ty.scalar(), addr),
            _ => continue,
        };
        if addr.buffer != slot {
            continue;
        }
        match found {
            None => found = Some(ty),
            Some(t) if t == ty => {}
            Some(_) => return None,
        }
    }
    found
}
