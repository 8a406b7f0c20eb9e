//! Which rank runs which blocks, which rank holds an up-to-date copy of
//! which bytes of each buffer, and the transfers a launch needs: the whole
//! plan, computed the same way on every rank (and by the dry run) without
//! any communication.
//!
//! Every buffer starts replicated (each rank made it the same way). A
//! launch first fetches, for each rank, the bytes its blocks may read that
//! it does not hold; after it, the bytes a rank wrote are held by that rank
//! alone. With [`Movement::Eager`] every written buffer is then copied back
//! to every rank (the simple scheme: each rank holds everything after each
//! launch); with [`Movement::Lazy`] bytes move only when a later launch or
//! a host read needs them.

use std::collections::HashMap;
use std::hash::Hash;
use std::ops::Range;

use super::access::{Access, Resolved};
use super::ranges::block_bytes;

/// When written data moves.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Movement {
    /// Only when a later launch (or a host read) needs it.
    #[default]
    Lazy,
    /// Right after each launch, to every rank.
    Eager,
}

impl std::str::FromStr for Movement {
    type Err = String;
    fn from_str(s: &str) -> Result<Movement, String> {
        match s {
            "lazy" => Ok(Movement::Lazy),
            "eager" => Ok(Movement::Eager),
            other => Err(format!(
                "unknown movement `{other}` (expected lazy or eager)"
            )),
        }
    }
}

/// The linear blocks each of `ranks` ranks runs: contiguous, in rank order,
/// sizes differing by at most one.
pub fn partition(blocks: u64, ranks: u32) -> Vec<Range<u64>> {
    let p = ranks.max(1) as u128;
    let at = |r: u128| (blocks as u128 * r / p) as u64;
    (0..p).map(|r| at(r)..at(r + 1)).collect()
}

/// The rank whose range holds block `b`.
pub fn owner_of(ranges: &[Range<u64>], b: u64) -> u32 {
    ranges.iter().position(|r| r.contains(&b)).unwrap_or(0) as u32
}

/// Copy `bytes` of the buffer at launch position `buffer` from rank `from`
/// to rank `to`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transfer {
    /// Index into the launch's distinct buffers.
    pub buffer: usize,
    /// Sending rank.
    pub from: u32,
    /// Receiving rank.
    pub to: u32,
    /// Byte range.
    pub bytes: Range<u64>,
}

/// Who holds an up-to-date copy of a byte range.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Holders {
    All,
    /// Sorted, distinct.
    Ranks(Vec<u32>),
}

impl Holders {
    fn has(&self, rank: u32) -> bool {
        match self {
            Holders::All => true,
            Holders::Ranks(r) => r.binary_search(&rank).is_ok(),
        }
    }
}

/// The holders of every byte of one buffer: segments covering `0..len`.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Validity {
    len: u64,
    /// `(start, holders)`, sorted by start; segment i ends where i+1 starts.
    segs: Vec<(u64, Holders)>,
}

impl Validity {
    fn new(len: u64) -> Validity {
        Validity {
            len,
            segs: vec![(0, Holders::All)],
        }
    }

    fn end_of(&self, i: usize) -> u64 {
        self.segs.get(i + 1).map_or(self.len, |s| s.0)
    }

    /// Splits so that a segment starts at `at` (if inside the buffer).
    fn split_at(&mut self, at: u64) {
        if at == 0 || at >= self.len {
            return;
        }
        let i = self.segs.partition_point(|s| s.0 <= at) - 1;
        if self.segs[i].0 != at {
            let h = self.segs[i].1.clone();
            self.segs.insert(i + 1, (at, h));
        }
    }

    /// Applies `f` to the holders of `range`, then merges equal neighbours.
    fn update(&mut self, range: Range<u64>, mut f: impl FnMut(&mut Holders)) {
        let range = range.start.min(self.len)..range.end.min(self.len);
        if range.is_empty() {
            return;
        }
        self.split_at(range.start);
        self.split_at(range.end);
        for s in self.segs.iter_mut() {
            if s.0 >= range.start && s.0 < range.end {
                f(&mut s.1);
            }
        }
        self.segs.dedup_by(|b, a| a.1 == b.1);
    }

