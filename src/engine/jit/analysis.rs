//! What the code generator needs to know about a kernel before it emits
//! anything: basic blocks, back edges, how each register is held, which
//! registers and predicates are live where, and what crosses a barrier.

use crate::kernel::flow::{StorageSet, for_each_use, pred_id, successors, written_reg};
use crate::kernel::{Instr, Kernel, NUM_PREDS, NUM_REGS, Op, Reg};
use crate::types::ScalarType;

/// How the generated code holds a register: the machine type of its
/// variable, and how a value of that type maps to the 64-bit register
/// contents of docs/LANGUAGE.md section 3. A register is written by instructions of
/// some result types; when all of them agree on a narrow form, the register
/// lives in that form and a 64-bit reader extends it (the initial zero fits
/// every form).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    /// 64-bit integer: the contents themselves.
    I64,
    /// 32-bit integer, zero-extended (`u8 u16 u32` results).
    I32Zero,
    /// 32-bit integer, sign-extended (`i8 i16 i32` results).
    I32Sign,
    /// `f32` bits, zero-extended.
    F32,
    /// `f64` bits.
    F64,
}

impl Kind {
    /// The form a result of type `ty` is written in.
    pub(super) fn of(ty: ScalarType) -> Kind {
        match ty {
            ScalarType::U8 | ScalarType::U16 | ScalarType::U32 => Kind::I32Zero,
            ScalarType::I8 | ScalarType::I16 | ScalarType::I32 => Kind::I32Sign,
            ScalarType::F32 => Kind::F32,
            ScalarType::F64 => Kind::F64,
            ScalarType::U64 | ScalarType::I64 => Kind::I64,
        }
    }

    /// A form that holds both `self`'s and `other`'s values exactly.
    fn join(self, other: Kind) -> Kind {
        match (self, other) {
            (a, b) if a == b => a,
            (Kind::F32, Kind::I32Zero) | (Kind::I32Zero, Kind::F32) => Kind::I32Zero,
            _ => Kind::I64,
        }
    }
}

/// A maximal run of instructions entered only at its first and left only
/// after its last: every `bra`, `exit` and `bar.sync` (guarded or not) ends
/// one, and every branch target starts one. A lane that enters a block
/// therefore runs its instructions in order until the last one, unless one
/// of them faults: the step limit is checked once per block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct BasicBlock {
    /// First instruction.
    pub start: usize,
    /// One past the last instruction.
    pub end: usize,
}

impl BasicBlock {
    /// Instructions in the block: the steps a lane takes through it.
    pub fn len(&self) -> u64 {
        (self.end - self.start) as u64
    }
}

/// The analysis of one kernel.
#[derive(Debug)]
pub(super) struct Analysis {
    /// Basic blocks in program order.
    pub blocks: Vec<BasicBlock>,
    /// `block_at[pc]`: the block starting at `pc` (for leaders; `usize::MAX`
    /// elsewhere). `block_at[len]` is unused: a jump there ends the lane.
    pub block_at: Vec<usize>,
    /// How each register is held.
    pub kinds: [Kind; NUM_REGS],
    /// Registers the kernel reads or writes, ascending.
    pub regs: Vec<Reg>,
    /// Predicates the kernel reads or writes, ascending.
    pub preds: Vec<u8>,
    /// `live_in[b]`: registers and predicates some path from block `b`'s
    /// start reads before writing.
    pub live_in: Vec<StorageSet>,
    /// What some block's entry has live: the union of `live_in`. The rest
    /// are temporaries of one block each.
    pub live_anywhere: StorageSet,
    /// The `bar.sync` instructions; resume point `k + 1` is just after
    /// `barriers[k]` (resume point 0 is the kernel's start).
    pub barriers: Vec<usize>,
    /// Registers live just after some barrier: they cross it in the
    /// worker's per-lane spill area, slot `i` holding `spilled[i]`.
    pub spilled: Vec<Reg>,
    /// Predicates live just after some barrier (spilled as one bit mask).
    pub spilled_preds: Vec<u8>,
    /// Some branch goes backwards (the kernel may loop).
    pub loops: bool,
    /// The most steps a lane can take, when every loop provably ends
    /// (`loops`).
    pub step_bound: Option<u64>,
    /// Per block: the blocks a lane may go to next (none past the end).
    pub succs: Vec<[Option<usize>; 2]>,
}

