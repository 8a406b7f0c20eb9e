//! Activations: sigmoid, tanh, gelu and softmax (`activation.lasm`).

use super::reduce::scratch_len;
use super::{Family, Ops, OpsError, at_least, count, distinct};
use crate::buffer::{Buffer, Float};

/// The buffer form and the slice form of an activation, with a doc
/// example each.
macro_rules! activations {
    ($($name:ident $vec:ident $kernel:literal, $doc:literal, $x:literal => $check:literal;)*) => {$(
        #[doc = $doc]
        #[doc = ""]
        #[doc = "`x` sets `n`; `out` must have at least `n` elements (it may be `x`)."]
        #[doc = ""]
        #[doc = "```"]
        #[doc = "let rt = lanes::Runtime::new();"]
        #[doc = concat!("let x = rt.buffer_from(&", $x, ")?;")]
        #[doc = "let y = rt.buffer_zeroed(x.len())?;"]
        #[doc = concat!("rt.ops().", stringify!($name), "(&x, &y)?;")]
        #[doc = "let y = y.read()?;"]
        #[doc = concat!("assert!(", $check, ");")]
        #[doc = "# Ok::<(), lanes::ops::OpsError>(())"]
        #[doc = "```"]
        pub fn $name<T: Float>(&self, x: &Buffer<T>, out: &Buffer<T>) -> Result<(), OpsError> {
            self.map(Family::Activation, $kernel, x, out, &[])
        }

        #[doc = concat!("[`Ops::", stringify!($name), "`] on a host slice.")]
        #[doc = ""]
        #[doc = "```"]
        #[doc = "let rt = lanes::Runtime::new();"]
        #[doc = concat!("let y = rt.ops().", stringify!($vec), "(&", $x, ")?;")]
        #[doc = concat!("assert!(", $check, ");")]
        #[doc = "# Ok::<(), lanes::ops::OpsError>(())"]
        #[doc = "```"]
        pub fn $vec<T: Float>(&self, x: &[T]) -> Result<Vec<T>, OpsError> {
            self.map_vec(x, |ops, bx, out| ops.$name(bx, out))
        }
    )*};
}

impl Ops<'_> {
    activations! {
        sigmoid sigmoid_vec "sigmoid",
            "`out[i] = 1 / (1 + exp(-x[i]))` (`exp` within 4 ulp).",
            "[0.0f32, 80.0, -80.0]" => "y[0] == 0.5 && y[1] == 1.0 && y[2] < 1e-30";
        tanh tanh_vec "tanh",
            "`out[i] = tanh(x[i])` (within 4 ulp).",
            "[0.0f64, 1.0, -30.0]" => "y[0] == 0.0 && (y[1] - 1f64.tanh()).abs() < 1e-15 && y[2] == -1.0";
        gelu gelu_vec "gelu",
            "`out[i] = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))` with \
             `x = x[i]`: GELU in its tanh approximation, computed in that order.",
            "[0.0f32, 10.0, -10.0, 1.0]" => "y[0] == 0.0 && y[1] == 10.0 && y[2].abs() < 1e-6 && (y[3] - 0.841192).abs() < 1e-5";
    }

    /// `out[i] = exp(x[i] - m) / s` over the whole vector, with `m` the
    /// maximum of `x` ([`Ops::max`]) and `s` the sum of the exponentials
    /// ([`Ops::sum`], a fixed tree). Four to six launches; nothing leaves
    /// the runtime in between. `out` may be `x`. An empty `x` does
    /// nothing. Allocates its scratch space; [`Ops::softmax_with`] takes it
    /// from the caller.
    ///
    /// ```
    /// let rt = lanes::Runtime::new();
    /// let x = rt.buffer_from(&[1.0f64, 2.0, 3.0])?;
    /// let p = rt.buffer_zeroed(3)?;
    /// rt.ops().softmax(&x, &p)?;
    /// let p = p.read()?;
    /// assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-15);
    /// assert!(p[0] < p[1] && p[1] < p[2]);
    /// # Ok::<(), lanes::ops::OpsError>(())
    /// ```
    pub fn softmax<T: Float>(&self, x: &Buffer<T>, out: &Buffer<T>) -> Result<(), OpsError> {
        let scratch = self.zeroed(scratch_len(x.len()))?;
        self.softmax_with(x, out, &scratch)
    }

    /// [`Ops::softmax`] with caller-owned scratch space of at least
    /// [`scratch_len`](super::scratch_len)`(x.len())` elements (neither `x`
    /// nor `out`).
    ///
    /// ```
    /// let rt = lanes::Runtime::new();
    /// let x = rt.buffer_from(&[0.0f32; 4])?;
    /// let scratch = rt.buffer_zeroed(lanes::ops::scratch_len(4))?;
    /// rt.ops().softmax_with(&x, &x, &scratch)?;          // in place
    /// assert_eq!(x.read()?, [0.25; 4]);
    /// # Ok::<(), lanes::ops::OpsError>(())
    /// ```
    pub fn softmax_with<T: Float>(
        &self,
        x: &Buffer<T>,
        out: &Buffer<T>,
        scratch: &Buffer<T>,
    ) -> Result<(), OpsError> {
        let n = x.len();
        at_least("out", out.len(), n)?;
        at_least("scratch", scratch.len(), scratch_len(n))?;
        distinct("softmax", ("scratch", scratch), ("x", x))?;
        distinct("softmax", ("scratch", scratch), ("out", out))?;
        let count = count(n)?;
        if n == 0 {
            return Ok(());
        }
        let ty = T::TYPE;
        let max_at = self.reduce_into("max", "softmax", x, n, scratch)?;
        self.launch_1d(
            Family::Activation,
            ty,
            "softmax_exp",
            count,
            &[
                x.into(),
                out.into(),
                scratch.into(),
                super::count(max_at)?.into(),
                count.into(),
            ],
        )?;
        let sum_at = self.reduce_into("sum", "softmax", out, n, scratch)?;
        self.launch_1d(
            Family::Activation,
            ty,
            "softmax_div",
            count,
            &[
                out.into(),
                scratch.into(),
                super::count(sum_at)?.into(),
                count.into(),
            ],
        )
    }

    /// [`Ops::softmax`] of a host slice.
    ///
    /// ```
    /// let rt = lanes::Runtime::new();
    /// let p = rt.ops().softmax_vec(&[0.0f32, f32::NEG_INFINITY])?;
    /// assert_eq!(p, [1.0, 0.0]);
    /// # Ok::<(), lanes::ops::OpsError>(())
    /// ```
    pub fn softmax_vec<T: Float>(&self, x: &[T]) -> Result<Vec<T>, OpsError> {
        self.map_vec(x, |ops, bx, out| ops.softmax(bx, out))
    }
}
