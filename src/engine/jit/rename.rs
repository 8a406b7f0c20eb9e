//! Register renaming: each web of a register (its writes that reach a
//! common read, with those reads) gets a register of its own, so that the
//! analyses that give one answer per register (how it is held, its gang
//! shape, its range) see one value's life at a time. Kernels reuse
//! registers freely (`mov r0, %ctaid.x` / `mul r0, r0, %ntid.x` /
//! `add r0, r0, %tid.x`: uniform, uniform, then affine); without this the
//! three writes join to "varying" and the gang tier computes the column of
//! every lane of a matrix product as a vector.
//!
//! Renaming keeps the program's meaning exactly: a new register's writes
//! precede all its reads on every path, so its initial zero is never read,
//! and the web that can read a register's initial zero keeps the register.
//! Instruction indices, source lines and everything a fault reports are
//! unchanged. The JIT runs (and, near the step limit, interprets) the
//! renamed kernel only; the other engines never see it.

use crate::engine::jit::analysis::Analysis;
use crate::kernel::flow::for_each_reg;
use crate::kernel::{Instr, Kernel, NUM_REGS};

/// Registers with more writes than this keep their webs together (a
/// bitmask of writes per register and block keeps the pass cheap).
const MAX_DEFS: usize = 63;

/// `kernel` with its registers renamed, one per web where registers are
/// free (`an` is the original kernel's analysis).
pub(super) fn rename(kernel: &Kernel, an: &Analysis) -> Kernel {
    // Each instruction's register operands, once: `(register, written)`.
    let operands: Vec<Vec<(u8, bool)>> = kernel
        .instrs
        .iter()
        .map(|i| {
            let mut op = i.op;
            let mut v = Vec::new();
            for_each_reg(&mut op, &mut |r, w| v.push((*r, w)));
            v
        })
        .collect();
    let mut used = [false; NUM_REGS];
    for &r in &an.regs {
        used[r as usize] = true;
    }
    let mut free = (0..NUM_REGS)
        .rev()
        .filter(|&r| !used[r])
        .collect::<Vec<_>>();
    // Per register: its webs and each web's name.
    let mut plan: Vec<Option<(Webs, Vec<u8>)>> = (0..NUM_REGS).map(|_| None).collect();
    for &r in &an.regs {
        let Some(webs) = webs(&kernel.instrs, &operands, an, r) else {
            continue;
        };
        // Web 0 holds the initial value: it keeps the register.
        let mut name = vec![r; webs.count];
        for n in name.iter_mut().skip(1) {
            match free.pop() {
                Some(f) => *n = f as u8,
                None => break,
            }
        }
        plan[r as usize] = Some((webs, name));
    }
    let mut instrs = kernel.instrs.clone();
    for (pc, i) in instrs.iter_mut().enumerate() {
        for_each_reg(&mut i.op, &mut |x, written| {
            if let Some((webs, name)) = &plan[*x as usize] {
                let web = if written {
                    webs.wrote[pc]
                } else {
                    webs.read[pc]
                };
                if let Some(w) = web {
                    *x = name[w];
                }
            }
        });
    }
    Kernel {
        name: kernel.name.clone(),
        params: kernel.params.clone(),
        shared_bytes: kernel.shared_bytes,
        instrs,
        lines: kernel.lines.clone(),
        buffer_slots: kernel.buffer_slots,
        scalar_slots: kernel.scalar_slots,
        derived: Default::default(),
    }
}

/// The webs of one register.
struct Webs {
    count: usize,
    /// Per instruction: the web of the register it reads, if it does.
    read: Vec<Option<usize>>,
    /// Per instruction: the web of the register it writes, if it does.
    wrote: Vec<Option<usize>>,
}

