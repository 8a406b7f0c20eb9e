//! `lanes.Buffer`: memory that stays in the runtime across launches.

use lanes::types::ScalarType;
use numpy::{PyArrayDyn, PyArrayMethods, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyTuple;

use crate::elements::{
    AnyBuffer, Elem, array_type, dtype_of, numpy_name, shape_text, with_buffer, with_type,
};
use crate::errors::{Error, Result, argument, guard};

/// A buffer of a runtime that stays resident across launches (made by
/// `Runtime.buffer`): pass it to `launch` or to the ops in place of an
/// array, read it back with `read()` (or `numpy.asarray(buf)`). It keeps
/// the shape and dtype it was made with; kernels see its elements in C
/// order. Freed when the last reference to it goes.
#[pyclass(module = "lanes", name = "Buffer", frozen)]
pub struct Buffer {
    pub(crate) inner: AnyBuffer,
    pub(crate) shape: Vec<usize>,
}

impl Buffer {
    /// A zeroed buffer of `shape` and element type `ty`.
    pub(crate) fn zeroed(rt: &lanes::Runtime, shape: Vec<usize>, ty: ScalarType) -> Result<Buffer> {
        let len = element_count(&shape)?;
        let inner = with_type!(ty, T => T::wrap(rt.buffer_zeroed::<T>(len)?));
        Ok(Buffer { inner, shape })
    }

    /// A buffer holding a copy of a C-contiguous `array`.
    pub(crate) fn copy_of(
        rt: &lanes::Runtime,
        array: &Bound<'_, PyUntypedArray>,
    ) -> Result<Buffer> {
        let ty = array_type(array, "buffer")?;
        let inner = with_type!(ty, T => {
            let typed = array.cast::<PyArrayDyn<T>>().map_err(|e| argument(format!("buffer: {e}")))?;
            let view = typed.try_readonly().map_err(|e| Error::Other(format!("buffer: {e}")))?;
            let values = view.as_slice().map_err(|e| argument(format!("buffer: {e}")))?;
            T::wrap(rt.buffer_from(values)?)
        });
        Ok(Buffer {
            inner,
            shape: array.shape().to_vec(),
        })
    }

    /// The element type.
    pub(crate) fn element(&self) -> ScalarType {
        self.inner.element()
    }
}

/// The number of elements of `shape`.
pub(crate) fn element_count(shape: &[usize]) -> Result<usize> {
    shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .ok_or_else(|| {
            argument(format!(
                "shape {} has more elements than memory can hold",
                shape_text(shape)
            ))
        })
}

/// A new array of `shape` with the contents of `b`.
fn read_typed<'py, T: Elem>(
    py: Python<'py>,
    b: &lanes::Buffer<T>,
    shape: &[usize],
) -> Result<Bound<'py, PyUntypedArray>> {
    let array = PyArrayDyn::<T>::zeros(py, shape, false);
    {
        let mut out = array
            .try_readwrite()
            .map_err(|e| Error::Other(e.to_string()))?;
        let slice = out
            .as_slice_mut()
            .map_err(|e| Error::Other(e.to_string()))?;
        py.detach(|| b.read_into(slice))?;
    }
    Ok(array
        .into_any()
        .cast_into::<PyUntypedArray>()
        .map_err(PyErr::from)?)
}

