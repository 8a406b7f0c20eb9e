//! `Runtime.ops` (and `lanes.ops`): the library's ready kernels on NumPy
//! arrays and resident buffers.
//!
//! Inputs are NumPy arrays (anything `numpy.ascontiguousarray` takes is
//! converted), or `lanes.Buffer`s; the first input's dtype is the op's
//! element type and the others must match it. `out`, when given, is a
//! C-contiguous writeable array (or a buffer) of that dtype and the
//! result's shape, and is returned; otherwise a new array is (a new buffer
//! when the first input is a buffer). Arrays are used in place as in
//! `Runtime.launch`.

use lanes::ops::OpsError;
use lanes::types::ScalarType;
use lanes::{Buffer, BufferUsage, Engine};
use numpy::{PyArrayDyn, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::IntoPyObjectExt;
use pyo3::prelude::*;
use pyo3::types::PyTuple;

use crate::args::{self, ParamInfo, ParamSpec, scalar, scalar_value};
use crate::buffer::Buffer as PyBuffer;
use crate::elements::{Elem, array_type, numpy_name, shape_text, with_type};
use crate::errors::{Result, argument, guard};
use crate::runtime::Runtime;

/// Runs `$body` with `$t` a signed element type (`i8 .. i64, f32, f64`),
/// or evaluates `$else`.
macro_rules! with_signed {
    ($ty:expr, $t:ident => $body:expr, $else:expr) => {
        match $ty {
            ScalarType::I8 => {
                type $t = i8;
                $body
            }
            ScalarType::I16 => {
                type $t = i16;
                $body
            }
            ScalarType::I32 => {
                type $t = i32;
                $body
            }
            ScalarType::I64 => {
                type $t = i64;
                $body
            }
            ScalarType::F32 => {
                type $t = f32;
                $body
            }
            ScalarType::F64 => {
                type $t = f64;
                $body
            }
            _ => $else,
        }
    };
}

/// Runs `$body` with `$t` a float type, or evaluates `$else`.
macro_rules! with_float {
    ($ty:expr, $t:ident => $body:expr, $else:expr) => {
        match $ty {
            ScalarType::F32 => {
                type $t = f32;
                $body
            }
            ScalarType::F64 => {
                type $t = f64;
                $body
            }
            _ => $else,
        }
    };
}

/// The ready kernels of lanes on one runtime (`Runtime.ops`); the module
/// `lanes.ops` has the same functions on a default runtime.
#[pyclass(module = "lanes", name = "Ops", frozen)]
pub struct Ops {
    pub(crate) rt: Py<Runtime>,
}

/// An input operand: a resident buffer or a C-contiguous array as given,
/// anything else through `numpy.ascontiguousarray`.
fn input<'py>(obj: &Bound<'py, PyAny>) -> Result<Bound<'py, PyAny>> {
    if obj.is_instance_of::<PyBuffer>() {
        return Ok(obj.clone());
    }
    if let Ok(a) = obj.cast::<PyUntypedArray>() {
        if a.is_c_contiguous() {
            return Ok(obj.clone());
        }
    }
    Ok(obj
        .py()
        .import("numpy")?
        .call_method1("ascontiguousarray", (obj,))?)
}

/// The element type and shape of an operand (array or buffer).
fn describe(obj: &Bound<'_, PyAny>, what: &str) -> Result<(ScalarType, Vec<usize>)> {
    if let Ok(b) = obj.cast::<PyBuffer>() {
        let b = b.get();
        return Ok((b.element(), b.shape.clone()));
    }
    match obj.cast::<PyUntypedArray>() {
        Ok(a) => Ok((array_type(a, what)?, a.shape().to_vec())),
        Err(_) => Err(argument(format!(
            "{what}: expected a NumPy array or a lanes.Buffer"
        ))),
    }
}

