//! Checks made once per block instead of once per gang: PoCL's work-group
//! loop with its bounds hoisted out of it.
//!
//! In an element-wise kernel (`out[gid] = a[gid] + b[gid]` behind an exit
//! on `gid >= n`) the gang tier's full version tests, for every gang of
//! four lanes, the exit and one bounds check per buffer: most of its
//! instructions. Those tests are of *block-linear* values: lane `k` of the
//! block (`%laneid` order, all its gangs) holds `v + k * s`, with `v` block
//! lane 0's value. A bounds check of such an address holds for every lane
//! of the block when it holds for the whole run `v .. v + s * lanes`, and a
//! comparison of such a value with a block-invariant one is monotone along
//! the block when no lane's value wraps, so an exit on it takes no lane of
//! the block when it takes neither end lane.
//!
//! So, for a straight-line kernel (no barriers, no branch inside the
//! kernel: every lane runs the same instructions in order until it exits),
//! the gang tier computes once per block, with the values of the block's
//! gang 0 ([`BlockChecks::slice`]: the pure integer instructions the checks
//! read), whether every vector access in [`BlockChecks::access`] lies in
//! its memory for all of the block's lanes, aligned, and whether no lane
//! takes an exit in [`BlockChecks::exit`]. When all of that holds, the
//! block's gangs run the full version with those tests left out; when any
//! fails (the block at the end of the data, a fault to come), they run the
//! general version, which tests everything per gang and finds the exact
//! faulting lane.
//!
//! Block-linear is stricter than affine (`shape`): affine is about the four
//! lanes of a gang, and a value can be affine there and not along the
//! block (`%tid.x` in a block of several rows, `tid & 3`, a value that
//! wraps between gangs, a gang-uniform load). Here the sources are `%gid`,
//! `%laneid`, `%tid.x` in one-row blocks and block-invariant operands
//! (immediates, parameters, `%ctaid`, `%ntid`, `%nctaid`), combined by
//! adds, subtractions, multiplications by constants, left shifts by
//! constants, negations and conversions, modulo the type's width; a value
//! read wider than it is held (and one compared in an exit) stays
//! block-linear only where no lane of the block wrapped: proven by its
//! value range (all lanes of the launch), or, for a 32-bit register, tested
//! at run time with the other checks ([`BlockChecks::wraps`]: the CUDA
//! idiom `ctaid * ntid + tid` in `u32`, whose range the analysis cannot
//! bound without the grid, ran 3x slower before). Every such register must be
//! written once, unguarded, before it is read (after renaming, each web is
//! its own register), so gang 0's value is the one every later read sees.

use std::cell::RefCell;

use super::analysis::{Analysis, Kind};
use super::shape::{self, Facts, Shape, Shapes};
use crate::kernel::flow::{for_each_src, written_reg};
use crate::kernel::{ArithOp, BitOp, CmpOp, Kernel, NUM_PREDS, NUM_REGS, Op, SignOp, Special, Src};
use crate::types::ScalarType;

/// What the gang tier checks once per block (see the module docs).
#[derive(Clone, Debug)]
pub(super) struct BlockChecks {
    /// Per instruction: an unguarded vector load or store whose bounds and
    /// alignment are checked for the whole block.
    pub access: Vec<bool>,
    /// Per instruction: an exit (or branch past the end) that no lane of
    /// the block takes, checked at the block's two end lanes.
    pub exit: Vec<Option<ExitCheck>>,
    /// The instructions that compute what the checks read, in program
    /// order: pure integer work, each writing a scalar register once.
    pub slice: Vec<usize>,
    /// Registers whose values must not wrap along the block for the
    /// checks to hold (a widening the value ranges cannot vouch for:
    /// `ctaid * ntid + tid` in `u32`), tested with the rest.
    pub wraps: Vec<Need>,
}

/// A 32-bit register whose values along the block, `v + k * stride` for
/// block lane `k` as mathematical integers, must all lie in `ty`'s range
/// (and so in the register's own: no lane wrapped).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Need {
    pub reg: crate::kernel::Reg,
    pub ty: ScalarType,
    pub stride: i64,
}