impl Analysis {
    /// Analyses `kernel`.
    pub fn new(kernel: &Kernel) -> Analysis {
        let instrs = &kernel.instrs;
        let n = instrs.len();

        // Leaders: the entry, branch targets, and whatever follows an
        // instruction that may leave the straight path.
        let mut leader = vec![false; n + 1];
        leader[0] = true;
        // The end closes the last block.
        leader[n] = true;
        let mut loops = false;
        for (pc, i) in instrs.iter().enumerate() {
            match i.op {
                Op::Bra { target } => {
                    leader[target as usize] = true;
                    leader[pc + 1] = true;
                    loops |= target as usize <= pc;
                }
                Op::Exit | Op::Bar => leader[pc + 1] = true,
                _ => {}
            }
        }
        let mut blocks = Vec::new();
        let mut block_at = vec![usize::MAX; n + 1];
        let mut start = 0;
        for (pc, &starts) in leader.iter().enumerate().skip(1) {
            if starts {
                if start < pc {
                    block_at[start] = blocks.len();
                    blocks.push(BasicBlock { start, end: pc });
                }
                start = pc;
            }
        }

        let mut kinds: [Option<Kind>; NUM_REGS] = [None; NUM_REGS];
        let mut used = StorageSet::EMPTY;
        for i in instrs {
            if let Some((d, ty)) = written_reg(&i.op) {
                let k = &mut kinds[d as usize];
                *k = Some(k.map_or(Kind::of(ty), |k| k.join(Kind::of(ty))));
            }
            for_each_use(i, &mut |id, _| used.insert(id));
        }
        let kinds = kinds.map(|k| k.unwrap_or(Kind::I64));
        let regs: Vec<Reg> = (0..=255u8).filter(|&r| used.contains(r as u16)).collect();
        let preds: Vec<u8> = (0..NUM_PREDS as u8)
            .filter(|&p| used.contains(pred_id(p)))
            .collect();

        let succs: Vec<[Option<usize>; 2]> = blocks
            .iter()
            .map(|b| {
                let last = b.end - 1;
                successors(&instrs[last], last).map(|pc| {
                    pc.and_then(|pc| block_at.get(pc).copied().filter(|&s| s != usize::MAX))
                })
            })
            .collect();
        let live_in = liveness(instrs, &blocks, &succs);
        let barriers: Vec<usize> = instrs
            .iter()
            .enumerate()
            .filter(|(_, i)| matches!(i.op, Op::Bar))
            .map(|(pc, _)| pc)
            .collect();
        let mut after_barrier = StorageSet::EMPTY;
        for &pc in &barriers {
            if let Some(&b) = block_at.get(pc + 1).filter(|&&b| b != usize::MAX) {
                after_barrier.union(&live_in[b]);
            }
        }
        let mut live_anywhere = StorageSet::EMPTY;
        for l in &live_in {
            live_anywhere.union(l);
        }
        let spilled = regs
            .iter()
            .copied()
            .filter(|&r| after_barrier.contains(r as u16))
            .collect();
        let spilled_preds = preds
            .iter()
            .copied()
            .filter(|&p| after_barrier.contains(pred_id(p)))
            .collect();
        let step_bound = super::loops::step_bound(instrs, &blocks, &succs);
        Analysis {
            step_bound,
            blocks,
            block_at,
            kinds,
            regs,
            preds,
            live_in,
            live_anywhere,
            barriers,
            spilled,
            spilled_preds,
            loops,
            succs,
        }
    }

    /// The block that starts at `pc`, or `None` when `pc` is the end of the
    /// program (the lane exits).
    pub fn block_starting(&self, pc: usize) -> Option<usize> {
        self.block_at.get(pc).copied().filter(|&b| b != usize::MAX)
    }

    /// The basic block that holds instruction `pc` (`None` past the end).
    pub fn block_of(&self, pc: usize) -> Option<usize> {
        self.blocks.iter().position(|b| b.start <= pc && pc < b.end)
    }

    /// Whether block `b` ends at a `bar.sync`.
    pub fn ends_at_barrier(&self, b: usize) -> bool {
        self.barriers
            .binary_search(&(self.blocks[b].end - 1))
            .is_ok()
    }
}

/// What is live just before instruction `pc` runs (its own reads
/// included): the liveness of `an` carried back from the end of `pc`'s
/// basic block.
pub(super) fn live_before(kernel: &Kernel, an: &Analysis, pc: usize) -> StorageSet {
    let bi = an
        .block_of(pc)
        .expect("every instruction lies in a basic block");
    let mut live = StorageSet::EMPTY;
    for s in an.succs[bi].iter().flatten().copied() {
        live.union(&an.live_in[s]);
    }
    for i in kernel.instrs[pc..an.blocks[bi].end].iter().rev() {
        if i.guard.is_none() {
            for_each_use(i, &mut |id, w| {
                if w {
                    live.remove(id);
                }
            });
        }
        for_each_use(i, &mut |id, w| {
            if !w {
                live.insert(id);
            }
        });
    }
    live
}

