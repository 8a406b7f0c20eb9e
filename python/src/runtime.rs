//! `lanes.Runtime`: compile, launch, measure, resident buffers, the
//! scheduler's report.

use std::str::FromStr;
use std::time::{Duration, Instant};

use lanes::{Dim3, Engine, LaunchError, LaunchOptions, Placement};
use numpy::PyUntypedArray;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

use crate::args;
use crate::buffer::Buffer;
use crate::elements::dtype_arg;
use crate::errors::{Error, Result, argument, guard};
use crate::interrupt::Cancel;
use crate::kernel::{Kernel, Program};
use crate::ops::Ops;
use crate::stats::{LatencyHistogram, LaunchStats, Report};

/// A lanes runtime: a pool of worker threads, a kernel cache and the
/// buffers of its launches.
///
/// `threads`: threads that run a launch, the calling thread included (None:
/// one per CPU this process may use). `placement`: where workers are
/// pinned: "none", "close", "spread", or a list of CPU numbers.
/// `spin_us`: how long an idle worker spins before it sleeps (µs).
/// `engine`: the default engine of launches and ops: "jit" (native code, the
/// default; kernels it cannot compile run on "pool"), "pool" (the lane-block
/// interpreter), or "reference" (the oracle, one lane at a time).
/// `submitter_helps`: whether the launching thread runs blocks too.
#[pyclass(module = "lanes", name = "Runtime", frozen)]
pub struct Runtime {
    pub(crate) rt: lanes::Runtime,
    pub(crate) engine: Engine,
}

/// `obj` as a launch dimension: an int, or 1 to 3 ints.
fn dim3(obj: &Bound<'_, PyAny>, what: &str) -> Result<Dim3> {
    let bad = || {
        argument(format!(
            "{what} must be an int or a tuple of 1 to 3 ints from 1 to {}, got {}",
            u32::MAX,
            obj.repr().map(|r| r.to_string()).unwrap_or_default()
        ))
    };
    if let Ok(x) = obj.extract::<u64>() {
        return Ok(Dim3::x(u32::try_from(x).map_err(|_| bad())?));
    }
    let dims: Vec<u64> = obj.extract().map_err(|_| bad())?;
    let d = |i: usize| -> Result<u32> {
        dims.get(i)
            .map_or(Ok(1), |&v| u32::try_from(v).map_err(|_| bad()))
    };
    if dims.is_empty() || dims.len() > 3 {
        return Err(bad());
    }
    Ok(Dim3::new(d(0)?, d(1)?, d(2)?))
}

/// The engine named `name`.
pub(crate) fn engine_arg(name: &str) -> Result<Engine> {
    Engine::from_str(name).map_err(argument)
}

impl Runtime {
    /// Launch options from the keyword arguments.
    fn options(
        &self,
        engine: Option<&str>,
        max_steps: Option<u64>,
        timeout: Option<f64>,
    ) -> Result<LaunchOptions> {
        let mut options = LaunchOptions {
            engine: self.engine,
            ..LaunchOptions::default()
        };
        if let Some(e) = engine {
            options.engine = engine_arg(e)?;
        }
        if let Some(s) = max_steps {
            options.max_steps = s;
        }
        if let Some(t) = timeout {
            let d = Duration::try_from_secs_f64(t)
                .ok()
                .filter(|d| !d.is_zero())
                .ok_or_else(|| {
                    argument(format!(
                        "timeout must be a positive number of seconds, got {t}"
                    ))
                })?;
            options.timeout = Some(d);
        }
        Ok(options)
    }

    /// The outcome of a launch: a cancel by Ctrl-C becomes the
    /// `KeyboardInterrupt` Python's handler raises, caused by the
    /// `LaunchCancelled` error.
    fn outcome<T>(py: Python<'_>, result: Result<T, LaunchError>, cancel: &Cancel) -> Result<T> {
        match result {
            Ok(v) => Ok(v),
            Err(e @ LaunchError::Cancelled { .. }) if cancel.watched() => {
                let cancelled = PyErr::from(Error::Launch(e));
                match py.check_signals() {
                    Err(interrupt) => {
                        interrupt.set_cause(py, Some(cancelled));
                        Err(Error::Python(interrupt))
                    }
                    Ok(()) => Err(Error::Python(cancelled)),
                }
            }
            Err(e) => Err(e.into()),
        }
    }
}