    fn set(&mut self, range: Range<u64>, holders: Holders) {
        self.update(range, |h| *h = holders.clone());
    }

    fn add(&mut self, range: Range<u64>, rank: u32) {
        self.update(range, |h| {
            if let Holders::Ranks(r) = h
                && let Err(at) = r.binary_search(&rank)
            {
                r.insert(at, rank);
            }
        });
    }

    /// The parts of `range` that `rank` does not hold, each with the rank
    /// to fetch it from (the lowest holder).
    fn missing(&self, rank: u32, range: Range<u64>) -> Vec<(Range<u64>, u32)> {
        let range = range.start.min(self.len)..range.end.min(self.len);
        let mut out: Vec<(Range<u64>, u32)> = Vec::new();
        for (i, (start, holders)) in self.segs.iter().enumerate() {
            let seg = (*start).max(range.start)..self.end_of(i).min(range.end);
            if seg.is_empty() || holders.has(rank) {
                continue;
            }
            let Holders::Ranks(r) = holders else { continue };
            let Some(&from) = r.first() else { continue };
            match out.last_mut() {
                Some((last, f)) if *f == from && last.end == seg.start => last.end = seg.end,
                _ => out.push((seg, from)),
            }
        }
        out
    }

    fn replicated(&self) -> bool {
        self.segs.len() == 1 && self.segs[0].1 == Holders::All
    }
}

/// One buffer of a launch, as the planner sees it.
#[derive(Clone, Copy, Debug)]
pub struct PlannedBuffer<K> {
    /// The buffer's identity (the same buffer bound twice appears once).
    pub key: K,
    /// Its length in bytes.
    pub len: u64,
    /// What the launch does with it.
    pub resolved: Resolved,
}

/// What one launch moves.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LaunchPlan {
    /// Each rank's linear blocks.
    pub blocks: Vec<Range<u64>>,
    /// Fetches before the launch.
    pub before: Vec<Transfer>,
    /// The reduction: one list per step of the combining tree (each
    /// receiver combines what it gets with its own partial result, lower
    /// rank on the left); rank 0 ends with the total.
    pub reduce: Vec<Vec<Transfer>>,
    /// Copies after the launch ([`Movement::Eager`]).
    pub after: Vec<Transfer>,
}

impl LaunchPlan {
    /// Every transfer of the plan.
    pub fn transfers(&self) -> impl Iterator<Item = &Transfer> {
        self.before
            .iter()
            .chain(self.reduce.iter().flatten())
            .chain(self.after.iter())
    }
}

/// What a rank needs of a buffer: (launch position, key, length, rank,
/// byte ranges).
type Need<K> = (usize, K, u64, u32, Vec<Range<u64>>);

/// The plan's state: who holds what, for every buffer seen so far.
#[derive(Debug)]
pub struct Planner<K> {
    ranks: u32,
    movement: Movement,
    buffers: HashMap<K, Validity>,
}

impl<K: Copy + Eq + Hash> Planner<K> {
    /// A planner for `ranks` ranks.
    pub fn new(ranks: u32, movement: Movement) -> Planner<K> {
        Planner {
            ranks: ranks.max(1),
            movement,
            buffers: HashMap::new(),
        }
    }

    /// The number of ranks.
    pub fn ranks(&self) -> u32 {
        self.ranks
    }

    fn validity(&mut self, key: K, len: u64) -> &mut Validity {
        let v = self
            .buffers
            .entry(key)
            .or_insert_with(|| Validity::new(len));
        if v.len != len {
            *v = Validity::new(len);
        }
        v
    }

    /// Every rank wrote the same bytes into `range` of `key` (a host write).
    pub fn host_wrote(&mut self, key: K, len: u64, range: Range<u64>) {
        self.validity(key, len).set(range, Holders::All);
    }

    /// Forgets a freed buffer.
    pub fn forget(&mut self, key: K) {
        self.buffers.remove(&key);
    }

    /// Whether every rank holds all of `key`.
    pub fn is_replicated(&self, key: K) -> bool {
        self.buffers.get(&key).is_none_or(Validity::replicated)
    }

