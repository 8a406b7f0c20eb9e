//! Barriers (inside loops, with divergent lanes, early exits, 2-D and 3-D
//! blocks), shared-memory reductions and scans, and atomics from many lanes
//! on one address in global and shared memory, all checked against plain
//! Rust, on every engine.

mod common;

use common::*;
use lanes::{Arg, Dim3, Runtime};

/// A lane's pseudo-random value.
fn mix(i: u64) -> u64 {
    let mut x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    x ^= x >> 29;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^ (x >> 32)
}

const LANES_PER_BLOCK: &str =
    "    mov.u32 r1, %ntid.x\n    mul.u32 r1, r1, %ntid.y\n    mul.u32 r1, r1, %ntid.z\n";

/// Rounds with two barriers each; lane `i` runs `trips[i]` rounds (0: it
/// exits at once) and reads its neighbour's slot each round.
fn rounds_kernel() -> String {
    format!(
        ".kernel rounds\n.param trips buf\n.param out buf\n.shared 4096\n\
         mov.u32 r0, %laneid\n{LANES_PER_BLOCK}\
         shl.u64 r2, r0, 2\n\
         ld.global.u32 r3, [trips + r2]\n\
         mov.u64 r9, %gid\n    shl.u64 r9, r9, 3\n\
         setp.eq.u32 p1, r3, 0\n\
         @p1 st.global.u64 [out + r9], 0xFFFF\n\
         @p1 exit\n\
         add.u32 r4, r0, 1\n    rem.u32 r4, r4, r1\n    shl.u64 r4, r4, 2\n\
         mov.u32 r5, 0\n    mov.u64 r6, 0\n\
         loop:\n\
         setp.ge.u32 p0, r5, r3\n    @p0 bra done\n\
         mul.u32 r7, r0, 100\n    add.u32 r7, r7, r5\n    st.shared.u32 [r2], r7\n\
         bar.sync\n\
         ld.shared.u32 r8, [r4]\n    add.u64 r6, r6, r8\n\
         bar.sync\n\
         add.u32 r5, r5, 1\n    bra loop\n\
         done:\n\
         st.global.u64 [out + r9], r6\n"
    )
}

fn rounds_model(trips: &[u32]) -> Vec<u64> {
    let n = trips.len();
    (0..n)
        .map(|i| {
            if trips[i] == 0 {
                return 0xFFFF;
            }
            let j = (i + 1) % n;
            (0..trips[i])
                .map(|r| {
                    if r < trips[j] {
                        j as u64 * 100 + r as u64
                    } else if trips[j] > 0 {
                        j as u64 * 100 + trips[j] as u64 - 1
                    } else {
                        0
                    }
                })
                .sum()
        })
        .collect()
}

#[test]
fn barrier_in_loop_with_different_trip_counts_and_early_exits() {
    on_every_engine(barrier_in_loop_with_different_trip_counts_and_early_exits_on);
}

fn barrier_in_loop_with_different_trip_counts_and_early_exits_on() {
    let k = kernel(&rounds_kernel());
    for block in [
        Dim3::x(64),
        Dim3::new(8, 4, 1),
        Dim3::new(4, 4, 4),
        Dim3::new(2, 3, 5),
    ] {
        let n = block.count() as usize;
        let trips: Vec<u32> = (0..n as u64).map(|i| (mix(i) % 6) as u32).collect();
        let rt = Runtime::new();
        let t = rt.alloc_from(&u32_bytes(&trips)).unwrap();
        let grid = Dim3::new(2, 1, 2);
        let out = rt.alloc(n * 4 * 8).unwrap();
        launch(&rt, &k, grid, block, &[Arg::Buffer(t), Arg::Buffer(out)]).unwrap();
        let got = bytes_u64(&rt.read(out).unwrap());
        let want = rounds_model(&trips);
        for b in 0..4 {
            assert_eq!(&got[b * n..(b + 1) * n], &want[..], "block {b} of {block}");
        }
    }
}

#[test]
fn lanes_meet_at_different_barrier_instructions() {
    on_every_engine(lanes_meet_at_different_barrier_instructions_on);
}

fn lanes_meet_at_different_barrier_instructions_on() {
    // Even lanes wait at one `bar.sync`, odd lanes at another: they still
    // meet, and writes before are visible after.
    let k = kernel(&format!(
        ".kernel k\n.param out buf\n.shared 4096\n\
         mov.u32 r0, %laneid\n{LANES_PER_BLOCK}\
         shl.u64 r2, r0, 2\n\
         mul.u32 r3, r0, 3\n    add.u32 r3, r3, 1\n    st.shared.u32 [r2], r3\n\
         and.u32 r4, r0, 1\n    setp.eq.u32 p0, r4, 0\n\
         @p0 bra even\n\
         bar.sync\n\
         bra after\n\
         even:\n\
         bar.sync\n\
         after:\n\
         add.u32 r5, r0, 1\n    rem.u32 r5, r5, r1\n    shl.u64 r5, r5, 2\n\
         ld.shared.u32 r6, [r5]\n\
         mov.u64 r7, %gid\n    shl.u64 r7, r7, 2\n    st.global.u32 [out + r7], r6\n"
    ));
    for block in [Dim3::x(33), Dim3::new(4, 4, 2)] {
        let n = block.count() as usize;
        let rt = Runtime::new();
        let out = rt.alloc(n * 4 * 3).unwrap();
        launch(&rt, &k, Dim3::x(3), block, &[Arg::Buffer(out)]).unwrap();
        let got = bytes_u32(&rt.read(out).unwrap());
        for (g, v) in got.iter().enumerate() {
            let i = g % n;
            assert_eq!(*v, ((i + 1) % n) as u32 * 3 + 1, "lane {g} in {block}");
        }
    }
}

