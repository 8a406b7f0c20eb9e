//! Element-wise ops: binary arithmetic, scalar arithmetic, clip, the
//! signed ops, copy and fill (`elementwise.lasm`, `signed.lasm`).

use super::{Family, Ops, OpsError, at_least, count, same_len};
use crate::LaunchArg;
use crate::buffer::{Buffer, Element, Signed};

/// The buffer form and the slice form of a binary op, with a doc example
/// each.
macro_rules! binary_ops {
    ($($name:ident $vec:ident $kernel:literal, $doc:literal, $a:literal, $b:literal => $want:literal;)*) => {$(
        #[doc = $doc]
        #[doc = ""]
        #[doc = "`a` sets `n`; `b` must have `n` elements, `out` at least `n`."]
        #[doc = ""]
        #[doc = "```"]
        #[doc = "let rt = lanes::Runtime::new();"]
        #[doc = concat!("let a = rt.buffer_from(&", $a, ")?;")]
        #[doc = concat!("let b = rt.buffer_from(&", $b, ")?;")]
        #[doc = "let out = rt.buffer_zeroed(a.len())?;"]
        #[doc = concat!("rt.ops().", stringify!($name), "(&a, &b, &out)?;")]
        #[doc = concat!("assert_eq!(out.read()?, ", $want, ");")]
        #[doc = "# Ok::<(), lanes::ops::OpsError>(())"]
        #[doc = "```"]
        pub fn $name<T: Element>(
            &self,
            a: &Buffer<T>,
            b: &Buffer<T>,
            out: &Buffer<T>,
        ) -> Result<(), OpsError> {
            self.binary($kernel, a, b, out)
        }

        #[doc = concat!("[`Ops::", stringify!($name), "`] on host slices of the same length.")]
        #[doc = ""]
        #[doc = "```"]
        #[doc = "let rt = lanes::Runtime::new();"]
        #[doc = concat!("let out = rt.ops().", stringify!($vec), "(&", $a, ", &", $b, ")?;")]
        #[doc = concat!("assert_eq!(out, ", $want, ");")]
        #[doc = "# Ok::<(), lanes::ops::OpsError>(())"]
        #[doc = "```"]
        pub fn $vec<T: Element>(&self, a: &[T], b: &[T]) -> Result<Vec<T>, OpsError> {
            same_len("b", b.len(), "a", a.len())?;
            let (ba, bb) = (self.upload(a)?, self.upload(b)?);
            let out = self.zeroed(a.len())?;
            self.$name(&ba, &bb, &out)?;
            Ok(out.read()?)
        }
    )*};
}

/// The same for the ops of one input in `signed.lasm`.
macro_rules! signed_ops {
    ($($name:ident $vec:ident $kernel:literal, $doc:literal, $x:literal => $want:literal;)*) => {$(
        #[doc = $doc]
        #[doc = ""]
        #[doc = "`x` sets `n`; `out` must have at least `n` elements (it may be `x`)."]
        #[doc = ""]
        #[doc = "```"]
        #[doc = "let rt = lanes::Runtime::new();"]
        #[doc = concat!("let x = rt.buffer_from(&", $x, ")?;")]
        #[doc = "let out = rt.buffer_zeroed(x.len())?;"]
        #[doc = concat!("rt.ops().", stringify!($name), "(&x, &out)?;")]
        #[doc = concat!("assert_eq!(out.read()?, ", $want, ");")]
        #[doc = "# Ok::<(), lanes::ops::OpsError>(())"]
        #[doc = "```"]
        pub fn $name<T: Signed>(&self, x: &Buffer<T>, out: &Buffer<T>) -> Result<(), OpsError> {
            self.map(Family::Signed, $kernel, x, out, &[])
        }

        #[doc = concat!("[`Ops::", stringify!($name), "`] on a host slice.")]
        #[doc = ""]
        #[doc = "```"]
        #[doc = "let rt = lanes::Runtime::new();"]
        #[doc = concat!("assert_eq!(rt.ops().", stringify!($vec), "(&", $x, ")?, ", $want, ");")]
        #[doc = "# Ok::<(), lanes::ops::OpsError>(())"]
        #[doc = "```"]
        pub fn $vec<T: Signed>(&self, x: &[T]) -> Result<Vec<T>, OpsError> {
            self.map_vec(x, |ops, bx, out| ops.$name(bx, out))
        }
    )*};
}

