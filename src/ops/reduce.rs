//! Whole-vector reductions: sum, min, max, mean (`reduce.lasm`).
//!
//! A reduction runs in passes: each launch turns `n` values into
//! `ceil(n / 2048)` (one per 256-lane block) in the caller's scratch
//! buffer, until one is left. Passes alternate between two regions of the
//! scratch buffer (`[0, m1)` and `[m1, m1 + m2)`, `m1` and `m2` the outputs
//! of the first two passes), so a pass never reads what it writes.

use super::{Family, Ops, OpsError, at_least, count, distinct};
use crate::buffer::{Buffer, Element, Float};
use crate::{Dim3, LaunchArg};

/// Elements one block of a pass reduces: 256 lanes of 8.
pub(super) const CHUNK: usize = 2048;

/// Additions an element passes through in one pass, at most: 7 in its
/// lane's run of 8, 8 in the 256-lane tree.
const DEPTH_PER_PASS: usize = 15;

/// The scratch elements a reduction of `n` elements needs (at least 1).
///
/// ```
/// use lanes::ops::scratch_len;
///
/// assert_eq!(scratch_len(0), 1);
/// assert_eq!(scratch_len(2048), 1);
/// assert_eq!(scratch_len(2049), 2 + 1);
/// assert_eq!(scratch_len(1 << 20), 512 + 1);
/// ```
pub fn scratch_len(n: usize) -> usize {
    let m1 = n.div_ceil(CHUNK).max(1);
    if m1 == 1 { 1 } else { m1 + m1.div_ceil(CHUNK) }
}

/// Launches a reduction of `n` elements takes (`ceil(log2048 n)`, at least
/// 1).
fn passes(n: usize) -> usize {
    let mut m = n.max(1);
    let mut p = 1;
    while m > CHUNK {
        m = m.div_ceil(CHUNK);
        p += 1;
    }
    p
}

/// The proven bound on the error of a float [`Ops::sum`] of `n` elements
/// whose absolute values add up to `abs_sum`: `d * u * abs_sum` with
/// `d = 15 * passes` the most additions an element passes through and `u`
/// the unit roundoff of `T` (strictly, `d u / (1 - d u)`, which differs
/// from `d u` by far less than one part in a million here).
///
/// ```
/// use lanes::ops::sum_error_bound;
///
/// // 1000 f32 values in [-1, 1] with |x| adding up to 500: one pass, d = 15.
/// let bound = sum_error_bound::<f32>(1000, 500.0);
/// assert_eq!(bound, 15.0 * 2f64.powi(-24) * 500.0 / (1.0 - 15.0 * 2f64.powi(-24)));
/// ```
pub fn sum_error_bound<T: Float>(n: usize, abs_sum: f64) -> f64 {
    let du = (DEPTH_PER_PASS * passes(n)) as f64 * T::UNIT_ROUNDOFF;
    du / (1.0 - du) * abs_sum
}

/// A first pass that is not a plain reduction: kernel `{name}_T` of
/// `family` with its own arguments (the losses' terms).
pub(super) struct FirstPass<'a, 'b> {
    pub(super) family: Family,
    pub(super) name: &'static str,
    pub(super) args: &'a [LaunchArg<'b>],
}