/// The output operand: `out` checked against the result's type and shape,
/// or a new array (or buffer, when `like` is a buffer) of zeros.
fn output<'py, T: Elem>(
    rt: &lanes::Runtime,
    out: Option<&Bound<'py, PyAny>>,
    shape: &[usize],
    like: &Bound<'py, PyAny>,
    owner: &str,
) -> Result<Bound<'py, PyAny>> {
    let py = like.py();
    match out {
        Some(out) => {
            let (ty, got) = describe(out, &format!("{owner}: `out`"))?;
            if ty != T::TYPE || got != shape {
                return Err(argument(format!(
                    "{owner}: `out` must be {} of shape {}, got {} of shape {}",
                    numpy_name(T::TYPE),
                    shape_text(shape),
                    numpy_name(ty),
                    shape_text(&got)
                )));
            }
            Ok(out.clone())
        }
        None if like.is_instance_of::<PyBuffer>() => {
            let b = PyBuffer::zeroed(rt, shape.to_vec(), T::TYPE)?;
            Ok(Bound::new(py, b)?.into_any())
        }
        None => Ok(PyArrayDyn::<T>::zeros(py, shape, false).into_any()),
    }
}

/// Binds `objs` as the op's buffers (`params`: name, written), and runs
/// `f` on their typed buffers with the GIL released.
fn run<'py, T: Elem, R: Send>(
    rt: &lanes::Runtime,
    engine: Engine,
    owner: &str,
    params: &[(&str, bool)],
    objs: Vec<Bound<'py, PyAny>>,
    f: impl FnOnce(lanes::ops::Ops<'_>, &[&Buffer<T>]) -> Result<R, OpsError> + Send,
) -> Result<R> {
    let py = match objs.first() {
        Some(o) => o.py(),
        None => return Err(argument(format!("{owner}: no operands"))),
    };
    let infos: Vec<ParamInfo> = params
        .iter()
        .map(|&(name, written)| ParamInfo {
            name: name.to_string(),
            spec: ParamSpec::Buffer(BufferUsage {
                element: Some(T::TYPE),
                written,
            }),
        })
        .collect();
    let tuple = PyTuple::new(py, objs)?;
    let mut bound = args::bind(rt, owner, &infos, &tuple, None)?;
    let result = {
        let buffers = (0..params.len())
            .map(|i| bound.typed::<T>(i))
            .collect::<Result<Vec<_>>>()?;
        let ops = rt.ops().engine(engine);
        py.detach(|| f(ops, &buffers))
    };
    bound.finish()?;
    Ok(result?)
}

/// The op's element type from its first operand, for an op that takes
/// `allowed` (`"float32 or float64 arrays"`).
fn unsupported(owner: &str, allowed: &str, ty: ScalarType) -> crate::errors::Error {
    argument(format!("{owner} takes {allowed}, got {}", numpy_name(ty)))
}

/// Element-wise ops of two inputs.
#[derive(Clone, Copy)]
enum Binary {
    Add,
    Sub,
    Mul,
    Div,
    Minimum,
    Maximum,
}

/// Element-wise ops of one signed or float input.
#[derive(Clone, Copy)]
enum Signed {
    Abs,
    Neg,
    Relu,
}

/// Element-wise ops of one float input, and softmax.
#[derive(Clone, Copy)]
enum Activation {
    Sigmoid,
    Tanh,
    Gelu,
    Softmax,
}

/// Whole-array reductions.
#[derive(Clone, Copy)]
enum Reduction {
    Sum,
    Min,
    Max,
    Mean,
}

/// Losses of two float inputs.
#[derive(Clone, Copy)]
enum Loss {
    Mse,
    CrossEntropy,
    BinaryCrossEntropy,
}

impl Ops {
    fn rt<'a>(&'a self, py: Python<'a>) -> &'a Runtime {
        self.rt.bind(py).get()
    }

