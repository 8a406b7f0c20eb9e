//! Lane sets, operand views and the element-wise loops every family uses.
//!
//! Registers are structure-of-arrays: register `r` of every lane of the block
//! is one `Vec<u64>`. An instruction moves its destination vector out of the
//! register file and writes it through `&mut [u64]`; it reads its sources as
//! shared slices of other registers, as a splat (immediates, parameters,
//! uniform special registers), as scratch vectors (lane-varying special
//! registers), or as [`View::Dest`] when a source is the destination itself
//! (`add r1, r1, r2`). Plain, non-aliasing slices let the compiler vectorize
//! the loops. When every lane of the block is in the group, loops run over
//! `0..n`; otherwise over the group's lane list. Each combination of operand
//! kinds gets its own loop, so no per-lane branch decides where a value comes
//! from.

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

    /// The lanes as one range, when they are consecutive.
    #[inline(always)]
    pub fn range(self) -> Option<std::ops::Range<usize>> {
        match self {
            LaneSet::All(n) => Some(0..n),
            LaneSet::Some(ls) => {
                let (&first, &last) = (ls.first()?, ls.last()?);
                // Sorted and distinct: consecutive exactly when the span is
                // the count.
                debug_assert!(ls.windows(2).all(|w| w[0] < w[1]));
                (usize::from(last) - usize::from(first) + 1 == ls.len())
                    .then(|| usize::from(first)..usize::from(last) + 1)
            }
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
    /// The destination register's own values (read before it is written).
    Dest,
}

/// Runs `$body` (an expression in lane index `$l`) for every lane of `$set`,
/// with the destination `$d` and every `Lanes` slice checked to cover the
/// lanes once, outside the loop (for the whole block and for consecutive
/// lanes).
macro_rules! each_lane {
    ($set:expr, $d:ident, [$($s:ident),*], |$l:ident| $body:expr) => {
        match $set {
            LaneSet::All(n) => {
                let $d = &mut $d[..n];
                $(let $s = &$s[..n];)*
                for $l in 0..n {
                    $d[$l] = $body;
                }
            }
            // Consecutive lanes (a split on `%tid.x < bound`, say) run as a
            // range: no lane list, and a loop the compiler can vectorize.
            set @ LaneSet::Some(ls) => match set.range() {
                Some(r) => {
                    let $d = &mut $d[..r.end];
                    $(let $s = &$s[..r.end];)*
                    for $l in r {
                        $d[$l] = $body;
                    }
                }
                None => {
                    for &lane in ls {
                        let $l = lane as usize;
                        $d[$l] = $body;
                    }
                }
            },
        }
    };
}

/// `d[l] = f(a[l])` over the lane set.
#[inline(always)]
pub fn map1(set: LaneSet<'_>, d: &mut [u64], a: View<'_>, f: impl Fn(u64) -> u64) {
    match a {
        View::Lanes(x) => each_lane!(set, d, [x], |l| f(x[l])),
        View::Splat(x) => {
            let v = f(x);
            each_lane!(set, d, [], |_l| v)
        }
        View::Dest => each_lane!(set, d, [], |l| f(d[l])),
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
    use View::{Dest, Lanes, Splat};
    match (a, b) {
        (Lanes(x), Lanes(y)) => each_lane!(set, d, [x, y], |l| f(x[l], y[l])),
        (Lanes(x), Splat(y)) => each_lane!(set, d, [x], |l| f(x[l], y)),
        (Lanes(x), Dest) => each_lane!(set, d, [x], |l| f(x[l], d[l])),
        (Splat(x), Lanes(y)) => each_lane!(set, d, [y], |l| f(x, y[l])),
        (Splat(x), Splat(y)) => {
            let v = f(x, y);
            each_lane!(set, d, [], |_l| v)
        }
        (Splat(x), Dest) => each_lane!(set, d, [], |l| f(x, d[l])),
        (Dest, Lanes(y)) => each_lane!(set, d, [y], |l| f(d[l], y[l])),
        (Dest, Splat(y)) => each_lane!(set, d, [], |l| f(d[l], y)),
        (Dest, Dest) => each_lane!(set, d, [], |l| f(d[l], d[l])),
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
    match (a, b, c) {
        (View::Lanes(x), View::Lanes(y), View::Lanes(z)) => {
            each_lane!(set, d, [x, y, z], |l| f(x[l], y[l], z[l]))
        }
        (a, b, c) => set.for_each(|l| {
            let get = |v: View<'_>| match v {
                View::Lanes(s) => s[l],
                View::Splat(x) => x,
                View::Dest => d[l],
            };
            d[l] = f(get(a), get(b), get(c));
        }),
    }
}

/// Lane `l`'s value of a view, with `d` standing for [`View::Dest`]. For the
/// per-lane paths (memory, selects, comparisons).
#[inline(always)]
pub fn value_at(v: View<'_>, d: &[u64], l: usize) -> u64 {
    match v {
        View::Lanes(s) => s[l],
        View::Splat(x) => x,
        View::Dest => d[l],
    }
}

#[cfg(test)]
mod tests {
    use super::LaneSet;

    #[test]
    fn range_only_for_consecutive_lanes() {
        assert_eq!(LaneSet::All(256).range(), Some(0..256));
        assert_eq!(LaneSet::Some(&[3, 4, 5]).range(), Some(3..6));
        assert_eq!(LaneSet::Some(&[7]).range(), Some(7..8));
        assert_eq!(LaneSet::Some(&[3, 5]).range(), None);
        assert_eq!(LaneSet::Some(&[0, 1, 2, 4]).range(), None);
        assert_eq!(LaneSet::Some(&[]).range(), None);
    }
}