#[pymethods]
impl Runtime {
    #[new]
    #[pyo3(signature = (threads = None, placement = None, spin_us = None, engine = "jit", submitter_helps = true))]
    fn new(
        py: Python<'_>,
        threads: Option<usize>,
        placement: Option<&Bound<'_, PyAny>>,
        spin_us: Option<f64>,
        engine: &str,
        submitter_helps: bool,
    ) -> PyResult<Runtime> {
        guard(|| {
            let mut b = lanes::Runtime::builder().submitter_helps(submitter_helps);
            if let Some(t) = threads {
                if t == 0 || t > lanes_scheduler::MAX_THREADS {
                    return Err(argument(format!(
                        "threads must be from 1 to {}, got {t}",
                        lanes_scheduler::MAX_THREADS
                    )));
                }
                b = b.threads(t);
            }
            if let Some(p) = placement {
                let placement = match p.extract::<&str>() {
                    Ok(s) => Placement::from_str(s).map_err(argument)?,
                    Err(_) => Placement::Cpus(p.extract::<Vec<usize>>().map_err(|_| {
                        argument("placement must be \"none\", \"close\", \"spread\" or a list of CPU numbers")
                    })?),
                };
                b = b.placement(placement);
            }
            if let Some(us) = spin_us {
                let d = Duration::try_from_secs_f64(us / 1e6).map_err(|_| {
                    argument(format!("spin_us must be a non-negative number, got {us}"))
                })?;
                b = b.spin(d);
            }
            let engine = engine_arg(engine)?;
            let rt = py
                .detach(|| b.build())
                .map_err(|e| argument(e.to_string()))?;
            Ok(Runtime { rt, engine })
        })
    }

    /// Threads that run a launch (the calling thread included when it
    /// helps).
    #[getter]
    fn threads(&self) -> usize {
        self.rt.threads()
    }

    /// Where workers are pinned (`"none"`, `"close"`, `"spread"`,
    /// `"cpus:0,2"`).
    #[getter]
    fn placement(&self) -> String {
        self.rt.pool_config().placement.to_string()
    }

    /// How long idle workers spin before they sleep, in µs.
    #[getter]
    fn spin_us(&self) -> f64 {
        self.rt.pool_config().spin.as_secs_f64() * 1e6
    }