#[pymethods]
impl Buffer {
    /// The shape the buffer was made with.
    #[getter]
    fn shape<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, &self.shape)
    }

    /// The element type, as a NumPy dtype.
    #[getter]
    fn dtype<'py>(&self, py: Python<'py>) -> Bound<'py, numpy::PyArrayDescr> {
        dtype_of(py, self.element())
    }

    /// Number of elements.
    #[getter]
    fn size(&self) -> usize {
        self.inner.len()
    }

    /// Size in bytes.
    #[getter]
    fn nbytes(&self) -> usize {
        self.inner.len() * self.element().size()
    }

    /// Number of dimensions.
    #[getter]
    fn ndim(&self) -> usize {
        self.shape.len()
    }

    /// The length of the first dimension (as for a NumPy array).
    fn __len__(&self) -> PyResult<usize> {
        self.shape
            .first()
            .copied()
            .ok_or_else(|| pyo3::exceptions::PyTypeError::new_err("len() of a 0-d buffer"))
    }

    /// A new NumPy array (the buffer's shape and dtype) holding its
    /// contents.
    fn read<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyUntypedArray>> {
        guard(|| with_buffer!(&self.inner, b => read_typed(py, b, &self.shape)))
    }

    /// Copies the contents into `out`, a C-contiguous, aligned, writeable
    /// array of the buffer's dtype and size (any shape); returns `out`.
    fn read_into<'py>(&self, out: Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        guard(|| {
            let array = out
                .cast::<PyUntypedArray>()
                .map_err(|_| argument("read_into: `out` must be a NumPy array"))?;
            self.check_array(array, "read_into: `out`")?;
            with_buffer!(&self.inner, b => {
                let typed = array.cast::<PyArrayDyn<_>>().map_err(|e| argument(format!("read_into: {e}")))?;
                let mut view = typed.try_readwrite().map_err(|e| Error::Other(format!("read_into: `out`: {e}")))?;
                let slice = view.as_slice_mut().map_err(|e| argument(format!("read_into: `out`: {e}")))?;
                out.py().detach(|| b.read_into(slice))?;
            });
            Ok(out.clone())
        })
    }

    /// Writes `values` (an array of the buffer's dtype, any shape) into the
    /// buffer from element `offset` on, in C order.
    #[pyo3(signature = (values, offset = 0))]
    fn write(&self, values: &Bound<'_, PyAny>, offset: usize) -> PyResult<()> {
        guard(|| {
            let array = values
                .cast::<PyUntypedArray>()
                .map_err(|_| argument("write: `values` must be a NumPy array"))?;
            let ty = array_type(array, "write: `values`")?;
            if ty != self.element() {
                return Err(argument(format!(
                    "write: `values` must be {} like the buffer, got {}",
                    numpy_name(self.element()),
                    numpy_name(ty)
                )));
            }
            // Read as a slice of elements: C-contiguous and aligned (a copy
            // if it is not).
            let array = &values
                .py()
                .import("numpy")?
                .call_method1(
                    "require",
                    (array, pyo3::types::PyNone::get(values.py()), "CA"),
                )?
                .cast_into::<PyUntypedArray>()
                .map_err(PyErr::from)?;
            with_buffer!(&self.inner, b => {
                let typed = array.cast::<PyArrayDyn<_>>().map_err(|e| argument(format!("write: {e}")))?;
                let view = typed.try_readonly().map_err(|e| Error::Other(format!("write: `values`: {e}")))?;
                let slice = view.as_slice().map_err(|e| argument(format!("write: {e}")))?;
                values.py().detach(|| b.write_at(offset, slice))?;
            });
            Ok(())
        })
    }

    /// `numpy.asarray(buffer)`: a copy of the contents.
    #[pyo3(signature = (dtype = None, copy = None))]
    fn __array__<'py>(
        &self,
        py: Python<'py>,
        dtype: Option<&Bound<'py, PyAny>>,
        copy: Option<bool>,
    ) -> PyResult<Bound<'py, PyAny>> {
        if copy == Some(false) {
            return Err(pyo3::exceptions::PyValueError::new_err(
                "a lanes.Buffer cannot be viewed without a copy",
            ));
        }
        let array = self.read(py)?.into_any();
        match dtype {
            Some(d) => array.call_method1("astype", (d,)),
            None => Ok(array),
        }
    }

    fn __repr__(&self) -> String {
        format!(
            "lanes.Buffer(shape={}, dtype={})",
            shape_text(&self.shape),
            numpy_name(self.element())
        )
    }
}

impl Buffer {
    /// `array` must be C-contiguous and match the buffer's dtype and size.
    fn check_array(&self, array: &Bound<'_, PyUntypedArray>, what: &str) -> Result<()> {
        let ty = array_type(array, what)?;
        if ty != self.element() || array.len() != self.inner.len() {
            return Err(argument(format!(
                "{what} must be an array of {} {} elements, got {} {}",
                self.inner.len(),
                numpy_name(self.element()),
                array.len(),
                numpy_name(ty)
            )));
        }
        if !array.is_c_contiguous() || !array.is_aligned() {
            return Err(argument(format!("{what} must be C-contiguous and aligned")));
        }
        Ok(())
    }
}