#[test]
fn barrier_inside_branch_taken_by_all_live_lanes() {
    on_every_engine(barrier_inside_branch_taken_by_all_live_lanes_on);
}

fn barrier_inside_branch_taken_by_all_live_lanes_on() {
    // Odd lanes exit; the even lanes all take the branch that holds the
    // barrier, three times over in a loop.
    let k = kernel(&format!(
        ".kernel k\n.param out buf\n.shared 4096\n\
         mov.u32 r0, %laneid\n{LANES_PER_BLOCK}\
         and.u32 r4, r0, 1\n    setp.ne.u32 p0, r4, 0\n    @p0 exit\n\
         shl.u64 r2, r0, 2\n\
         add.u32 r5, r0, 2\n    rem.u32 r5, r5, r1\n    shl.u64 r5, r5, 2\n\
         mov.u32 r8, 0\n    mov.u32 r9, 0\n\
         again:\n\
         setp.lt.u32 p1, r8, 3\n    @!p1 bra finish\n\
         setp.lt.u32 p2, r0, 100000\n\
         @p2 bra inner\n\
         bra again\n\
         inner:\n\
         add.u32 r3, r0, r8\n    st.shared.u32 [r2], r3\n\
         bar.sync\n\
         ld.shared.u32 r6, [r5]\n    add.u32 r9, r9, r6\n\
         bar.sync\n\
         add.u32 r8, r8, 1\n    bra again\n\
         finish:\n\
         mov.u64 r7, %gid\n    shl.u64 r7, r7, 2\n    st.global.u32 [out + r7], r9\n"
    ));
    let block = Dim3::new(8, 2, 2); // 32 lanes, even count
    let rt = Runtime::new();
    let out = rt.alloc_from(&[0xFF; 32 * 4]).unwrap();
    launch(&rt, &k, Dim3::x(1), block, &[Arg::Buffer(out)]).unwrap();
    let got = bytes_u32(&rt.read(out).unwrap());
    for (i, v) in got.iter().enumerate() {
        if i % 2 == 1 {
            assert_eq!(*v, u32::MAX, "odd lane {i} exited before storing");
        } else {
            let j = ((i + 2) % 32) as u32;
            assert_eq!(*v, (0..3).map(|r| j + r).sum::<u32>(), "lane {i}");
        }
    }
}

/// Tree reduction of u32s per block; lanes past `n` exit at once.
fn tree_sum_kernel() -> String {
    format!(
        ".kernel tree\n.param x buf\n.param out buf\n.param n u64\n.shared 4096\n\
         mov.u32 r0, %laneid\n{LANES_PER_BLOCK}\
         mov.u64 r10, %gid\n\
         setp.ge.u64 p0, r10, n\n    @p0 exit\n\
         shl.u64 r2, r10, 2\n    ld.global.u32 r3, [x + r2]\n\
         shl.u64 r4, r0, 2\n    st.shared.u32 [r4], r3\n\
         bar.sync\n\
         shr.u32 r5, r1, 1\n\
         loop:\n\
         setp.eq.u32 p1, r5, 0\n    @p1 bra done\n\
         setp.lt.u32 p2, r0, r5\n    @!p2 bra skip\n\
         add.u32 r6, r0, r5\n    shl.u64 r6, r6, 2\n\
         ld.shared.u32 r7, [r6]\n    ld.shared.u32 r8, [r4]\n\
         add.u32 r8, r8, r7\n    st.shared.u32 [r4], r8\n\
         skip:\n\
         bar.sync\n\
         shr.u32 r5, r5, 1\n    bra loop\n\
         done:\n\
         setp.ne.u32 p3, r0, 0\n    @p3 exit\n\
         ld.shared.u32 r9, [0]\n\
         mov.u32 r11, %nctaid.x\n    mul.u32 r11, r11, %ctaid.y\n    add.u32 r11, r11, %ctaid.x\n\
         shl.u64 r11, r11, 2\n    st.global.u32 [out + r11], r9\n"
    )
}

#[test]
fn shared_tree_reduction_2d_and_3d_blocks() {
    on_every_engine(shared_tree_reduction_2d_and_3d_blocks_on);
}

fn shared_tree_reduction_2d_and_3d_blocks_on() {
    let k = kernel(&tree_sum_kernel());
    for (block, n) in [
        (Dim3::new(16, 16, 1), 1000u64),
        (Dim3::new(4, 8, 8), 1024),
        (Dim3::new(8, 4, 2), 150),
    ] {
        let per = block.count() as u64;
        let blocks = n.div_ceil(per);
        let grid = Dim3::new(2, blocks.div_ceil(2) as u32, 1);
        let x: Vec<u32> = (0..n).map(|i| (mix(i) % 100_000) as u32).collect();
        let rt = Runtime::new();
        let bx = rt.alloc_from(&u32_bytes(&x)).unwrap();
        let total_blocks = grid.count() as usize;
        let out = rt.alloc(total_blocks * 4).unwrap();
        launch(
            &rt,
            &k,
            grid,
            block,
            &[Arg::Buffer(bx), Arg::Buffer(out), Arg::from(n)],
        )
        .unwrap();
        let got = bytes_u32(&rt.read(out).unwrap());
        for (b, &sum) in got.iter().enumerate().take(total_blocks) {
            let lo = (b as u64 * per).min(n) as usize;
            let hi = ((b as u64 + 1) * per).min(n) as usize;
            let want: u32 = x[lo..hi].iter().copied().fold(0, u32::wrapping_add);
            assert_eq!(sum, want, "block {b} of {block}, n = {n}");
        }
    }
}

