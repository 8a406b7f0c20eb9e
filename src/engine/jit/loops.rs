//! Loops that provably end, and a bound on the steps a lane can take: a
//! kernel whose bound fits the launch's step budget needs no step counting
//! at all (`codegen::counts_steps`).
//!
//! The loops recognized are the tree reductions' halving loops, the form of
//! `for (s = n / 2; s > 0; s >>= 1)`: a strongly connected part of the
//! control-flow graph with
//!
//! - a *test* block on every cycle (the part without it has no cycle) that
//!   leaves the loop exactly when a register `r` is zero
//!   (`setp.eq r, 0` + `@p bra out`, or `setp.ne` + `@!p bra out`, or the
//!   branch staying inside and the fall-through leaving), and
//! - on every cycle a block that halves `r` (the part without such blocks
//!   has no cycle), where every write of `r` inside the loop is an
//!   unguarded logical right shift of `r` by a constant amount that is not
//!   0 modulo the type's width.
//!
//! Also recognized: *count-down* loops, `mov r, v` in the entry block and
//! one `sub r, r, 1` on every cycle of a loop that leaves when `r` is zero
//! (see `countdown_trips`): at most `v + 2` trips.
//!
//! Each shift at least halves `r`'s value (the result is its type's width
//! or narrower, zero-extended), so after 64 shifts `r` is zero; between two
//! visits of the test block a lane passes at least one shift, so it sees
//! the test at most 65 times, and each trip from one visit to the next runs
//! every block of the loop at most once (a second visit of a block would
//! close a cycle without the test). A lane runs a loop's instructions at
//! most `66 x` its length (the path in, the 65 trips), and since loops are
//! strongly connected components, it enters each loop at most once and
//! every block outside loops at most once.

use crate::kernel::flow::written_reg;
use crate::kernel::{ArithOp, BitOp, CmpOp, Instr, Op, Reg, Src};

use super::analysis::BasicBlock;

/// Visits of a halving loop's test block, plus the path in: see the module
/// docs.
const HALVING_TRIPS: u64 = 66;

/// The most steps a lane can take, when every loop is one this module
/// proves finite; `None` otherwise.
pub(super) fn step_bound(
    instrs: &[Instr],
    blocks: &[BasicBlock],
    succs: &[[Option<usize>; 2]],
) -> Option<u64> {
    let comp = components(succs);
    let count = comp.iter().copied().max().map_or(0, |m| m + 1);
    let mut members = vec![Vec::new(); count];
    for (b, &c) in comp.iter().enumerate() {
        members[c].push(b);
    }
    let mut total = 0u64;
    for m in &members {
        let len: u64 = m.iter().map(|&b| blocks[b].len()).sum();
        let cyclic = m.len() > 1 || succs[m[0]].iter().flatten().any(|&s| s == m[0]);
        let trips = if cyclic {
            loop_trips(instrs, blocks, succs, m, &comp)?
        } else {
            1
        };
        total = total.checked_add(len.checked_mul(trips)?)?;
    }
    Some(total)
}

/// The most visits of the test block, plus one for the path in, when the
/// loop made of blocks `m` is a halving loop ([`HALVING_TRIPS`]) or a
/// count-down loop.
fn loop_trips(
    instrs: &[Instr],
    blocks: &[BasicBlock],
    succs: &[[Option<usize>; 2]],
    m: &[usize],
    comp: &[usize],
) -> Option<u64> {
    let inside = |b: Option<usize>| b.is_some_and(|b| comp[b] == comp[m[0]]);
    for &t in m {
        let Some(r) = zero_test(instrs, &blocks[t], succs[t], inside) else {
            continue;
        };
        if !acyclic_without(m, &[t], succs) {
            continue;
        }
        let mut shifts = Vec::new();
        let mut others = Vec::new();
        for &b in m {
            for i in &instrs[blocks[b].start..blocks[b].end] {
                if written_reg(&i.op).is_some_and(|(d, _)| d == r) {
                    if halves(i, r) {
                        shifts.push(b);
                    } else {
                        others.push((b, i));
                    }
                }
            }
        }
        if others.is_empty() && acyclic_without(m, &shifts, succs) {
            return Some(HALVING_TRIPS);
        }
        if let ([(d, i)], []) = (&others[..], &shifts[..]) {
            if let Some(trips) = countdown_trips(instrs, blocks, m, r, i) {
                if acyclic_without(m, &[*d], succs) {
                    return Some(trips);
                }
            }
        }
    }
    None
}