    fn binary<'py>(
        &self,
        py: Python<'py>,
        op: Binary,
        name: &str,
        a: &Bound<'py, PyAny>,
        b: &Bound<'py, PyAny>,
        out: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        guard(|| {
            let rt = self.rt(py);
            let owner = format!("ops.{name}");
            let (a, b) = (input(a)?, input(b)?);
            let (ty, shape) = describe(&a, &format!("{owner}: `a`"))?;
            let (_, b_shape) = describe(&b, &format!("{owner}: `b`"))?;
            if b_shape != shape {
                return Err(argument(format!(
                    "{owner}: `b` has shape {} but `a` has {}: they must be the same",
                    shape_text(&b_shape),
                    shape_text(&shape)
                )));
            }
            with_type!(ty, T => {
                let out = output::<T>(&rt.rt, out, &shape, &a, &owner)?;
                run::<T, ()>(&rt.rt, rt.engine, &owner, &[("a", false), ("b", false), ("out", true)],
                    vec![a, b, out.clone()], |ops, x| match op {
                        Binary::Add => ops.add(x[0], x[1], x[2]),
                        Binary::Sub => ops.sub(x[0], x[1], x[2]),
                        Binary::Mul => ops.mul(x[0], x[1], x[2]),
                        Binary::Div => ops.div(x[0], x[1], x[2]),
                        Binary::Minimum => ops.minimum(x[0], x[1], x[2]),
                        Binary::Maximum => ops.maximum(x[0], x[1], x[2]),
                    })?;
                Ok(out.unbind())
            })
        })
    }

    fn signed<'py>(
        &self,
        py: Python<'py>,
        op: Signed,
        name: &str,
        x: &Bound<'py, PyAny>,
        out: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        guard(|| {
            let rt = self.rt(py);
            let owner = format!("ops.{name}");
            let x = input(x)?;
            let (ty, shape) = describe(&x, &format!("{owner}: `x`"))?;
            with_signed!(ty, T => {
                let out = output::<T>(&rt.rt, out, &shape, &x, &owner)?;
                run::<T, ()>(&rt.rt, rt.engine, &owner, &[("x", false), ("out", true)],
                    vec![x, out.clone()], |ops, b| match op {
                        Signed::Abs => ops.abs(b[0], b[1]),
                        Signed::Neg => ops.neg(b[0], b[1]),
                        Signed::Relu => ops.relu(b[0], b[1]),
                    })?;
                Ok(out.unbind())
            }, Err(unsupported(&owner, "signed integer or float arrays", ty)))
        })
    }

    fn activation<'py>(
        &self,
        py: Python<'py>,
        op: Activation,
        name: &str,
        x: &Bound<'py, PyAny>,
        out: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        guard(|| {
            let rt = self.rt(py);
            let owner = format!("ops.{name}");
            let x = input(x)?;
            let (ty, shape) = describe(&x, &format!("{owner}: `x`"))?;
            with_float!(ty, T => {
                let out = output::<T>(&rt.rt, out, &shape, &x, &owner)?;
                run::<T, ()>(&rt.rt, rt.engine, &owner, &[("x", false), ("out", true)],
                    vec![x, out.clone()], |ops, b| match op {
                        Activation::Sigmoid => ops.sigmoid(b[0], b[1]),
                        Activation::Tanh => ops.tanh(b[0], b[1]),
                        Activation::Gelu => ops.gelu(b[0], b[1]),
                        Activation::Softmax => ops.softmax(b[0], b[1]),
                    })?;
                Ok(out.unbind())
            }, Err(unsupported(&owner, "float32 or float64 arrays", ty)))
        })
    }

    fn reduce<'py>(
        &self,
        py: Python<'py>,
        op: Reduction,
        name: &str,
        x: &Bound<'py, PyAny>,
    ) -> PyResult<Py<PyAny>> {
        guard(|| {
            let rt = self.rt(py);
            let owner = format!("ops.{name}");
            let x = input(x)?;
            let (ty, _) = describe(&x, &format!("{owner}: `x`"))?;
            let value = match op {
                Reduction::Mean => with_float!(ty, T => {
                    run::<T, T>(&rt.rt, rt.engine, &owner, &[("x", false)], vec![x], |ops, b| ops.mean(b[0]))?
                        .into_py_any(py)?
                }, return Err(unsupported(&owner, "float32 or float64 arrays", ty))),
                _ => with_type!(ty, T => {
                    run::<T, T>(&rt.rt, rt.engine, &owner, &[("x", false)], vec![x], |ops, b| match op {
                        Reduction::Sum | Reduction::Mean => ops.sum(b[0]),
                        Reduction::Min => ops.min(b[0]),
                        Reduction::Max => ops.max(b[0]),
                    })?
                    .into_py_any(py)?
                }),
            };
            Ok(value)
        })
    }

    fn loss<'py>(
        &self,
        py: Python<'py>,
        op: Loss,
        name: &str,
        p: &Bound<'py, PyAny>,
        t: &Bound<'py, PyAny>,
    ) -> PyResult<Py<PyAny>> {
        guard(|| {
            let rt = self.rt(py);
            let owner = format!("ops.{name}");
            let (p, t) = (input(p)?, input(t)?);
            let (ty, shape) = describe(&p, &format!("{owner}: `p`"))?;
            let (_, t_shape) = describe(&t, &format!("{owner}: `t`"))?;
            if t_shape != shape {
                return Err(argument(format!(
                    "{owner}: `t` has shape {} but `p` has {}: they must be the same",
                    shape_text(&t_shape),
                    shape_text(&shape)
                )));
            }
            with_float!(ty, T => {
                let v = run::<T, T>(&rt.rt, rt.engine, &owner, &[("p", false), ("t", false)], vec![p, t], |ops, b| match op {
                    Loss::Mse => ops.mse(b[0], b[1]),
                    Loss::CrossEntropy => ops.cross_entropy(b[0], b[1]),
                    Loss::BinaryCrossEntropy => ops.binary_cross_entropy(b[0], b[1]),
                })?;
                Ok(v.into_py_any(py)?)
            }, Err(unsupported(&owner, "float32 or float64 arrays", ty)))
        })
    }

    /// `x OP s` or `clip(x, lo, hi)`, on all element types.
    fn with_scalars<'py>(
        &self,
        py: Python<'py>,
        name: &str,
        x: &Bound<'py, PyAny>,
        scalars: &[(&str, &Bound<'py, PyAny>)],
        out: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        guard(|| {
            let rt = self.rt(py);
            let owner = format!("ops.{name}");
            let x = input(x)?;
            let (ty, shape) = describe(&x, &format!("{owner}: `x`"))?;
            let values = scalars
                .iter()
                .map(|(n, v)| scalar(ty, v, &format!("{owner}: `{n}`")))
                .collect::<Result<Vec<_>>>()?;
            with_type!(ty, T => {
                let v: Vec<T> = values.iter().map(|s| scalar_value::<T>(*s)).collect();
                let out = output::<T>(&rt.rt, out, &shape, &x, &owner)?;
                run::<T, ()>(&rt.rt, rt.engine, &owner, &[("x", false), ("out", true)],
                    vec![x, out.clone()], |ops, b| match (name, v.as_slice()) {
                        ("add_scalar", [s]) => ops.add_scalar(b[0], *s, b[1]),
                        ("mul_scalar", [s]) => ops.mul_scalar(b[0], *s, b[1]),
                        ("clip", [lo, hi]) => ops.clip(b[0], *lo, *hi, b[1]),
                        _ => Err(OpsError::InvalidArgument { param: "op", message: format!("no op {name}") }),
                    })?;
                Ok(out.unbind())
            })
        })
    }
}

