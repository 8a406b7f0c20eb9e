//! Losses: mean squared error, cross-entropy, binary cross-entropy
//! (`loss.lasm`, finished by `reduce.lasm`'s sum passes).

use super::reduce::{FirstPass, scratch_len};
use super::{Family, Ops, OpsError, count, distinct, same_len};
use crate::buffer::{Buffer, Float};

/// How a loss scales the sum of its terms.
#[derive(Clone, Copy)]
enum Scale {
    /// `sum / n`.
    Mean,
    /// `-sum`.
    NegSum,
    /// `-sum / n`.
    NegMean,
}

/// The three forms of a loss, with a doc example each.
macro_rules! losses {
    ($($name:ident $with:ident $vec:ident $kernel:literal $scale:ident,
       $doc:literal, $p:literal, $t:literal => $check:literal;)*) => {$(
        #[doc = $doc]
        #[doc = ""]
        #[doc = "`p` (predictions) and `t` (targets) must have the same, non-zero"]
        #[doc = "length. The terms are added in the fixed tree of [`Ops::sum`]."]
        #[doc = "Allocates its scratch space; the `_with` form takes it from the caller."]
        #[doc = ""]
        #[doc = "```"]
        #[doc = "let rt = lanes::Runtime::new();"]
        #[doc = concat!("let p = rt.buffer_from(&", $p, ")?;")]
        #[doc = concat!("let t = rt.buffer_from(&", $t, ")?;")]
        #[doc = concat!("let loss = rt.ops().", stringify!($name), "(&p, &t)?;")]
        #[doc = concat!("assert!(", $check, ", \"{loss}\");")]
        #[doc = "# Ok::<(), lanes::ops::OpsError>(())"]
        #[doc = "```"]
        pub fn $name<T: Float>(&self, p: &Buffer<T>, t: &Buffer<T>) -> Result<T, OpsError> {
            let scratch = self.zeroed(scratch_len(p.len()))?;
            self.$with(p, t, &scratch)
        }

        #[doc = concat!("[`Ops::", stringify!($name), "`] with caller-owned scratch space of")]
        #[doc = "at least [`scratch_len`](super::scratch_len)`(p.len())` elements (neither `p` nor `t`)."]
        #[doc = ""]
        #[doc = "```"]
        #[doc = "let rt = lanes::Runtime::new();"]
        #[doc = concat!("let p = rt.buffer_from(&", $p, ")?;")]
        #[doc = concat!("let t = rt.buffer_from(&", $t, ")?;")]
        #[doc = "let scratch = rt.buffer_zeroed(lanes::ops::scratch_len(p.len()))?;"]
        #[doc = concat!("let loss = rt.ops().", stringify!($with), "(&p, &t, &scratch)?;")]
        #[doc = concat!("assert!(", $check, ", \"{loss}\");")]
        #[doc = "# Ok::<(), lanes::ops::OpsError>(())"]
        #[doc = "```"]
        pub fn $with<T: Float>(
            &self,
            p: &Buffer<T>,
            t: &Buffer<T>,
            scratch: &Buffer<T>,
        ) -> Result<T, OpsError> {
            self.loss(stringify!($name), $kernel, Scale::$scale, p, t, scratch)
        }

        #[doc = concat!("[`Ops::", stringify!($name), "`] of host slices.")]
        #[doc = ""]
        #[doc = "```"]
        #[doc = "let rt = lanes::Runtime::new();"]
        #[doc = concat!("let loss = rt.ops().", stringify!($vec), "(&", $p, ", &", $t, ")?;")]
        #[doc = concat!("assert!(", $check, ", \"{loss}\");")]
        #[doc = "# Ok::<(), lanes::ops::OpsError>(())"]
        #[doc = "```"]
        pub fn $vec<T: Float>(&self, p: &[T], t: &[T]) -> Result<T, OpsError> {
            same_len("t", t.len(), "p", p.len())?;
            self.$name(&self.upload(p)?, &self.upload(t)?)
        }
    )*};
}

impl Ops<'_> {
    losses! {
        mse mse_with mse_vec "mse_pass" Mean,
            "Mean squared error: `sum((p[i] - t[i])^2) / n`.",
            "[1.0f32, 2.0, 3.0]", "[1.0, 0.0, 4.0]" => "loss == 5.0 / 3.0";
        cross_entropy cross_entropy_with cross_entropy_vec "ce_pass" NegSum,
            "Cross-entropy of a predicted distribution `p` against a target \
             distribution `t` (one-hot or soft): `-sum(t[i] * ln p[i])`, each \
             logarithm clamped below at -100 (so `p[i] = 0` with `t[i] = 0` adds \
             nothing and with `t[i] > 0` adds `100 t[i]`).",
            "[0.25f64, 0.5, 0.25]", "[0.0, 1.0, 0.0]" => "(loss - 2f64.ln()).abs() < 1e-15";
        binary_cross_entropy binary_cross_entropy_with binary_cross_entropy_vec "bce_pass" NegMean,
            "Binary cross-entropy, averaged: `-sum(t ln p + (1 - t) ln(1 - p)) / n` \
             with `p = p[i]`, `t = t[i]`, each logarithm clamped below at -100 (as \
             PyTorch's `BCELoss`). A probability outside [0, 1] gives NaN.",
            "[0.5f32, 0.5]", "[1.0, 0.0]" => "(loss - 2f32.ln()).abs() < 1e-6";
    }

    /// Runs loss kernel `{kernel}_T` as the first pass of a sum, then
    /// scales the sum.
    fn loss<T: Float>(
        &self,
        op: &'static str,
        kernel: &'static str,
        scale: Scale,
        p: &Buffer<T>,
        t: &Buffer<T>,
        scratch: &Buffer<T>,
    ) -> Result<T, OpsError> {
        let n = p.len();
        same_len("t", t.len(), "p", n)?;
        if n == 0 {
            return Err(OpsError::Empty { param: "p", op });
        }
        distinct(op, ("scratch", scratch), ("t", t))?;
        let args = [p.into(), t.into(), scratch.into(), count(n)?.into()];
        let first = FirstPass {
            family: Family::Loss,
            name: kernel,
            args: &args,
        };
        let at = self.reduce_passes("sum", op, first, (p, n), scratch)?;
        let mut sum = [T::zeroed()];
        scratch.read_at(at, &mut sum)?;
        let n = T::from_f64(n as f64);
        Ok(match scale {
            Scale::Mean => sum[0] / n,
            Scale::NegSum => -sum[0],
            Scale::NegMean => -sum[0] / n,
        })
    }
}