impl Ops<'_> {
    binary_ops! {
        add add_vec "add",
            "`out[i] = a[i] + b[i]` (integers wrap).",
            "[1.5f32, 2.0]", "[0.5, -1.0]" => "[2.0, 1.0]";
        sub sub_vec "sub",
            "`out[i] = a[i] - b[i]` (integers wrap).",
            "[5u8, 1]", "[2, 2]" => "[3, 255]";
        mul mul_vec "mul",
            "`out[i] = a[i] * b[i]` (integers wrap).",
            "[3i32, -4]", "[5, 6]" => "[15, -24]";
        div div_vec "div",
            "`out[i] = a[i] / b[i]`; an integer division by zero is an error \
             ([`OpsError::Launch`] with the fault), `MIN / -1` wraps.",
            "[7i64, -7]", "[2, 2]" => "[3, -3]";
        minimum minimum_vec "minimum",
            "`out[i] = min(a[i], b[i])`; for floats a NaN on one side gives the \
             other side and -0.0 counts below +0.0 (`f32::min`).",
            "[1.0f64, f64::NAN]", "[2.0, 3.0]" => "[1.0, 3.0]";
        maximum maximum_vec "maximum",
            "`out[i] = max(a[i], b[i])`; for floats a NaN on one side gives the \
             other side and -0.0 counts below +0.0 (`f32::max`).",
            "[1u16, 9]", "[4, 2]" => "[4, 9]";
    }

    signed_ops! {
        abs abs_vec "abs",
            "`out[i] = |x[i]|` (integers wrap: `abs(MIN) = MIN`).",
            "[-3i8, 4, i8::MIN]" => "[3, 4, i8::MIN]";
        neg neg_vec "neg",
            "`out[i] = -x[i]` (integers wrap).",
            "[1.5f32, -0.0]" => "[-1.5, 0.0]";
        relu relu_vec "relu",
            "`out[i] = if x[i] > 0 { x[i] } else { 0 }`: NaN and -0.0 give +0.0.",
            "[-2i32, 0, 5]" => "[0, 0, 5]";
    }

    /// `out[i] = x[i] + s` (integers wrap). `out` must have at least
    /// `x.len()` elements (it may be `x`).
    ///
    /// ```
    /// let rt = lanes::Runtime::new();
    /// let x = rt.buffer_from(&[1u32, 2, 3])?;
    /// rt.ops().add_scalar(&x, 10, &x)?;
    /// assert_eq!(x.read()?, [11, 12, 13]);
    /// # Ok::<(), lanes::ops::OpsError>(())
    /// ```
    pub fn add_scalar<T: Element>(
        &self,
        x: &Buffer<T>,
        s: T,
        out: &Buffer<T>,
    ) -> Result<(), OpsError> {
        self.map(Family::Elementwise, "add_scalar", x, out, &[s])
    }

    /// [`Ops::add_scalar`] on a host slice.
    ///
    /// ```
    /// let rt = lanes::Runtime::new();
    /// assert_eq!(rt.ops().add_scalar_vec(&[1.0f32, 2.0], 0.5)?, [1.5, 2.5]);
    /// # Ok::<(), lanes::ops::OpsError>(())
    /// ```
    pub fn add_scalar_vec<T: Element>(&self, x: &[T], s: T) -> Result<Vec<T>, OpsError> {
        self.map_vec(x, |ops, bx, out| ops.add_scalar(bx, s, out))
    }

    /// `out[i] = x[i] * s` (integers wrap). `out` must have at least
    /// `x.len()` elements (it may be `x`).
    ///
    /// ```
    /// let rt = lanes::Runtime::new();
    /// let x = rt.buffer_from(&[1.5f64, -2.0])?;
    /// let y = rt.buffer_zeroed(2)?;
    /// rt.ops().mul_scalar(&x, 2.0, &y)?;
    /// assert_eq!(y.read()?, [3.0, -4.0]);
    /// # Ok::<(), lanes::ops::OpsError>(())
    /// ```
    pub fn mul_scalar<T: Element>(
        &self,
        x: &Buffer<T>,
        s: T,
        out: &Buffer<T>,
    ) -> Result<(), OpsError> {
        self.map(Family::Elementwise, "mul_scalar", x, out, &[s])
    }

    /// [`Ops::mul_scalar`] on a host slice.
    ///
    /// ```
    /// let rt = lanes::Runtime::new();
    /// assert_eq!(rt.ops().mul_scalar_vec(&[3i16, -4], -2)?, [-6, 8]);
    /// # Ok::<(), lanes::ops::OpsError>(())
    /// ```
    pub fn mul_scalar_vec<T: Element>(&self, x: &[T], s: T) -> Result<Vec<T>, OpsError> {
        self.map_vec(x, |ops, bx, out| ops.mul_scalar(bx, s, out))
    }

    /// `out[i] = x[i].clamp(lo, hi)` with Rust's rule: below `lo` gives
    /// `lo`, above `hi` gives `hi`, anything else stays (a NaN stays NaN,
    /// -0.0 stays -0.0). `lo > hi`, or a NaN bound, is an error naming it.
    ///
    /// ```
    /// let rt = lanes::Runtime::new();
    /// let x = rt.buffer_from(&[-5i32, 0, 50])?;
    /// let y = rt.buffer_zeroed(3)?;
    /// rt.ops().clip(&x, -1, 10, &y)?;
    /// assert_eq!(y.read()?, [-1, 0, 10]);
    /// assert!(rt.ops().clip(&x, 3, 2, &y).is_err());
    /// # Ok::<(), lanes::ops::OpsError>(())
    /// ```
    pub fn clip<T: Element>(
        &self,
        x: &Buffer<T>,
        lo: T,
        hi: T,
        out: &Buffer<T>,
    ) -> Result<(), OpsError> {
        #[allow(clippy::eq_op)] // x != x: the NaN test for any T
        let nan = |v: T| v != v;
        if nan(lo) {
            return Err(OpsError::InvalidArgument {
                param: "lo",
                message: "a NaN bound".to_string(),
            });
        }
        if nan(hi) || lo > hi {
            return Err(OpsError::InvalidArgument {
                param: "hi",
                message: format!("must be at least lo ({lo:?}), got {hi:?}"),
            });
        }
        self.map(Family::Elementwise, "clip", x, out, &[lo, hi])
    }

    /// [`Ops::clip`] on a host slice.
    ///
    /// ```
    /// let rt = lanes::Runtime::new();
    /// let y = rt.ops().clip_vec(&[-2.0f32, 0.5, f32::NAN, 7.0], 0.0, 1.0)?;
    /// assert_eq!(y[..2], [0.0, 0.5]);
    /// assert!(y[2].is_nan());
    /// assert_eq!(y[3], 1.0);
    /// # Ok::<(), lanes::ops::OpsError>(())
    /// ```
    pub fn clip_vec<T: Element>(&self, x: &[T], lo: T, hi: T) -> Result<Vec<T>, OpsError> {
        self.map_vec(x, |ops, bx, out| ops.clip(bx, lo, hi, out))
    }

    /// `dst[i] = src[i]` for the `src.len()` elements of `src`; `dst` must
    /// have at least as many.
    ///
    /// ```
    /// let rt = lanes::Runtime::new();
    /// let src = rt.buffer_from(&[1u64, 2])?;
    /// let dst = rt.buffer_zeroed(3)?;
    /// rt.ops().copy(&src, &dst)?;
    /// assert_eq!(dst.read()?, [1, 2, 0]);
    /// # Ok::<(), lanes::ops::OpsError>(())
    /// ```
    pub fn copy<T: Element>(&self, src: &Buffer<T>, dst: &Buffer<T>) -> Result<(), OpsError> {
        let n = src.len();
        at_least("dst", dst.len(), n)?;
        let count = count(n)?;
        if n == 0 {
            return Ok(());
        }
        self.launch_1d(
            Family::Elementwise,
            T::TYPE,
            "copy",
            count,
            &[src.into(), dst.into(), count.into()],
        )
    }

    /// Sets every element of `out` to `value`.
    ///
    /// ```
    /// let rt = lanes::Runtime::new();
    /// let out = rt.buffer_zeroed(3)?;
    /// rt.ops().fill(&out, -1.5f32)?;
    /// assert_eq!(out.read()?, [-1.5; 3]);
    /// # Ok::<(), lanes::ops::OpsError>(())
    /// ```
    pub fn fill<T: Element>(&self, out: &Buffer<T>, value: T) -> Result<(), OpsError> {
        let count = count(out.len())?;
        if count == 0 {
            return Ok(());
        }
        self.launch_1d(
            Family::Elementwise,
            T::TYPE,
            "fill",
            count,
            &[out.into(), LaunchArg::from(value), count.into()],
        )
    }

    /// `out[i] = a[i] OP b[i]` by kernel `{kernel}_T` of `elementwise.lasm`.
    fn binary<T: Element>(
        &self,
        kernel: &str,
        a: &Buffer<T>,
        b: &Buffer<T>,
        out: &Buffer<T>,
    ) -> Result<(), OpsError> {
        let n = a.len();
        same_len("b", b.len(), "a", n)?;
        at_least("out", out.len(), n)?;
        let count = count(n)?;
        if n == 0 {
            return Ok(());
        }
        self.launch_1d(
            Family::Elementwise,
            T::TYPE,
            kernel,
            count,
            &[a.into(), b.into(), out.into(), count.into()],
        )
    }

    /// `out[i] = f(x[i], scalars...)` by a kernel with parameters
    /// `x, out, scalars..., n`.
    pub(super) fn map<T: Element>(
        &self,
        family: Family,
        kernel: &str,
        x: &Buffer<T>,
        out: &Buffer<T>,
        scalars: &[T],
    ) -> Result<(), OpsError> {
        let n = x.len();
        at_least("out", out.len(), n)?;
        let count = count(n)?;
        if n == 0 {
            return Ok(());
        }
        let mut args: Vec<LaunchArg<'_>> = vec![x.into(), out.into()];
        args.extend(scalars.iter().map(|&s| LaunchArg::from(s)));
        args.push(count.into());
        self.launch_1d(family, T::TYPE, kernel, count, &args)
    }

    /// Runs a one-input buffer op on a host slice.
    pub(super) fn map_vec<T: Element>(
        &self,
        x: &[T],
        op: impl FnOnce(&Self, &Buffer<T>, &Buffer<T>) -> Result<(), OpsError>,
    ) -> Result<Vec<T>, OpsError> {
        let bx = self.upload(x)?;
        let out = self.zeroed(x.len())?;
        op(self, &bx, &out)?;
        Ok(out.read()?)
    }
}