#[test]
fn shared_prefix_sum() {
    on_every_engine(shared_prefix_sum_on);
}

fn shared_prefix_sum_on() {
    // Hillis-Steele inclusive scan per block, two barriers per step.
    let k = kernel(&format!(
        ".kernel scan\n.param x buf\n.param out buf\n.shared 4096\n\
         mov.u32 r0, %laneid\n{LANES_PER_BLOCK}\
         mov.u64 r10, %gid\n    shl.u64 r2, r10, 2\n    ld.global.u32 r3, [x + r2]\n\
         shl.u64 r4, r0, 2\n    st.shared.u32 [r4], r3\n\
         bar.sync\n\
         mov.u32 r5, 1\n\
         step:\n\
         setp.ge.u32 p0, r5, r1\n    @p0 bra done\n\
         ld.shared.u32 r6, [r4]\n\
         mov.u32 r7, 0\n\
         setp.ge.u32 p1, r0, r5\n\
         sub.u32 r8, r0, r5\n    shl.u64 r8, r8, 2\n\
         @p1 ld.shared.u32 r7, [r8]\n\
         bar.sync\n\
         add.u32 r6, r6, r7\n    st.shared.u32 [r4], r6\n\
         bar.sync\n\
         shl.u32 r5, r5, 1\n    bra step\n\
         done:\n\
         ld.shared.u32 r9, [r4]\n    st.global.u32 [out + r2], r9\n"
    ));
    for block in [Dim3::new(16, 16, 1), Dim3::new(5, 3, 7)] {
        let per = block.count() as usize;
        let n = per * 3;
        let x: Vec<u32> = (0..n as u64).map(|i| (mix(i) % 1000) as u32).collect();
        let rt = Runtime::new();
        let bx = rt.alloc_from(&u32_bytes(&x)).unwrap();
        let out = rt.alloc(n * 4).unwrap();
        launch(
            &rt,
            &k,
            Dim3::new(1, 3, 1),
            block,
            &[Arg::Buffer(bx), Arg::Buffer(out)],
        )
        .unwrap();
        let got = bytes_u32(&rt.read(out).unwrap());
        for b in 0..3 {
            let mut acc = 0u32;
            for i in 0..per {
                acc += x[b * per + i];
                assert_eq!(got[b * per + i], acc, "block {b} lane {i} of {block}");
            }
        }
    }
}

const GRID: u32 = 4;
const BLOCK: u32 = 256;
const N: usize = (GRID * BLOCK) as usize;

/// Every lane does `atom.SPACE.OP.T r3, [ADDR], value[gid]` on one address
/// (global: `buf + 8`, whose 8-byte word neighbours are checked; shared:
/// one slot per block, initialised by lane 0 and copied out after a
/// barrier). Returns (final memory values per block or once, old values).
fn atom_many(space: &str, op: &str, ty: &str, init: u64, vals: &[u64]) -> (Vec<u64>, Vec<u64>) {
    let size = if ty.ends_with("32") { 4 } else { 8 };
    let st_ty = if size == 4 { "u32" } else { "u64" };
    let rt = Runtime::new();
    let olds = rt.alloc(N * 8).unwrap();
    let bv = rt.alloc_from(&u64_bytes(vals)).unwrap();
    let prologue =
        "    mov.u64 r0, %gid\n    shl.u64 r1, r0, 3\n    ld.global.u64 r2, [vals + r1]\n";
    let (src, buf_len) = if space == "global" {
        (
            format!(
                ".kernel k\n.param buf buf\n.param vals buf\n.param olds buf\n{prologue}\
                 atom.global.{op}.{ty} r3, [buf + 8], r2\n\
                 st.global.u64 [olds + r1], r3\n"
            ),
            24,
        )
    } else {
        (
            format!(
                ".kernel k\n.param buf buf\n.param vals buf\n.param olds buf\n.param init u64\n.shared 16\n{prologue}\
                 mov.u32 r5, %tid.x\n    setp.eq.u32 p0, r5, 0\n\
                 @p0 st.shared.u64 [0], 0x5555555555555555\n\
                 @p0 st.shared.u64 [8], 0x5555555555555555\n\
                 @p0 st.shared.{st_ty} [8], init\n\
                 bar.sync\n\
                 atom.shared.{op}.{ty} r3, [8], r2\n\
                 st.global.u64 [olds + r1], r3\n\
                 bar.sync\n\
                 @!p0 exit\n\
                 ld.shared.u64 r6, [8]\n    ld.shared.u64 r7, [0]\n\
                 mov.u64 r8, %ctaid.x\n    shl.u64 r8, r8, 4\n\
                 st.global.u64 [buf + r8], r6\n    st.global.u64 [buf + r8 + 8], r7\n"
            ),
            16 * GRID as usize,
        )
    };
    let k = kernel(&src);
    let mut mem = vec![0x77u8; buf_len];
    if space == "global" {
        mem[8..8 + size].copy_from_slice(&init.to_le_bytes()[..size]);
    }
    let buf = rt.alloc_from(&mem).unwrap();
    let mut args = vec![Arg::Buffer(buf), Arg::Buffer(bv), Arg::Buffer(olds)];
    if space == "shared" {
        args.push(Arg::from(init));
    }
    launch(&rt, &k, Dim3::x(GRID), Dim3::x(BLOCK), &args).unwrap();
    let got = rt.read(buf).unwrap();
    let finals = if space == "global" {
        // The bytes around the atomic's are untouched.
        assert!(
            got[..8].iter().all(|&b| b == 0x77),
            "{op}.{ty}: left neighbour"
        );
        assert!(
            got[8 + size..].iter().all(|&b| b == 0x77),
            "{op}.{ty}: right neighbour"
        );
        let mut w = [0u8; 8];
        w[..size].copy_from_slice(&got[8..8 + size]);
        vec![u64::from_le_bytes(w)]
    } else {
        let words = bytes_u64(&got);
        (0..GRID as usize)
            .map(|b| {
                assert_eq!(
                    words[2 * b + 1],
                    0x5555_5555_5555_5555,
                    "{op}.{ty}: shared neighbour"
                );
                let w = words[2 * b];
                if size == 4 {
                    assert_eq!(w >> 32, 0x5555_5555, "{op}.{ty}: shared upper half");
                    w & 0xFFFF_FFFF
                } else {
                    w
                }
            })
            .collect()
    };
    (finals, bytes_u64(&rt.read(olds).unwrap()))
}