/// A *count-down* loop: the loop's only write of `r` is `i`, an unguarded
/// `sub r, r, 1`, on every cycle once (the caller checks that the loop
/// without its block has no cycle; without the test block none either, so
/// it runs exactly once between two tests: `r` meets zero, never wraps past
/// it), and `r`'s only other write is an unguarded `mov r, v` in the entry
/// block (before any loop) with `v` not zero in the subtraction's width.
/// The test then sees at most `v + 1` values: `v + 2` with the path in.
fn countdown_trips(
    instrs: &[Instr],
    blocks: &[BasicBlock],
    m: &[usize],
    r: Reg,
    i: &Instr,
) -> Option<u64> {
    let Op::Arith {
        op: ArithOp::Sub,
        ty,
        d,
        a: Src::Reg(a),
        b: Src::Imm(1),
    } = i.op
    else {
        return None;
    };
    if i.guard.is_some() || !ty.is_int() || d != r || a != r {
        return None;
    }
    let entry = blocks.first()?;
    if m.contains(&0) {
        return None;
    }
    let in_loop = |pc: usize| {
        m.iter()
            .any(|&b| (blocks[b].start..blocks[b].end).contains(&pc))
    };
    let mut outside = instrs
        .iter()
        .enumerate()
        .filter(|(pc, w)| !in_loop(*pc) && written_reg(&w.op).is_some_and(|(d, _)| d == r));
    let (Some((pc, w)), None) = (outside.next(), outside.next()) else {
        return None;
    };
    let Op::Mov { a: Src::Imm(v), .. } = w.op else {
        return None;
    };
    let bits = ty.bits();
    let v = if bits == 64 {
        v
    } else {
        v & ((1u64 << bits) - 1)
    };
    (w.guard.is_none() && pc < entry.end && v != 0).then(|| v.saturating_add(2))
}

/// The register `r` when block `b` ends in a branch that leaves the loop
/// exactly when `r` is zero, tested by an unguarded `setp` in the block.
fn zero_test(
    instrs: &[Instr],
    b: &BasicBlock,
    succs: [Option<usize>; 2],
    inside: impl Fn(Option<usize>) -> bool,
) -> Option<Reg> {
    let last = &instrs[b.end - 1];
    let (Op::Bra { .. }, Some(g)) = (last.op, last.guard) else {
        return None;
    };
    // succs: [target, fall-through]. The guard true takes the target.
    let leave_when_true = match (inside(succs[0]), inside(succs[1])) {
        (false, true) => true,
        (true, false) => false,
        _ => return None,
    };
    // The predicate's last write before the branch, in this block.
    let body = &instrs[b.start..b.end - 1];
    let set = body.iter().rposition(|i| writes_pred(&i.op, g.pred))?;
    let i = &body[set];
    let Op::Setp {
        cmp, ty, a, b: c, ..
    } = i.op
    else {
        return None;
    };
    if i.guard.is_some() || !ty.is_int() {
        return None;
    }
    let r = match (a, c) {
        (Src::Reg(r), Src::Imm(0)) | (Src::Imm(0), Src::Reg(r)) => r,
        _ => return None,
    };
    // Leaves when (p != negated) == leave_when_true; p is `r == 0` for eq.
    let p_is_zero = match cmp {
        CmpOp::Eq => true,
        CmpOp::Ne => false,
        _ => return None,
    };
    ((p_is_zero != g.negated) == leave_when_true).then_some(r)
}

/// Whether `op` writes predicate `p`.
pub(super) fn writes_pred(op: &Op, p: u8) -> bool {
    match *op {
        Op::Setp { p: d, .. } | Op::PredLogic { d, .. } | Op::PredNot { d, .. } => d == p,
        _ => false,
    }
}