/// An exit on a predicate set by a monotone `setp`.
#[derive(Clone, Copy, Debug)]
pub(super) struct ExitCheck {
    /// The `setp` that sets the exit's predicate.
    pub setp: usize,
    /// The block-linear strides of its two operands (one is 0).
    pub strides: (i64, i64),
    /// The exit is taken when the predicate is false.
    pub negated: bool,
}

impl BlockChecks {
    /// What `kernel` (renamed) can check once per block of shape `block`;
    /// `None` when nothing.
    pub fn new(kernel: &Kernel, an: &Analysis, sh: &Shapes, facts: &Facts) -> Option<BlockChecks> {
        let n = kernel.instrs.len();
        let straight = an.barriers.is_empty()
            && kernel
                .instrs
                .iter()
                .all(|i| !matches!(i.op, Op::Bra { target } if (target as usize) < n));
        if !straight {
            return None;
        }
        let lin = Linear::new(kernel, an, sh, facts);
        let mut checks = BlockChecks {
            access: vec![false; n],
            exit: vec![None; n],
            slice: Vec::new(),
            wraps: Vec::new(),
        };
        let mut reads = [false; NUM_REGS];
        let mut mark = |s: Src| {
            if let Src::Reg(r) = s {
                reads[r as usize] = true;
            }
        };
        for (pc, i) in kernel.instrs.iter().enumerate() {
            lin.pending.borrow_mut().clear();
            // What a checked access or exit reads.
            let read = match i.op {
                Op::Load { ty, addr, .. } | Op::Store { ty, addr, .. } if i.guard.is_none() => {
                    let Some(r) = addr.reg else { continue };
                    let size = ty.size() as i64;
                    let s = Src::Reg(r);
                    if size < 4
                        || lin.read(s, ScalarType::U64, pc) != Some(size)
                        || sh.read(s, ScalarType::U64) != Shape::Affine(size)
                    {
                        continue;
                    }
                    checks.access[pc] = true;
                    [s, s]
                }
                Op::Exit | Op::Bra { .. } => {
                    let Some(g) = i.guard else { continue };
                    let Some(setp) = lin.pred_writer[g.pred as usize] else {
                        continue;
                    };
                    if setp > pc {
                        continue;
                    }
                    let Op::Setp { cmp, ty, a, b, .. } = kernel.instrs[setp].op else {
                        continue;
                    };
                    let Some(strides) = lin.monotone(cmp, ty, a, b, setp) else {
                        continue;
                    };
                    checks.exit[pc] = Some(ExitCheck {
                        setp,
                        strides,
                        negated: g.negated,
                    });
                    [a, b]
                }
                _ => continue,
            };
            read.into_iter().for_each(&mut mark);
            for w in lin.pending.take() {
                mark(Src::Reg(w.reg));
                if !checks.wraps.contains(&w) {
                    checks.wraps.push(w);
                }
            }
        }
        // The registers those read, and the registers theirs read, back
        // to the sources.
        for (pc, i) in kernel.instrs.iter().enumerate().rev() {
            let Some((d, _)) = written_reg(&i.op) else {
                continue;
            };
            if reads[d as usize] && lin.writer[d as usize] == Some(pc) {
                checks.slice.push(pc);
                for_each_src(&i.op, |s| {
                    if let Src::Reg(r) = s {
                        reads[r as usize] = true;
                    }
                });
            }
        }
        checks.slice.reverse();
        let any = checks.access.iter().any(|&a| a) || checks.exit.iter().any(Option::is_some);
        any.then_some(checks)
    }

    /// Whether the exit ending at `pc` is checked once per block.
    pub fn exit_at(&self, pc: usize) -> Option<ExitCheck> {
        self.exit.get(pc).copied().flatten()
    }
}