/// The lanes whose old values and final value belong together: all of them
/// (global) or one block's (shared).
fn groups(space: &str) -> Vec<std::ops::Range<usize>> {
    if space == "global" {
        std::iter::once(0..N).collect()
    } else {
        (0..GRID as usize)
            .map(|b| b * BLOCK as usize..(b + 1) * BLOCK as usize)
            .collect()
    }
}

fn raw_of(ty: &str, reg: u64) -> u64 {
    if ty.ends_with("32") {
        reg & 0xFFFF_FFFF
    } else {
        reg
    }
}

/// The register value a lane gets back for raw memory bits `raw`.
fn ext_of(ty: &str, raw: u64) -> u64 {
    match ty {
        "i32" => raw as u32 as i32 as i64 as u64,
        "u32" | "f32" => raw & 0xFFFF_FFFF,
        _ => raw,
    }
}

#[test]
fn atomic_add_counts_every_lane_once() {
    on_every_engine(atomic_add_counts_every_lane_once_on);
}

fn atomic_add_counts_every_lane_once_on() {
    for space in ["global", "shared"] {
        for ty in ["u32", "i32", "u64", "i64", "f32", "f64"] {
            let one = match ty {
                "f32" => 1.0f32.to_bits() as u64,
                "f64" => 1.0f64.to_bits(),
                _ => 1,
            };
            let (finals, olds) = atom_many(space, "add", ty, 0, &vec![one; N]);
            for (g, range) in groups(space).into_iter().enumerate() {
                let count = range.len() as u64;
                let as_num = |raw: u64| -> u64 {
                    match ty {
                        "f32" => f32::from_bits(raw as u32) as u64,
                        "f64" => f64::from_bits(raw) as u64,
                        _ => raw,
                    }
                };
                assert_eq!(as_num(finals[g]), count, "{space} add.{ty}");
                let mut seen: Vec<u64> =
                    olds[range].iter().map(|&o| as_num(raw_of(ty, o))).collect();
                seen.sort_unstable();
                assert_eq!(
                    seen,
                    (0..count).collect::<Vec<_>>(),
                    "{space} add.{ty}: olds"
                );
            }
        }
    }
}

#[test]
fn atomic_add_sums_exactly() {
    on_every_engine(atomic_add_sums_exactly_on);
}

fn atomic_add_sums_exactly_on() {
    for space in ["global", "shared"] {
        for ty in ["u32", "i32", "u64", "i64", "f32", "f64"] {
            let vals: Vec<u64> = (0..N as u64)
                .map(|i| match ty {
                    "u32" => mix(i) & 0xFFFF_FFFF,
                    "i32" => (mix(i) as i32) as i64 as u64,
                    "f32" => (((mix(i) % 2001) as i64 - 1000) as f32).to_bits() as u64,
                    "f64" => (((mix(i) % 200_001) as i64 - 100_000) as f64).to_bits(),
                    _ => mix(i),
                })
                .collect();
            let init = match ty {
                "f32" => 0.5f32.to_bits() as u64,
                "f64" => 0.5f64.to_bits(),
                "i32" => (-7i32) as u32 as u64,
                _ => 0xFFFF_FFFF,
            };
            let (finals, olds) = atom_many(space, "add", ty, init, &vals);
            for (g, range) in groups(space).into_iter().enumerate() {
                let want = match ty {
                    "f32" => range
                        .clone()
                        .fold(f32::from_bits(init as u32), |a, i| {
                            a + f32::from_bits(vals[i] as u32)
                        })
                        .to_bits() as u64,
                    "f64" => range
                        .clone()
                        .fold(f64::from_bits(init), |a, i| a + f64::from_bits(vals[i]))
                        .to_bits(),
                    "u32" | "i32" => range
                        .clone()
                        .fold(init as u32, |a, i| a.wrapping_add(vals[i] as u32))
                        as u64,
                    _ => range.clone().fold(init, |a, i| a.wrapping_add(vals[i])),
                };
                assert_eq!(finals[g], want, "{space} add.{ty}");
                for &o in &olds[range] {
                    assert_eq!(
                        o,
                        ext_of(ty, raw_of(ty, o)),
                        "{space} add.{ty}: old extension"
                    );
                }
            }
        }
    }
}