/// Backward liveness over basic blocks. A guarded write may leave the old
/// value in place, so it does not end the old value's life.
fn liveness(
    instrs: &[Instr],
    blocks: &[BasicBlock],
    succs: &[[Option<usize>; 2]],
) -> Vec<StorageSet> {
    // Per block: what it reads before writing (gen), what it surely
    // writes (kill).
    let mut gen_kill = Vec::with_capacity(blocks.len());
    for b in blocks {
        let (mut g, mut k) = (StorageSet::EMPTY, StorageSet::EMPTY);
        for i in &instrs[b.start..b.end] {
            for_each_use(i, &mut |id, w| {
                if !w && !k.contains(id) {
                    g.insert(id);
                }
            });
            if i.guard.is_none() {
                for_each_use(i, &mut |id, w| {
                    if w {
                        k.insert(id);
                    }
                });
            }
        }
        gen_kill.push((g, k));
    }
    let mut live_in = vec![StorageSet::EMPTY; blocks.len()];
    let mut changed = true;
    while changed {
        changed = false;
        for bi in (0..blocks.len()).rev() {
            let mut out = StorageSet::EMPTY;
            for s in succs[bi].iter().flatten().copied() {
                out.union(&live_in[s]);
            }
            let (g, k) = &gen_kill[bi];
            out.subtract(k);
            out.union(g);
            if out != live_in[bi] {
                live_in[bi] = out;
                changed = true;
            }
        }
    }
    live_in
}

#[cfg(test)]
mod tests {
    use super::*;

    fn analyse(src: &str) -> Analysis {
        let p = crate::compile("t.lasm", src).unwrap();
        Analysis::new(&p.kernels[0])
    }

    #[test]
    fn blocks_end_at_control_and_start_at_targets() {
        let a = analyse(
            ".kernel k\n mov.u32 r0, 1\nl: add.u32 r0, r0, 1\n setp.lt.u32 p0, r0, 9\n\
             @p0 bra l\n @p0 exit\n bar.sync\n mov.u32 r1, r0\n",
        );
        let spans: Vec<(usize, usize)> = a.blocks.iter().map(|b| (b.start, b.end)).collect();
        assert_eq!(spans, [(0, 1), (1, 4), (4, 5), (5, 6), (6, 7)]);
        assert!(a.loops);
        assert_eq!(a.barriers, [5]);
        // r0 is read after the barrier; p0 is not.
        assert_eq!(a.spilled, [0]);
        assert!(a.spilled_preds.is_empty());
    }

    #[test]
    fn kinds_follow_every_write() {
        let a = analyse(
            ".kernel k\n.param x buf\n ld.global.f32 r0, [x]\n mov.u32 r1, 1\n\
             mov.f32 r1, 1.0\n mov.i32 r2, -1\n mov.u32 r2, 1\n mov.f64 r3, 1.0\n\
             add.i16 r4, r4, 1\n",
        );
        assert_eq!(a.kinds[0], Kind::F32);
        assert_eq!(a.kinds[1], Kind::I32Zero);
        assert_eq!(a.kinds[2], Kind::I64);
        assert_eq!(a.kinds[3], Kind::F64);
        assert_eq!(a.kinds[4], Kind::I32Sign);
        assert_eq!(a.regs, [0, 1, 2, 3, 4]);
        assert!(!a.loops);
    }

    #[test]
    fn live_before_an_instruction_counts_its_reads_and_what_follows() {
        let src = ".kernel k\n.param x buf\n mov.u32 r0, 1\n mov.u32 r1, 2\n\
                   add.u32 r2, r0, r1\n @p0 mov.u32 r2, 7\n st.global.u32 [x], r2\n";
        let p = crate::compile("t.lasm", src).unwrap();
        let (k, a) = (&p.kernels[0], Analysis::new(&p.kernels[0]));
        let live = |pc| {
            let l = live_before(k, &a, pc);
            let mut ids: Vec<u16> = (0..300).filter(|&i| l.contains(i)).collect();
            ids.sort();
            ids
        };
        let p0 = pred_id(0);
        // Before the add: its operands (r2 is written unguarded there).
        assert_eq!(live(2), [0, 1, p0]);
        // Before the guarded write: r2's old value too (p0 may be false).
        assert_eq!(live(3), [2, p0]);
        assert_eq!(live(4), [2]);
        // The start of the kernel: only what is read before written.
        assert_eq!(live(0), [p0]);
    }

    #[test]
    fn guarded_writes_keep_old_values_alive() {
        // r0 is live into the guarded write's block: where p0 is false the
        // old (zero) value is stored.
        let a = analyse(
            ".kernel k\n.param x buf\n setp.eq.u32 p0, %tid.x, 0\n bar.sync\n\
             @p0 mov.u32 r0, 5\n st.global.u32 [x], r0\n",
        );
        assert_eq!(a.spilled, [0]);
        assert_eq!(a.spilled_preds, [0]);
    }
}
