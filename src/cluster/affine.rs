//! The check made before every distributed launch: where a global
//! access's address is provably affine in the block and lane coordinates,
//! the bytes each rank's blocks can reach with it must lie inside what the
//! rank declared (its range for a store or atomic, its range and halo for a
//! load).
//!
//! The analysis runs over the kernel's instructions with the launch's
//! constants (grid, block, scalar arguments): a forward data flow over the
//! control flow where each register holds either an integer affine
//! function of `(ctaid.x, ctaid.y, ctaid.z, tid.x, tid.y, tid.z)` or
//! "unknown". `mov`, `add`, `sub`, `mul` and `fma` by a constant, `shl` by
//! a constant and integer `cvt` keep a value affine as long as the result
//! provably fits its type over the whole grid (no wrap-around); anything
//! else (a load, a loop counter, a value that differs between paths, a
//! possible overflow) is unknown, and an access through an unknown address
//! is not checked.
//!
//! What it proves: for each checked access, the hull of the offsets that
//! the rank's blocks compute, cut to the buffer (an offset outside the
//! buffer faults instead), lies inside the declaration. What it does not:
//! guards are ignored (an access counts as made by every lane), so a kernel
//! whose guards keep lanes away from bytes their address formula reaches
//! is refused although it would keep to its declaration; and accesses
//! through unknown addresses, `tiles` declarations (the hull of a tile's
//! rows spans other tiles) and `one` declarations are not checked. The
//! per-byte check ([`super::Verify::Words`]) covers those.

use std::collections::BTreeMap;
use std::ops::Range;

use super::access::{Access, Resolved};
use super::ranges::{block_bytes, first_outside};
use crate::kernel::{ArithOp, BitOp, Kernel, NUM_REGS, Op, Space, Special, Src, flow};
use crate::launch::Dim3;
use crate::types::ScalarType;

/// `k + sum(c[i] * v[i])` over `v = (ctaid.x, ctaid.y, ctaid.z, tid.x,
/// tid.y, tid.z)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Affine {
    /// Coefficients.
    pub c: [i64; 6],
    /// Constant.
    pub k: i64,
}

impl Affine {
    fn constant(k: i64) -> Affine {
        Affine { c: [0; 6], k }
    }

    fn var(i: usize) -> Affine {
        let mut c = [0; 6];
        c[i] = 1;
        Affine { c, k: 0 }
    }

    fn as_constant(&self) -> Option<i64> {
        (self.c == [0; 6]).then_some(self.k)
    }

    fn add(&self, o: &Affine, sign: i64) -> Option<Affine> {
        let mut c = [0; 6];
        for (i, x) in c.iter_mut().enumerate() {
            *x = self.c[i].checked_add(o.c[i].checked_mul(sign)?)?;
        }
        Some(Affine {
            c,
            k: self.k.checked_add(o.k.checked_mul(sign)?)?,
        })
    }

    fn scale(&self, f: i64) -> Option<Affine> {
        let mut c = [0; 6];
        for (i, x) in c.iter_mut().enumerate() {
            *x = self.c[i].checked_mul(f)?;
        }
        Some(Affine {
            c,
            k: self.k.checked_mul(f)?,
        })
    }

    fn mul(&self, o: &Affine) -> Option<Affine> {
        match (self.as_constant(), o.as_constant()) {
            (Some(f), _) => o.scale(f),
            (_, Some(f)) => self.scale(f),
            _ => None,
        }
    }

    /// The least and greatest value over the box `lo[i] ..= hi[i]`.
    fn bounds(&self, lo: &[i128; 6], hi: &[i128; 6]) -> (i128, i128) {
        let (mut min, mut max) = (self.k as i128, self.k as i128);
        for i in 0..6 {
            let c = self.c[i] as i128;
            let (a, b) = (c * lo[i], c * hi[i]);
            min += a.min(b);
            max += a.max(b);
        }
        (min, max)
    }
}

/// One global access whose byte offset (before the displacement) is
/// affine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AffineAccess {
    /// The instruction's index.
    pub pc: usize,
    /// Its source line.
    pub line: u32,
    /// The buffer slot.
    pub slot: u16,
    /// A store or atomic (else a load).
    pub write: bool,
    /// The address register's value (0 without one) plus the displacement.
    pub offset: Affine,
    /// Bytes accessed.
    pub size: u64,
}

type State = BTreeMap<u8, Affine>;