#[test]
fn atomic_min_max_exch() {
    on_every_engine(atomic_min_max_exch_on);
}

fn atomic_min_max_exch_on() {
    for space in ["global", "shared"] {
        for ty in ["u32", "i32", "u64", "i64", "f32", "f64"] {
            let vals: Vec<u64> = (0..N as u64)
                .map(|i| match ty {
                    "u32" => mix(i) & 0xFFFF_FFFF,
                    "i32" => (mix(i) as i32) as i64 as u64,
                    "f32" => ((mix(i) as i32) as f32 / 7.0).to_bits() as u64,
                    "f64" => ((mix(i) as i64) as f64 / 3.0).to_bits(),
                    _ => mix(i),
                })
                .collect();
            // Order keys: the value as a number.
            let key = |raw: u64| -> f64 {
                match ty {
                    "u32" => raw as u32 as f64,
                    "i32" => raw as u32 as i32 as f64,
                    "u64" => raw as f64,
                    "i64" => raw as i64 as f64,
                    "f32" => f32::from_bits(raw as u32) as f64,
                    _ => f64::from_bits(raw),
                }
            };
            let exact = |raw: u64| -> i128 {
                match ty {
                    "u32" => raw as u32 as i128,
                    "i32" => raw as u32 as i32 as i128,
                    "u64" => raw as i128,
                    "i64" => raw as i64 as i128,
                    _ => 0,
                }
            };
            let init = ext_of(ty, vals[5]);
            for op in ["min", "max"] {
                let (finals, olds) = atom_many(space, op, ty, raw_of(ty, init), &vals);
                for (g, range) in groups(space).into_iter().enumerate() {
                    let mut best = raw_of(ty, init);
                    for i in range.clone() {
                        let v = raw_of(ty, vals[i]);
                        let better = if ty.starts_with('f') {
                            if op == "min" {
                                key(v) < key(best)
                            } else {
                                key(v) > key(best)
                            }
                        } else if op == "min" {
                            exact(v) < exact(best)
                        } else {
                            exact(v) > exact(best)
                        };
                        if better {
                            best = v;
                        }
                    }
                    assert_eq!(finals[g], best, "{space} {op}.{ty}");
                    for &o in &olds[range] {
                        let o = raw_of(ty, o);
                        let ok = if op == "min" {
                            key(o) >= key(best)
                        } else {
                            key(o) <= key(best)
                        };
                        assert!(ok, "{space} {op}.{ty}: old {o:#x} beyond final {best:#x}");
                    }
                }
            }
            // exch: the olds plus the final value are the initial value and
            // every written value, each exactly once.
            let vals: Vec<u64> = (0..N as u64).map(|i| ext_of(ty, i + 1)).collect();
            let (finals, olds) = atom_many(space, "exch", ty, 0, &vals);
            for (g, range) in groups(space).into_iter().enumerate() {
                let mut all: Vec<u64> =
                    olds[range.clone()].iter().map(|&o| raw_of(ty, o)).collect();
                all.push(finals[g]);
                all.sort_unstable();
                let mut want: Vec<u64> = range.map(|i| raw_of(ty, vals[i])).collect();
                want.push(0);
                want.sort_unstable();
                assert_eq!(all, want, "{space} exch.{ty}");
            }
        }
    }
}

#[test]
fn cas_retry_loop_counter() {
    on_every_engine(cas_retry_loop_counter_on);
}

