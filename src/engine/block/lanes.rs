//! Lane sets, operand views and the element-wise loops every family uses.
//!
//! Registers are structure-of-arrays: register `r` of every lane of the block
//! is one contiguous run. The register file is viewed as `&[Cell<u64>]`, so a
//! destination may alias a source (`add r1, r1, r2`) without `unsafe`: each
//! loop reads lane `l`'s sources before writing lane `l`'s destination.
//! When every lane of the block is in the group, loops run over contiguous
//! ranges the compiler can vectorize; otherwise over the group's lane list.

use std::cell::Cell;

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
    pub fn for_each(self, mut f: impl FnMut(usize)) {
        match self {
            LaneSet::All(n) => (0..n).for_each(f),
            LaneSet::Some(ls) => ls.iter().for_each(|&l| f(l as usize)),
        }
    }

    /// Like [`LaneSet::for_each`], stopping at the first error.
    #[inline(always)]
    pub fn try_for_each<E>(self, mut f: impl FnMut(usize) -> Result<(), E>) -> Result<(), E> {
        match self {
            LaneSet::All(n) => (0..n).try_for_each(f),
            LaneSet::Some(ls) => ls.iter().try_for_each(|&l| f(l as usize)),
        }
    }
}

/// A source operand seen across lanes.
#[derive(Clone, Copy)]
pub enum View<'a> {
    /// One value per lane.
    Lanes(&'a [Cell<u64>]),
    /// The same value in every lane.
    Splat(u64),
}

impl View<'_> {
    /// Lane `l`'s value.
    #[inline(always)]
    pub fn get(&self, l: usize) -> u64 {
        match self {
            View::Lanes(v) => v[l].get(),
            View::Splat(x) => *x,
        }
    }
}

/// `d[l] = f(a[l])` over the lane set.
#[inline(always)]
pub fn map1(set: LaneSet<'_>, d: &[Cell<u64>], a: View<'_>, f: impl Fn(u64) -> u64) {
    match (set, a) {
        (LaneSet::All(n), View::Lanes(x)) => {
            let (d, x) = (&d[..n], &x[..n]);
            for l in 0..n {
                d[l].set(f(x[l].get()));
            }
        }
        (LaneSet::All(n), View::Splat(x)) => {
            let v = f(x);
            d[..n].iter().for_each(|c| c.set(v));
        }
        (set, a) => set.for_each(|l| d[l].set(f(a.get(l)))),
    }
}

/// `d[l] = f(a[l], b[l])` over the lane set.
#[inline(always)]
pub fn map2(
    set: LaneSet<'_>,
    d: &[Cell<u64>],
    a: View<'_>,
    b: View<'_>,
    f: impl Fn(u64, u64) -> u64,
) {
    match (set, a, b) {
        (LaneSet::All(n), View::Lanes(x), View::Lanes(y)) => {
            let (d, x, y) = (&d[..n], &x[..n], &y[..n]);
            for l in 0..n {
                d[l].set(f(x[l].get(), y[l].get()));
            }
        }
        (LaneSet::All(n), View::Lanes(x), View::Splat(y)) => {
            let (d, x) = (&d[..n], &x[..n]);
            for l in 0..n {
                d[l].set(f(x[l].get(), y));
            }
        }
        (LaneSet::All(n), View::Splat(x), View::Lanes(y)) => {
            let (d, y) = (&d[..n], &y[..n]);
            for l in 0..n {
                d[l].set(f(x, y[l].get()));
            }
        }
        (set, a, b) => set.for_each(|l| d[l].set(f(a.get(l), b.get(l)))),
    }
}

/// `d[l] = f(a[l], b[l], c[l])` over the lane set.
#[inline(always)]
pub fn map3(
    set: LaneSet<'_>,
    d: &[Cell<u64>],
    a: View<'_>,
    b: View<'_>,
    c: View<'_>,
    f: impl Fn(u64, u64, u64) -> u64,
) {
    match (set, a, b, c) {
        (LaneSet::All(n), View::Lanes(x), View::Lanes(y), View::Lanes(z)) => {
            let (d, x, y, z) = (&d[..n], &x[..n], &y[..n], &z[..n]);
            for l in 0..n {
                d[l].set(f(x[l].get(), y[l].get(), z[l].get()));
            }
        }
        (set, a, b, c) => set.for_each(|l| d[l].set(f(a.get(l), b.get(l), c.get(l)))),
    }
}