/// The launch's constants, for the analysis.
struct Launch<'a> {
    grid: Dim3,
    block: Dim3,
    scalars: &'a [u64],
    /// The whole launch's box.
    lo: [i128; 6],
    hi: [i128; 6],
}

impl Launch<'_> {
    fn src(&self, s: Src, state: &State) -> Option<Affine> {
        let (g, b) = (self.grid, self.block);
        match s {
            Src::Reg(r) => state.get(&r).copied(),
            Src::Imm(v) => Some(Affine::constant(v as i64)),
            Src::Param(slot) => Some(Affine::constant(*self.scalars.get(slot as usize)? as i64)),
            Src::Special(sp) => {
                let laneid = Affine {
                    c: [0, 0, 0, 1, b.x as i64, b.x as i64 * b.y as i64],
                    k: 0,
                };
                Some(match sp {
                    Special::Tid(a) => Affine::var(3 + a.min(2) as usize),
                    Special::Ctaid(a) => Affine::var(a.min(2) as usize),
                    Special::Ntid(a) => Affine::constant(b.get(a) as i64),
                    Special::Nctaid(a) => Affine::constant(g.get(a) as i64),
                    Special::LaneId => laneid,
                    Special::Gid => {
                        let lanes = b.count() as i64;
                        let block = Affine {
                            c: [1, g.x as i64, g.x as i64 * g.y as i64, 0, 0, 0],
                            k: 0,
                        };
                        block.scale(lanes)?.add(&laneid, 1)?
                    }
                })
            }
        }
    }

    /// `v` when a `ty` result holding it is `v` over the whole launch (no
    /// wrap-around), and it stays far from the ends of 64 bits.
    fn fits(&self, ty: ScalarType, v: Affine) -> Option<Affine> {
        if ty.is_float() {
            return None;
        }
        let (min, max) = v.bounds(&self.lo, &self.hi);
        let bits = ty.bits().min(63);
        let (lo, hi) = if ty.is_signed_int() {
            (-(1i128 << (bits - 1)), 1i128 << (bits - 1))
        } else {
            (0, 1i128 << bits)
        };
        // Coefficients of coordinates that are always 0 are dropped, so
        // that equal values compare equal.
        let mut v = v;
        for (c, hi) in v.c.iter_mut().zip(self.hi) {
            if hi == 0 {
                *c = 0;
            }
        }
        (min >= lo && max < hi).then_some(v)
    }

    /// The value `op` writes to its register, if affine.
    fn eval(&self, op: &Op, state: &State) -> Option<Affine> {
        let src = |s: Src| self.src(s, state);
        match *op {
            Op::Mov { ty, a, .. } => self.fits(ty, src(a)?),
            Op::Arith { op, ty, a, b, .. } => {
                let (a, b) = (src(a)?, src(b)?);
                let v = match op {
                    ArithOp::Add => a.add(&b, 1)?,
                    ArithOp::Sub => a.add(&b, -1)?,
                    ArithOp::Mul => a.mul(&b)?,
                    ArithOp::Min | ArithOp::Max => return None,
                };
                self.fits(ty, v)
            }
            Op::Fma { ty, a, b, c, .. } => self.fits(ty, src(a)?.mul(&src(b)?)?.add(&src(c)?, 1)?),
            Op::Bit {
                op: BitOp::Shl,
                ty,
                a,
                b,
                ..
            } => {
                let ty = ty.scalar();
                let shift = src(b)?.as_constant()? as u64 % ty.bits() as u64;
                let v = src(a)?.scale(1i64.checked_shl(shift as u32)?)?;
                self.fits(ty, v)
            }
            Op::Cvt { to, from, a, .. } => self.fits(to, self.fits(from, src(a)?)?),
            _ => None,
        }
    }
}