/// `i` is `shr.uN r, r, c` with `c mod N != 0`, unguarded.
fn halves(i: &Instr, r: Reg) -> bool {
    match i.op {
        Op::Bit {
            op: BitOp::Shr,
            ty,
            d,
            a: Src::Reg(a),
            b: Src::Imm(c),
        } => {
            let ty = ty.scalar();
            i.guard.is_none()
                && d == r
                && a == r
                && !ty.is_signed_int()
                && c % u64::from(ty.bits()) != 0
        }
        _ => false,
    }
}

/// Whether the blocks `m` less `removed` have no cycle (Kahn's algorithm
/// on the edges between them).
fn acyclic_without(m: &[usize], removed: &[usize], succs: &[[Option<usize>; 2]]) -> bool {
    let keep: Vec<usize> = m.iter().copied().filter(|b| !removed.contains(b)).collect();
    let kept = |b: usize| keep.contains(&b);
    let mut indeg: Vec<usize> = keep
        .iter()
        .map(|&x| {
            keep.iter()
                .map(|&y| succs[y].iter().flatten().filter(|&&s| s == x).count())
                .sum()
        })
        .collect();
    let mut ready: Vec<usize> = (0..keep.len()).filter(|&i| indeg[i] == 0).collect();
    let mut done = 0;
    while let Some(i) = ready.pop() {
        done += 1;
        for s in succs[keep[i]]
            .iter()
            .flatten()
            .copied()
            .filter(|&s| kept(s))
        {
            let j = keep.iter().position(|&b| b == s).unwrap_or(i);
            indeg[j] -= 1;
            if indeg[j] == 0 {
                ready.push(j);
            }
        }
    }
    done == keep.len()
}

/// The strongly connected component of each block (Kosaraju's algorithm,
/// iterative).
fn components(succs: &[[Option<usize>; 2]]) -> Vec<usize> {
    let n = succs.len();
    let mut order = Vec::with_capacity(n);
    let mut seen = vec![false; n];
    for root in 0..n {
        if seen[root] {
            continue;
        }
        seen[root] = true;
        let mut stack = vec![(root, 0usize)];
        while let Some(&mut (x, ref mut next)) = stack.last_mut() {
            if let Some(s) = succs[x].get(*next).copied() {
                *next += 1;
                if let Some(s) = s.filter(|&s| !seen[s]) {
                    seen[s] = true;
                    stack.push((s, 0));
                }
            } else {
                order.push(x);
                stack.pop();
            }
        }
    }
    let mut preds = vec![Vec::new(); n];
    for (x, ss) in succs.iter().enumerate() {
        for s in ss.iter().flatten() {
            preds[*s].push(x);
        }
    }
    let mut comp = vec![usize::MAX; n];
    let mut c = 0;
    for &root in order.iter().rev() {
        if comp[root] != usize::MAX {
            continue;
        }
        let mut stack = vec![root];
        comp[root] = c;
        while let Some(x) = stack.pop() {
            for &p in &preds[x] {
                if comp[p] == usize::MAX {
                    comp[p] = c;
                    stack.push(p);
                }
            }
        }
        c += 1;
    }
    comp
}

#[cfg(test)]
mod tests {
    use super::super::analysis::Analysis;

    fn bound(src: &str) -> Option<u64> {
        let p = crate::compile("t.lasm", src).unwrap();
        Analysis::new(&p.kernels[0]).step_bound
    }

    const REDUCTION: &str = ".kernel k\n.param n u32\n mov.u32 r5, n\nloop:\n\
        setp.eq.u32 p1, r5, 0\n @p1 bra done\n setp.lt.u32 p2, %tid.x, r5\n\
        @!p2 bra skip\n add.u32 r6, r6, 1\nskip:\n bar.sync\n shr.u32 r5, r5, 1\n\
        bra loop\ndone:\n mov.u32 r7, r6\n";

    #[test]
    fn halving_loops_are_bounded_and_straight_code_counts_once() {
        assert_eq!(
            bound(".kernel k\n mov.u32 r0, 1\n add.u32 r0, r0, 1\n"),
            Some(2)
        );
        // 1 instruction before, 8 in the loop (66 trips), 1 after.
        assert_eq!(bound(REDUCTION), Some(1 + 66 * 8 + 1));
        // The same loop written with `setp.ne` and the branch staying in.
        let ne = ".kernel k\n.param n u32\n mov.u32 r5, n\nloop:\n shr.u32 r5, r5, 3\n\
                  setp.ne.u32 p1, r5, 0\n @p1 bra loop\n";
        assert_eq!(bound(ne), Some(1 + 66 * 3));
    }