    /// The transfers that give each rank the byte ranges it needs:
    /// `(launch position, key, len, rank, range)`. Sources are the holders
    /// before any of these transfers (they all happen at once, so a rank
    /// cannot pass on what it is receiving).
    fn fetch_all(&mut self, needs: &[Need<K>]) -> Vec<Transfer> {
        let mut before: HashMap<K, Validity> = HashMap::new();
        let mut out = Vec::new();
        for (index, key, len, to, ranges) in needs {
            let snapshot = match before.get(key) {
                Some(v) => v,
                None => {
                    let v = self.validity(*key, *len).clone();
                    before.entry(*key).or_insert(v)
                }
            };
            let missing: Vec<(Range<u64>, u32)> = ranges
                .iter()
                .flat_map(|r| snapshot.missing(*to, r.clone()))
                .collect();
            let live = self.validity(*key, *len);
            for (bytes, from) in missing {
                live.add(bytes.clone(), *to);
                out.push(Transfer {
                    buffer: *index,
                    from,
                    to: *to,
                    bytes,
                });
            }
        }
        out
    }

    /// A host read of `key`: the transfers that give all of it to rank
    /// `to` (`None`: to every rank).
    pub fn gather(&mut self, key: K, len: u64, to: Option<u32>) -> Vec<Transfer> {
        let ranks: Vec<u32> = match to {
            Some(r) => vec![r],
            None => (0..self.ranks).collect(),
        };
        let needs: Vec<_> = ranks
            .into_iter()
            .map(|r| (0, key, len, r, vec![0..len]))
            .collect();
        let out = self.fetch_all(&needs);
        if to.is_none() {
            self.validity(key, len).set(0..len, Holders::All);
        }
        out
    }

    /// The plan of a launch over `grid_blocks` blocks with these buffers,
    /// and the state after it.
    pub fn launch(&mut self, grid_blocks: u64, buffers: &[PlannedBuffer<K>]) -> LaunchPlan {
        let ranges = partition(grid_blocks, self.ranks);
        let mut plan = LaunchPlan {
            blocks: ranges.clone(),
            ..LaunchPlan::default()
        };
        // Reads.
        let mut needs = Vec::new();
        for (i, b) in buffers.iter().enumerate() {
            for (r, blocks) in ranges.iter().enumerate() {
                let r = r as u32;
                let need = match b.resolved.access {
                    Access::Reduce(_) if r == 0 => vec![0..b.len],
                    Access::Reduce(_) => Vec::new(),
                    _ if blocks.is_empty() => Vec::new(),
                    ref a @ (Access::Blocks { .. } | Access::Tiles { .. }) => {
                        block_bytes(a, blocks, b.len, true)
                    }
                    Access::All | Access::One { .. } => vec![0..b.len],
                };
                needs.push((i, b.key, b.len, r, need));
            }
        }
        plan.before = self.fetch_all(&needs);
        // Writes.
        for (i, b) in buffers.iter().enumerate() {
            match b.resolved.access {
                Access::All => {}
                Access::Blocks { .. } | Access::Tiles { .. } if !b.resolved.written => {}
                ref a @ (Access::Blocks { .. } | Access::Tiles { .. }) => {
                    for (r, blocks) in ranges.iter().enumerate() {
                        for own in block_bytes(a, blocks, b.len, false) {
                            self.validity(b.key, b.len)
                                .set(own, Holders::Ranks(vec![r as u32]));
                        }
                    }
                }
                Access::Reduce(_) => {
                    if b.resolved.reduce_type.is_some() {
                        for step in reduce_tree(self.ranks) {
                            plan.reduce.push(
                                step.into_iter()
                                    .map(|(from, to)| Transfer {
                                        buffer: i,
                                        from,
                                        to,
                                        bytes: 0..b.len,
                                    })
                                    .collect(),
                            );
                        }
                        self.validity(b.key, b.len)
                            .set(0..b.len, Holders::Ranks(vec![0]));
                    }
                }
                Access::One { .. } if !b.resolved.written => {}
                Access::One { block } => {
                    let owner = owner_of(&ranges, block);
                    self.validity(b.key, b.len)
                        .set(0..b.len, Holders::Ranks(vec![owner]));
                }
            }
        }
        if self.movement == Movement::Eager {
            let needs: Vec<_> = buffers
                .iter()
                .enumerate()
                .flat_map(|(i, b)| {
                    (0..self.ranks).map(move |r| (i, b.key, b.len, r, vec![0..b.len]))
                })
                .collect();
            plan.after = self.fetch_all(&needs);
            for b in buffers {
                self.validity(b.key, b.len).set(0..b.len, Holders::All);
            }
        }
        plan
    }
}