/// The global accesses of `kernel` whose address is affine, for a launch
/// of `grid` x `block` with these scalar arguments (register values, by
/// scalar slot).
pub fn analyze(kernel: &Kernel, grid: Dim3, block: Dim3, scalars: &[u64]) -> Vec<AffineAccess> {
    let top = |d: Dim3| [d.x, d.y, d.z].map(|v| v.max(1) as i128 - 1);
    let (g, b) = (top(grid), top(block));
    let launch = Launch {
        grid,
        block,
        scalars,
        lo: [0; 6],
        hi: [g[0], g[1], g[2], b[0], b[1], b[2]],
    };
    let n = kernel.instrs.len();
    let mut states: Vec<Option<State>> = vec![None; n];
    if n == 0 {
        return Vec::new();
    }
    // Every register starts at zero.
    states[0] = Some(
        (0..NUM_REGS)
            .map(|r| (r as u8, Affine::constant(0)))
            .collect(),
    );
    let mut todo = vec![0usize];
    while let Some(pc) = todo.pop() {
        let Some(mut state) = states[pc].clone() else {
            continue;
        };
        let instr = &kernel.instrs[pc];
        if let Some((d, _)) = flow::written_reg(&instr.op) {
            let new = launch.eval(&instr.op, &state);
            let old = state.get(&d).copied();
            // A guarded write may not happen: the value is known only when
            // both agree.
            let kept = match (new, instr.guard) {
                (Some(v), None) => Some(v),
                (Some(v), Some(_)) if old == Some(v) => Some(v),
                _ => None,
            };
            match kept {
                Some(v) => state.insert(d, v),
                None => state.remove(&d),
            };
        }
        for next in flow::successors(instr, pc).into_iter().flatten() {
            if next >= n {
                continue;
            }
            let changed = match &mut states[next] {
                slot @ None => {
                    *slot = Some(state.clone());
                    true
                }
                Some(existing) => {
                    let before = existing.len();
                    existing.retain(|r, v| state.get(r) == Some(v));
                    existing.len() != before
                }
            };
            if changed {
                todo.push(next);
            }
        }
    }
    let mut out = Vec::new();
    for (pc, instr) in kernel.instrs.iter().enumerate() {
        let Some(state) = &states[pc] else { continue };
        let (addr, size, write) = match instr.op {
            Op::Load {
                space: Space::Global,
                ty,
                addr,
                ..
            } => (addr, ty.size(), false),
            Op::Store {
                space: Space::Global,
                ty,
                addr,
                ..
            } => (addr, ty.size(), true),
            Op::Atom {
                space: Space::Global,
                ty,
                addr,
                ..
            } => (addr, ty.scalar().size(), true),
            Op::Cas {
                space: Space::Global,
                ty,
                addr,
                ..
            } => (addr, ty.scalar().size(), true),
            _ => continue,
        };
        let base = match addr.reg {
            Some(r) => match state.get(&r) {
                Some(v) => *v,
                None => continue,
            },
            None => Affine::constant(0),
        };
        // The register holds `base` exactly (no wrap, see `fits`); a
        // displacement this large would make the sum wrap.
        let Ok(disp) = i64::try_from(addr.disp) else {
            continue;
        };
        if disp >= 1 << 62 {
            continue;
        }
        let disp = if addr.disp_negative { -disp } else { disp };
        let Some(offset) = base.add(&Affine::constant(disp), 1) else {
            continue;
        };
        out.push(AffineAccess {
            pc,
            line: kernel.lines.get(pc).map_or(0, |l| l.line),
            slot: addr.buffer,
            write,
            offset,
            size: size as u64,
        });
    }
    out
}

/// The boxes of block coordinates `[x, y, z]` (end exclusive) that make up
/// the linear blocks `b0..b1` of `grid`.
fn boxes(blocks: Range<u64>, grid: Dim3) -> Vec<[Range<u64>; 3]> {
    let (gx, gy) = (grid.x.max(1) as u64, grid.y.max(1) as u64);
    let mut out = Vec::new();
    if blocks.is_empty() {
        return out;
    }
    let row = |r: u64| (r % gy, r / gy);
    let (mut r0, x0) = (blocks.start / gx, blocks.start % gx);
    let (r1, x1) = (blocks.end / gx, blocks.end % gx);
    if r0 == r1 {
        let (y, z) = row(r0);
        out.push([x0..x1, y..y + 1, z..z + 1]);
        return out;
    }
    if x0 > 0 {
        let (y, z) = row(r0);
        out.push([x0..gx, y..y + 1, z..z + 1]);
        r0 += 1;
    }
    // Whole rows r0..r1: the same cut one dimension up.
    if r0 < r1 {
        let (mut ya, mut za) = row(r0);
        let (yb, zb) = row(r1);
        if za == zb {
            out.push([0..gx, ya..yb, za..za + 1]);
        } else {
            if ya > 0 {
                out.push([0..gx, ya..gy, za..za + 1]);
                za += 1;
                ya = 0;
            }
            if za < zb {
                out.push([0..gx, ya..gy, za..zb]);
            }
            if yb > 0 {
                out.push([0..gx, 0..yb, zb..zb + 1]);
            }
        }
    }
    if x1 > 0 {
        let (y, z) = row(r1);
        out.push([0..x1, y..y + 1, z..z + 1]);
    }
    out
}

