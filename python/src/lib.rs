//! The `lanes` Python package's native module, `lanes._lanes`: PyO3
//! bindings of the lanes runtime for NumPy users. The package
//! (`python/lanes/__init__.py`) re-exports everything here; its docs, type
//! stubs and tests are beside it.
//!
//! - [`runtime`]: `Runtime` (compile, launch, measure, buffers, report);
//! - [`args`]: Python arguments into launch arguments (arrays in place);
//! - [`kernel`], [`buffer`], [`stats`], [`ops`]: the other classes;
//! - [`errors`]: the exception hierarchy, and the panic guard;
//! - [`interrupt`]: Ctrl-C cancels a launch.

mod args;
mod buffer;
mod elements;
mod errors;
mod interrupt;
mod kernel;
mod ops;
mod runtime;
mod stats;

use pyo3::prelude::*;

/// Runs GPU-style kernels (LASM) on CPU cores, on NumPy arrays.
#[pymodule]
fn _lanes(m: &Bound<'_, PyModule>) -> PyResult<()> {
    errors::register(m)?;
    m.add_class::<runtime::Runtime>()?;
    m.add_class::<kernel::Program>()?;
    m.add_class::<kernel::Kernel>()?;
    m.add_class::<kernel::Param>()?;
    m.add_class::<buffer::Buffer>()?;
    m.add_class::<ops::Ops>()?;
    m.add_class::<stats::LaunchStats>()?;
    m.add_class::<stats::LatencyHistogram>()?;
    m.add_class::<stats::Report>()?;
    m.add_class::<errors::Diagnostic>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("ENGINES", ("reference", "pool", "jit"))?;
    m.add_function(wrap_pyfunction!(_panic, m)?)?;
    interrupt::init(m.py())?;
    Ok(())
}

/// Panics with `message` inside the bindings' guard: for the test that no
/// panic reaches Python (it must arrive as a `LanesError`).
#[pyfunction]
fn _panic(message: &str) -> PyResult<()> {
    errors::guard(|| -> errors::Result<()> { panic!("{message}") })
}