/// The combining tree of a reduction over `ranks` ranks: at step `s`
/// (1, 2, 4, ...) rank `r + s` sends to rank `r` for every `r` that is a
/// multiple of `2s`. The tree depends only on the number of ranks, so the
/// order floating-point partials are added in is fixed.
pub fn reduce_tree(ranks: u32) -> Vec<Vec<(u32, u32)>> {
    let mut steps = Vec::new();
    let mut s = 1u32;
    while s < ranks {
        let step: Vec<(u32, u32)> = (0..ranks)
            .step_by(2 * s as usize)
            .filter(|r| r + s < ranks)
            .map(|r| (r + s, r))
            .collect();
        steps.push(step);
        s = s.saturating_mul(2);
    }
    steps
}

/// Bytes each rank sends and receives in `transfers`: `(sent, received)`
/// per rank.
pub fn volume<'a>(ranks: u32, transfers: impl Iterator<Item = &'a Transfer>) -> Vec<(u64, u64)> {
    let mut v = vec![(0u64, 0u64); ranks as usize];
    for t in transfers {
        let n = t.bytes.end - t.bytes.start;
        if let Some(s) = v.get_mut(t.from as usize) {
            s.0 += n;
        }
        if let Some(r) = v.get_mut(t.to as usize) {
            r.1 += n;
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::super::access::ReduceOp;
    use super::*;

    fn res(access: Access) -> Resolved {
        Resolved {
            access,
            reduce_type: Some(crate::types::AtomType::U32),
            loaded: true,
            written: true,
        }
    }

    fn read_only(access: Access) -> Resolved {
        Resolved {
            written: false,
            ..res(access)
        }
    }

    #[test]
    fn partition_is_contiguous_and_balanced() {
        for (blocks, ranks) in [
            (0, 3),
            (1, 4),
            (10, 3),
            (1 << 40, 1024),
            (7, 7),
            (u64::MAX, 5),
        ] {
            let p = partition(blocks, ranks);
            assert_eq!(p.len(), ranks as usize);
            assert_eq!(p[0].start, 0);
            assert_eq!(p[ranks as usize - 1].end, blocks);
            for w in p.windows(2) {
                assert_eq!(w[0].end, w[1].start);
            }
            let sizes: Vec<u64> = p.iter().map(|r| r.end - r.start).collect();
            let (lo, hi) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
            assert!(hi - lo <= 1, "{sizes:?}");
        }
        assert_eq!(partition(10, 3), vec![0..3, 3..6, 6..10]);
        assert_eq!(owner_of(&partition(10, 3), 5), 1);
    }

    #[test]
    fn a_stencil_fetches_only_its_halo_after_the_first_launch() {
        // 4 blocks of 8 f32 elements, halo 1, 2 ranks, lazy.
        let mut p: Planner<u8> = Planner::new(2, Movement::Lazy);
        let x = PlannedBuffer {
            key: 0,
            len: 128,
            resolved: res(Access::blocks(8, 4).with_halo(1)),
        };
        let y = PlannedBuffer {
            key: 1,
            len: 128,
            resolved: res(Access::blocks(8, 4)),
        };
        // Launch 1 reads x (replicated: nothing moves), writes y.
        let x_read = PlannedBuffer {
            resolved: res(Access::All),
            ..x
        };
        let first = p.launch(4, &[x_read, y]);
        assert_eq!(first.blocks, vec![0..2, 2..4]);
        assert!(first.transfers().next().is_none());
        assert!(!p.is_replicated(1));
        // Launch 2 reads y with a halo of one element: each rank fetches
        // the neighbour's element next to its range.
        let y_halo = PlannedBuffer {
            resolved: read_only(Access::blocks(8, 4).with_halo(1)),
            ..y
        };
        let second = p.launch(4, &[y_halo, x]);
        assert_eq!(
            second.before,
            vec![
                Transfer {
                    buffer: 0,
                    from: 1,
                    to: 0,
                    bytes: 64..68
                },
                Transfer {
                    buffer: 0,
                    from: 0,
                    to: 1,
                    bytes: 60..64
                },
            ]
        );
        // The same launch again: the halos moved already, nothing was
        // written to y since.
        let y_read = PlannedBuffer {
            resolved: res(Access::All),
            ..y
        };
        let third = p.launch(4, &[y_read]);
        // Reading all of y: each rank fetches the other half, minus the
        // halo element it already holds.
        assert_eq!(volume(2, third.transfers()), vec![(60, 60), (60, 60)]);
        // A host read to rank 0 only: nothing left to move to it.
        assert!(p.gather(1, 128, Some(0)).is_empty());
    }

    #[test]
    fn eager_movement_replicates_after_every_launch() {
        let mut p: Planner<u8> = Planner::new(4, Movement::Eager);
        let c = PlannedBuffer {
            key: 0,
            len: 4000,
            resolved: res(Access::blocks(250, 4)),
        };
        let plan = p.launch(4, &[c]);
        assert!(plan.before.is_empty());
        // Each rank sends its 1000 bytes to 3 others and receives 3000.
        assert_eq!(volume(4, plan.after.iter()), vec![(3000, 3000); 4]);
        assert!(p.is_replicated(0));
    }

    #[test]
    fn a_reduction_combines_along_a_fixed_tree_and_rank_0_holds_it() {
        assert_eq!(reduce_tree(1), Vec::<Vec<(u32, u32)>>::new());
        assert_eq!(
            reduce_tree(5),
            vec![vec![(1, 0), (3, 2)], vec![(2, 0)], vec![(4, 0)]]
        );
        let mut p: Planner<u8> = Planner::new(5, Movement::Lazy);
        let h = PlannedBuffer {
            key: 0,
            len: 40,
            resolved: res(Access::Reduce(ReduceOp::Add)),
        };
        let plan = p.launch(8, &[h]);
        assert!(plan.before.is_empty());
        let v = volume(5, plan.transfers());
        assert_eq!(v[0], (0, 120));
        assert_eq!(v[4], (40, 0));
        // Everyone else must fetch the result from rank 0.
        let g = p.gather(0, 40, None);
        assert_eq!(g.len(), 4);
        assert!(g.iter().all(|t| t.from == 0));
        assert!(p.is_replicated(0));
    }

    #[test]
    fn one_writer_buffers_belong_to_the_rank_of_their_block() {
        let mut p: Planner<u8> = Planner::new(3, Movement::Lazy);
        let flag = PlannedBuffer {
            key: 0,
            len: 8,
            resolved: res(Access::One { block: 7 }),
        };
        p.launch(9, &[flag]);
        let g = p.gather(0, 8, Some(0));
        assert_eq!(
            g,
            vec![Transfer {
                buffer: 0,
                from: 2,
                to: 0,
                bytes: 0..8
            }]
        );
    }

    #[test]
    fn a_rank_never_forwards_what_it_receives_in_the_same_exchange() {
        let mut p: Planner<u8> = Planner::new(3, Movement::Lazy);
        let c = PlannedBuffer {
            key: 0,
            len: 300,
            resolved: res(Access::blocks(100, 1)),
        };
        p.launch(3, &[c]);
        let g = p.gather(0, 300, None);
        assert_eq!(g.len(), 6);
        for t in &g {
            // Rank r wrote bytes r*100..(r+1)*100 and is their only source.
            assert_eq!(t.from as u64, t.bytes.start / 100, "{t:?}");
        }
        assert!(p.is_replicated(0));
    }

    #[test]
    fn ranks_without_blocks_fetch_nothing() {
        let mut p: Planner<u8> = Planner::new(4, Movement::Lazy);
        let x = PlannedBuffer {
            key: 0,
            len: 64,
            resolved: res(Access::blocks(16, 4).with_halo(2)),
        };
        p.launch(1, &[x]);
        let plan = p.launch(1, &[x]);
        // One block: rank 3 runs it (partition(1, 4) gives it to the last
        // rank) and already holds what it wrote.
        assert_eq!(plan.blocks[3], 0..1);
        assert!(plan.before.is_empty());
    }
}