impl Ops<'_> {
    /// The sum of `x` (0 when empty; integers wrap), in a fixed tree order
    /// (see the [module docs](super), "Accuracy"). Allocates its scratch
    /// space; [`Ops::sum_with`] takes it from the caller.
    ///
    /// ```
    /// let rt = lanes::Runtime::new();
    /// let x = rt.buffer_from(&[0.5f32; 3000])?;
    /// assert_eq!(rt.ops().sum(&x)?, 1500.0);
    /// # Ok::<(), lanes::ops::OpsError>(())
    /// ```
    pub fn sum<T: Element>(&self, x: &Buffer<T>) -> Result<T, OpsError> {
        let scratch = self.zeroed(scratch_len(x.len()))?;
        self.sum_with(x, &scratch)
    }

    /// [`Ops::sum`] with caller-owned scratch space of at least
    /// [`scratch_len`]`(x.len())` elements (not `x` itself).
    ///
    /// ```
    /// use lanes::ops::scratch_len;
    ///
    /// let rt = lanes::Runtime::new();
    /// let x = rt.buffer_from(&(1..=5000u32).collect::<Vec<_>>())?;
    /// let scratch = rt.buffer_zeroed(scratch_len(x.len()))?;
    /// assert_eq!(rt.ops().sum_with(&x, &scratch)?, 5000 * 5001 / 2);
    /// # Ok::<(), lanes::ops::OpsError>(())
    /// ```
    pub fn sum_with<T: Element>(&self, x: &Buffer<T>, scratch: &Buffer<T>) -> Result<T, OpsError> {
        self.reduce_value("sum", "sum", x, scratch)
    }

    /// [`Ops::sum`] of a host slice.
    ///
    /// ```
    /// let rt = lanes::Runtime::new();
    /// assert_eq!(rt.ops().sum_vec(&[250u8, 10])?, 4, "integers wrap");
    /// # Ok::<(), lanes::ops::OpsError>(())
    /// ```
    pub fn sum_vec<T: Element>(&self, x: &[T]) -> Result<T, OpsError> {
        self.sum(&self.upload(x)?)
    }

    /// The smallest element of `x` (floats: NaNs are skipped, -0.0 counts
    /// below +0.0; all NaN gives +inf). Exact. An empty `x` is an error.
    ///
    /// ```
    /// let rt = lanes::Runtime::new();
    /// let x = rt.buffer_from(&[3.0f64, f64::NAN, -1.5])?;
    /// assert_eq!(rt.ops().min(&x)?, -1.5);
    /// # Ok::<(), lanes::ops::OpsError>(())
    /// ```
    pub fn min<T: Element>(&self, x: &Buffer<T>) -> Result<T, OpsError> {
        let scratch = self.zeroed(scratch_len(x.len()))?;
        self.min_with(x, &scratch)
    }

    /// [`Ops::min`] with caller-owned scratch space (see [`Ops::sum_with`]).
    ///
    /// ```
    /// let rt = lanes::Runtime::new();
    /// let x = rt.buffer_from(&[4i8, -7, 2])?;
    /// let scratch = rt.buffer_zeroed(lanes::ops::scratch_len(3))?;
    /// assert_eq!(rt.ops().min_with(&x, &scratch)?, -7);
    /// # Ok::<(), lanes::ops::OpsError>(())
    /// ```
    pub fn min_with<T: Element>(&self, x: &Buffer<T>, scratch: &Buffer<T>) -> Result<T, OpsError> {
        self.reduce_value("min", "min", x, scratch)
    }

    /// [`Ops::min`] of a host slice.
    ///
    /// ```
    /// let rt = lanes::Runtime::new();
    /// assert_eq!(rt.ops().min_vec(&[9u16, 3, 5])?, 3);
    /// assert!(rt.ops().min_vec::<u16>(&[]).is_err());
    /// # Ok::<(), lanes::ops::OpsError>(())
    /// ```
    pub fn min_vec<T: Element>(&self, x: &[T]) -> Result<T, OpsError> {
        self.min(&self.upload(x)?)
    }

    /// The largest element of `x` (floats: NaNs are skipped, +0.0 counts
    /// above -0.0; all NaN gives -inf). Exact. An empty `x` is an error.
    ///
    /// ```
    /// let rt = lanes::Runtime::new();
    /// let x = rt.buffer_from(&[3.0f32, 8.5, -1.5])?;
    /// assert_eq!(rt.ops().max(&x)?, 8.5);
    /// # Ok::<(), lanes::ops::OpsError>(())
    /// ```
    pub fn max<T: Element>(&self, x: &Buffer<T>) -> Result<T, OpsError> {
        let scratch = self.zeroed(scratch_len(x.len()))?;
        self.max_with(x, &scratch)
    }

    /// [`Ops::max`] with caller-owned scratch space (see [`Ops::sum_with`]).
    ///
    /// ```
    /// let rt = lanes::Runtime::new();
    /// let x = rt.buffer_from(&[4u64, 70, 2])?;
    /// let scratch = rt.buffer_zeroed(lanes::ops::scratch_len(3))?;
    /// assert_eq!(rt.ops().max_with(&x, &scratch)?, 70);
    /// # Ok::<(), lanes::ops::OpsError>(())
    /// ```
    pub fn max_with<T: Element>(&self, x: &Buffer<T>, scratch: &Buffer<T>) -> Result<T, OpsError> {
        self.reduce_value("max", "max", x, scratch)
    }

    /// [`Ops::max`] of a host slice.
    ///
    /// ```
    /// let rt = lanes::Runtime::new();
    /// assert_eq!(rt.ops().max_vec(&[-9i64, -3, -5])?, -3);
    /// # Ok::<(), lanes::ops::OpsError>(())
    /// ```
    pub fn max_vec<T: Element>(&self, x: &[T]) -> Result<T, OpsError> {
        self.max(&self.upload(x)?)
    }

    /// The mean of `x`: [`Ops::sum`] divided by the count (rounded once).
    /// An empty `x` is an error.
    ///
    /// ```
    /// let rt = lanes::Runtime::new();
    /// let x = rt.buffer_from(&[1.0f64, 2.0, 4.5])?;
    /// assert_eq!(rt.ops().mean(&x)?, 2.5);
    /// # Ok::<(), lanes::ops::OpsError>(())
    /// ```
    pub fn mean<T: Float>(&self, x: &Buffer<T>) -> Result<T, OpsError> {
        let scratch = self.zeroed(scratch_len(x.len()))?;
        self.mean_with(x, &scratch)
    }

    /// [`Ops::mean`] with caller-owned scratch space (see [`Ops::sum_with`]).
    ///
    /// ```
    /// let rt = lanes::Runtime::new();
    /// let x = rt.buffer_from(&[1.0f32, 2.0])?;
    /// let scratch = rt.buffer_zeroed(lanes::ops::scratch_len(2))?;
    /// assert_eq!(rt.ops().mean_with(&x, &scratch)?, 1.5);
    /// # Ok::<(), lanes::ops::OpsError>(())
    /// ```
    pub fn mean_with<T: Float>(&self, x: &Buffer<T>, scratch: &Buffer<T>) -> Result<T, OpsError> {
        let sum = self.reduce_value("sum", "mean", x, scratch)?;
        Ok(sum / T::from_f64(x.len() as f64))
    }

    /// [`Ops::mean`] of a host slice.
    ///
    /// ```
    /// let rt = lanes::Runtime::new();
    /// assert_eq!(rt.ops().mean_vec(&[2.0f64, 4.0])?, 3.0);
    /// # Ok::<(), lanes::ops::OpsError>(())
    /// ```
    pub fn mean_vec<T: Float>(&self, x: &[T]) -> Result<T, OpsError> {
        self.mean(&self.upload(x)?)
    }

    /// Reduces `x` with `reduce_{kind}` and reads the result back; `op`
    /// names the public op in errors.
    fn reduce_value<T: Element>(
        &self,
        kind: &'static str,
        op: &'static str,
        x: &Buffer<T>,
        scratch: &Buffer<T>,
    ) -> Result<T, OpsError> {
        if x.is_empty() && op != "sum" {
            return Err(OpsError::Empty { param: "x", op });
        }
        let at = self.reduce_into(kind, op, x, x.len(), scratch)?;
        let mut value = [T::zeroed()];
        scratch.read_at(at, &mut value)?;
        Ok(value[0])
    }

    /// Reduces the first `n` elements of `x` with `reduce_{kind}` into
    /// `scratch`; returns the position of the result there.
    pub(super) fn reduce_into<T: Element>(
        &self,
        kind: &'static str,
        op: &'static str,
        x: &Buffer<T>,
        n: usize,
        scratch: &Buffer<T>,
    ) -> Result<usize, OpsError> {
        let first = [
            x.into(),
            0u32.into(),
            scratch.into(),
            0u32.into(),
            count(n)?.into(),
        ];
        self.reduce_passes(
            kind,
            op,
            FirstPass {
                family: Family::Reduce,
                name: match kind {
                    "sum" => "reduce_sum",
                    "min" => "reduce_min",
                    _ => "reduce_max",
                },
                args: &first,
            },
            (x, n),
            scratch,
        )
    }

    /// Runs `first` (which writes `ceil(n / 2048)` values at the start of
    /// `scratch`), then `reduce_{kind}` passes until one value is left;
    /// returns its position in `scratch`.
    pub(super) fn reduce_passes<T: Element>(
        &self,
        kind: &'static str,
        op: &'static str,
        first: FirstPass<'_, '_>,
        (x, n): (&Buffer<T>, usize),
        scratch: &Buffer<T>,
    ) -> Result<usize, OpsError> {
        at_least("scratch", scratch.len(), scratch_len(n))?;
        distinct(op, ("scratch", scratch), ("x", x))?;
        let blocks =
            |m: usize| -> Result<Dim3, OpsError> { Ok(Dim3::x(count(m.div_ceil(CHUNK).max(1))?)) };
        let block = Dim3::x(super::BLOCK_LANES);
        self.launch(
            first.family,
            T::TYPE,
            first.name,
            blocks(n)?,
            block,
            first.args,
        )?;
        let name = format!("reduce_{kind}");
        let mut m = n.div_ceil(CHUNK).max(1);
        let region_b = m;
        let (mut at, mut into_b) = (0usize, true);
        while m > 1 {
            let dst = if into_b { region_b } else { 0 };
            self.launch(
                Family::Reduce,
                T::TYPE,
                &name,
                blocks(m)?,
                block,
                &[
                    scratch.into(),
                    count(at)?.into(),
                    scratch.into(),
                    count(dst)?.into(),
                    count(m)?.into(),
                ],
            )?;
            (at, m, into_b) = (dst, m.div_ceil(CHUNK), !into_b);
        }
        Ok(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_and_scratch_cover_every_level() {
        assert_eq!(passes(0), 1);
        assert_eq!(passes(2048), 1);
        assert_eq!(passes(2049), 2);
        assert_eq!(passes(2048 * 2048), 2);
        assert_eq!(passes(2048 * 2048 + 1), 3);
        for n in [
            0,
            1,
            2048,
            2049,
            2048 * 2048,
            2048 * 2048 + 1,
            u32::MAX as usize,
        ] {
            // The regions hold every pass's output: the first in [0, m1),
            // the second in [m1, m1 + m2), later ones (no bigger) in turn.
            let m1 = n.div_ceil(CHUNK).max(1);
            let m2 = m1.div_ceil(CHUNK);
            assert_eq!(scratch_len(n), if m1 == 1 { 1 } else { m1 + m2 });
        }
    }
}
