//! The exceptions of the `lanes` package, and how Rust errors become them.
//!
//! ```text
//! LanesError(Exception)                  every error lanes raises
//! ├── CompileError                       .diagnostics: [Diagnostic(file, line, column, message)]
//! ├── LaunchFault                        .kernel .block .lane .instruction .line .source .kind
//! ├── LaunchTimeout                      .kernel .timeout .blocks .unfinished .unfinished_ranges
//! ├── LaunchCancelled                    .kernel .blocks .unfinished .unfinished_ranges
//! └── ArgumentError(+TypeError, ValueError)  a wrong argument, named
//! ```
//!
//! Internal code returns [`Error`]; it becomes a Python exception only at
//! the boundary ([`From<Error> for PyErr`]). [`guard`] turns a panic into a
//! `LanesError` instead of PyO3's `PanicException`, so no panic reaches
//! Python.

use std::panic::{AssertUnwindSafe, catch_unwind};

use lanes::asm::Diagnostics;
use lanes::ops::OpsError;
use lanes::{Fault, FaultKind, LaunchError};
use pyo3::exceptions::{PyException, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyList, PyTuple, PyType};

pyo3::create_exception!(
    lanes,
    LanesError,
    PyException,
    "The base of every error lanes raises."
);
pyo3::create_exception!(
    lanes,
    CompileError,
    LanesError,
    "LASM source that does not compile. `diagnostics` lists every error found, each with its `file`, `line`, `column` and `message`; `str(e)` shows them as `FILE:LINE:COL: message` lines."
);
pyo3::create_exception!(
    lanes,
    LaunchFault,
    LanesError,
    "A lane faulted while the launch ran. Attributes: `kernel`, `block` and `lane` (x, y, z coordinates), `instruction` (index in the kernel), `line` (source line), `source` (the instruction's text), `kind` (`out_of_bounds`, `misaligned`, `division_by_zero` or `step_limit`), `detail` (what went wrong, in words). `str(e)` is the message the `lanes` command prints. Blocks that ran before the fault keep their writes."
);
pyo3::create_exception!(
    lanes,
    LaunchTimeout,
    LanesError,
    "The launch ran past its `timeout` and was cancelled. Attributes: `kernel`, `timeout` (seconds), `blocks`, `unfinished` (how many blocks had not finished), `unfinished_ranges` (the first of them, as (start, end) linear block ranges)."
);
pyo3::create_exception!(
    lanes,
    LaunchCancelled,
    LanesError,
    "The launch was cancelled (by Ctrl-C: then it is the cause of the KeyboardInterrupt). Attributes: `kernel`, `blocks`, `unfinished`, `unfinished_ranges`."
);

/// `ArgumentError`, made at import: its bases are `LanesError`,
/// `TypeError` and `ValueError` (a wrong kind and a wrong value are both
/// argument errors), which `create_exception!` cannot express.
static ARGUMENT_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();

/// Registers the exception classes in the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("LanesError", py.get_type::<LanesError>())?;
    m.add("CompileError", py.get_type::<CompileError>())?;
    m.add("LaunchFault", py.get_type::<LaunchFault>())?;
    m.add("LaunchTimeout", py.get_type::<LaunchTimeout>())?;
    m.add("LaunchCancelled", py.get_type::<LaunchCancelled>())?;
    m.add("ArgumentError", argument_error_type(py)?)?;
    Ok(())
}