fn cas_retry_loop_counter_on() {
    for space in ["global", "shared"] {
        for (ty, start) in [
            ("u32", 10u64),
            ("i32", (-100i64) as u64),
            ("u64", 0xFFFF_FFF0u64),
            ("i64", (-3i64) as u64),
        ] {
            let size = if ty.ends_with("32") { 4 } else { 8 };
            let addr = if space == "global" {
                "[buf + 8]"
            } else {
                "[8]"
            };
            let src = format!(
                ".kernel k\n.param buf buf\n.param olds buf\n.param start {ty}\n.shared 16\n\
                 mov.u64 r0, %gid\n    shl.u64 r1, r0, 3\n\
                 mov.u32 r9, %tid.x\n    setp.eq.u32 p1, r9, 0\n\
                 {init}\
                 bar.sync\n\
                 ld.{space}.{ty} r4, {addr}\n\
                 retry:\n\
                 add.{ty} r5, r4, 1\n\
                 atom.{space}.cas.{ty} r6, {addr}, r4, r5\n\
                 setp.ne.{ty} p0, r6, r4\n\
                 mov.{ty} r4, r6\n\
                 @p0 bra retry\n\
                 st.global.u64 [olds + r1], r4\n\
                 bar.sync\n\
                 @!p1 exit\n\
                 ld.{space}.u64 r7, {addr}\n\
                 mov.u64 r8, %ctaid.x\n    shl.u64 r8, r8, 3\n    add.u64 r8, r8, 16\n\
                 st.global.u64 [buf + r8], r7\n",
                init = if space == "global" {
                    String::new()
                } else {
                    format!("@p1 st.shared.{ty} [8], start\n")
                },
            );
            let k = kernel(&src);
            let rt = Runtime::new();
            let mut mem = vec![0u8; 16 + 8 * GRID as usize];
            mem[8..8 + size].copy_from_slice(&start.to_le_bytes()[..size]);
            let buf = rt.alloc_from(&mem).unwrap();
            let olds = rt.alloc(N * 8).unwrap();
            let start_arg = match ty {
                "u32" => Arg::from(start as u32),
                "i32" => Arg::from(start as i32),
                "u64" => Arg::from(start),
                _ => Arg::from(start as i64),
            };
            launch(
                &rt,
                &k,
                Dim3::x(GRID),
                Dim3::x(BLOCK),
                &[Arg::Buffer(buf), Arg::Buffer(olds), start_arg],
            )
            .unwrap();
            let got = rt.read(buf).unwrap();
            let words = bytes_u64(&got);
            let olds = bytes_u64(&rt.read(olds).unwrap());
            let wrap = |x: u64| ext_of(ty, raw_of(ty, x));
            for (g, range) in groups(space).into_iter().enumerate() {
                let count = range.len() as u64;
                let fin = if space == "global" {
                    words[1]
                } else {
                    words[2 + g]
                };
                assert_eq!(
                    raw_of(ty, fin),
                    raw_of(ty, start.wrapping_add(count)),
                    "{space} cas.{ty}"
                );
                let mut seen: Vec<u64> = olds[range].to_vec();
                seen.sort_unstable();
                let mut want: Vec<u64> = (0..count).map(|i| wrap(start.wrapping_add(i))).collect();
                want.sort_unstable();
                assert_eq!(
                    seen, want,
                    "{space} cas.{ty}: each lane succeeded from a distinct value"
                );
            }
            if space == "global" && size == 4 {
                assert_eq!(&got[12..16], &[0, 0, 0, 0], "cas.{ty}: neighbour");
            }
        }
    }
}

#[test]
fn neighbouring_4_byte_atomics_in_one_word() {
    on_every_engine(neighbouring_4_byte_atomics_in_one_word_on);
}

fn neighbouring_4_byte_atomics_in_one_word_on() {
    // Half the lanes add to the low half of a word, the other half take the
    // max of the high half; neither disturbs the other.
    for space in ["global", "shared"] {
        let src = format!(
            ".kernel k\n.param buf buf\n.shared 8\n\
             mov.u64 r0, %gid\n    and.u64 r1, r0, 1\n    setp.eq.u64 p0, r1, 0\n\
             @p0 atom.{space}.add.u32 r2, {lo}, 3\n\
             @!p0 atom.{space}.max.i32 r2, {hi}, r0\n\
             bar.sync\n\
             mov.u32 r3, %tid.x\n    setp.ne.u32 p1, r3, 0\n    @p1 exit\n\
             {copy}",
            lo = if space == "global" { "[buf]" } else { "[0]" },
            hi = if space == "global" {
                "[buf + 4]"
            } else {
                "[4]"
            },
            copy = if space == "global" {
                String::new()
            } else {
                "ld.shared.u64 r4, [0]\n    mov.u64 r5, %ctaid.x\n    shl.u64 r5, r5, 3\n    st.global.u64 [buf + r5], r4\n".to_string()
            },
        );
        let k = kernel(&src);
        let rt = Runtime::new();
        let mut init = vec![0u8; 8 * GRID as usize];
        init[4..8].copy_from_slice(&(-5i32).to_le_bytes());
        let buf = rt.alloc_from(&init).unwrap();
        launch(&rt, &k, Dim3::x(GRID), Dim3::x(BLOCK), &[Arg::Buffer(buf)]).unwrap();
        let words = bytes_u32(&rt.read(buf).unwrap());
        if space == "global" {
            assert_eq!(words[0], 3 * (N as u32 / 2));
            assert_eq!(words[1], N as u32 - 1);
        } else {
            for b in 0..GRID as usize {
                assert_eq!(words[2 * b], 3 * (BLOCK / 2), "block {b}");
                assert_eq!(words[2 * b + 1], (b as u32 + 1) * BLOCK - 1, "block {b}");
            }
        }
    }
}

#[test]
fn atomic_results_and_edge_semantics() {
    on_every_engine(atomic_results_and_edge_semantics_on);
}