/// The bytes of a buffer of `len` bytes that the linear blocks `blocks`
/// can reach with `access` and that are inside the buffer (a hull: the
/// lanes' offsets need not fill it), one range per box of blocks.
pub fn reach(
    access: &AffineAccess,
    blocks: Range<u64>,
    grid: Dim3,
    block: Dim3,
    len: u64,
) -> Vec<Range<u64>> {
    let top = |v: u32| v.max(1) as i128 - 1;
    boxes(blocks, grid)
        .into_iter()
        .filter_map(|bx| {
            let lo = [
                bx[0].start as i128,
                bx[1].start as i128,
                bx[2].start as i128,
                0,
                0,
                0,
            ];
            let hi = [
                bx[0].end as i128 - 1,
                bx[1].end as i128 - 1,
                bx[2].end as i128 - 1,
                top(block.x),
                top(block.y),
                top(block.z),
            ];
            let (min, max) = access.offset.bounds(&lo, &hi);
            let start = min.max(0);
            let end = (max + access.size as i128).min(len as i128);
            (start < end).then_some(start as u64..end as u64)
        })
        .collect()
}

/// An access that reaches outside the declaration of the rank that makes
/// it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Escape {
    /// The buffer slot.
    pub slot: u16,
    /// The access's source line.
    pub line: u32,
    /// A store or atomic (else a load).
    pub write: bool,
    /// The rank.
    pub rank: u32,
    /// The first run of bytes it can reach outside its declaration.
    pub bytes: Range<u64>,
    /// The rank whose range holds them, if any.
    pub owner: Option<u32>,
}

