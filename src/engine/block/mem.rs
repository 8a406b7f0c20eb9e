//! Loads, stores and atomics over a lane group.
//!
//! Each lane's address is resolved and bounds- and alignment-checked before
//! that lane touches memory; the first failing lane (in lane order) stops the
//! instruction and is reported. Lanes before it have done their access, as
//! they would have in any order of execution.

use std::ops::Range;

use super::affine::{Affine, Shape};
use super::lanes::{LaneSet, View, value_at};
use crate::exec::{Value, atomic};
use crate::kernel::{Address, AtomOp};
use crate::memory::{AccessError, ByteMemory, check_access};
use crate::types::{AtomType, CasType, ScalarType};
use crate::with_scalar_type;

/// A lane whose access failed, and why.
pub type LaneAccessError = (usize, AccessError);

#[inline(always)]
fn resolve(addr: Address, base: u64, size: usize, len: usize) -> Result<usize, AccessError> {
    match addr.offset(base) {
        Some(off) => check_access(off, size, len),
        None => Err(AccessError::OutOfBounds {
            offset: addr.exact_offset(base),
            size,
            len,
        }),
    }
}

/// When the lanes form one range (the whole block, or a group whose lanes
/// are consecutive, as after a split on `%tid.x < bound`), every lane `l`
/// of it accesses `base + (l - first) * size`, and the whole run is in
/// bounds and aligned: the run's first byte offset and its lanes. One check
/// then covers all lanes.
#[inline(always)]
fn contiguous_run(
    set: LaneSet<'_>,
    addr: Address,
    offsets: View<'_>,
    size: usize,
    len: usize,
) -> Option<(usize, Range<usize>)> {
    let View::Lanes(offs) = offsets else {
        return None;
    };
    let lanes = set.range()?;
    let offs = &offs[lanes.clone()];
    let first = *offs.first()?;
    let step = size as u64;
    // A branch-free scan the compiler can vectorize: OR together every
    // difference from the expected offset.
    let mut expect = first;
    let mut diff = 0u64;
    for &o in offs {
        diff |= o ^ expect;
        expect = expect.wrapping_add(step);
    }
    if diff != 0 {
        return None;
    }
    let n = offs.len() as u64;
    // The register values themselves must not wrap around (an address
    // `[buf + r - IMM]` with wrapped registers is out of bounds).
    first.checked_add((n - 1).checked_mul(step)?)?;
    let start = addr.offset(first)?;
    let bytes = n.checked_mul(step)?;
    let end = start.checked_add(bytes)?;
    (end <= len as u64 && start & (step - 1) == 0).then_some((start as usize, lanes))
}

/// Loads consecutive elements from the aligned, in-bounds `start` into `d`.
#[inline]
pub fn load_contiguous<M: ByteMemory>(mem: &M, start: usize, ty: ScalarType, d: &mut [u64]) {
    // Typed, so the element size is a constant in the copy loop.
    with_scalar_type!(ScalarType, ty, T => {
        mem.load_run(start, std::mem::size_of::<T>(), d, |bits| T::from_reg(bits).to_reg())
    })
}

/// Stores lanes `lanes` of `a` as consecutive elements from the aligned,
/// in-bounds `start`. False (nothing stored) for [`View::Dest`], which a
/// store never has.
#[inline]
pub fn store_contiguous<M: ByteMemory>(
    mem: &M,
    start: usize,
    ty: ScalarType,
    a: View<'_>,
    lanes: std::ops::Range<usize>,
) -> bool {
    let n = lanes.len();
    // Typed, so the element size is a constant in the copy loop.
    with_scalar_type!(ScalarType, ty, T => {
        let size = std::mem::size_of::<T>();
        match a {
            View::Lanes(v) => mem.store_run(start, size, &v[lanes]),
            View::Splat(x) => {
                // A splat is stored from a small repeated buffer.
                let splat = [x; 64];
                for c in 0..n.div_ceil(64) {
                    let len = (n - c * 64).min(64);
                    mem.store_run(start + c * 64 * size, size, &splat[..len]);
                }
            }
            View::Dest => return false,
        }
    });
    true
}