fn atomic_results_and_edge_semantics_on() {
    // One lane: returned old values are extended by type; adds wrap; min/max
    // follow signedness; a NaN operand leaves a float min/max unchanged.
    let k = kernel(
        ".kernel k\n.param b buf\n.param o buf\n\
         atom.global.add.u32 r1, [b], 5\n    st.global.u64 [o], r1\n\
         atom.global.add.i32 r1, [b + 4], 1\n    st.global.u64 [o + 8], r1\n\
         atom.global.max.u32 r1, [b + 8], 1\n    st.global.u64 [o + 16], r1\n\
         atom.global.min.i32 r1, [b + 12], 1\n    st.global.u64 [o + 24], r1\n\
         atom.global.min.f32 r1, [b + 16], nan\n    st.global.u64 [o + 32], r1\n\
         atom.global.exch.f64 r1, [b + 24], -2.5\n    st.global.u64 [o + 40], r1\n\
         atom.global.cas.i32 r1, [b + 32], -1, 9\n    st.global.u64 [o + 48], r1\n\
         atom.global.cas.i32 r1, [b + 36], -1, 9\n    st.global.u64 [o + 56], r1\n\
         atom.global.max.i64 r1, [b + 40], -1\n    st.global.u64 [o + 64], r1\n",
    );
    let rt = Runtime::new();
    let mut mem = Vec::new();
    mem.extend_from_slice(&0xFFFF_FFFEu32.to_le_bytes()); // 0: add.u32 5 wraps to 3
    mem.extend_from_slice(&i32::MAX.to_le_bytes()); // 4: add.i32 1 wraps to MIN
    mem.extend_from_slice(&0xFFFF_FFF0u32.to_le_bytes()); // 8: max.u32 keeps it
    mem.extend_from_slice(&(-7i32).to_le_bytes()); // 12: min.i32 keeps -7
    mem.extend_from_slice(&2.5f32.to_le_bytes()); // 16: min.f32 with NaN
    mem.extend_from_slice(&[0; 4]); // 20: untouched
    mem.extend_from_slice(&1.0f64.to_le_bytes()); // 24: exch.f64
    mem.extend_from_slice(&(-1i32).to_le_bytes()); // 32: cas matches
    mem.extend_from_slice(&(-2i32).to_le_bytes()); // 36: cas does not
    mem.extend_from_slice(&(-9i64).to_le_bytes()); // 40: max.i64
    let b = rt.alloc_from(&mem).unwrap();
    let o = rt.alloc(72).unwrap();
    launch(
        &rt,
        &k,
        Dim3::x(1),
        Dim3::x(1),
        &[Arg::Buffer(b), Arg::Buffer(o)],
    )
    .unwrap();
    let olds = bytes_u64(&rt.read(o).unwrap());
    assert_eq!(
        olds,
        vec![
            0xFFFF_FFFE,
            i32::MAX as u64,
            0xFFFF_FFF0,
            (-7i64) as u64,
            2.5f32.to_bits() as u64,
            1.0f64.to_bits(),
            u64::MAX,
            (-2i64) as u64,
            (-9i64) as u64,
        ]
    );
    let m = rt.read(b).unwrap();
    let u32_at = |i: usize| u32::from_le_bytes(m[i..i + 4].try_into().unwrap());
    assert_eq!(u32_at(0), 3);
    assert_eq!(u32_at(4), i32::MIN as u32);
    assert_eq!(u32_at(8), 0xFFFF_FFF0);
    assert_eq!(u32_at(12), (-7i32) as u32);
    assert_eq!(u32_at(16), 2.5f32.to_bits());
    assert_eq!(u32_at(20), 0);
    assert_eq!(&m[24..32], &(-2.5f64).to_le_bytes());
    assert_eq!(u32_at(32), 9);
    assert_eq!(u32_at(36), (-2i32) as u32);
    assert_eq!(&m[40..48], &(-1i64).to_le_bytes());
}

#[test]
fn float_atomics_follow_the_nan_and_signed_zero_rules() {
    on_every_engine(float_atomics_follow_the_nan_and_signed_zero_rules_on);
}

