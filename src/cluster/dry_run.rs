//! The dry run: the partition and the bytes each rank would send and
//! receive, for any number of ranks, computed by the same planner the
//! distributed runtime uses, without MPI.

use std::fmt::Write as _;

use super::access::Resolved;
use super::plan::{LaunchPlan, Movement, PlannedBuffer, Planner, Transfer, volume};
use super::ranges::{block_bytes, show};

/// A buffer argument of the launch under study.
#[derive(Clone, Debug)]
pub struct DryBuffer {
    /// The parameter's name.
    pub name: String,
    /// Its length in bytes.
    pub len: u64,
    /// The checked declaration.
    pub resolved: Resolved,
}

/// What to simulate: `launches` launches of one kernel (the first one, and
/// the steady state after it), then a read of each buffer in `saved` on
/// rank 0.
#[derive(Clone, Debug)]
pub struct DryRun {
    /// The kernel's name.
    pub kernel: String,
    /// Blocks in the grid.
    pub grid_blocks: u64,
    /// The buffer arguments, in slot order.
    pub buffers: Vec<DryBuffer>,
    /// How many launches (at least 1).
    pub launches: u64,
    /// Slots of the buffers read on rank 0 after the launches.
    pub saved: Vec<usize>,
    /// When written data moves.
    pub movement: Movement,
}

/// The bytes one phase moves.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PhaseVolume {
    /// All bytes sent.
    pub total: u64,
    /// The most any rank sends.
    pub max_sent: u64,
    /// The most any rank receives.
    pub max_received: u64,
    /// Per rank `(sent, received)`.
    pub per_rank: Vec<(u64, u64)>,
}

impl PhaseVolume {
    fn of<'a>(ranks: u32, transfers: impl Iterator<Item = &'a Transfer>) -> PhaseVolume {
        let per_rank = volume(ranks, transfers);
        PhaseVolume {
            total: per_rank.iter().map(|v| v.0).sum(),
            max_sent: per_rank.iter().map(|v| v.0).max().unwrap_or(0),
            max_received: per_rank.iter().map(|v| v.1).max().unwrap_or(0),
            per_rank,
        }
    }
}

/// The dry run's result for one number of ranks.
#[derive(Clone, Debug)]
pub struct DryRunResult {
    /// Ranks.
    pub ranks: u32,
    /// The first launch's plan.
    pub first: LaunchPlan,
    /// Bytes moved by the first launch.
    pub first_volume: PhaseVolume,
    /// Bytes moved by the second launch, when there is one (later launches
    /// move the same).
    pub steady_volume: Option<PhaseVolume>,
    /// Bytes moved to give rank 0 the saved buffers.
    pub save_volume: PhaseVolume,
}

impl DryRun {
    /// Plans the launches for `ranks` ranks.
    pub fn plan(&self, ranks: u32) -> DryRunResult {
        let mut planner: Planner<usize> = Planner::new(ranks, self.movement);
        let buffers: Vec<PlannedBuffer<usize>> = self
            .buffers
            .iter()
            .enumerate()
            .map(|(i, b)| PlannedBuffer {
                key: i,
                len: b.len,
                resolved: b.resolved,
            })
            .collect();
        let first = planner.launch(self.grid_blocks, &buffers);
        let first_volume = PhaseVolume::of(ranks, first.transfers());
        let mut steady_volume = None;
        for _ in 1..self.launches.clamp(1, 3) {
            let plan = planner.launch(self.grid_blocks, &buffers);
            steady_volume = Some(PhaseVolume::of(ranks, plan.transfers()));
        }
        let mut saves = Vec::new();
        for &slot in &self.saved {
            if let Some(b) = self.buffers.get(slot) {
                saves.extend(planner.gather(slot, b.len, Some(0)));
            }
        }
        DryRunResult {
            ranks,
            first_volume,
            steady_volume,
            save_volume: PhaseVolume::of(ranks, saves.iter()),
            first,
        }
    }

    /// The report for one number of ranks: every rank's blocks, ranges and
    /// bytes (the first 32 ranks and the last, for more).
    pub fn detail(&self, ranks: u32) -> String {
        let r = self.plan(ranks);
        let mut out = String::new();
        let movement = match self.movement {
            Movement::Lazy => "lazy",
            Movement::Eager => "eager",
        };
        let _ = writeln!(
            out,
            "dry run: kernel `{}`, {} blocks on {ranks} rank{} ({movement} movement)",
            self.kernel,
            self.grid_blocks,
            if ranks == 1 { "" } else { "s" },
        );
        for b in &self.buffers {
            let _ = writeln!(
                out,
                "  buffer `{}`: {} bytes, {}",
                b.name, b.len, b.resolved.access
            );
        }
        let shown: Vec<usize> = (0..ranks as usize)
            .filter(|&i| i < 32 || i + 1 == ranks as usize)
            .collect();
        let _ = writeln!(out, "launch 1:");
        for &i in &shown {
            let blocks = &r.first.blocks[i];
            let _ = write!(
                out,
                "  rank {i}: blocks {}..{} ({})",
                blocks.start,
                blocks.end,
                blocks.end - blocks.start
            );
            for b in &self.buffers {
                let a = b.resolved.access;
                if a.is_partitioned() {
                    let own = block_bytes(&a, blocks, b.len, false);
                    let read = block_bytes(&a, blocks, b.len, true);
                    let _ = write!(out, "; `{}` bytes {}", b.name, show(&own, 4));
                    if read != own {
                        let _ = write!(out, " (reads {})", show(&read, 4));
                    }
                }
            }
            let (sent, received) = r.first_volume.per_rank[i];
            let _ = writeln!(out, "; sends {sent} B, receives {received} B");
        }
        if shown.len() < ranks as usize {
            let _ = writeln!(out, "  ({} more ranks)", ranks as usize - shown.len());
        }
        let _ = writeln!(out, "{}", summary_line(&r));
        out
    }
}