/// For an access whose address register is the affine `off` over a unit,
/// with lanes `size` bytes apart: the number of contiguous runs and the
/// lanes in each (one run over the whole unit, or one per block), if every
/// run is in bounds and aligned. Lane `L` of run `i` is at
/// [`affine_run_start`]`(i) + L * size`.
pub fn affine_runs(
    addr: Address,
    off: Affine,
    shape: Shape,
    size: usize,
    len: usize,
) -> Option<(usize, usize)> {
    if off.stride != size as u64 {
        return None;
    }
    let (runs, per_run) = if off.linear_in_unit(shape) {
        (1, shape.lanes())
    } else {
        (shape.k, shape.n)
    };
    let bytes = (per_run as u64).checked_mul(size as u64)?;
    for i in 0..runs {
        let first = off.base.wrapping_add(off.step.wrapping_mul(i as u64));
        // Register values must not wrap within the run.
        first.checked_add(bytes - size as u64)?;
        let start = addr.offset(first)?;
        let end = start.checked_add(bytes)?;
        if end > len as u64 || start & (size as u64 - 1) != 0 {
            return None;
        }
    }
    Some((runs, per_run))
}

/// The byte offset where run `i` of [`affine_runs`] starts.
pub fn affine_run_start(addr: Address, off: Affine, i: usize) -> usize {
    let first = off.base.wrapping_add(off.step.wrapping_mul(i as u64));
    // Checked by `affine_runs`.
    addr.offset(first).unwrap_or(0) as usize
}

/// `ld.SPACE.T d, [addr]`; `offsets` is the address register (or zero).
pub fn load<M: ByteMemory>(
    set: LaneSet<'_>,
    mem: &M,
    addr: Address,
    offsets: View<'_>,
    ty: ScalarType,
    d: &mut [u64],
) -> Result<(), LaneAccessError> {
    let (size, len) = (ty.size(), mem.len());
    if let Some((start, lanes)) = contiguous_run(set, addr, offsets, size, len) {
        load_contiguous(mem, start, ty, &mut d[lanes]);
        return Ok(());
    }
    set.try_for_each(|l| {
        // The offset register may be the destination: read it first.
        let at = resolve(addr, value_at(offsets, d, l), size, len).map_err(|e| (l, e))?;
        d[l] = ty.extend(mem.load_at(at, size));
        Ok(())
    })
}

/// `st.SPACE.T [addr], a`
pub fn store<M: ByteMemory>(
    set: LaneSet<'_>,
    mem: &M,
    addr: Address,
    offsets: View<'_>,
    ty: ScalarType,
    a: View<'_>,
) -> Result<(), LaneAccessError> {
    let (size, len) = (ty.size(), mem.len());
    if let Some((start, lanes)) = contiguous_run(set, addr, offsets, size, len)
        && store_contiguous(mem, start, ty, a, lanes)
    {
        return Ok(());
    }
    set.try_for_each(|l| {
        let at = resolve(addr, value_at(offsets, &[], l), size, len).map_err(|e| (l, e))?;
        mem.store_at(at, size, value_at(a, &[], l));
        Ok(())
    })
}

/// `atom.SPACE.OP.T d, [addr], a`
#[allow(clippy::too_many_arguments)]
pub fn atom<M: ByteMemory>(
    set: LaneSet<'_>,
    mem: &M,
    addr: Address,
    offsets: View<'_>,
    op: AtomOp,
    ty: AtomType,
    d: &mut [u64],
    a: View<'_>,
) -> Result<(), LaneAccessError> {
    let (size, len) = (ty.scalar().size(), mem.len());
    set.try_for_each(|l| {
        let at = resolve(addr, value_at(offsets, d, l), size, len).map_err(|e| (l, e))?;
        let v = value_at(a, d, l);
        let old = mem.update_at(at, size, &mut |old| atomic::combine(op, ty, old, v));
        d[l] = ty.scalar().extend(old);
        Ok(())
    })
}

/// `atom.SPACE.cas.T d, [addr], a, b`
#[allow(clippy::too_many_arguments)]
pub fn cas<M: ByteMemory>(
    set: LaneSet<'_>,
    mem: &M,
    addr: Address,
    offsets: View<'_>,
    ty: CasType,
    d: &mut [u64],
    a: View<'_>,
    b: View<'_>,
) -> Result<(), LaneAccessError> {
    let (size, len) = (ty.scalar().size(), mem.len());
    set.try_for_each(|l| {
        let at = resolve(addr, value_at(offsets, d, l), size, len).map_err(|e| (l, e))?;
        let (x, y) = (value_at(a, d, l), value_at(b, d, l));
        let old = mem.update_at(at, size, &mut |old| atomic::cas(ty, old, x, y));
        d[l] = ty.scalar().extend(old);
        Ok(())
    })
}