/// Four lanes (one gang) each update their own element with `add`, `min`
/// and `max` of `f32` and `f64`: NaN payloads in memory and in the
/// operand (the first NaN of memory then operand wins, quieted; the
/// default NaN when neither is one), signed zeros, and a NaN on either
/// side of `min`/`max` (memory NaN: the operand; operand NaN: memory).
fn float_atomics_follow_the_nan_and_signed_zero_rules_on() {
    let k = kernel(
        ".kernel k\n.param m32 buf\n.param o32 buf\n.param m64 buf\n.param o64 buf\n\
         mov.u32 r0, %tid.x\n    shl.u64 r1, r0, 2\n    shl.u64 r2, r0, 3\n\
         ld.global.f32 r3, [o32 + r1]\n    atom.global.add.f32 r4, [m32 + r1], r3\n\
         ld.global.f32 r3, [o32 + r1 + 16]\n    atom.global.min.f32 r4, [m32 + r1 + 16], r3\n\
         ld.global.f32 r3, [o32 + r1 + 32]\n    atom.global.max.f32 r4, [m32 + r1 + 32], r3\n\
         ld.global.f64 r3, [o64 + r2]\n    atom.global.add.f64 r4, [m64 + r2], r3\n\
         ld.global.f64 r3, [o64 + r2 + 32]\n    atom.global.min.f64 r4, [m64 + r2 + 32], r3\n\
         ld.global.f64 r3, [o64 + r2 + 64]\n    atom.global.max.f64 r4, [m64 + r2 + 64], r3\n",
    );
    const SNAN32: u32 = 0x7F80_0001; // signalling, payload 1
    const QNAN32: u32 = 0xFFC0_0003; // quiet, negative, payload 3
    const DEFAULT32: u32 = 0xFFC0_0000;
    const SNAN64: u64 = 0x7FF0_0000_0000_0005;
    const QNAN64: u64 = 0x7FF8_0000_0000_0007;
    const DEFAULT64: u64 = 0xFFF8_0000_0000_0000;
    let f = |x: f32| x.to_bits();
    let d = |x: f64| x.to_bits();
    // (memory, operand, memory after) per lane, per operation.
    let cases32: [[(u32, u32, u32); 4]; 3] = [
        [
            (SNAN32, QNAN32, SNAN32 | 0x0040_0000),
            (f(1.0), QNAN32, QNAN32),
            (f(f32::INFINITY), f(f32::NEG_INFINITY), DEFAULT32),
            (f(1.5), f(-0.25), f(1.25)),
        ],
        [
            (f(0.0), f(-0.0), f(-0.0)),
            (f(-0.0), f(0.0), f(-0.0)),
            (SNAN32, f(3.0), f(3.0)),
            (f(2.0), QNAN32, f(2.0)),
        ],
        [
            (f(-0.0), f(0.0), f(0.0)),
            (f(0.0), f(-0.0), f(0.0)),
            (QNAN32, f(-3.0), f(-3.0)),
            (f(-2.0), SNAN32, f(-2.0)),
        ],
    ];
    let cases64: [[(u64, u64, u64); 4]; 3] = [
        [
            (SNAN64, QNAN64, SNAN64 | 0x0008_0000_0000_0000),
            (d(1.0), SNAN64, SNAN64 | 0x0008_0000_0000_0000),
            (d(f64::INFINITY), d(f64::NEG_INFINITY), DEFAULT64),
            (d(0.1), d(0.2), d(0.1 + 0.2)),
        ],
        [
            (d(0.0), d(-0.0), d(-0.0)),
            (d(-0.0), d(0.0), d(-0.0)),
            (QNAN64, d(3.0), d(3.0)),
            (d(2.0), SNAN64, d(2.0)),
        ],
        [
            (d(-0.0), d(0.0), d(0.0)),
            (d(0.0), d(-0.0), d(0.0)),
            (SNAN64, d(-3.0), d(-3.0)),
            (d(-2.0), QNAN64, d(-2.0)),
        ],
    ];
    let flat32 = |pick: fn(&(u32, u32, u32)) -> u32| -> Vec<u8> {
        cases32
            .iter()
            .flatten()
            .flat_map(|c| pick(c).to_le_bytes())
            .collect()
    };
    let flat64 = |pick: fn(&(u64, u64, u64)) -> u64| -> Vec<u8> {
        cases64
            .iter()
            .flatten()
            .flat_map(|c| pick(c).to_le_bytes())
            .collect()
    };
    let rt = Runtime::new();
    let m32 = rt.alloc_from(&flat32(|c| c.0)).unwrap();
    let o32 = rt.alloc_from(&flat32(|c| c.1)).unwrap();
    let m64 = rt.alloc_from(&flat64(|c| c.0)).unwrap();
    let o64 = rt.alloc_from(&flat64(|c| c.1)).unwrap();
    launch(
        &rt,
        &k,
        Dim3::x(1),
        Dim3::x(4),
        &[
            Arg::Buffer(m32),
            Arg::Buffer(o32),
            Arg::Buffer(m64),
            Arg::Buffer(o64),
        ],
    )
    .unwrap();
    let want32: Vec<u32> = cases32.iter().flatten().map(|c| c.2).collect();
    let want64: Vec<u64> = cases64.iter().flatten().map(|c| c.2).collect();
    assert_eq!(bytes_u32(&rt.read(m32).unwrap()), want32);
    assert_eq!(bytes_u64(&rt.read(m64).unwrap()), want64);
}

#[test]
fn shared_memory_is_zero_at_every_blocks_start() {
    on_every_engine(shared_memory_is_zero_at_every_blocks_start_on);
}

/// Every block reads each byte of its shared memory (sizes with and
/// without a tail of whole 64-byte runs, 8-byte words and single bytes),
/// then sets every byte: a block that found a byte the one before it left
/// would report it. Sixteen blocks reuse the workers' shared memory.
fn shared_memory_is_zero_at_every_blocks_start_on() {
    for size in [1u32, 13, 63, 64, 100, 1030] {
        let src = format!(
            ".kernel k\n.param out buf\n.shared {size}\n\
             mov.u32 r0, %tid.x\n    mov.u32 r1, 0\n    mov.u32 r2, r0\n\
             read:\n    setp.ge.u32 p0, r2, {size}\n    @p0 bra read_done\n\
             cvt.u64.u32 r3, r2\n    ld.shared.u8 r4, [r3]\n    or.u32 r1, r1, r4\n\
             add.u32 r2, r2, 32\n    bra read\n\
             read_done:\n    bar.sync\n    mov.u32 r2, r0\n\
             write:\n    setp.ge.u32 p0, r2, {size}\n    @p0 bra write_done\n\
             cvt.u64.u32 r3, r2\n    st.shared.u8 [r3], 255\n\
             add.u32 r2, r2, 32\n    bra write\n\
             write_done:\n    mov.u32 r5, %gid\n    shl.u64 r6, r5, 2\n\
             st.global.u32 [out + r6], r1\n"
        );
        let k = kernel(&src);
        let rt = Runtime::new();
        let out = rt.alloc_from(&[0xAB; 16 * 32 * 4]).unwrap();
        launch(&rt, &k, Dim3::x(16), Dim3::x(32), &[Arg::Buffer(out)]).unwrap();
        let got = bytes_u32(&rt.read(out).unwrap());
        assert_eq!(got, vec![0; 16 * 32], "shared {size} bytes");
    }
}
