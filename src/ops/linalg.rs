//! Linear algebra: gemm and matvec (`linalg.lasm`), row-major.

use super::{BLOCK_LANES, Family, Ops, OpsError, at_least, count, distinct};
use crate::Dim3;
use crate::buffer::{Buffer, Float};

/// Side of the square blocks of `gemm` (one output element per lane).
///
/// ```
/// assert_eq!(lanes::ops::GEMM_TILE * lanes::ops::GEMM_TILE, 256);
/// ```
pub const GEMM_TILE: u32 = 16;

/// `rows * cols` as an element count, or an error.
fn elements(rows: usize, cols: usize) -> Result<usize, OpsError> {
    rows.checked_mul(cols)
        .ok_or(OpsError::TooLong { len: usize::MAX })
}

/// A host input of `param` must have exactly `expected` elements.
fn exactly(
    param: &'static str,
    len: usize,
    expected: usize,
    shape: String,
) -> Result<(), OpsError> {
    if len == expected {
        Ok(())
    } else {
        Err(OpsError::WrongLength {
            param,
            len,
            expected,
            shape,
        })
    }
}

impl Ops<'_> {
    /// `c = a b`: `a` is `m x k`, `b` is `k x n`, `c` is `m x n`, all
    /// row-major. Each element is the dot product in index order with a
    /// separate multiply and add from 0 (bit for bit the plain triple
    /// loop). One output per lane, 16 x 16 blocks. `a` needs at least
    /// `m k` elements, `b` `k n`, `c` `m n`, and `c` must be neither `a`
    /// nor `b`.
    ///
    /// ```
    /// let rt = lanes::Runtime::new();
    /// // (2 x 3) times (3 x 1)
    /// let a = rt.buffer_from(&[1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0])?;
    /// let b = rt.buffer_from(&[1.0f32, 0.0, -1.0])?;
    /// let c = rt.buffer_zeroed(2)?;
    /// rt.ops().gemm(&a, &b, &c, 2, 3, 1)?;
    /// assert_eq!(c.read()?, [-2.0, -2.0]);
    /// # Ok::<(), lanes::ops::OpsError>(())
    /// ```
    pub fn gemm<T: Float>(
        &self,
        a: &Buffer<T>,
        b: &Buffer<T>,
        c: &Buffer<T>,
        m: usize,
        k: usize,
        n: usize,
    ) -> Result<(), OpsError> {
        at_least("a", a.len(), elements(m, k)?)?;
        at_least("b", b.len(), elements(k, n)?)?;
        at_least("c", c.len(), elements(m, n)?)?;
        distinct("gemm", ("c", c), ("a", a))?;
        distinct("gemm", ("c", c), ("b", b))?;
        let (mu, ku, nu) = (count(m)?, count(k)?, count(n)?);
        if m == 0 || n == 0 {
            return Ok(());
        }
        let grid = Dim3::new(nu.div_ceil(GEMM_TILE), mu.div_ceil(GEMM_TILE), 1);
        self.launch(
            Family::Linalg,
            T::TYPE,
            "gemm",
            grid,
            Dim3::new(GEMM_TILE, GEMM_TILE, 1),
            &[
                a.into(),
                b.into(),
                c.into(),
                mu.into(),
                ku.into(),
                nu.into(),
            ],
        )
    }

    /// [`Ops::gemm`] of host matrices: `a` must have exactly `m k`
    /// elements and `b` `k n`; returns the `m n` elements of `c`.
    ///
    /// ```
    /// let rt = lanes::Runtime::new();
    /// let c = rt.ops().gemm_vec(&[1.0f64, 2.0], &[3.0, 4.0], 2, 1, 2)?; // (2 x 1)(1 x 2)
    /// assert_eq!(c, [3.0, 4.0, 6.0, 8.0]);
    /// # Ok::<(), lanes::ops::OpsError>(())
    /// ```
    pub fn gemm_vec<T: Float>(
        &self,
        a: &[T],
        b: &[T],
        m: usize,
        k: usize,
        n: usize,
    ) -> Result<Vec<T>, OpsError> {
        exactly("a", a.len(), elements(m, k)?, format!("m x k = {m} x {k}"))?;
        exactly("b", b.len(), elements(k, n)?, format!("k x n = {k} x {n}"))?;
        let (ba, bb) = (self.upload(a)?, self.upload(b)?);
        let c = self.zeroed(elements(m, n)?)?;
        self.gemm(&ba, &bb, &c, m, k, n)?;
        Ok(c.read()?)
    }

    /// `y = a x`: `a` is `m x k` (row-major), `x` has `k` elements, `y`
    /// gets `m`. Each element is a dot product as in [`Ops::gemm`]; one
    /// row per lane. `y` must be neither `a` nor `x`.
    ///
    /// ```
    /// let rt = lanes::Runtime::new();
    /// let a = rt.buffer_from(&[1.0f32, 2.0, 3.0, 4.0])?;   // 2 x 2
    /// let x = rt.buffer_from(&[1.0f32, -1.0])?;
    /// let y = rt.buffer_zeroed(2)?;
    /// rt.ops().matvec(&a, &x, &y, 2, 2)?;
    /// assert_eq!(y.read()?, [-1.0, -1.0]);
    /// # Ok::<(), lanes::ops::OpsError>(())
    /// ```
    pub fn matvec<T: Float>(
        &self,
        a: &Buffer<T>,
        x: &Buffer<T>,
        y: &Buffer<T>,
        m: usize,
        k: usize,
    ) -> Result<(), OpsError> {
        at_least("a", a.len(), elements(m, k)?)?;
        at_least("x", x.len(), k)?;
        at_least("y", y.len(), m)?;
        distinct("matvec", ("y", y), ("a", a))?;
        distinct("matvec", ("y", y), ("x", x))?;
        let (mu, ku) = (count(m)?, count(k)?);
        if m == 0 {
            return Ok(());
        }
        self.launch(
            Family::Linalg,
            T::TYPE,
            "matvec",
            Dim3::x(mu.div_ceil(BLOCK_LANES)),
            Dim3::x(BLOCK_LANES),
            &[a.into(), x.into(), y.into(), mu.into(), ku.into()],
        )
    }

    /// [`Ops::matvec`] of a host matrix (exactly `m k` elements) and
    /// vector (exactly `k`).
    ///
    /// ```
    /// let rt = lanes::Runtime::new();
    /// let y = rt.ops().matvec_vec(&[1.0f64, 0.0, 0.0, 2.0, 1.0, 1.0], &[3.0, 4.0], 3, 2)?;
    /// assert_eq!(y, [3.0, 8.0, 7.0]);
    /// # Ok::<(), lanes::ops::OpsError>(())
    /// ```
    pub fn matvec_vec<T: Float>(
        &self,
        a: &[T],
        x: &[T],
        m: usize,
        k: usize,
    ) -> Result<Vec<T>, OpsError> {
        exactly("a", a.len(), elements(m, k)?, format!("m x k = {m} x {k}"))?;
        exactly("x", x.len(), k, format!("k = {k}"))?;
        let (ba, bx) = (self.upload(a)?, self.upload(x)?);
        let y = self.zeroed(m)?;
        self.matvec(&ba, &bx, &y, m, k)?;
        Ok(y.read()?)
    }
}
