//! Loads, stores and atomics over a lane group.
//!
//! Each lane's address is resolved and bounds- and alignment-checked before
//! that lane touches memory; the first failing lane (in lane order) stops the
//! instruction and is reported. Lanes before it have done their access, as
//! they would have in any order of execution.

use std::cell::Cell;

use super::lanes::{LaneSet, View};
use crate::exec::atomic;
use crate::kernel::{Address, AtomOp};
use crate::memory::{AccessError, ByteMemory, check_access};
use crate::types::{AtomType, CasType, ScalarType};

/// A lane whose access failed, and why.
pub type LaneAccessError = (usize, AccessError);

#[inline(always)]
fn resolve(
    addr: Address,
    offsets: View<'_>,
    l: usize,
    size: usize,
    len: usize,
) -> Result<usize, AccessError> {
    let base = offsets.get(l);
    match addr.offset(base) {
        Some(off) => check_access(off, size, len),
        None => Err(AccessError::OutOfBounds {
            offset: addr.exact_offset(base),
            size,
            len,
        }),
    }
}

/// `ld.SPACE.T d, [addr]`; `offsets` is the address register (or zero).
pub fn load(
    set: LaneSet<'_>,
    mem: &dyn ByteMemory,
    addr: Address,
    offsets: View<'_>,
    ty: ScalarType,
    d: &[Cell<u64>],
) -> Result<(), LaneAccessError> {
    let (size, len) = (ty.size(), mem.len());
    set.try_for_each(|l| {
        let at = resolve(addr, offsets, l, size, len).map_err(|e| (l, e))?;
        d[l].set(ty.extend(mem.load_at(at, size)));
        Ok(())
    })
}

/// `st.SPACE.T [addr], a`
pub fn store(
    set: LaneSet<'_>,
    mem: &dyn ByteMemory,
    addr: Address,
    offsets: View<'_>,
    ty: ScalarType,
    a: View<'_>,
) -> Result<(), LaneAccessError> {
    let (size, len) = (ty.size(), mem.len());
    set.try_for_each(|l| {
        let at = resolve(addr, offsets, l, size, len).map_err(|e| (l, e))?;
        mem.store_at(at, size, a.get(l));
        Ok(())
    })
}

/// `atom.SPACE.OP.T d, [addr], a`
#[allow(clippy::too_many_arguments)]
pub fn atom(
    set: LaneSet<'_>,
    mem: &dyn ByteMemory,
    addr: Address,
    offsets: View<'_>,
    op: AtomOp,
    ty: AtomType,
    d: &[Cell<u64>],
    a: View<'_>,
) -> Result<(), LaneAccessError> {
    let (size, len) = (ty.scalar().size(), mem.len());
    set.try_for_each(|l| {
        let at = resolve(addr, offsets, l, size, len).map_err(|e| (l, e))?;
        let v = a.get(l);
        let old = mem.update_at(at, size, &mut |old| atomic::combine(op, ty, old, v));
        d[l].set(ty.scalar().extend(old));
        Ok(())
    })
}

/// `atom.SPACE.cas.T d, [addr], a, b`
#[allow(clippy::too_many_arguments)]
pub fn cas(
    set: LaneSet<'_>,
    mem: &dyn ByteMemory,
    addr: Address,
    offsets: View<'_>,
    ty: CasType,
    d: &[Cell<u64>],
    a: View<'_>,
    b: View<'_>,
) -> Result<(), LaneAccessError> {
    let (size, len) = (ty.scalar().size(), mem.len());
    set.try_for_each(|l| {
        let at = resolve(addr, offsets, l, size, len).map_err(|e| (l, e))?;
        let (x, y) = (a.get(l), b.get(l));
        let old = mem.update_at(at, size, &mut |old| atomic::cas(ty, old, x, y));
        d[l].set(ty.scalar().extend(old));
        Ok(())
    })
}