fn phase(name: &str, v: &PhaseVolume) -> String {
    format!(
        "{name} {} B (max per rank: sends {} B, receives {} B)",
        v.total, v.max_sent, v.max_received
    )
}

/// One line: the volumes of the first launch, a later launch and the saves.
pub fn summary_line(r: &DryRunResult) -> String {
    let mut line = format!(
        "ranks {}: {}",
        r.ranks,
        phase("launch 1 moves", &r.first_volume)
    );
    if let Some(s) = &r.steady_volume {
        line.push_str(&format!("; {}", phase("each later launch", s)));
    }
    line.push_str(&format!("; {}", phase("saves to rank 0", &r.save_volume)));
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::{Access, ReduceOp};
    use crate::types::AtomType;

    fn buffer(name: &str, len: u64, access: Access, written: bool) -> DryBuffer {
        DryBuffer {
            name: name.to_string(),
            len,
            resolved: Resolved {
                access,
                reduce_type: Some(AtomType::U32),
                loaded: true,
                written,
            },
        }
    }

    #[test]
    fn vector_add_moves_only_the_saved_result() {
        let n = 1 << 20;
        let run = DryRun {
            kernel: "vector_add".to_string(),
            grid_blocks: n / 256,
            buffers: vec![
                buffer("a", n * 4, Access::blocks(256, 4), false),
                buffer("b", n * 4, Access::blocks(256, 4), false),
                buffer("c", n * 4, Access::blocks(256, 4), true),
            ],
            launches: 3,
            saved: vec![2],
            movement: Movement::Lazy,
        };
        for ranks in [1, 2, 3, 1024] {
            let r = run.plan(ranks);
            assert_eq!(r.first_volume.total, 0);
            assert_eq!(r.steady_volume.as_ref().map(|v| v.total), Some(0));
            // Rank 0 receives everything but its own part.
            let own = r.first.blocks[0].end * 256 * 4;
            assert_eq!(r.save_volume.total, n * 4 - own);
            assert_eq!(r.save_volume.max_received, n * 4 - own);
        }
        let text = run.detail(2);
        assert!(text.contains("rank 1: blocks 2048..4096 (2048)"), "{text}");
        assert!(text.contains("`c` bytes 2097152..4194304"), "{text}");
    }

    #[test]
    fn a_repeated_stencil_moves_its_halos_every_launch() {
        // In-place is not allowed (it reads its neighbours' writes), so a
        // stencil ping-pongs: here `x` is read with a halo and written.
        let run = DryRun {
            kernel: "smooth".to_string(),
            grid_blocks: 64,
            buffers: vec![buffer(
                "x",
                64 * 64 * 4,
                Access::blocks(64, 4).with_halo(2),
                true,
            )],
            launches: 2,
            saved: vec![],
            movement: Movement::Lazy,
        };
        let r = run.plan(4);
        assert_eq!(r.first_volume.total, 0);
        // 3 boundaries, 2 elements of 4 bytes each way.
        assert_eq!(r.steady_volume.unwrap().total, 3 * 2 * 2 * 4);
    }

    #[test]
    fn a_histogram_reduces_along_a_tree() {
        let run = DryRun {
            kernel: "hist".to_string(),
            grid_blocks: 16,
            buffers: vec![
                buffer("x", 4096, Access::blocks(64, 4), false),
                buffer("h", 1024, Access::Reduce(ReduceOp::Add), true),
            ],
            launches: 1,
            saved: vec![1],
            movement: Movement::Lazy,
        };
        for ranks in [2u32, 8, 1024] {
            let r = run.plan(ranks);
            // Every rank but 0 sends its partial once.
            assert_eq!(r.first_volume.total, (ranks as u64 - 1) * 1024);
            // Rank 0 receives one partial per tree level.
            assert_eq!(
                r.first_volume.max_received,
                ranks.ilog2() as u64 * 1024,
                "{ranks}"
            );
            // The result is on rank 0 already.
            assert_eq!(r.save_volume.total, 0);
        }
    }
}