/// The webs of register `r`, `None` when it has one web or too many writes
/// to rename.
fn webs(instrs: &[Instr], operands: &[Vec<(u8, bool)>], an: &Analysis, r: u8) -> Option<Webs> {
    // Definitions: 0 is the initial value, then each write in order.
    let mut def_at = vec![None; instrs.len()];
    let mut defs = 1;
    let writes = |pc: usize| operands[pc].iter().any(|&(x, w)| w && x == r);
    let reads = |pc: usize| operands[pc].iter().any(|&(x, w)| !w && x == r);
    for (pc, d) in def_at.iter_mut().enumerate() {
        if writes(pc) {
            if defs > MAX_DEFS {
                return None;
            }
            *d = Some(defs);
            defs += 1;
        }
    }
    if defs <= 2 {
        return None; // one write (and maybe the initial value): nothing to split
    }
    // Reaching definitions per block entry, as bitmasks.
    let n = an.blocks.len();
    let mut entry = vec![0u64; n];
    if n > 0 {
        entry[0] = 1;
    }
    let through = |b: usize, mut set: u64| -> u64 {
        let bb = &an.blocks[b];
        for pc in bb.start..bb.end {
            if let Some(d) = def_at[pc] {
                if instrs[pc].guard.is_some() {
                    set |= 1 << d;
                } else {
                    set = 1 << d;
                }
            }
        }
        set
    };
    loop {
        let mut changed = false;
        for b in 0..n {
            let out = through(b, entry[b]);
            for s in an.succs[b].into_iter().flatten() {
                if entry[s] | out != entry[s] {
                    entry[s] |= out;
                    changed = true;
                }
            }
        }
        if !changed {
            break;
        }
    }
    // Union the definitions that reach a common read.
    let mut parent: Vec<usize> = (0..defs).collect();
    fn find(p: &mut [usize], mut x: usize) -> usize {
        while p[x] != x {
            p[x] = p[p[x]];
            x = p[x];
        }
        x
    }
    let mut reaching = vec![0u64; instrs.len()];
    for (bb, &start) in an.blocks.iter().zip(&entry) {
        let mut set = start;
        for pc in bb.start..bb.end {
            if reads(pc) {
                reaching[pc] = set;
                let first = set.trailing_zeros() as usize;
                let mut rest = set;
                while rest != 0 {
                    let d = rest.trailing_zeros() as usize;
                    rest &= rest - 1;
                    let (a, c) = (find(&mut parent, first), find(&mut parent, d));
                    parent[c.max(a)] = c.min(a);
                }
            }
            if let Some(d) = def_at[pc] {
                // A guarded write keeps the old value in lanes that skip
                // it: both reach on.
                set = if instrs[pc].guard.is_some() {
                    set | 1 << d
                } else {
                    1 << d
                };
            }
        }
    }
    // Number the webs, the initial value's first when something reads it
    // (it keeps the register); an unread initial value is no web.
    let initial_read = reaching.iter().any(|&set| set & 1 != 0);
    let mut web_of = vec![usize::MAX; defs];
    let mut count = 0;
    for d in usize::from(!initial_read)..defs {
        let root = find(&mut parent, d);
        if web_of[root] == usize::MAX {
            web_of[root] = count;
            count += 1;
        }
        web_of[d] = web_of[root];
    }
    if count < 2 {
        return None;
    }
    let read = (0..instrs.len())
        .map(|pc| {
            let set = reaching[pc];
            (set != 0).then(|| web_of[set.trailing_zeros() as usize])
        })
        .collect();
    let wrote = def_at.iter().map(|d| d.map(|d| web_of[d])).collect();
    Some(Webs { count, read, wrote })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn renamed(src: &str) -> Kernel {
        let p = crate::compile("t.lasm", src).unwrap();
        let k = &p.kernels[0];
        rename(k, &Analysis::new(k))
    }

    fn regs_of(k: &Kernel, pc: usize) -> Vec<(u8, bool)> {
        let mut op = k.instrs[pc].op;
        let mut v = Vec::new();
        for_each_reg(&mut op, &mut |r, w| v.push((*r, w)));
        v
    }

    #[test]
    fn a_reused_register_gets_a_register_per_web() {
        let k = renamed(
            ".kernel k\n.param x buf\n\
             mov.u32 r0, %ctaid.x\n mul.u32 r0, r0, %ntid.x\n add.u32 r0, r0, %tid.x\n\
             shl.u64 r1, r0, 2\n st.global.u32 [x + r1], r0\n",
        );
        let (a, b, c) = (regs_of(&k, 0)[0].0, regs_of(&k, 1), regs_of(&k, 2));
        // Each write starts a web read only by the next instruction.
        assert_eq!(b, vec![(a, false), (b[1].0, true)]);
        assert_eq!(c[0], (b[1].0, false));
        let names = [a, b[1].0, c[1].0];
        assert!(names[0] != names[1] && names[1] != names[2] && names[0] != names[2]);
        // The last web's readers follow it.
        assert_eq!(regs_of(&k, 3)[0], (names[2], false));
        assert_eq!(regs_of(&k, 4)[1], (names[2], false));
    }

    #[test]
    fn writes_that_meet_at_a_read_stay_one_register() {
        // A loop counter (initial write and increment reach the same
        // compare) and a guarded write (the old value reaches on) keep
        // their register.
        let src = ".kernel k\n.param x buf\n\
             mov.u32 r0, 0\n loop:\n add.u32 r0, r0, 1\n setp.lt.u32 p0, r0, 8\n @p0 bra loop\n\
             mov.u32 r1, 5\n setp.eq.u32 p1, r0, 8\n @p1 mov.u32 r1, 7\n\
             shl.u64 r2, r1, 2\n st.global.u32 [x + r2], r0\n";
        let p = crate::compile("t.lasm", src).unwrap();
        let k = &p.kernels[0];
        let r = rename(k, &Analysis::new(k));
        assert_eq!(r.instrs, k.instrs);
    }
}