/// The first access (in instruction order, then rank order) that can reach
/// outside its rank's declaration, for blocks split as `ranges`;
/// `resolved[slot]` and `lens[slot]` are each buffer slot's declaration and
/// length.
pub fn check(
    accesses: &[AffineAccess],
    resolved: &[Resolved],
    lens: &[u64],
    ranges: &[Range<u64>],
    grid: Dim3,
    block: Dim3,
) -> Option<Escape> {
    for a in accesses {
        let (Some(r), Some(&len)) = (resolved.get(a.slot as usize), lens.get(a.slot as usize))
        else {
            continue;
        };
        let access: Access = r.access;
        if !matches!(access, Access::Blocks { .. }) {
            continue;
        }
        for (rank, blocks) in ranges.iter().enumerate() {
            let allowed = block_bytes(&access, blocks, len, !a.write);
            for reached in reach(a, blocks.clone(), grid, block, len) {
                if let Some(bytes) = first_outside(&allowed, reached) {
                    let owner = ranges
                        .iter()
                        .position(|b| {
                            block_bytes(&access, b, len, false)
                                .iter()
                                .any(|x| x.contains(&bytes.start))
                        })
                        .map(|o| o as u32);
                    return Some(Escape {
                        slot: a.slot,
                        line: a.line,
                        write: a.write,
                        rank: rank as u32,
                        bytes,
                        owner,
                    });
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::partition;

    fn kernel(src: &str) -> std::sync::Arc<Kernel> {
        crate::compile("t.lasm", src).unwrap().kernels[0].clone()
    }

    const SMOOTH: &str = include_str!("../../tests/data/cluster/kernels.lasm");

    fn named(name: &str) -> std::sync::Arc<Kernel> {
        crate::compile("k.lasm", SMOOTH)
            .unwrap()
            .kernels
            .iter()
            .find(|k| k.name == name)
            .unwrap()
            .clone()
    }

    fn resolved(access: Access, written: bool) -> Resolved {
        Resolved {
            access,
            reduce_type: None,
            loaded: true,
            written,
        }
    }

    #[test]
    fn gid_based_addresses_are_affine_in_the_block() {
        let k = named("smooth");
        let acc = analyze(&k, Dim3::x(40), Dim3::x(64), &[2560]);
        // Three loads of x (at gid*4, gid*4 - 4, gid*4 + 4), one store of y.
        assert_eq!(acc.len(), 4, "{acc:?}");
        let gid4 = Affine {
            c: [256, 0, 0, 4, 0, 0],
            k: 0,
        };
        assert_eq!(acc[0].offset, gid4);
        assert_eq!(acc[1].offset.k, -4);
        assert!(acc[3].write && acc[3].slot == 1);
        // Rank 1 of 2 (blocks 20..40) reads one element before its range.
        assert_eq!(
            reach(&acc[1], 20..40, Dim3::x(40), Dim3::x(64), 10240),
            vec![5116..10236]
        );
    }

    #[test]
    fn a_missing_halo_and_a_shifted_write_are_found_and_a_correct_launch_passes() {
        let k = named("smooth");
        let (grid, block) = (Dim3::x(40), Dim3::x(64));
        let acc = analyze(&k, grid, block, &[2560]);
        let lens = [10240, 10240];
        let ranges = partition(40, 4);
        let with_halo = [
            resolved(Access::blocks(64, 4).with_halo(1), false),
            resolved(Access::blocks(64, 4), true),
        ];
        assert_eq!(check(&acc, &with_halo, &lens, &ranges, grid, block), None);
        // Without the halo, rank 1 reads the last element of rank 0.
        let no_halo = [
            resolved(Access::blocks(64, 4), false),
            resolved(Access::blocks(64, 4), true),
        ];
        let e = check(&acc, &no_halo, &lens, &ranges, grid, block).unwrap();
        assert_eq!((e.rank, e.owner, e.write), (1, Some(0), false));
        assert_eq!(e.bytes, 2556..2560);
        // A store one block further on.
        let k = named("shifted");
        let acc = analyze(&k, Dim3::x(8), Dim3::x(256), &[2048]);
        let e = check(
            &acc,
            &[resolved(Access::blocks(256, 4), true)],
            &[9 * 1024],
            &partition(8, 2),
            Dim3::x(8),
            Dim3::x(256),
        )
        .unwrap();
        assert_eq!((e.rank, e.owner, e.write), (0, Some(1), true));
        assert_eq!(e.bytes, 4096..5120);
    }

    #[test]
    fn unknown_addresses_are_not_checked() {
        // The address comes from memory (a histogram's bin), from a loop
        // counter, or differs between paths.
        let k = named("hist");
        let acc = analyze(&k, Dim3::x(4), Dim3::x(128), &[512, 7]);
        // x at gid*4, s and lo at 0; not h (its bin was loaded).
        let slots: Vec<u16> = acc.iter().map(|a| a.slot).collect();
        assert_eq!(slots, vec![0, 2, 3], "{acc:?}");
        let k = named("total");
        let acc = analyze(&k, Dim3::x(4), Dim3::x(32), &[11]);
        // Only the store to t (a constant address) remains.
        assert_eq!(acc.len(), 1, "{acc:?}");
        let k = kernel(
            ".kernel k\n.param x buf\n mov.u32 r0, %gid\n setp.eq.u32 p0, r0, 0\n \
             @p0 mov.u32 r0, 7\n shl.u64 r1, r0, 2\n st.global.u32 [x + r1], r0\n",
        );
        assert!(analyze(&k, Dim3::x(2), Dim3::x(4), &[]).is_empty());
    }

    #[test]
    fn values_that_may_wrap_are_unknown() {
        // gid * 2^30 overflows 32 bits on a grid of 8 lanes: not affine;
        // the same in 64 bits is.
        let src = |ty: &str| {
            format!(
                ".kernel k\n.param x buf\n mov.u32 r0, %gid\n mul.{ty} r1, r0, 1073741824\n \
                 st.global.u32 [x + r1], r0\n"
            )
        };
        assert!(analyze(&kernel(&src("u32")), Dim3::x(2), Dim3::x(4), &[]).is_empty());
        assert_eq!(
            analyze(&kernel(&src("u64")), Dim3::x(2), Dim3::x(4), &[]).len(),
            1
        );
    }

    #[test]
    fn linear_block_ranges_cut_into_boxes() {
        let grid = Dim3::new(3, 4, 5);
        for start in 0..60u64 {
            for end in start..=60 {
                let mut got: Vec<u64> = boxes(start..end, grid)
                    .iter()
                    .flat_map(|b| {
                        let b = b.clone();
                        b[2].clone().flat_map(move |z| {
                            let b = b.clone();
                            b[1].clone()
                                .flat_map(move |y| b[0].clone().map(move |x| x + 3 * (y + 4 * z)))
                        })
                    })
                    .collect();
                got.sort();
                assert_eq!(got, (start..end).collect::<Vec<_>>(), "{start}..{end}");
            }
        }
    }
}