    /// The reductions' gather loop (`src/ops/reduce.lasm`): eight trips
    /// counted down, a data-dependent exit besides.
    const GATHER: &str = ".kernel k\n.param n u32\n mov.u32 r4, 8\n mov.u32 r2, %tid.x\n\
        g:\n setp.ge.u32 p0, r2, n\n @p0 bra t\n add.u32 r2, r2, 256\n\
        sub.u32 r4, r4, 1\n setp.ne.u32 p1, r4, 0\n @p1 bra g\nt:\n mov.u32 r5, r2\n";

    #[test]
    fn count_down_loops_are_bounded_by_their_start() {
        // 2 instructions before, 6 in the loop (8 + 2 visits), 1 after.
        assert_eq!(bound(GATHER), Some(2 + 10 * 6 + 1));
        let cases = [
            // Starting at zero, the first subtraction wraps: 2^32 trips.
            GATHER.replace("mov.u32 r4, 8", "mov.u32 r4, 0"),
            // By two, it may step over zero.
            GATHER.replace("sub.u32 r4, r4, 1", "sub.u32 r4, r4, 2"),
            // Two subtractions a trip: the same.
            GATHER.replace("sub.u32 r4, r4, 1", "sub.u32 r4, r4, 1\n sub.u32 r4, r4, 1"),
            // A start that is not known.
            GATHER.replace("mov.u32 r4, 8", "mov.u32 r4, n"),
            // A guarded start.
            GATHER.replace("mov.u32 r4, 8", "@p3 mov.u32 r4, 8"),
            // A way around the loop that does not count down.
            GATHER.replace("add.u32 r2, r2, 256", "add.u32 r2, r2, 256\n @p1 bra g"),
            // A way around the test's block that skips the subtraction.
            GATHER.replace("sub.u32 r4, r4, 1\n", "@p2 bra c\n sub.u32 r4, r4, 1\nc:\n"),
            // The start set again after the loop began (in another block).
            GATHER.replace("t:\n", "t:\n mov.u32 r4, 3\n"),
        ];
        for src in &cases {
            assert_eq!(bound(src), None, "{src}");
        }
        // The start counts in the subtraction's width: 2^32 + 8 as u32 is 8.
        let wide = GATHER.replace("mov.u32 r4, 8", "mov.u64 r4, 0x100000008");
        assert_eq!(bound(&wide), Some(2 + 10 * 6 + 1));
    }

    #[test]
    fn loops_that_may_not_end_have_no_bound() {
        let cases = [
            // Counting up to a parameter: 2^32 trips.
            REDUCTION.replace("shr.u32 r5, r5, 1", "add.u32 r5, r5, 1"),
            // An arithmetic shift of a negative value never reaches zero.
            REDUCTION.replace("shr.u32 r5, r5, 1", "shr.i32 r5, r5, 1"),
            // A shift by the width is a shift by 0.
            REDUCTION.replace("shr.u32 r5, r5, 1", "shr.u32 r5, r5, 32"),
            // A guarded shift may not run.
            REDUCTION.replace("shr.u32 r5, r5, 1", "@p2 shr.u32 r5, r5, 1"),
            // Another write of the register.
            REDUCTION.replace("add.u32 r6, r6, 1", "add.u32 r5, r5, 1"),
            // The test leaves when the register is not zero.
            REDUCTION.replace("setp.eq.u32 p1, r5, 0", "setp.ne.u32 p1, r5, 0"),
            // An inner cycle without the test.
            REDUCTION.replace("@!p2 bra skip", "@!p2 bra skip\ninner:\n @p2 bra inner"),
            // A path around the loop without the shift.
            REDUCTION.replace("@!p2 bra skip", "@!p2 bra loop"),
            // Tested against 1, not 0.
            REDUCTION.replace("setp.eq.u32 p1, r5, 0", "setp.eq.u32 p1, r5, 1"),
        ];
        for src in &cases {
            assert_eq!(bound(src), None, "{src}");
        }
    }
}