#[pymethods]
impl Ops {
    /// `a + b` element-wise (integers wrap). `a` and `b` have the same
    /// shape and dtype; returns `out` (a new array when None).
    #[pyo3(signature = (a, b, out = None))]
    fn add<'py>(
        &self,
        py: Python<'py>,
        a: &Bound<'py, PyAny>,
        b: &Bound<'py, PyAny>,
        out: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        self.binary(py, Binary::Add, "add", a, b, out)
    }

    /// `a - b` element-wise (integers wrap).
    #[pyo3(signature = (a, b, out = None))]
    fn sub<'py>(
        &self,
        py: Python<'py>,
        a: &Bound<'py, PyAny>,
        b: &Bound<'py, PyAny>,
        out: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        self.binary(py, Binary::Sub, "sub", a, b, out)
    }

    /// `a * b` element-wise (integers wrap).
    #[pyo3(signature = (a, b, out = None))]
    fn mul<'py>(
        &self,
        py: Python<'py>,
        a: &Bound<'py, PyAny>,
        b: &Bound<'py, PyAny>,
        out: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        self.binary(py, Binary::Mul, "mul", a, b, out)
    }

    /// `a / b` element-wise; integer division truncates, and by zero raises
    /// `LaunchFault`.
    #[pyo3(signature = (a, b, out = None))]
    fn div<'py>(
        &self,
        py: Python<'py>,
        a: &Bound<'py, PyAny>,
        b: &Bound<'py, PyAny>,
        out: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        self.binary(py, Binary::Div, "div", a, b, out)
    }

    /// Element-wise minimum; for floats a NaN on one side gives the other.
    #[pyo3(signature = (a, b, out = None))]
    fn minimum<'py>(
        &self,
        py: Python<'py>,
        a: &Bound<'py, PyAny>,
        b: &Bound<'py, PyAny>,
        out: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        self.binary(py, Binary::Minimum, "minimum", a, b, out)
    }

    /// Element-wise maximum; for floats a NaN on one side gives the other.
    #[pyo3(signature = (a, b, out = None))]
    fn maximum<'py>(
        &self,
        py: Python<'py>,
        a: &Bound<'py, PyAny>,
        b: &Bound<'py, PyAny>,
        out: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        self.binary(py, Binary::Maximum, "maximum", a, b, out)
    }

    /// `x + s` element-wise (`s` checked against x's dtype).
    #[pyo3(signature = (x, s, out = None))]
    fn add_scalar<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        s: &Bound<'py, PyAny>,
        out: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        self.with_scalars(py, "add_scalar", x, &[("s", s)], out)
    }

    /// `x * s` element-wise.
    #[pyo3(signature = (x, s, out = None))]
    fn mul_scalar<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        s: &Bound<'py, PyAny>,
        out: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        self.with_scalars(py, "mul_scalar", x, &[("s", s)], out)
    }

    /// `x` clamped to `[lo, hi]` element-wise (NaN stays NaN).
    #[pyo3(signature = (x, lo, hi, out = None))]
    fn clip<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        lo: &Bound<'py, PyAny>,
        hi: &Bound<'py, PyAny>,
        out: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        self.with_scalars(py, "clip", x, &[("lo", lo), ("hi", hi)], out)
    }

    /// `|x|` element-wise (signed integers wrap: abs(MIN) = MIN).
    #[pyo3(signature = (x, out = None))]
    fn abs<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        out: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        self.signed(py, Signed::Abs, "abs", x, out)
    }

    /// `-x` element-wise.
    #[pyo3(signature = (x, out = None))]
    fn neg<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        out: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        self.signed(py, Signed::Neg, "neg", x, out)
    }

    /// `max(x, 0)` element-wise (NaN and -0.0 give +0.0).
    #[pyo3(signature = (x, out = None))]
    fn relu<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        out: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        self.signed(py, Signed::Relu, "relu", x, out)
    }

    /// `1 / (1 + exp(-x))` element-wise (floats).
    #[pyo3(signature = (x, out = None))]
    fn sigmoid<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        out: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        self.activation(py, Activation::Sigmoid, "sigmoid", x, out)
    }

    /// `tanh(x)` element-wise (floats).
    #[pyo3(signature = (x, out = None))]
    fn tanh<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        out: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        self.activation(py, Activation::Tanh, "tanh", x, out)
    }

    /// GELU, tanh approximation, element-wise (floats).
    #[pyo3(signature = (x, out = None))]
    fn gelu<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        out: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        self.activation(py, Activation::Gelu, "gelu", x, out)
    }

    /// `exp(x - max) / sum` over all elements of `x` (floats).
    #[pyo3(signature = (x, out = None))]
    fn softmax<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        out: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        self.activation(py, Activation::Softmax, "softmax", x, out)
    }

    /// The sum of all elements, in a fixed tree order (integers wrap);
    /// 0 for an empty array.
    fn sum<'py>(&self, py: Python<'py>, x: &Bound<'py, PyAny>) -> PyResult<Py<PyAny>> {
        self.reduce(py, Reduction::Sum, "sum", x)
    }

    /// The smallest element (an empty array raises `ArgumentError`).
    fn min<'py>(&self, py: Python<'py>, x: &Bound<'py, PyAny>) -> PyResult<Py<PyAny>> {
        self.reduce(py, Reduction::Min, "min", x)
    }

    /// The largest element (an empty array raises `ArgumentError`).
    fn max<'py>(&self, py: Python<'py>, x: &Bound<'py, PyAny>) -> PyResult<Py<PyAny>> {
        self.reduce(py, Reduction::Max, "max", x)
    }

    /// The mean of all elements (floats).
    fn mean<'py>(&self, py: Python<'py>, x: &Bound<'py, PyAny>) -> PyResult<Py<PyAny>> {
        self.reduce(py, Reduction::Mean, "mean", x)
    }

    /// Mean squared error `sum((p - t)^2) / n` (floats).
    fn mse<'py>(
        &self,
        py: Python<'py>,
        p: &Bound<'py, PyAny>,
        t: &Bound<'py, PyAny>,
    ) -> PyResult<Py<PyAny>> {
        self.loss(py, Loss::Mse, "mse", p, t)
    }

    /// Cross-entropy `-sum(t ln p)` of one distribution (floats; ln
    /// clamped at -100).
    fn cross_entropy<'py>(
        &self,
        py: Python<'py>,
        p: &Bound<'py, PyAny>,
        t: &Bound<'py, PyAny>,
    ) -> PyResult<Py<PyAny>> {
        self.loss(py, Loss::CrossEntropy, "cross_entropy", p, t)
    }

    /// Binary cross-entropy `-sum(t ln p + (1-t) ln(1-p)) / n` (floats;
    /// ln clamped at -100).
    fn binary_cross_entropy<'py>(
        &self,
        py: Python<'py>,
        p: &Bound<'py, PyAny>,
        t: &Bound<'py, PyAny>,
    ) -> PyResult<Py<PyAny>> {
        self.loss(py, Loss::BinaryCrossEntropy, "binary_cross_entropy", p, t)
    }

    /// The matrix product of `a` (m x k) and `b` (k x n), row-major
    /// floats; each element a dot product in index order. Returns `out`
    /// (m x n).
    #[pyo3(signature = (a, b, out = None))]
    fn gemm<'py>(
        &self,
        py: Python<'py>,
        a: &Bound<'py, PyAny>,
        b: &Bound<'py, PyAny>,
        out: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        guard(|| {
            let rt = self.rt(py);
            let owner = "ops.gemm";
            let (a, b) = (input(a)?, input(b)?);
            let (ty, sa) = describe(&a, "ops.gemm: `a`")?;
            let (_, sb) = describe(&b, "ops.gemm: `b`")?;
            let [m, k] = sa[..] else {
                return Err(argument(format!(
                    "ops.gemm: `a` must be 2-D (m, k), got shape {}",
                    shape_text(&sa)
                )));
            };
            let n = match sb[..] {
                [kb, n] if kb == k => n,
                _ => {
                    return Err(argument(format!(
                        "ops.gemm: `b` must have shape ({k}, n) for `a` of shape {}, got {}",
                        shape_text(&sa),
                        shape_text(&sb)
                    )));
                }
            };
            with_float!(ty, T => {
                let out = output::<T>(&rt.rt, out, &[m, n], &a, owner)?;
                run::<T, ()>(&rt.rt, rt.engine, owner, &[("a", false), ("b", false), ("out", true)],
                    vec![a, b, out.clone()], |ops, x| ops.gemm(x[0], x[1], x[2], m, k, n))?;
                Ok(out.unbind())
            }, Err(unsupported(owner, "float32 or float64 arrays", ty)))
        })
    }

    /// `a @ x` for `a` (m x k) and `x` (k,), floats. Returns `out` (m,).
    #[pyo3(signature = (a, x, out = None))]
    fn matvec<'py>(
        &self,
        py: Python<'py>,
        a: &Bound<'py, PyAny>,
        x: &Bound<'py, PyAny>,
        out: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        guard(|| {
            let rt = self.rt(py);
            let owner = "ops.matvec";
            let (a, x) = (input(a)?, input(x)?);
            let (ty, sa) = describe(&a, "ops.matvec: `a`")?;
            let (_, sx) = describe(&x, "ops.matvec: `x`")?;
            let [m, k] = sa[..] else {
                return Err(argument(format!(
                    "ops.matvec: `a` must be 2-D (m, k), got shape {}",
                    shape_text(&sa)
                )));
            };
            if sx[..] != [k] {
                return Err(argument(format!(
                    "ops.matvec: `x` must have shape ({k},) for `a` of shape {}, got {}",
                    shape_text(&sa),
                    shape_text(&sx)
                )));
            }
            with_float!(ty, T => {
                let out = output::<T>(&rt.rt, out, &[m], &a, owner)?;
                run::<T, ()>(&rt.rt, rt.engine, owner, &[("a", false), ("x", false), ("out", true)],
                    vec![a, x, out.clone()], |ops, b| ops.matvec(b[0], b[1], b[2], m, k))?;
                Ok(out.unbind())
            }, Err(unsupported(owner, "float32 or float64 arrays", ty)))
        })
    }

    /// Copies `src` into `dst` (same dtype and shape); returns `dst`.
    fn copy<'py>(
        &self,
        py: Python<'py>,
        src: &Bound<'py, PyAny>,
        dst: &Bound<'py, PyAny>,
    ) -> PyResult<Py<PyAny>> {
        guard(|| {
            let rt = self.rt(py);
            let owner = "ops.copy";
            let src = input(src)?;
            let (ty, shape) = describe(&src, "ops.copy: `src`")?;
            with_type!(ty, T => {
                let dst = output::<T>(&rt.rt, Some(dst), &shape, &src, owner)?;
                run::<T, ()>(&rt.rt, rt.engine, owner, &[("src", false), ("dst", true)],
                    vec![src, dst.clone()], |ops, b| ops.copy(b[0], b[1]))?;
                Ok(dst.unbind())
            })
        })
    }

    /// Sets every element of `out` to `value` (checked against its dtype);
    /// returns `out`.
    fn fill<'py>(
        &self,
        py: Python<'py>,
        out: &Bound<'py, PyAny>,
        value: &Bound<'py, PyAny>,
    ) -> PyResult<Py<PyAny>> {
        guard(|| {
            let rt = self.rt(py);
            let owner = "ops.fill";
            let (ty, _) = describe(out, "ops.fill: `out`")?;
            let v = scalar(ty, value, "ops.fill: `value`")?;
            with_type!(ty, T => {
                let v = scalar_value::<T>(v);
                run::<T, ()>(&rt.rt, rt.engine, owner, &[("out", true)], vec![out.clone()], |ops, b| ops.fill(b[0], v))?;
                Ok(out.clone().unbind())
            })
        })
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        format!("Ops on {}", self.rt(py).describe())
    }
}