fn argument_error_type(py: Python<'_>) -> PyResult<Bound<'_, PyType>> {
    let ty = ARGUMENT_ERROR.get_or_try_init(py, || -> PyResult<Py<PyType>> {
        let bases = PyTuple::new(
            py,
            [
                py.get_type::<LanesError>(),
                py.get_type::<PyTypeError>(),
                py.get_type::<PyValueError>(),
            ],
        )?;
        let namespace = PyDict::new(py);
        namespace.set_item("__module__", "lanes")?;
        namespace.set_item(
            "__doc__",
            "A launch or op argument that does not fit: wrong count, unknown name, wrong kind, \
             dtype or shape, a value out of the parameter type's range, a bad grid or block. \
             The message names the parameter and what was expected. Also a TypeError and a \
             ValueError.",
        )?;
        let ty = py
            .get_type::<PyType>()
            .call1(("ArgumentError", bases, namespace))?;
        Ok(ty.cast_into::<PyType>()?.unbind())
    })?;
    Ok(ty.bind(py).clone())
}

/// An error of the bindings, turned into a Python exception at the
/// boundary.
#[derive(Debug)]
pub(crate) enum Error {
    /// A wrong argument: `ArgumentError`.
    Argument(String),
    /// Source that does not compile: `CompileError`.
    Compile(Diagnostics),
    /// A failed launch.
    Launch(LaunchError),
    /// Anything else lanes reports: `LanesError`.
    Other(String),
    /// An exception raised by Python code the bindings called.
    Python(PyErr),
}

pub(crate) type Result<T, E = Error> = std::result::Result<T, E>;

/// `ArgumentError(message)`.
pub(crate) fn argument(message: impl Into<String>) -> Error {
    Error::Argument(message.into())
}

impl From<PyErr> for Error {
    fn from(e: PyErr) -> Error {
        Error::Python(e)
    }
}

impl From<LaunchError> for Error {
    fn from(e: LaunchError) -> Error {
        match e {
            LaunchError::Shape(_) | LaunchError::Arguments { .. } => Error::Argument(e.to_string()),
            e => Error::Launch(e),
        }
    }
}

impl From<lanes::memory::MemoryError> for Error {
    fn from(e: lanes::memory::MemoryError) -> Error {
        Error::Other(e.to_string())
    }
}

impl From<OpsError> for Error {
    fn from(e: OpsError) -> Error {
        match e {
            OpsError::Launch(e) => e.into(),
            OpsError::Memory(e) => e.into(),
            OpsError::BuiltIn { .. } => Error::Other(e.to_string()),
            other => Error::Argument(other.to_string()),
        }
    }
}

impl From<Error> for PyErr {
    fn from(e: Error) -> PyErr {
        Python::attach(|py| match e {
            Error::Argument(message) => match argument_error_type(py) {
                Ok(ty) => PyErr::from_type(ty, message),
                Err(e) => e,
            },
            Error::Compile(d) => compile_error(py, &d),
            Error::Launch(e) => launch_error(py, e),
            Error::Other(message) => LanesError::new_err(message),
            Error::Python(e) => e,
        })
    }
}

/// Sets `attrs` on the exception `err` (made first, so the attributes are
/// there when Python sees it). A failure to set them becomes the error.
fn with_attrs<'py>(
    py: Python<'py>,
    err: PyErr,
    attrs: impl FnOnce(&Bound<'py, PyAny>) -> PyResult<()>,
) -> PyErr {
    let value = err.value(py).clone().into_any();
    match attrs(&value) {
        Ok(()) => err,
        Err(e) => e,
    }
}

/// One error of a [`CompileError`]: where it is and what is wrong.
#[pyclass(module = "lanes", name = "Diagnostic", frozen, get_all)]
pub struct Diagnostic {
    /// The file name given to `compile` (`name=`).
    pub file: String,
    /// 1-based line.
    pub line: u32,
    /// 1-based column, in characters.
    pub column: u32,
    /// What is wrong.
    pub message: String,
}

#[pymethods]
impl Diagnostic {
    fn __repr__(&self) -> String {
        format!(
            "Diagnostic(file={:?}, line={}, column={}, message={:?})",
            self.file, self.line, self.column, self.message
        )
    }

    fn __str__(&self) -> String {
        format!(
            "{}:{}:{}: {}",
            self.file, self.line, self.column, self.message
        )
    }
}

fn compile_error(py: Python<'_>, d: &Diagnostics) -> PyErr {
    let err = CompileError::new_err(d.to_string());
    with_attrs(py, err, |v| {
        let list = PyList::empty(py);
        for e in &d.errors {
            list.append(Diagnostic {
                file: d.file.clone(),
                line: e.span.line,
                column: e.span.col,
                message: e.message.clone(),
            })?;
        }
        v.setattr("diagnostics", list)?;
        v.setattr("file", &d.file)
    })
}

/// The short name of a fault's kind.
pub(crate) fn fault_kind_name(kind: &FaultKind) -> &'static str {
    match kind {
        FaultKind::OutOfBounds { .. } => "out_of_bounds",
        FaultKind::Misaligned { .. } => "misaligned",
        FaultKind::DivisionByZero => "division_by_zero",
        FaultKind::StepLimit { .. } => "step_limit",
    }
}

fn dim3(d: lanes::Dim3) -> (u32, u32, u32) {
    (d.x, d.y, d.z)
}

fn fault_error(py: Python<'_>, f: &Fault) -> PyErr {
    let err = LaunchFault::new_err(f.to_string());
    with_attrs(py, err, |v| {
        v.setattr("kernel", &f.kernel)?;
        v.setattr("block", dim3(f.block))?;
        v.setattr("lane", dim3(f.lane))?;
        v.setattr("instruction", f.instr)?;
        v.setattr("line", f.line)?;
        v.setattr("source", &f.source)?;
        v.setattr("kind", fault_kind_name(&f.kind))?;
        v.setattr("detail", f.kind.to_string())
    })
}

/// The exception for a failed launch.
fn launch_error(py: Python<'_>, e: LaunchError) -> PyErr {
    let message = e.to_string();
    match e {
        LaunchError::Fault(f) => fault_error(py, &f),
        LaunchError::Timeout {
            kernel,
            timeout,
            blocks,
            unfinished,
            ranges,
            ..
        } => with_attrs(py, LaunchTimeout::new_err(message), |v| {
            v.setattr("kernel", kernel)?;
            v.setattr("timeout", timeout.as_secs_f64())?;
            v.setattr("blocks", blocks)?;
            v.setattr("unfinished", unfinished)?;
            v.setattr("unfinished_ranges", range_list(&ranges))
        }),
        LaunchError::Cancelled {
            kernel,
            blocks,
            unfinished,
            ranges,
            ..
        } => with_attrs(py, LaunchCancelled::new_err(message), |v| {
            v.setattr("kernel", kernel)?;
            v.setattr("blocks", blocks)?;
            v.setattr("unfinished", unfinished)?;
            v.setattr("unfinished_ranges", range_list(&ranges))
        }),
        LaunchError::Shape(_) | LaunchError::Arguments { .. } => {
            PyErr::from(Error::Argument(message))
        }
        _ => LanesError::new_err(message),
    }
}

fn range_list(ranges: &[std::ops::Range<u64>]) -> Vec<(u64, u64)> {
    ranges.iter().map(|r| (r.start, r.end)).collect()
}

/// Runs `f`, turning a panic into a `LanesError` (an internal error: a bug
/// of lanes) so that none reaches Python as PyO3's `PanicException`.
pub(crate) fn guard<T>(f: impl FnOnce() -> Result<T>) -> PyResult<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r.map_err(PyErr::from),
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            Err(LanesError::new_err(format!(
                "internal error in lanes (please report it): {what}"
            )))
        }
    }
}