/// Block-linear strides of registers at each read (see the module docs).
struct Linear<'f> {
    /// Per register: its stride, when block-linear (0: block-invariant).
    stride: [Option<i64>; NUM_REGS],
    /// Per register: the instruction that writes it, when it is its only
    /// write and is unguarded and block-linear.
    writer: [Option<usize>; NUM_REGS],
    /// Per predicate: its only writer, an unguarded `setp`.
    pred_writer: [Option<usize>; NUM_PREDS],
    kinds: [Kind; NUM_REGS],
    facts: &'f Facts,
    /// Per register: the runtime no-wrap tests its linearity rests on.
    deps: Vec<Vec<Need>>,
    /// The tests the reads since the last `clear` rest on.
    pending: RefCell<Vec<Need>>,
}

impl<'f> Linear<'f> {
    fn new(kernel: &Kernel, an: &Analysis, sh: &Shapes, facts: &'f Facts) -> Linear<'f> {
        let mut writes = [0u32; NUM_REGS];
        let mut pwrites = [0u32; NUM_PREDS];
        for i in &kernel.instrs {
            if let Some((d, _)) = written_reg(&i.op) {
                writes[d as usize] += 1;
            }
            if let Op::Setp { p, .. } | Op::PredLogic { d: p, .. } | Op::PredNot { d: p, .. } = i.op
            {
                pwrites[p as usize] += 1;
            }
        }
        let mut lin = Linear {
            stride: [None; NUM_REGS],
            writer: [None; NUM_REGS],
            pred_writer: [None; NUM_PREDS],
            kinds: an.kinds,
            facts,
            deps: vec![Vec::new(); NUM_REGS],
            pending: RefCell::new(Vec::new()),
        };
        for (pc, i) in kernel.instrs.iter().enumerate() {
            if let Op::Setp { p, .. } = i.op {
                if i.guard.is_none() && pwrites[p as usize] == 1 {
                    lin.pred_writer[p as usize] = Some(pc);
                }
            }
            let Some((d, ty)) = written_reg(&i.op) else {
                continue;
            };
            if i.guard.is_some() || writes[d as usize] != 1 || sh.regs[d as usize] == Shape::Varying
            {
                continue;
            }
            lin.pending.borrow_mut().clear();
            let Some(st) = lin.result(&i.op, ty, pc) else {
                continue;
            };
            // The register holds the value extended to 32 or 64 bits:
            // exact only when no lane wrapped at the type's width.
            let held = lin.held_bits(Src::Reg(d));
            if ty.bits() < held && !lin.fits(Src::Reg(d), ty) {
                continue;
            }
            lin.stride[d as usize] = Some(shape::wrap_stride(st, held));
            lin.writer[d as usize] = Some(pc);
            let mut deps = lin.pending.take();
            deps.dedup();
            lin.deps[d as usize] = deps;
        }
        lin
    }

    /// Whether every lane's value of `s` lies in `ty`'s range: by its
    /// value range, or, for a block-linear 32-bit register, by a test at
    /// run time (added to `pending`).
    fn fits_or_test(&self, s: Src, ty: ScalarType) -> bool {
        if self.fits(s, ty) {
            return true;
        }
        let Src::Reg(r) = s else {
            return false;
        };
        match (self.kinds[r as usize], self.stride[r as usize]) {
            (Kind::I32Zero | Kind::I32Sign, Some(stride)) => {
                self.pending.borrow_mut().push(Need { reg: r, ty, stride });
                true
            }
            _ => false,
        }
    }

    /// Bits a source is held in.
    fn held_bits(&self, s: Src) -> u32 {
        match s {
            Src::Reg(r) => match self.kinds[r as usize] {
                Kind::I64 | Kind::F64 => 64,
                _ => 32,
            },
            Src::Special(Special::Gid) => 64,
            _ => 32,
        }
    }

    /// Whether every lane's value of `s` (as a mathematical integer) lies
    /// in `ty`'s range.
    fn fits(&self, s: Src, ty: ScalarType) -> bool {
        let (lo, hi) = shape::type_range(ty);
        self.facts.range(s).is_some_and(|(a, b)| a >= lo && b <= hi)
    }

    /// The stride of source `s` read as integer type `ty` by the
    /// instruction at `pc`, when block-linear there.
    fn read(&self, s: Src, ty: ScalarType, pc: usize) -> Option<i64> {
        if ty.is_float() {
            return None;
        }
        let block = self.facts.block();
        let flat = block.y == 1 && block.z == 1;
        let st = match s {
            Src::Imm(_) | Src::Param(_) => 0,
            Src::Reg(r) => {
                // Written once, before this read.
                let w = self.writer[r as usize]?;
                if w >= pc {
                    return None;
                }
                let st = self.stride[r as usize]?;
                self.pending
                    .borrow_mut()
                    .extend_from_slice(&self.deps[r as usize]);
                st
            }
            Src::Special(sp) => match sp {
                Special::Gid | Special::LaneId => 1,
                Special::Tid(0) if flat => 1,
                Special::Tid(_) if flat => 0,
                Special::Tid(_) => return None,
                Special::Ntid(_) | Special::Nctaid(_) | Special::Ctaid(_) => 0,
            },
        };
        if st != 0 && ty.bits() > self.held_bits(s) && !self.fits_or_test(s, ty) {
            return None;
        }
        Some(shape::wrap_stride(st, ty.bits()))
    }

    /// The stride of what the instruction at `pc` writes, as `ty`.
    fn result(&self, op: &Op, ty: ScalarType, pc: usize) -> Option<i64> {
        if ty.is_float() {
            return None;
        }
        let rd = |s: Src, t: ScalarType| self.read(s, t, pc);
        let scaled = |st: i64, c: Option<u64>| -> Option<i64> {
            if st == 0 {
                return Some(0);
            }
            st.checked_mul(i64::try_from(c?).ok()?)
        };
        let mul = |a: Src, b: Src, t: ScalarType| -> Option<i64> {
            match (rd(a, t)?, rd(b, t)?) {
                (0, 0) => Some(0),
                (x, 0) => scaled(x, shape::constant(b)),
                (0, y) => scaled(y, shape::constant(a)),
                _ => None,
            }
        };
        let st = match *op {
            Op::Mov { ty, a, .. } => rd(a, ty)?,
            Op::Cvt { to, from, a, .. } => {
                if to.is_float() || from.is_float() {
                    return None;
                }
                let x = rd(a, from)?;
                if x != 0 && to.bits() > from.bits() && !self.fits_or_test(a, from) {
                    return None;
                }
                x
            }
            Op::Arith { op, ty, a, b, .. } => match op {
                ArithOp::Add => rd(a, ty)?.checked_add(rd(b, ty)?)?,
                ArithOp::Sub => rd(a, ty)?.checked_sub(rd(b, ty)?)?,
                ArithOp::Mul => mul(a, b, ty)?,
                ArithOp::Min | ArithOp::Max => invariant(rd(a, ty)?, rd(b, ty)?)?,
            },
            Op::Fma { ty, a, b, c, .. } => mul(a, b, ty)?.checked_add(rd(c, ty)?)?,
            Op::Bit { op, ty, a, b, .. } => {
                let t = ty.scalar();
                let (x, y) = (rd(a, t)?, rd(b, t)?);
                match (op, shape::constant(b).map(|c| c % t.bits() as u64)) {
                    (BitOp::Shl, Some(c)) if x != 0 && c < 63 => scaled(x, Some(1u64 << c))?,
                    _ => invariant(x, y)?,
                }
            }
            Op::Not { ty, a, .. } => invariant(rd(a, ty.scalar())?, 0)?,
            Op::Sign { op, ty, a, .. } => {
                let x = rd(a, ty.scalar())?;
                match op {
                    SignOp::Neg => x.checked_neg()?,
                    SignOp::Abs => invariant(x, 0)?,
                }
            }
            _ => return None,
        };
        Some(shape::wrap_stride(st, ty.bits()))
    }

    /// The strides of `setp.cmp.ty a, b` at `pc` when it is monotone along
    /// the block: one side block-linear without wrap in `ty`, the other
    /// block-invariant, an order comparison (or unsigned `== 0`, `!= 0`).
    fn monotone(
        &self,
        cmp: CmpOp,
        ty: ScalarType,
        a: Src,
        b: Src,
        pc: usize,
    ) -> Option<(i64, i64)> {
        if ty.is_float() || ty.bits() < 32 {
            return None;
        }
        let zero = |s: Src| matches!(s, Src::Imm(0));
        let order = match cmp {
            CmpOp::Eq | CmpOp::Ne => !ty.is_signed_int() && (zero(a) || zero(b)),
            _ => true,
        };
        if !order {
            return None;
        }
        let (x, y) = (self.read(a, ty, pc)?, self.read(b, ty, pc)?);
        let moving = match (x, y) {
            (0, 0) => return None,
            (_, 0) => a,
            (0, _) => b,
            _ => return None,
        };
        self.fits_or_test(moving, ty).then_some((x, y))
    }
}

/// Block-invariant operands give a block-invariant result.
fn invariant(x: i64, y: i64) -> Option<i64> {
    (x == 0 && y == 0).then_some(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::launch::Dim3;

    fn checks(src: &str, block: Dim3, gid32: bool) -> Option<BlockChecks> {
        let p = crate::compile("t.lasm", src).unwrap();
        let k = &p.kernels[0];
        let an = Analysis::new(k);
        let facts = Facts::new(k, &an, block, gid32);
        let sh = Shapes::new(k, &an, &facts).unwrap();
        BlockChecks::new(k, &an, &sh, &facts)
    }

    fn accesses(c: &BlockChecks) -> Vec<usize> {
        (0..c.access.len()).filter(|&pc| c.access[pc]).collect()
    }

    #[test]
    fn element_wise_kernels_check_every_access_and_the_exit_once_per_block() {
        let add = include_str!("../../ops/vector_add.lasm");
        let c = checks(add, Dim3::x(256), true).expect("vector_add has checks");
        // 0 mov r0, gid / 1 setp / 2 @p0 exit / 3 shl r1 / 4, 5 ld / 6 add / 7 st
        assert_eq!(accesses(&c), [4, 5, 7]);
        let e = c.exit_at(2).expect("the exit on gid >= n");
        assert_eq!((e.setp, e.strides, e.negated), (1, (1, 0), false));
        assert_eq!(c.slice, [0, 3], "what the checks read: r0 and r1");
        assert!(c.wraps.is_empty(), "the value ranges rule out wrapping");
        // Blocks that do not divide 2^32, in a launch past 2^32 lanes: r0
        // (gid as u32) may wrap inside a block, so its widening to u64
        // (the addresses) and the comparison hold along the block only
        // where a test at run time finds no lane wraps; the gang tier
        // finds them affine along each gang either way.
        let c = checks(add, Dim3::x(96), false).unwrap();
        assert_eq!(accesses(&c), [4, 5, 7]);
        assert!(c.exit_at(2).is_some());
        let r0 = |ty| Need {
            reg: 0,
            ty,
            stride: 1,
        };
        assert_eq!(c.wraps, [r0(ScalarType::U32), r0(ScalarType::U64)]);
        let cvt = ".kernel k\n.param x buf\n.param n u32\n mov.u32 r0, %gid\n\
                   cvt.u64.u32 r1, r0\n shl.u64 r2, r1, 2\n st.global.u32 [x + r2], r0\n";
        let c = checks(cvt, Dim3::x(96), false).unwrap();
        assert_eq!(
            (accesses(&c), c.wraps),
            (vec![3], vec![r0(ScalarType::U32)])
        );
        let c = checks(cvt, Dim3::x(96), true).unwrap();
        assert_eq!((accesses(&c), c.wraps), (vec![3], vec![]));
    }

    #[test]
    fn values_affine_only_along_a_gang_get_no_block_checks() {
        let body = |index: &str| {
            format!(
                ".kernel k\n.param x buf\n.param n u32\n {index}\n shl.u64 r1, r0, 2\n\
                 setp.ge.u32 p0, r0, n\n @p0 exit\n st.global.u32 [x + r1], r0\n"
            )
        };
        // `%tid.x` of a block of rows; `and`; a register written twice
        // (the JIT renames webs apart first; unrenamed, the analysis must
        // not take the first write's value for the second's).
        for (index, block) in [
            ("mov.u32 r0, %tid.x", Dim3::new(8, 4, 1)),
            ("mov.u32 r0, %gid\n and.u32 r0, r0, 7", Dim3::x(64)),
            ("mov.u32 r0, %laneid\n add.u32 r0, r0, 1", Dim3::x(64)),
        ] {
            assert!(checks(&body(index), block, true).is_none(), "{index}");
        }
        // `laneid + n` may wrap (`n` is any u32): the comparison holds
        // along the block where a test at run time finds no lane wraps
        // (the address, affine along a gang only where its base is
        // aligned, takes the gang tier's lane-by-lane path).
        let wraps = body("mov.u32 r2, %laneid\n add.u32 r0, r2, n");
        let c = checks(&wraps, Dim3::x(64), true).unwrap();
        assert!(accesses(&c).is_empty() && c.exit_at(4).is_some());
        let need = Need {
            reg: 0,
            ty: ScalarType::U32,
            stride: 1,
        };
        assert_eq!(c.wraps, [need]);
        assert!(c.slice.contains(&1), "r0's write is computed for its test");
        // Block-linear forms: the checks stand.
        for index in [
            "mov.u32 r0, %tid.x",
            "mov.u32 r2, %laneid\n add.u32 r0, r2, 5",
        ] {
            let c = checks(&body(index), Dim3::x(64), true).expect(index);
            assert_eq!(accesses(&c).len(), 1, "{index}");
        }
        // `ctaid * ntid + tid` by hand: in u32 it may wrap (the facts do
        // not know the grid: a test at run time), in u64 it cannot.
        let by_hand = |ty: &str| {
            format!(
                ".kernel k\n.param x buf\n.param n u32\n mov.{ty} r2, %ctaid.x\n\
                 mul.{ty} r3, r2, %ntid.x\n add.{ty} r0, r3, %tid.x\n shl.u64 r1, r0, 2\n\
                 setp.ge.{ty} p0, r0, n\n @p0 exit\n st.global.u32 [x + r1], r0\n"
            )
        };
        for ty in ["u32", "u64"] {
            let c = checks(&by_hand(ty), Dim3::x(64), true).unwrap();
            assert_eq!(accesses(&c), [6]);
            assert!(c.exit_at(5).is_some());
            assert_eq!(c.wraps.is_empty(), ty == "u64");
        }
    }

    #[test]
    fn guarded_accesses_branches_and_barriers_are_left_to_each_gang() {
        let guarded = ".kernel k\n.param x buf\n mov.u32 r0, %gid\n shl.u64 r1, r0, 2\n\
                       setp.lt.u32 p0, r0, 9\n @p0 st.global.u32 [x + r1], r0\n";
        assert!(checks(guarded, Dim3::x(64), true).is_none());
        let branch = ".kernel k\n.param x buf\n mov.u32 r0, %gid\n shl.u64 r1, r0, 2\n\
                      setp.lt.u32 p0, r0, 9\n @p0 bra skip\n st.global.u32 [x + r1], r0\n\
                      skip:\n st.global.u32 [x + r1 + 4], r0\n";
        assert!(checks(branch, Dim3::x(64), true).is_none());
        let bar = ".kernel k\n.param x buf\n mov.u32 r0, %gid\n shl.u64 r1, r0, 2\n\
                   st.global.u32 [x + r1], r0\n bar.sync\n";
        assert!(checks(bar, Dim3::x(64), true).is_none());
    }
}
