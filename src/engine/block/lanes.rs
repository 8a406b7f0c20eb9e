//! Lane sets, operand views and the element-wise loops every family uses.
//!
//! Registers are structure-of-arrays: register `r` of every lane of the block
//! is one `Vec<u64>`. An instruction moves its destination vector out of the
//! register file, reads its sources as shared slices (a source that is the
//! destination itself, or a special register, is first copied into a scratch
//! vector), and writes the destination through `&mut [u64]`. Plain,
//! non-aliasing slices let the compiler vectorize the loops. When every lane
//! of the block is in the group, loops run over contiguous ranges; otherwise
//! over the group's lane list.

/// The lanes an instruction runs for.
#[derive(Clone, Copy, Debug)]
pub enum LaneSet<'a> {
    /// Lanes `0..n`: the whole block, converged.
    All(usize),
    /// These lanes (sorted, distinct).
    Some(&'a [u16]),
}

impl LaneSet<'_> {
    /// Calls `f` for every lane, in order.
    #[inline(always)]
    pub fn for_each(self, f: impl FnMut(usize)) {
        match self {
            LaneSet::All(n) => (0..n).for_each(f),
            LaneSet::Some(ls) => ls.iter().map(|&l| l as usize).for_each(f),
        }
    }

    /// Like [`LaneSet::for_each`], stopping at the first error.
    #[inline(always)]
    pub fn try_for_each<E>(self, f: impl FnMut(usize) -> Result<(), E>) -> Result<(), E> {
        match self {
            LaneSet::All(n) => (0..n).try_for_each(f),
            LaneSet::Some(ls) => ls.iter().map(|&l| l as usize).try_for_each(f),
        }
    }
}

/// A source operand seen across lanes.
#[derive(Clone, Copy, Debug)]
pub enum View<'a> {
    /// One value per lane.
    Lanes(&'a [u64]),
    /// The same value in every lane.
    Splat(u64),
}

impl View<'_> {
    /// Lane `l`'s value.
    #[inline(always)]
    pub fn get(&self, l: usize) -> u64 {
        match self {
            View::Lanes(v) => v[l],
            View::Splat(x) => *x,
        }
    }
}

/// `d[l] = f(a[l])` over the lane set.
#[inline(always)]
pub fn map1(set: LaneSet<'_>, d: &mut [u64], a: View<'_>, f: impl Fn(u64) -> u64) {
    match (set, a) {
        (LaneSet::All(n), View::Lanes(x)) => {
            for (d, &x) in d[..n].iter_mut().zip(&x[..n]) {
                *d = f(x);
            }
        }
        (LaneSet::All(n), View::Splat(x)) => d[..n].fill(f(x)),
        (set, a) => set.for_each(|l| d[l] = f(a.get(l))),
    }
}

/// `d[l] = f(a[l], b[l])` over the lane set.
#[inline(always)]
pub fn map2(
    set: LaneSet<'_>,
    d: &mut [u64],
    a: View<'_>,
    b: View<'_>,
    f: impl Fn(u64, u64) -> u64,
) {
    match (set, a, b) {
        (LaneSet::All(n), View::Lanes(x), View::Lanes(y)) => {
            for ((d, &x), &y) in d[..n].iter_mut().zip(&x[..n]).zip(&y[..n]) {
                *d = f(x, y);
            }
        }
        (LaneSet::All(n), View::Lanes(x), View::Splat(y)) => {
            for (d, &x) in d[..n].iter_mut().zip(&x[..n]) {
                *d = f(x, y);
            }
        }
        (LaneSet::All(n), View::Splat(x), View::Lanes(y)) => {
            for (d, &y) in d[..n].iter_mut().zip(&y[..n]) {
                *d = f(x, y);
            }
        }
        (LaneSet::All(n), View::Splat(x), View::Splat(y)) => d[..n].fill(f(x, y)),
        (set, a, b) => set.for_each(|l| d[l] = f(a.get(l), b.get(l))),
    }
}

/// `d[l] = f(a[l], b[l], c[l])` over the lane set.
#[inline(always)]
pub fn map3(
    set: LaneSet<'_>,
    d: &mut [u64],
    a: View<'_>,
    b: View<'_>,
    c: View<'_>,
    f: impl Fn(u64, u64, u64) -> u64,
) {
    match (set, a, b, c) {
        (LaneSet::All(n), View::Lanes(x), View::Lanes(y), View::Lanes(z)) => {
            for (((d, &x), &y), &z) in d[..n].iter_mut().zip(&x[..n]).zip(&y[..n]).zip(&z[..n]) {
                *d = f(x, y, z);
            }
        }
        (set, a, b, c) => set.for_each(|l| d[l] = f(a.get(l), b.get(l), c.get(l))),
    }
}
