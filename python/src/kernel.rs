//! `lanes.Program`, `lanes.Kernel` and `lanes.Param`: compiled kernels and
//! their signatures.

use std::sync::Arc;

use lanes::kernel::ParamKind;
use pyo3::exceptions::{PyAttributeError, PyKeyError};
use pyo3::prelude::*;
use pyo3::types::PyList;

use crate::args::{ParamInfo, ParamSpec};
use crate::elements::numpy_name;

/// One parameter of a kernel.
#[pyclass(module = "lanes", name = "Param", frozen, get_all)]
pub struct Param {
    /// Its name.
    pub name: String,
    /// `"buf"` for a buffer, else its scalar type (`"u32"`, `"f32"`...).
    pub kind: String,
    /// For a buffer: the NumPy dtype name the kernel accesses it as
    /// (`"float32"`), or None when it reinterprets it with several types
    /// or never touches it (any dtype is accepted). For a scalar: the
    /// dtype name of its type.
    pub dtype: Option<String>,
    /// For a buffer: whether the kernel writes it (stores or atomics).
    /// False for scalars.
    pub written: bool,
}

#[pymethods]
impl Param {
    /// Whether it is a buffer parameter.
    #[getter]
    fn is_buffer(&self) -> bool {
        self.kind == "buf"
    }

    fn __repr__(&self) -> String {
        let dtype = self.dtype.as_deref().unwrap_or("any");
        if self.is_buffer() {
            format!(
                "Param({}: buf of {dtype}{})",
                self.name,
                if self.written { ", written" } else { "" }
            )
        } else {
            format!("Param({}: {})", self.name, self.kind)
        }
    }
}

/// A compiled kernel: launch it with `Runtime.launch(kernel, grid, block,
/// *args, **named)`. `params` lists its parameters in positional order.
#[pyclass(module = "lanes", name = "Kernel", frozen)]
pub struct Kernel {
    pub(crate) kernel: Arc<lanes::Kernel>,
    pub(crate) params: Vec<ParamInfo>,
    /// `kernel `name``, for messages.
    pub(crate) owner: String,
}

impl Kernel {
    pub(crate) fn new(kernel: Arc<lanes::Kernel>) -> Kernel {
        let params = kernel
            .params
            .iter()
            .map(|p| ParamInfo {
                name: p.name.clone(),
                spec: match p.kind {
                    ParamKind::Buffer { .. } => ParamSpec::Buffer(
                        kernel.buffer_usage(&p.name).unwrap_or(lanes::BufferUsage {
                            element: None,
                            written: true,
                        }),
                    ),
                    ParamKind::Scalar { ty, .. } => ParamSpec::Scalar(ty),
                },
            })
            .collect();
        let owner = format!("kernel `{}`", kernel.name);
        Kernel {
            kernel,
            params,
            owner,
        }
    }
}

#[pymethods]
impl Kernel {
    /// The kernel's name.
    #[getter]
    fn name(&self) -> &str {
        &self.kernel.name
    }

    /// Its parameters, in positional order.
    #[getter]
    fn params(&self) -> Vec<Param> {
        self.params
            .iter()
            .map(|p| match p.spec {
                ParamSpec::Buffer(u) => Param {
                    name: p.name.clone(),
                    kind: "buf".to_string(),
                    dtype: u.element.map(|t| numpy_name(t).to_string()),
                    written: u.written,
                },
                ParamSpec::Scalar(ty) => Param {
                    name: p.name.clone(),
                    kind: ty.name().to_string(),
                    dtype: Some(numpy_name(ty).to_string()),
                    written: false,
                },
            })
            .collect()
    }

    /// Bytes of shared memory per block (`.shared`).
    #[getter]
    fn shared_bytes(&self) -> u32 {
        self.kernel.shared_bytes
    }

    /// Number of instructions.
    #[getter]
    fn instructions(&self) -> usize {
        self.kernel.instrs.len()
    }

    fn __repr__(&self) -> String {
        let params: Vec<String> = self.params.iter().map(ParamInfo::signature).collect();
        format!("Kernel {}({})", self.kernel.name, params.join(", "))
    }
}

/// The kernels of one source text, in file order: `program["name"]`,
/// `program.name`, `program[0]`, `len(program)`, iteration.
#[pyclass(module = "lanes", name = "Program", frozen)]
pub struct Program {
    pub(crate) kernels: Vec<Py<Kernel>>,
}

impl Program {
    fn find<'py>(&self, py: Python<'py>, name: &str) -> Option<&Bound<'py, Kernel>> {
        self.kernels
            .iter()
            .map(|k| k.bind(py))
            .find(|k| k.get().kernel.name == name)
    }

    fn names_in(&self, py: Python<'_>) -> Vec<String> {
        self.kernels
            .iter()
            .map(|k| k.bind(py).get().kernel.name.clone())
            .collect()
    }
}

#[pymethods]
impl Program {
    /// The kernels, in file order.
    #[getter]
    fn kernels<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        PyList::new(py, self.kernels.iter().map(|k| k.clone_ref(py)))
    }

    /// The kernel names, in file order.
    #[getter]
    fn names(&self, py: Python<'_>) -> Vec<String> {
        self.names_in(py)
    }

    fn __len__(&self) -> usize {
        self.kernels.len()
    }

    /// The kernel called `key` (a str), or number `key` (an int).
    fn __getitem__(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<Py<Kernel>> {
        if let Ok(i) = key.extract::<isize>() {
            let n = self.kernels.len() as isize;
            let at = if i < 0 { i + n } else { i };
            return usize::try_from(at)
                .ok()
                .and_then(|at| self.kernels.get(at))
                .map(|k| k.clone_ref(py))
                .ok_or_else(|| {
                    pyo3::exceptions::PyIndexError::new_err(format!(
                        "program has {n} kernels, no kernel {i}"
                    ))
                });
        }
        let name: &str = key.extract()?;
        self.find(py, name)
            .map(|k| k.clone().unbind())
            .ok_or_else(|| {
                PyKeyError::new_err(format!(
                    "no kernel `{name}` (the program has {})",
                    self.names_in(py).join(", ")
                ))
            })
    }

    fn __contains__(&self, py: Python<'_>, name: &str) -> bool {
        self.find(py, name).is_some()
    }

    fn __iter__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        Ok(self.kernels(py)?.try_iter()?.into_any().unbind())
    }

    /// `program.vector_add`: the kernel of that name.
    fn __getattr__(&self, py: Python<'_>, name: &str) -> PyResult<Py<Kernel>> {
        self.find(py, name)
            .map(|k| k.clone().unbind())
            .ok_or_else(|| {
                PyAttributeError::new_err(format!(
                    "no kernel `{name}` (the program has {})",
                    self.names_in(py).join(", ")
                ))
            })
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        format!("Program({})", self.names_in(py).join(", "))
    }
}