    /// The default engine of launches and ops.
    #[getter]
    fn engine(&self) -> &'static str {
        self.engine.name()
    }

    /// Compiles LASM source text; `name` names it in error messages. Raises
    /// `CompileError` with every error of the text. The same source
    /// compiled twice is compiled once.
    #[pyo3(signature = (source, name = None))]
    fn compile(&self, py: Python<'_>, source: &str, name: Option<&str>) -> PyResult<Program> {
        guard(|| {
            let name = name.unwrap_or("<string>");
            let program = py
                .detach(|| self.rt.compile(name, source))
                .map_err(Error::Compile)?;
            let kernels = program
                .kernels
                .into_iter()
                .map(|k| Py::new(py, Kernel::new(k)))
                .collect::<PyResult<Vec<_>>>()?;
            Ok(Program { kernels })
        })
    }

    /// Compiles the LASM file at `path` (named by its path in errors).
    fn compile_file(&self, py: Python<'_>, path: std::path::PathBuf) -> PyResult<Program> {
        let source = std::fs::read_to_string(&path)?;
        self.compile(py, &source, Some(&path.display().to_string()))
    }

    /// Runs `kernel` over `grid` blocks of `block` lanes (each an int or a
    /// tuple of up to 3 ints) and returns its `LaunchStats`.
    ///
    /// Arguments go by position or by parameter name: a NumPy array or a
    /// `lanes.Buffer` for each `buf` parameter, a number for each scalar
    /// parameter (checked against its type). Arrays are used in place when
    /// their layout allows (C-contiguous, 8-byte aligned, a whole number of
    /// 8-byte words), else copied in and, if the kernel writes them, back.
    /// `engine`, `max_steps` (per-lane step budget) and `timeout` (seconds)
    /// are launch options; a kernel parameter of one of those names must be
    /// given by position. The GIL is released while the kernel runs;
    /// Ctrl-C cancels it (from the main thread).
    #[pyo3(signature = (kernel, grid, block, *args, engine = None, max_steps = None, timeout = None, **named))]
    #[allow(clippy::too_many_arguments)]
    fn launch<'py>(
        &self,
        py: Python<'py>,
        kernel: &Bound<'py, Kernel>,
        grid: &Bound<'py, PyAny>,
        block: &Bound<'py, PyAny>,
        args: &Bound<'py, PyTuple>,
        engine: Option<&str>,
        max_steps: Option<u64>,
        timeout: Option<f64>,
        named: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<LaunchStats> {
        guard(|| {
            let k = kernel.get();
            let (grid, block) = (dim3(grid, "grid")?, dim3(block, "block")?);
            let options = self.options(engine, max_steps, timeout)?;
            let mut bound = args::bind(&self.rt, &k.owner, &k.params, args, named)?;
            let cancel = Cancel::new(py);
            let result = {
                let launch_args = bound.launch_args();
                let stop = cancel.flag();
                py.detach(|| {
                    let mut b = k
                        .kernel
                        .launch(grid, block)
                        .options(options)
                        .stop_flag(stop);
                    for a in &launch_args {
                        b = b.arg(*a);
                    }
                    b.run(&self.rt)
                })
            };
            let copied = bound.copied();
            let finished = bound.finish();
            let stats = Runtime::outcome(py, result, &cancel)?;
            finished?;
            Ok(LaunchStats {
                copied_arrays: copied,
                ..stats.into()
            })
        })
    }

    /// Launches `kernel` `warmup + repeat` times with the same arguments
    /// (bound once) and returns the `LatencyHistogram` of the last
    /// `repeat` launches, each timed in Rust around the whole launch call
    /// (as a Rust program would see it). Options as for `launch`.
    #[pyo3(signature = (kernel, grid, block, *args, repeat = 100, warmup = 1, engine = None, max_steps = None, timeout = None, **named))]
    #[allow(clippy::too_many_arguments)]
    fn measure<'py>(
        &self,
        py: Python<'py>,
        kernel: &Bound<'py, Kernel>,
        grid: &Bound<'py, PyAny>,
        block: &Bound<'py, PyAny>,
        args: &Bound<'py, PyTuple>,
        repeat: usize,
        warmup: usize,
        engine: Option<&str>,
        max_steps: Option<u64>,
        timeout: Option<f64>,
        named: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<LatencyHistogram> {
        guard(|| {
            let k = kernel.get();
            let (grid, block) = (dim3(grid, "grid")?, dim3(block, "block")?);
            let options = lanes::LaunchOptions {
                // Steady state: the warm-up waits for compiled code.
                jit_wait: std::time::Duration::MAX,
                ..self.options(engine, max_steps, timeout)?
            };
            let mut bound = args::bind(&self.rt, &k.owner, &k.params, args, named)?;
            let mut histogram = LatencyHistogram::empty()?.histogram;
            let cancel = Cancel::new(py);
            let result = {
                let launch_args = bound.launch_args();
                let stop = cancel.flag();
                let histogram = &mut histogram;
                py.detach(move || {
                    for i in 0..warmup.saturating_add(repeat) {
                        let start = Instant::now();
                        let mut b = k
                            .kernel
                            .launch(grid, block)
                            .options(options)
                            .stop_flag(stop);
                        for a in &launch_args {
                            b = b.arg(*a);
                        }
                        b.run(&self.rt)?;
                        let ns = u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
                        if i >= warmup {
                            histogram.saturating_record(ns);
                        }
                    }
                    Ok(())
                })
            };
            let finished = bound.finish();
            Runtime::outcome(py, result, &cancel)?;
            finished?;
            Ok(LatencyHistogram::of(histogram))
        })
    }

    /// A resident buffer holding a copy of `data` (anything `numpy.asarray`
    /// takes, converted to `dtype` if given), with its shape.
    #[pyo3(signature = (data, dtype = None))]
    fn buffer(
        &self,
        py: Python<'_>,
        data: &Bound<'_, PyAny>,
        dtype: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Buffer> {
        guard(|| {
            // C-contiguous and aligned: read as a slice of elements.
            let np = py.import("numpy")?;
            let array = np.call_method1("require", (data, dtype, "CA"))?;
            let array = array
                .cast::<PyUntypedArray>()
                .map_err(|e| argument(format!("buffer: {e}")))?;
            Buffer::copy_of(&self.rt, array)
        })
    }

    /// A resident buffer of zeros of `shape` (an int or a tuple of ints)
    /// and `dtype`.
    fn zeros(&self, shape: &Bound<'_, PyAny>, dtype: &Bound<'_, PyAny>) -> PyResult<Buffer> {
        guard(|| {
            let shape: Vec<usize> = match shape.extract::<usize>() {
                Ok(n) => vec![n],
                Err(_) => shape.extract().map_err(|_| {
                    argument("zeros: shape must be an int or a tuple of non-negative ints")
                })?,
            };
            let ty = dtype_arg(dtype.py(), dtype)?;
            Buffer::zeroed(&self.rt, shape, ty)
        })
    }

    /// The library's ready kernels on this runtime (see `lanes.ops`).
    #[getter]
    fn ops(slf: &Bound<'_, Self>) -> Ops {
        Ops {
            rt: slf.clone().unbind(),
        }
    }

    /// The scheduler's per-worker metrics since the last `reset_metrics()`.
    fn report(&self, py: Python<'_>) -> Report {
        Report {
            report: py.detach(|| self.rt.report()),
        }
    }

    /// Clears the scheduler's metrics.
    fn reset_metrics(&self, py: Python<'_>) {
        py.detach(|| self.rt.reset_metrics())
    }

    fn __repr__(&self) -> String {
        self.describe()
    }
}

impl Runtime {
    /// `lanes.Runtime(threads=2, placement="none", engine="jit")`.
    pub(crate) fn describe(&self) -> String {
        format!(
            "lanes.Runtime(threads={}, placement={:?}, engine={:?})",
            self.rt.threads(),
            self.rt.pool_config().placement.to_string(),
            self.engine.name()
        )
    }
}
