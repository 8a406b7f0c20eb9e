//! What multi-launch programs would move between ranks, for 2 to 1024
//! ranks, planned without MPI by the planner every rank of a
//! `lanes::cluster::Cluster` runs (`lanes run --dry-run-ranks` plans one
//! kernel; these are sequences of them).
//!
//! The stencil is `smooth` of `tests/cluster.rs` ping-ponging between two
//! buffers of `N` f32 (blocks of 256, a halo of 1): each launch reads the
//! previous one's output; the 2-D stencil is `blur2d` on a square array of
//! about `N` f32 in tiles of 32 x 8 (`tiles:32x8:SIDE:halo=1`). The pipeline is the one `tests/cluster.rs` runs under `mpirun` (with
//! `N` elements instead of 5000): `scale` (y = 3x + 1, partitioned), `hist`
//! (a histogram of y with `reduce:add`, a float sum and a `reduce:min`),
//! `norm` (z from y and the whole histogram), `total` (block 0 sums the
//! histogram, `one:0`), twice, then every buffer is read on every rank.
//!
//! ```sh
//! cargo run --release --example cluster_plan            # N = 16M
//! cargo run --release --example cluster_plan -- 5000
//! ```

use lanes::cluster::{Access, Movement, PlannedBuffer, Planner, ReduceOp, Resolved, volume};
use lanes::types::AtomType;

fn buffer(key: u8, len: u64, access: Access, written: bool, loaded: bool) -> PlannedBuffer<u8> {
    let reduce_type = match key {
        SUM => Some(AtomType::F32),
        _ => Some(AtomType::U32),
    };
    PlannedBuffer {
        key,
        len,
        resolved: Resolved {
            access,
            reduce_type,
            loaded,
            written,
        },
    }
}

const X: u8 = 0;
const Y: u8 = 1;
const Z: u8 = 2;
const HIST: u8 = 3;
const SUM: u8 = 4;
const LOW: u8 = 5;
const TOTAL: u8 = 6;

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1 << 24);
    stencil(n);
    stencil_2d(n);
    let bins = 11u64;
    let part = Access::blocks(100, 4);
    let blocks = n.div_ceil(100);
    println!("pipeline over {n} elements ({blocks} blocks of 100), {bins} bins, lazy movement");
    // Bytes moved by each launch of the second round, by reading every
    // buffer afterwards, and the most one rank sent or received in the two
    // rounds of launches.
    println!("ranks     scale      hist      norm     total   read all   max/rank");
    for ranks in [2u32, 4, 8, 16, 64, 256, 1024] {
        let mut p: Planner<u8> = Planner::new(ranks, Movement::Lazy);
        let mut moved = Vec::new();
        let mut per_rank = vec![(0u64, 0u64); ranks as usize];
        for _round in 0..2 {
            moved.clear();
            let launches: [(u64, Vec<PlannedBuffer<u8>>); 4] = [
                (
                    blocks,
                    vec![
                        buffer(X, n * 4, part, false, true),
                        buffer(Y, n * 4, part, true, false),
                    ],
                ),
                (
                    n.div_ceil(128),
                    vec![
                        buffer(Y, n * 4, Access::blocks(128, 4), false, true),
                        buffer(HIST, bins * 4, Access::Reduce(ReduceOp::Add), true, false),
                        buffer(SUM, 4, Access::Reduce(ReduceOp::Add), true, false),
                        buffer(LOW, 4, Access::Reduce(ReduceOp::Min), true, false),
                    ],
                ),
                (
                    blocks,
                    vec![
                        buffer(Y, n * 4, part, false, true),
                        buffer(HIST, bins * 4, Access::All, false, true),
                        buffer(Z, n * 4, part, true, false),
                    ],
                ),
                (
                    4,
                    vec![
                        buffer(HIST, bins * 4, Access::All, false, true),
                        buffer(TOTAL, 4, Access::One { block: 0 }, true, false),
                    ],
                ),
            ];
            for (grid, buffers) in &launches {
                let plan = p.launch(*grid, buffers);
                let v = volume(ranks, plan.transfers());
                for (acc, x) in per_rank.iter_mut().zip(&v) {
                    acc.0 += x.0;
                    acc.1 += x.1;
                }
                moved.push(v.iter().map(|x| x.0).sum::<u64>());
            }
        }
        let mut read_all = 0;
        for (key, len) in [
            (Y, n * 4),
            (Z, n * 4),
            (HIST, bins * 4),
            (LOW, 4),
            (TOTAL, 4),
        ] {
            let t = p.gather(key, len, None);
            read_all += t.iter().map(|t| t.bytes.end - t.bytes.start).sum::<u64>();
        }
        let max = per_rank.iter().map(|x| x.0.max(x.1)).max().unwrap_or(0);
        println!(
            "{ranks:>5} {:>9} {:>9} {:>9} {:>9} {read_all:>10} {max:>10}",
            moved[0], moved[1], moved[2], moved[3]
        );
    }
}

/// The 2-D stencil `blur2d` of `tests/cluster.rs` ping-ponging on a
/// square array of about `n` f32 (4096 x 4096 for 16M), tiles of 32 x 8,
/// a halo of one row and column: a rank's part is whole tile rows plus a
/// part of one tile row at each end, so it exchanges the rows at its top
/// and bottom (and, where it ends inside a tile row, a few columns).
fn stencil_2d(n: u64) {
    let side = (n as f64).sqrt() as u64;
    let (w, h) = (32u64, 8u64);
    let read = Access::tiles(w, h, side, 4).with_halo(1);
    let write = Access::tiles(w, h, side, 4);
    let blocks = side.div_ceil(w) * side.div_ceil(h);
    println!(
        "2-D stencil over {side} x {side} f32 ({blocks} tiles of {w} x {h}), halo 1, lazy movement"
    );
    ping_pong(blocks, side * side * 4, read, write);
}

/// Ping-pong smoothing: launch k reads buffer k % 2 with a halo of one
/// element and writes the other.
fn stencil(n: u64) {
    let read = Access::blocks(256, 4).with_halo(1);
    let write = Access::blocks(256, 4);
    println!(
        "stencil over {n} f32 ({} blocks of 256), halo 1, lazy movement",
        n.div_ceil(256)
    );
    ping_pong(n.div_ceil(256), n * 4, read, write);
}

/// Four launches of `blocks` blocks, each reading one of two buffers of
/// `bytes` bytes (`read`) and writing the other (`write`), planned for 2
/// to 1024 ranks: bytes moved by the first and by a later launch, and the
/// most one rank sends or receives per launch.
fn ping_pong(blocks: u64, bytes: u64, read: Access, write: Access) {
    println!("ranks  launch 1  each later launch  max/rank per launch");
    for ranks in [2u32, 4, 8, 16, 64, 256, 1024] {
        let mut p: Planner<u8> = Planner::new(ranks, Movement::Lazy);
        let mut moved = Vec::new();
        let mut max = 0;
        for step in 0..4u8 {
            let (from, to) = (step % 2, 1 - step % 2);
            let plan = p.launch(
                blocks,
                &[
                    buffer(from, bytes, read, false, true),
                    buffer(to, bytes, write, true, false),
                ],
            );
            let v = volume(ranks, plan.transfers());
            moved.push(v.iter().map(|x| x.0).sum::<u64>());
            max = v.iter().map(|x| x.0.max(x.1)).max().unwrap_or(0);
        }
        println!("{ranks:>5} {:>9} {:>18} {max:>20}", moved[0], moved[3]);
    }
    println!();
}
