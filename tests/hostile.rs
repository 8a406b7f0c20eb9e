//! Hostile kernels (docs/LANGUAGE.md sections 4, 6 and 7): each one gives its
//! documented outcome and nothing else.
//!
//! Most launches here go through [`Hostile::launch`], which runs the kernel
//! on both engines (the reference interpreter and the pool engine on more
//! workers than this machine has cores) and, for each, surrounds the bound
//! buffers with *unbound* canary buffers filled with a pattern: after the
//! launch every canary must be byte-for-byte unchanged, the runtime must
//! still run a kernel correctly, and no buffer may leak. The two engines must
//! agree on the outcome.

use std::sync::Arc;

use lanes::kernel::Space;
use lanes::{
    Arg, BufferId, Dim3, Engine, Fault, FaultKind, Kernel, LaunchError, LaunchOptions, Runtime,
};

/// Bytes of each canary buffer.
const CANARY_BYTES: usize = 4096;

fn canary_pattern(seed: u8) -> Vec<u8> {
    (0..CANARY_BYTES)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ 0xC3)
        .collect()
}

fn compile(src: &str) -> Arc<Kernel> {
    let p = lanes::compile("hostile.lasm", src)
        .unwrap_or_else(|e| panic!("compile failed:\n{e}\n--- source ---\n{src}"));
    assert_eq!(p.kernels.len(), 1);
    p.kernels[0].clone()
}

/// A launch argument: buffer contents or a scalar.
#[derive(Clone)]
enum In {
    Buf(Vec<u8>),
    Scalar(Arg),
}

type Outcome = Result<Vec<Vec<u8>>, LaunchError>;

struct Hostile {
    rt: Runtime,
}

impl Hostile {
    fn new() -> Hostile {
        // Three workers: more threads than this machine's two cores.
        Hostile {
            rt: Runtime::builder().threads(3).build().unwrap(),
        }
    }

    /// Runs `src` on `engine`; returns the bound buffers' final contents or
    /// the launch error. Checks canaries, leaks and that the runtime still
    /// works.
    fn launch_on(
        &self,
        engine: Engine,
        kernel: &Arc<Kernel>,
        grid: Dim3,
        block: Dim3,
        args: &[In],
        max_steps: u64,
    ) -> Outcome {
        let rt = &self.rt;
        let before = rt.buffer_count();
        // Canaries are allocated before, between and after the bound
        // buffers, so they sit next to them in the buffer table and (likely)
        // in the heap.
        let mut canaries: Vec<(BufferId, Vec<u8>)> = Vec::new();
        let mut canary = |rt: &Runtime| {
            let pattern = canary_pattern(canaries.len() as u8);
            canaries.push((rt.alloc_from(&pattern).unwrap(), pattern));
        };
        canary(rt);
        let mut bound = Vec::new();
        let mut launch_args = Vec::new();
        for a in args {
            match a {
                In::Buf(bytes) => {
                    let id = rt.alloc_from(bytes).unwrap();
                    bound.push(id);
                    launch_args.push(Arg::Buffer(id));
                    canary(rt);
                }
                In::Scalar(s) => launch_args.push(*s),
            }
        }
        let options = LaunchOptions {
            engine,
            jit_wait: std::time::Duration::MAX,
            max_steps,
            ..LaunchOptions::default()
        };
        let result = rt.launch(kernel, grid, block, &launch_args, options);
        let out: Vec<Vec<u8>> = bound.iter().map(|&id| rt.read(id).unwrap()).collect();
        for (id, pattern) in &canaries {
            let now = rt.read(*id).unwrap();
            if let Some(i) = now.iter().zip(pattern).position(|(a, b)| a != b) {
                panic!("{engine:?}: unbound buffer {id} changed at byte {i}");
            }
        }
        for id in bound.into_iter().chain(canaries.into_iter().map(|c| c.0)) {
            rt.free(id).unwrap();
        }
        assert_eq!(rt.buffer_count(), before, "buffers leaked");
        self.still_works(engine);
        result.map(|_| out)
    }

    /// Runs on both engines; they must agree (same buffers, or the same
    /// fault when `same_fault`, else faults of the same kind). Returns the
    /// reference engine's outcome.
    fn launch(&self, src: &str, grid: Dim3, block: Dim3, args: &[In], max_steps: u64) -> Outcome {
        let kernel = compile(src);
        let want = self.launch_on(Engine::Reference, &kernel, grid, block, args, max_steps);
        let got = self.launch_on(Engine::Pool, &kernel, grid, block, args, max_steps);
        match (&want, &got) {
            (Ok(w), Ok(g)) => assert!(w == g, "engines disagree on the buffers\n{src}"),
            (Err(LaunchError::Fault(w)), Err(LaunchError::Fault(g))) => {
                assert_eq!(w, g, "engines report different faults\n{src}")
            }
            (w, g) => panic!(
                "engines disagree: reference {:?}, pool {:?}\n{src}",
                w.as_ref().map(|_| "ok"),
                g.as_ref().map(|_| "ok")
            ),
        }
        want
    }

    /// A small kernel after a hostile one: the runtime must still be usable.
    fn still_works(&self, engine: Engine) {
        let k = compile(
            ".kernel ok\n.param x buf\n    mov.u64 r0, %gid\n    shl.u64 r1, r0, 3\n    \
             st.global.u64 [x + r1], r0\n",
        );
        let x = self.rt.alloc(8 * 64).unwrap();
        let options = LaunchOptions {
            engine,
            jit_wait: std::time::Duration::MAX,
            ..LaunchOptions::default()
        };
        self.rt
            .launch(&k, Dim3::x(2), Dim3::x(32), &[Arg::Buffer(x)], options)
            .unwrap();
        let got: Vec<u64> = u64s(&self.rt.read(x).unwrap());
        assert_eq!(got, (0..64).collect::<Vec<u64>>());
        self.rt.free(x).unwrap();
    }
}

/// The coordinate `(x, 0, 0)`.
fn at(x: u32) -> Dim3 {
    Dim3::new(x, 0, 0)
}

fn u64s(b: &[u8]) -> Vec<u64> {
    b.chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

fn u32s(b: &[u8]) -> Vec<u32> {
    b.chunks_exact(4)
        .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

fn fault(o: Outcome) -> Fault {
    match o {
        Err(LaunchError::Fault(f)) => *f,
        Err(e) => panic!("expected a fault, got the error {e}"),
        Ok(_) => panic!("expected a fault, the launch succeeded"),
    }
}

fn ok(o: Outcome) -> Vec<Vec<u8>> {
    o.unwrap_or_else(|e| panic!("expected success, got {e}"))
}

// ---------------------------------------------------------------------------
// Endless loops: the step limit
// ---------------------------------------------------------------------------

#[test]
fn infinite_loop_hits_the_step_limit() {
    let h = Hostile::new();
    // Writes its bound buffer on every trip (partial writes are allowed in
    // bound buffers; canaries must stay untouched).
    let src = ".kernel spin\n.param x buf\n    mov.u64 r0, %gid\n    shl.u64 r0, r0, 3\n\
               top:\n    add.u64 r1, r1, 1\n    st.global.u64 [x + r0], r1\n    bra top\n";
    for (grid, block, limit) in [
        (Dim3::x(1), Dim3::x(1), 1000),
        (Dim3::x(3), Dim3::x(64), 500),
        (Dim3::new(2, 2, 1), Dim3::new(8, 4, 2), 64),
    ] {
        let lanes = (grid.count() * block.count()) as usize;
        let f = fault(h.launch(src, grid, block, &[In::Buf(vec![0; 8 * lanes])], limit));
        assert_eq!(f.kind, FaultKind::StepLimit { limit });
        assert_eq!(f.kernel, "spin");
        assert_eq!((f.block, f.lane), (Dim3::new(0, 0, 0), Dim3::new(0, 0, 0)));
        // Steps 1 and 2 are the prologue, then 3 per trip: the step that
        // exceeds the limit is instruction (limit - 2) mod 3 + 2 of the loop.
        assert_eq!(f.instr, 2 + (limit as usize - 2) % 3);
        assert!(f.to_string().contains("step limit exceeded"), "{f}");
    }
}

#[test]
fn infinite_loop_in_one_lane_of_many() {
    // Lane 37 of block 1 loops; every other lane finishes.
    let h = Hostile::new();
    let src = ".kernel one\n.param x buf\n    mov.u64 r0, %gid\n    setp.eq.u64 p0, r0, 101\n\
               top:\n    @p0 bra top\n    shl.u64 r1, r0, 3\n    st.global.u64 [x + r1], r0\n";
    let f = fault(h.launch(src, Dim3::x(2), Dim3::x(64), &[In::Buf(vec![0; 1024])], 200));
    assert_eq!(f.kind, FaultKind::StepLimit { limit: 200 });
    assert_eq!((f.block, f.lane, f.instr), (at(1), at(37), 2));
}

#[test]
fn empty_loop_with_zero_budget_faults_at_the_first_instruction() {
    let h = Hostile::new();
    let src = ".kernel z\n.param x buf\ntop:\n    bra top\n";
    let f = fault(h.launch(src, Dim3::x(1), Dim3::x(4), &[In::Buf(vec![7; 8])], 0));
    assert_eq!((f.instr, f.kind), (0, FaultKind::StepLimit { limit: 0 }));
}

// ---------------------------------------------------------------------------
// bar.sync inside a branch that only some lanes take (docs/LANGUAGE.md section 6)
// ---------------------------------------------------------------------------

/// Lanes below `split` take the branch: store, `bar.sync`, read a neighbour
/// in the branch. The others do `other` (exit, another barrier, or a loop).
fn branch_barrier_kernel(split: u32, other: &str) -> String {
    format!(
        ".kernel bb\n.param out buf\n.shared 4096\n\
         mov.u32 r0, %tid.x\n    shl.u32 r1, r0, 2\n\
         add.u32 r2, r0, 1000\n    st.shared.u32 [r1], r2\n\
         setp.lt.u32 p0, r0, {split}\n    @!p0 bra other\n\
         bar.sync\n\
         add.u32 r3, r0, 1\n    rem.u32 r3, r3, %ntid.x\n    shl.u32 r3, r3, 2\n\
         ld.shared.u32 r4, [r3]\n    st.global.u32 [out + r1], r4\n    exit\n\
         other:\n{other}\n"
    )
}

#[test]
fn barrier_in_branch_completes_when_the_other_lanes_exit() {
    let h = Hostile::new();
    for (block, split) in [(64u32, 16u32), (64, 63), (33, 1), (1024, 500)] {
        let src = branch_barrier_kernel(split, "    exit");
        let out = ok(h.launch(
            &src,
            Dim3::x(2),
            Dim3::x(block),
            &[In::Buf(vec![0xEE; 4 * block as usize])],
            1 << 20,
        ));
        let got = u32s(&out[0]);
        for lane in 0..block {
            // Lanes in the branch read the neighbour's pre-barrier store
            // (every lane stored before branching); exited lanes wrote
            // nothing.
            let want = if lane < split {
                (lane + 1) % block + 1000
            } else {
                0xEEEE_EEEE
            };
            assert_eq!(
                got[lane as usize], want,
                "block {block} split {split} lane {lane}"
            );
        }
    }
}

#[test]
fn barrier_in_branch_meets_a_different_barrier_in_the_other_path() {
    // The other lanes store a second value, then wait at their own bar.sync,
    // then store into the output: both groups are released together, so the
    // branch lanes see the other lanes' second store.
    let h = Hostile::new();
    let other = "    add.u32 r2, r0, 2000\n    st.shared.u32 [r1], r2\n    bar.sync\n\
                 add.u32 r3, r0, 7\n    st.global.u32 [out + r1], r3\n";
    let block = 96u32;
    for split in [1u32, 40, 95] {
        let src = branch_barrier_kernel(split, other);
        let out = ok(h.launch(
            &src,
            Dim3::x(3),
            Dim3::x(block),
            &[In::Buf(vec![0; 4 * block as usize])],
            1 << 20,
        ));
        let got = u32s(&out[0]);
        for lane in 0..block {
            let n = (lane + 1) % block;
            let want = if lane < split {
                if n < split { n + 1000 } else { n + 2000 }
            } else {
                lane + 7
            };
            assert_eq!(got[lane as usize], want, "split {split} lane {lane}");
        }
    }
}

#[test]
fn barrier_in_branch_with_lanes_looping_forever_hits_the_step_limit() {
    // Lanes that do not take the branch loop forever: the barrier can never
    // release, and the step limit (not a hang) ends the launch. With one
    // looping lane both engines name the same lane and instruction.
    let h = Hostile::new();
    let src = branch_barrier_kernel(63, "spin:\n    bra spin");
    let f = fault(h.launch(&src, Dim3::x(1), Dim3::x(64), &[In::Buf(vec![0; 256])], 300));
    assert_eq!(f.kind, FaultKind::StepLimit { limit: 300 });
    assert_eq!(f.lane, at(63));
    assert_eq!(f.source, "bra spin");

    // Several loopers: both engines fault with the step limit (the pool
    // engine may name another looping lane first, so only the kind and the
    // instruction are pinned).
    let src = branch_barrier_kernel(10, "spin:\n    bra spin");
    let kernel = compile(&src);
    for engine in Engine::ALL {
        let f = fault(h.launch_on(
            engine,
            &kernel,
            Dim3::x(2),
            Dim3::x(32),
            &[In::Buf(vec![0; 128])],
            300,
        ));
        assert_eq!(f.kind, FaultKind::StepLimit { limit: 300 }, "{engine:?}");
        assert!(f.lane.x >= 10, "{engine:?}: {f}");
        assert_eq!(f.source, "bra spin", "{engine:?}");
    }
}

#[test]
fn barrier_in_branch_of_a_loop_with_per_lane_trip_counts() {
    // Lane i runs the loop i % 5 times, with a bar.sync inside only every
    // other trip (a branch); lanes that finish exit. No deadlock; the
    // engines agree; each lane's own count is exact.
    let h = Hostile::new();
    let src = ".kernel lp\n.param out buf\n.shared 256\n\
               mov.u32 r0, %tid.x\n    rem.u32 r1, r0, 5\n    mov.u32 r2, 0\n\
               top:\n    setp.ge.u32 p0, r2, r1\n    @p0 bra done\n\
               and.u32 r3, r2, 1\n    setp.eq.u32 p1, r3, 0\n    @!p1 bra skip\n\
               bar.sync\n    add.u32 r5, r5, 1\n\
               skip:\n    add.u32 r2, r2, 1\n    bra top\n\
               done:\n    shl.u32 r4, r0, 2\n    st.global.u32 [out + r4], r5\n";
    let out = ok(h.launch(
        src,
        Dim3::x(2),
        Dim3::x(64),
        &[In::Buf(vec![0; 256])],
        1 << 20,
    ));
    let got = u32s(&out[0]);
    for lane in 0..64u32 {
        assert_eq!(got[lane as usize], (lane % 5).div_ceil(2), "lane {lane}");
    }
}

// ---------------------------------------------------------------------------
// Out of bounds at huge offsets and where the displacement overflows u64
// ---------------------------------------------------------------------------

#[test]
fn out_of_bounds_at_huge_offsets_and_overflowing_displacements() {
    let h = Hostile::new();
    let len = 64usize;
    // (address text, r2 value, exact first byte)
    let cases: Vec<(&str, u64, i128)> = vec![
        ("[buf + r2]", u64::MAX, u64::MAX as i128),
        ("[buf + r2]", u64::MAX - 7, (u64::MAX - 7) as i128),
        ("[buf + r2]", 1 << 63, 1 << 63),
        ("[buf + r2]", 1 << 32, 1 << 32),
        ("[buf + r2]", 64, 64),
        // r2 + IMM overflows u64: the offset is reported exactly, past u64.
        ("[buf + r2 + 8]", u64::MAX, u64::MAX as i128 + 8),
        ("[buf + r2 + 16]", u64::MAX - 7, u64::MAX as i128 + 9),
        (
            "[buf + r2 + 18446744073709551615]",
            u64::MAX,
            2 * u64::MAX as i128,
        ),
        ("[buf + r2 + 0x8000000000000000]", 1 << 63, 1 << 64),
        // Subtracting below zero.
        ("[buf + r2 - 8]", 0, -8),
        ("[buf + r2 - 18446744073709551615]", 0, -(u64::MAX as i128)),
        // An immediate alone.
        ("[buf + 18446744073709551608]", 0, (u64::MAX - 7) as i128),
    ];
    for (addr, r2, offset) in cases {
        for (what, instr) in [
            ("load", format!("ld.global.u64 r1, {addr}")),
            ("store", format!("st.global.u64 {addr}, r3")),
            ("atomic", format!("atom.global.add.u64 r1, {addr}, 1")),
            ("cas", format!("atom.global.cas.u64 r1, {addr}, 0, 5")),
        ] {
            let src = format!(
                ".kernel oob\n.param buf buf\n.param off u64\n\
                 mov.u64 r2, off\n    mov.u64 r3, 0xFFFF\n    {instr}\n"
            );
            let initial: Vec<u8> = (0..len as u8).collect();
            let f = fault(h.launch(
                &src,
                Dim3::x(1),
                Dim3::x(1),
                &[In::Buf(initial.clone()), In::Scalar(Arg::from(r2))],
                1000,
            ));
            assert_eq!(
                f.kind,
                FaultKind::OutOfBounds {
                    space: Space::Global,
                    buffer: Some("buf".into()),
                    offset,
                    size: 8,
                    len
                },
                "{what} {addr} with r2 = {r2}"
            );
            assert_eq!(f.instr, 2);
            // That the faulting access wrote nothing to the bound buffer is
            // checked by `faulting_accesses_leave_the_bound_buffer_unchanged`.
        }
    }
}

#[test]
fn faulting_accesses_leave_the_bound_buffer_unchanged() {
    // A single lane whose every access faults: the bound buffer itself is
    // unchanged too (nothing before the fault wrote to it).
    let h = Hostile::new();
    let initial: Vec<u8> = (0..64u8).map(|i| i ^ 0x5A).collect();
    for instr in [
        "st.global.u64 [buf + r2 + 8], r3",
        "st.global.u8 [buf + r2 + 1], r3",
        "atom.global.exch.u32 r1, [buf + r2 + 4], r3",
        "atom.global.add.f64 r1, [buf + r2 - 9223372036854775808], r3",
    ] {
        let src = format!(
            ".kernel w\n.param buf buf\n.param out buf\n\
             mov.u64 r2, 0xFFFFFFFFFFFFFFFF\n    mov.u64 r3, 0x1234\n    {instr}\n"
        );
        let kernel = compile(&src);
        for engine in Engine::ALL {
            let (bufs, result) = {
                let rt = &h.rt;
                let buf = rt.alloc_from(&initial).unwrap();
                let out = rt.alloc(8).unwrap();
                let r = rt.launch(
                    &kernel,
                    Dim3::x(1),
                    Dim3::x(1),
                    &[Arg::Buffer(buf), Arg::Buffer(out)],
                    LaunchOptions {
                        engine,
                        jit_wait: std::time::Duration::MAX,
                        max_steps: 100,
                        ..LaunchOptions::default()
                    },
                );
                let bufs = (rt.read(buf).unwrap(), rt.read(out).unwrap());
                rt.free(buf).unwrap();
                rt.free(out).unwrap();
                (bufs, r)
            };
            assert!(
                matches!(result, Err(LaunchError::Fault(ref f)) if matches!(f.kind, FaultKind::OutOfBounds { .. })),
                "{engine:?} {instr}: {result:?}"
            );
            assert_eq!(bufs.0, initial, "{engine:?} {instr}");
            assert_eq!(bufs.1, vec![0; 8], "{engine:?} {instr}");
        }
    }
}

// ---------------------------------------------------------------------------
// Misaligned atomics
// ---------------------------------------------------------------------------

#[test]
fn misaligned_atomics_fault_and_change_nothing() {
    let h = Hostile::new();
    let cases: Vec<(&str, &str, u64, usize)> = vec![
        // (space, instruction with address register r2, r2, size)
        ("global", "atom.global.add.u32 r1, [buf + r2], 1", 2, 4),
        ("global", "atom.global.add.u32 r1, [buf + r2], 1", 1, 4),
        ("global", "atom.global.max.i32 r1, [buf + r2 + 1], 1", 0, 4),
        ("global", "atom.global.exch.u64 r1, [buf + r2], 1", 4, 8),
        ("global", "atom.global.cas.u64 r1, [buf + r2], 0, 1", 12, 8),
        ("global", "atom.global.cas.i32 r1, [buf + r2], 0, 1", 6, 4),
        ("global", "atom.global.add.f64 r1, [buf + r2], 1.0", 52, 8),
        (
            "global",
            "atom.global.min.f32 r1, [buf + r2 - 1], 1.0",
            4,
            4,
        ),
        ("shared", "atom.shared.add.u64 r1, [r2], 1", 4, 8),
        ("shared", "atom.shared.cas.u32 r1, [r2 + 3], 0, 1", 0, 4),
        ("shared", "atom.shared.exch.f32 r1, [r2], 2.0", 30, 4),
    ];
    let initial: Vec<u8> = (0..64u8).map(|i| i.wrapping_mul(3)).collect();
    for (space, instr, r2, size) in cases {
        let src = format!(
            ".kernel mis\n.param buf buf\n.param off u64\n.shared 64\n\
             mov.u64 r2, off\n    {instr}\n"
        );
        let f = fault(h.launch(
            &src,
            Dim3::x(1),
            Dim3::x(1),
            &[In::Buf(initial.clone()), In::Scalar(Arg::from(r2))],
            100,
        ));
        let offset = {
            // The offset the instruction addresses.
            let imm: i64 = if instr.contains("+ 3]") {
                3
            } else if instr.contains("+ 1]") {
                1
            } else if instr.contains("- 1]") {
                -1
            } else {
                0
            };
            (r2 as i64 + imm) as u64
        };
        let (space_kind, buffer) = if space == "global" {
            (Space::Global, Some("buf".to_string()))
        } else {
            (Space::Shared, None)
        };
        assert_eq!(
            f.kind,
            FaultKind::Misaligned {
                space: space_kind,
                buffer,
                offset,
                size
            },
            "{instr} with r2 = {r2}"
        );
    }
    // The bound buffer is unchanged after a misaligned atomic: one lane,
    // nothing else writes.
    let kernel = compile(
        ".kernel mis\n.param buf buf\n    mov.u64 r2, 2\n    atom.global.add.u32 r1, [buf + r2], 1\n",
    );
    for engine in Engine::ALL {
        let b = h.rt.alloc_from(&initial).unwrap();
        let r = h.rt.launch(
            &kernel,
            Dim3::x(1),
            Dim3::x(1),
            &[Arg::Buffer(b)],
            LaunchOptions {
                engine,
                jit_wait: std::time::Duration::MAX,
                max_steps: 10,
                ..LaunchOptions::default()
            },
        );
        assert!(matches!(r, Err(LaunchError::Fault(_))));
        assert_eq!(h.rt.read(b).unwrap(), initial, "{engine:?}");
        h.rt.free(b).unwrap();
    }
}

// ---------------------------------------------------------------------------
// Shared-memory overrun
// ---------------------------------------------------------------------------

#[test]
fn shared_memory_overrun() {
    let h = Hostile::new();
    // (shared bytes, instruction, r2, offset, size)
    let cases: Vec<(u32, &str, u64, i128, usize)> = vec![
        (64, "st.shared.u32 [r2], r3", 64, 64, 4),
        (64, "ld.shared.u64 r1, [r2]", 60, 60, 8),
        (64, "ld.shared.u8 r1, [r2 + 1]", 63, 64, 1),
        (64, "st.shared.u16 [r2 - 2], r3", 0, -2, 2),
        (0, "ld.shared.u8 r1, [r2]", 0, 0, 1),
        (65536, "st.shared.u64 [r2], r3", 65536, 65536, 8),
        (
            65536,
            "ld.shared.u32 r1, [r2 + 8]",
            u64::MAX - 3,
            u64::MAX as i128 + 5,
            4,
        ),
        (
            65536,
            "atom.shared.add.u32 r1, [r2], 1",
            1 << 40,
            1 << 40,
            4,
        ),
        (
            16,
            "st.shared.f64 [r2 + 18446744073709551615], r3",
            2,
            u64::MAX as i128 + 2,
            8,
        ),
    ];
    for (shared, instr, r2, offset, size) in cases {
        // Block 1, lane 5 (of 8) is the one that goes on; others exit.
        let src = format!(
            ".kernel sh\n.param buf buf\n.param off u64\n.shared {shared}\n\
             mov.u64 r9, %gid\n    setp.ne.u64 p0, r9, 13\n    @p0 exit\n\
             mov.u64 r2, off\n    mov.u64 r3, 0xABCD\n    {instr}\n"
        );
        let f = fault(h.launch(
            &src,
            Dim3::x(2),
            Dim3::x(8),
            &[In::Buf(vec![9; 16]), In::Scalar(Arg::from(r2))],
            100,
        ));
        assert_eq!(
            f.kind,
            FaultKind::OutOfBounds {
                space: Space::Shared,
                buffer: None,
                offset,
                size,
                len: shared as usize
            },
            "{instr} with r2 = {r2}, .shared {shared}"
        );
        assert_eq!((f.block, f.lane, f.instr), (at(1), at(5), 5));
    }
}

#[test]
fn shared_memory_is_fresh_in_every_block() {
    // One block fills its whole 64 KiB of shared memory; the next must see
    // zeros (nothing leaks between blocks, even on one worker thread).
    let h = Hostile::new();
    let src = ".kernel fill\n.param out buf\n.shared 65536\n\
               mov.u32 r0, %tid.x\n    shl.u32 r0, r0, 3\n\
               ld.shared.u64 r1, [r0]\n    mov.u64 r9, %gid\n    shl.u64 r9, r9, 3\n\
               st.global.u64 [out + r9], r1\n\
               mov.u32 r2, 0\n\
               top:\n    add.u32 r3, r0, r2\n    st.shared.u64 [r3], 0xFFFFFFFFFFFFFFFF\n\
               add.u32 r2, r2, 8192\n    setp.lt.u32 p0, r2, 65536\n    @p0 bra top\n";
    let out = ok(h.launch(
        src,
        Dim3::x(6),
        Dim3::x(1024),
        &[In::Buf(vec![0xAA; 8 * 6 * 1024])],
        1 << 20,
    ));
    assert!(u64s(&out[0]).iter().all(|&v| v == 0));
}

// ---------------------------------------------------------------------------
// 1024-lane blocks using all 256 registers and 16 predicates
// ---------------------------------------------------------------------------

fn all_registers_kernel(fault_gid: Option<u64>) -> String {
    let mut s = String::from(".kernel regs\n.param out buf\n.param n u64\n");
    // r_i = gid * (i + 1) + i for every register, using every register.
    s.push_str("    mov.u64 r255, %gid\n");
    for i in 0..255u64 {
        s.push_str(&format!(
            "    mul.u64 r{i}, r255, {}\n    add.u64 r{i}, r{i}, {i}\n",
            i + 1
        ));
    }
    s.push_str("    mul.u64 r255, r255, 256\n    add.u64 r255, r255, 255\n");
    // Predicates: p_j = (gid >> j) & 1.
    for j in 0..16u64 {
        s.push_str(&format!(
            "    shr.u64 r254, r0, {j}\n    and.u64 r254, r254, 1\n    setp.ne.u64 p{j}, r254, 0\n"
        ));
    }
    // Restore r254 (it was scratch): r254 = gid * 255 + 254.
    s.push_str("    mul.u64 r254, r0, 255\n    add.u64 r254, r254, 254\n");
    // Sum every register into r253.
    for i in (0..253u64).rev() {
        s.push_str(&format!("    add.u64 r253, r253, r{i}\n"));
    }
    s.push_str("    add.u64 r253, r253, r254\n    add.u64 r253, r253, r255\n");
    // Fold the predicates in as bits 48..63.
    for j in 0..16u64 {
        s.push_str(&format!(
            "    selp.u64 r252, {}, 0, p{j}\n    add.u64 r253, r253, r252\n",
            1u64 << (48 + j)
        ));
    }
    if let Some(g) = fault_gid {
        // One lane then reads past the end.
        s.push_str(&format!(
            "    setp.eq.u64 p0, r0, {g}\n    @p0 ld.global.u64 r1, [out + r253]\n"
        ));
    }
    s.push_str("    shl.u64 r251, r0, 3\n    st.global.u64 [out + r251], r253\n");
    s
}

fn all_registers_expected(gid: u64) -> u64 {
    let mut sum = 0u64;
    for i in 0..256u64 {
        sum = sum.wrapping_add(gid.wrapping_mul(i + 1).wrapping_add(i));
    }
    for j in 0..16 {
        if (gid >> j) & 1 == 1 {
            sum = sum.wrapping_add(1 << (48 + j));
        }
    }
    sum
}

#[test]
fn blocks_of_1024_lanes_using_all_256_registers() {
    let h = Hostile::new();
    let src = all_registers_kernel(None);
    let lanes = 2 * 1024;
    let out = ok(h.launch(
        &src,
        Dim3::x(2),
        Dim3::new(16, 8, 8),
        &[In::Buf(vec![0; 8 * lanes]), In::Scalar(Arg::from(0u64))],
        1 << 20,
    ));
    let got = u64s(&out[0]);
    for (gid, &v) in got.iter().enumerate() {
        assert_eq!(v, all_registers_expected(gid as u64), "gid {gid}");
    }
}

#[test]
fn fault_in_the_last_lane_of_a_full_register_block() {
    let h = Hostile::new();
    let src = all_registers_kernel(Some(2047));
    let f = fault(h.launch(
        &src,
        Dim3::x(2),
        Dim3::x(1024),
        &[In::Buf(vec![0; 8 * 2048]), In::Scalar(Arg::from(0u64))],
        1 << 20,
    ));
    assert_eq!((f.block, f.lane), (at(1), at(1023)));
    assert_eq!(
        f.kind,
        FaultKind::OutOfBounds {
            space: Space::Global,
            buffer: Some("out".into()),
            offset: all_registers_expected(2047) as i128,
            size: 8,
            len: 8 * 2048
        }
    );
}

// ---------------------------------------------------------------------------
// A grid of 2^32 lanes with an early exit
// ---------------------------------------------------------------------------

/// Every lane exits after four instructions except lane 0 of each block
/// (counts blocks) and the lane whose `%gid` is `target` (stores its gid).
const HUGE_GRID: &str = ".kernel huge\n.param out buf\n.param target u64\n\
    mov.u64 r0, %gid\n    setp.eq.u64 p0, r0, target\n    @p0 st.global.u64 [out], r0\n\
    mov.u32 r1, %laneid\n    setp.ne.u32 p1, r1, 0\n    @p1 exit\n\
    atom.global.add.u64 r2, [out + 8], 1\n";

fn huge_grid(blocks: u32, targets: &[u64]) {
    let rt = Runtime::builder().threads(3).build().unwrap();
    let kernel = compile(HUGE_GRID);
    let lanes = blocks as u64 * 1024;
    let canary = rt.alloc_from(&canary_pattern(1)).unwrap();
    for &target in targets {
        let out = rt.alloc(16).unwrap();
        let stats = rt
            .launch(
                &kernel,
                Dim3::x(blocks),
                Dim3::x(1024),
                &[Arg::Buffer(out), Arg::from(target)],
                LaunchOptions::default(),
            )
            .unwrap();
        assert_eq!(stats.blocks, blocks as u64);
        assert_eq!(stats.lanes, lanes as u128);
        let got = u64s(&rt.read(out).unwrap());
        assert_eq!(got, [target, blocks as u64], "lost lanes or blocks");
        rt.free(out).unwrap();
    }
    assert_eq!(rt.read(canary).unwrap(), canary_pattern(1));
}

/// The default-suite size: 2^20 lanes (about a second in a debug build).
#[test]
fn grid_of_2_pow_20_lanes_with_early_exit() {
    huge_grid(1 << 10, &[(1 << 20) - 1, (1 << 19) + 3]);
}

#[test]
#[ignore = "2^26 lanes: under a second in release, a minute in debug; run with --release -- --ignored"]
fn grid_of_2_pow_26_lanes_with_early_exit() {
    huge_grid(1 << 16, &[(1 << 26) - 1, (1 << 25) + 3]);
}

#[test]
#[ignore = "2^32 lanes: about 15 s in release on 2 cores (minutes in debug); run with --release -- --ignored"]
fn grid_of_2_pow_32_lanes_with_early_exit() {
    // The last lane's %gid is 2^32 - 1; every block must count itself.
    huge_grid(1 << 22, &[(1 << 32) - 1]);
}

#[test]
fn grid_of_2_pow_32_lanes_in_a_3d_grid_faults_at_once() {
    // The whole 2^32-lane grid is not run here (see the ignored test): lane
    // 0 of every block faults, which shows a launch of that shape is
    // accepted, %gid past 2^32 does not wrap (the fault offset is
    // `%gid * 8`), and a fault ends the launch without running the grid.
    let h = Hostile::new();
    let src = ".kernel big\n.param out buf\n    mov.u32 r0, %laneid\n    setp.ne.u32 p0, r0, 0\n\
               @p0 exit\n    mov.u64 r1, %gid\n    shl.u64 r1, r1, 3\n    ld.global.u64 r2, [out + r1]\n";
    let kernel = compile(src);
    let grid = Dim3::new(1 << 11, 1 << 11, 1);
    for engine in Engine::ALL {
        let f = fault(h.launch_on(
            engine,
            &kernel,
            grid,
            Dim3::x(1024),
            &[In::Buf(vec![0; 8])],
            100,
        ));
        assert_eq!(f.lane, Dim3::new(0, 0, 0));
        let linear = f.block.x as u64 + 2048 * f.block.y as u64;
        let FaultKind::OutOfBounds { offset, .. } = f.kind else {
            panic!("{engine:?}: {f}");
        };
        assert_eq!(offset, (linear * 1024 * 8) as i128, "{engine:?}: {f}");
        if engine == Engine::Reference {
            assert_eq!(f.block, Dim3::new(1, 0, 0));
        }
    }
}

// ---------------------------------------------------------------------------
// Aliasing and buffers freed under a running launch
// ---------------------------------------------------------------------------

#[test]
fn one_buffer_bound_to_two_parameters() {
    // Reads through `a`, writes through `b`, the same buffer: each lane
    // touches only its own element, so the result is defined.
    let h = Hostile::new();
    let k = compile(
        ".kernel alias\n.param a buf\n.param b buf\n    mov.u64 r0, %gid\n    shl.u64 r0, r0, 3\n\
         ld.global.u64 r1, [a + r0]\n    add.u64 r1, r1, 1\n    st.global.u64 [b + r0], r1\n",
    );
    for engine in Engine::ALL {
        let init: Vec<u8> = (0..512u64).flat_map(|i| (i * 10).to_le_bytes()).collect();
        let x = h.rt.alloc_from(&init).unwrap();
        let canary = h.rt.alloc_from(&canary_pattern(9)).unwrap();
        h.rt.launch(
            &k,
            Dim3::x(4),
            Dim3::x(128),
            &[Arg::Buffer(x), Arg::Buffer(x)],
            LaunchOptions {
                engine,
                jit_wait: std::time::Duration::MAX,
                ..LaunchOptions::default()
            },
        )
        .unwrap();
        let want: Vec<u64> = (0..512).map(|i| i * 10 + 1).collect();
        assert_eq!(u64s(&h.rt.read(x).unwrap()), want, "{engine:?}");
        assert_eq!(h.rt.read(canary).unwrap(), canary_pattern(9));
        h.rt.free(x).unwrap();
        h.rt.free(canary).unwrap();
    }
}

#[test]
fn freeing_a_buffer_during_its_launch_is_safe() {
    // Another host thread frees the launch's buffer while its lanes spin
    // writing to it: the launch keeps the memory alive until it returns (its
    // step-limit fault), the id is gone afterwards, and nothing else changes.
    let rt = Runtime::builder().threads(3).build().unwrap();
    let k = compile(
        ".kernel spin\n.param x buf\n    mov.u64 r0, %gid\n    shl.u64 r0, r0, 3\n\
         top:\n    add.u64 r1, r1, 1\n    st.global.u64 [x + r0], r1\n    bra top\n",
    );
    let canary = rt.alloc_from(&canary_pattern(4)).unwrap();
    for engine in Engine::ALL {
        let x = rt.alloc(8 * 256).unwrap();
        std::thread::scope(|s| {
            let launch = s.spawn(|| {
                rt.launch(
                    &k,
                    Dim3::x(2),
                    Dim3::x(128),
                    &[Arg::Buffer(x)],
                    LaunchOptions {
                        engine,
                        jit_wait: std::time::Duration::MAX,
                        max_steps: 20_000,
                        ..LaunchOptions::default()
                    },
                )
            });
            // Whether the free lands before, during or after the launch, it
            // must not crash; before, the launch reports the missing buffer.
            rt.free(x).unwrap();
            match launch.join().unwrap() {
                Err(LaunchError::Fault(f)) => {
                    assert_eq!(f.kind, FaultKind::StepLimit { limit: 20_000 })
                }
                Err(LaunchError::Memory(_)) => {}
                other => panic!("{engine:?}: {other:?}"),
            }
        });
        assert!(rt.read(x).is_err(), "a freed buffer reads");
    }
    assert_eq!(rt.read(canary).unwrap(), canary_pattern(4));
    rt.free(canary).unwrap();
    assert_eq!(rt.buffer_count(), 0);
}

// ---------------------------------------------------------------------------
// The engines without the pool (small enough for Miri)
// ---------------------------------------------------------------------------

/// The block engine and the reference engine called directly on one thread,
/// over the hostile accesses of this file: this is the test Miri runs over
/// the engines (`docs/DEVELOPMENT.md`), as the pool's idle spinning makes
/// every launch through a `Runtime` very slow under Miri.
#[test]
fn engines_on_one_thread_fault_alike_on_hostile_accesses() {
    use lanes::engine::{LaunchSpec, block, reference};
    use lanes::launch::BoundArgs;
    use lanes::memory::Buffer;

    type Expect = fn(&FaultKind) -> bool;
    type RunEngine = fn(&LaunchSpec<'_>) -> Result<(), Box<Fault>>;
    let cases: [(&str, u64, Expect); 6] = [
        (
            "ld.global.u64 r1, [buf + r2 + 8]",
            u64::MAX,
            |k| matches!(k, FaultKind::OutOfBounds { offset, .. } if *offset == u64::MAX as i128 + 8),
        ),
        ("st.global.u32 [buf + r2 - 4], r2", 0, |k| {
            matches!(k, FaultKind::OutOfBounds { offset: -4, .. })
        }),
        ("atom.global.add.u32 r1, [buf + r2], 1", 2, |k| {
            matches!(
                k,
                FaultKind::Misaligned {
                    offset: 2,
                    size: 4,
                    ..
                }
            )
        }),
        ("atom.shared.cas.u64 r1, [r2], 0, 1", 12, |k| {
            matches!(
                k,
                FaultKind::Misaligned {
                    offset: 12,
                    size: 8,
                    ..
                }
            )
        }),
        ("st.shared.u64 [r2], r2", 32, |k| {
            matches!(
                k,
                FaultKind::OutOfBounds {
                    offset: 32,
                    len: 32,
                    ..
                }
            )
        }),
        ("top: bra top", 0, |k| {
            matches!(k, FaultKind::StepLimit { limit: 50 })
        }),
    ];
    for (instr, r2, want) in cases {
        let src = format!(
            ".kernel k\n.param buf buf\n.param off u64\n.shared 32\n\
             mov.u64 r3, %gid\n    shl.u64 r3, r3, 3\n    st.global.u64 [buf + r3], r3\n\
             setp.ne.u64 p0, r3, 40\n    @p0 exit\n    mov.u64 r2, off\n    {instr}\n"
        );
        let kernel = compile(&src);
        let mut faults = Vec::new();
        let engines: [RunEngine; 2] = [reference::run, block::run];
        for run in engines {
            let buf = Arc::new(Buffer::zeroed(64).unwrap());
            let args = BoundArgs {
                buffers: vec![buf.clone()],
                scalars: vec![r2],
            };
            let spec = LaunchSpec {
                kernel: &kernel,
                grid: Dim3::x(2),
                block: Dim3::x(4),
                args: &args,
                max_steps: 50,
                stop: &lanes::engine::StopFlag::new(),
            };
            let f = run(&spec).expect_err(instr);
            assert!(want(&f.kind), "{instr}: {f}");
            assert_eq!((f.block, f.lane), (at(1), at(1)), "{instr}");
            // Lanes wrote only their own word.
            assert!(
                u64s(&buf.to_bytes())
                    .iter()
                    .enumerate()
                    .all(|(i, &v)| v == 0 || v == 8 * i as u64)
            );
            faults.push(f);
        }
        assert_eq!(faults[0], faults[1], "{instr}");
    }
}

// ---------------------------------------------------------------------------
// Stopping running blocks: faults and deadlines
// ---------------------------------------------------------------------------

#[test]
fn a_fault_stops_blocks_that_are_already_running() {
    // Two blocks of 1024 lanes, one pool task each. Block 1 announces that
    // it runs, waits for block 0's answer, then loops a million times before
    // it marks itself done; block 0 answers and faults at once. The fault
    // must stop block 1 in its loop: the mark stays 0. (Before the stop flag
    // was polled inside blocks, block 1 ran its loop out and wrote it.)
    let src = ".kernel k\n.param s buf\n\
        mov.u32 r0, %ctaid.x\n setp.eq.u32 p0, r0, 0\n @p0 bra waiter\n\
        atom.global.exch.u32 r1, [s], 1\n\
        ack:\n atom.global.add.u32 r1, [s + 4], 0\n setp.eq.u32 p1, r1, 0\n @p1 bra ack\n\
        mov.u32 r2, 0\n\
        long:\n add.u32 r2, r2, 1\n setp.lt.u32 p2, r2, 1000000\n @p2 bra long\n\
        st.global.u32 [s + 8], r2\n exit\n\
        waiter:\n atom.global.add.u32 r1, [s], 0\n setp.eq.u32 p1, r1, 0\n @p1 bra waiter\n\
        atom.global.exch.u32 r1, [s + 4], 1\n ld.global.u32 r3, [s + 4096]\n";
    let kernel = compile(src);
    let rt = Runtime::builder().threads(3).build().unwrap();
    for _ in 0..3 {
        let s = rt.alloc(16).unwrap();
        let options = LaunchOptions {
            max_steps: 1 << 26,
            ..LaunchOptions::default()
        };
        let r = rt.launch(
            &kernel,
            Dim3::x(2),
            Dim3::x(1024),
            &[Arg::Buffer(s)],
            options,
        );
        let f = match r {
            Err(LaunchError::Fault(f)) => f,
            other => panic!("expected block 0's fault, got {other:?}"),
        };
        assert!(matches!(f.kind, FaultKind::OutOfBounds { .. }), "{f}");
        assert_eq!(f.block, at(0));
        let words = u32s(&rt.read(s).unwrap());
        assert_eq!(words[..2], [1, 1], "both blocks ran");
        assert_eq!(words[2], 0, "block 1 was stopped inside its loop");
        rt.free(s).unwrap();
    }
}

#[test]
fn a_timeout_stops_an_endless_lane_and_names_the_unfinished_blocks() {
    // Lane 0 of block 1 loops for ever (within a step limit far beyond the
    // timeout); every other lane marks itself done.
    let src = ".kernel k\n.param x buf\n\
        mov.u32 r0, %ctaid.x\n mov.u32 r1, %tid.x\n\
        setp.eq.u32 p0, r0, 1\n setp.eq.u32 p1, r1, 0\n and.pred p0, p0, p1\n\
        spin:\n @p0 bra spin\n\
        mov.u64 r2, %gid\n shl.u64 r2, r2, 2\n st.global.u32 [x + r2], 1\n";
    let kernel = compile(src);
    let rt = Runtime::builder().threads(3).build().unwrap();
    let (grid, block) = (Dim3::x(3), Dim3::x(64));
    for engine in Engine::ALL {
        let x = rt.alloc(4 * 3 * 64).unwrap();
        let options = LaunchOptions {
            engine,
            jit_wait: std::time::Duration::MAX,
            // Far beyond what any engine runs within the timeout (the
            // interpreters ran 2^25 steps within it in a release build).
            max_steps: if engine == Engine::Jit {
                1 << 40
            } else {
                1 << 32
            },
            timeout: Some(std::time::Duration::from_millis(100)),
        };
        let err = rt
            .launch(&kernel, grid, block, &[Arg::Buffer(x)], options)
            .unwrap_err();
        let msg = err.to_string();
        let LaunchError::Timeout {
            kernel: name,
            blocks,
            unfinished,
            ranges,
            ..
        } = err
        else {
            panic!("{engine:?}: expected a timeout, got {msg}");
        };
        assert_eq!((name.as_str(), blocks), ("k", 3));
        assert!(
            msg.contains("did not finish within its timeout of 100ms"),
            "{msg}"
        );
        assert!(ranges.iter().any(|r| r.contains(&1)), "{engine:?}: {msg}");
        assert_eq!(
            unfinished,
            ranges.iter().map(|r| r.end - r.start).sum::<u64>(),
            "{msg}"
        );
        // Every block not listed as unfinished did finish.
        let done = u32s(&rt.read(x).unwrap());
        for b in (0..3u64).filter(|b| !ranges.iter().any(|r| r.contains(b))) {
            let lanes = &done[b as usize * 64..(b as usize + 1) * 64];
            assert!(lanes.iter().all(|&d| d == 1), "{engine:?}: block {b}");
        }
        if engine == Engine::Reference {
            // One lane at a time, in order: block 2 never started.
            assert_eq!(ranges, vec![1..3], "{msg}");
            assert!(
                msg.ends_with("2 of 3 blocks had not finished: (1, 0, 0)..=(2, 0, 0)"),
                "{msg}"
            );
        }
        rt.free(x).unwrap();
        // A generous deadline changes nothing for a launch that ends.
        let ok = compile(".kernel ok\n    exit\n");
        let options = LaunchOptions {
            engine,
            jit_wait: std::time::Duration::MAX,
            timeout: Some(std::time::Duration::from_secs(600)),
            ..LaunchOptions::default()
        };
        rt.launch(&ok, Dim3::x(4), Dim3::x(64), &[], options)
            .unwrap();
    }
}

#[test]
fn a_stop_flag_cancels_a_spin_that_stores_nothing_on_every_engine_and_tier() {
    // A loop with no store in it: compiled code must still reload the flag
    // on each trip (a compiler may merge loads that nothing in between can
    // change). The step limit is far beyond what runs before the stop.
    use lanes::engine::jit::{self, Tier};
    use lanes::engine::{LaunchSpec, block, reference};
    type RunEngine = fn(&LaunchSpec<'_>) -> Result<(), LaunchError>;
    let sources = [
        ".kernel spin\nloop:\n bra loop\n",
        ".kernel spin\n mov.u32 r0, %tid.x\nloop:\n add.u32 r0, r0, 1\n bra loop\n",
        // A loop that provably ends, with a barrier on every trip: the gang
        // tier runs each trip as a pass over the block's gangs.
        ".kernel spin\n mov.u32 r1, 1000000000\nloop:\n sub.u32 r1, r1, 1\n bar.sync\n\
         setp.ne.u32 p0, r1, 0\n @p0 bra loop\n",
    ];
    let runs: [(&str, RunEngine); 5] = [
        ("reference", |s| {
            reference::run(s).map_err(LaunchError::Fault)
        }),
        ("pool", |s| block::run(s).map_err(LaunchError::Fault)),
        ("jit", |s| jit::run_on_tier(s, None)),
        ("jit lane", |s| jit::run_on_tier(s, Some(Tier::Lane))),
        ("jit gang", |s| jit::run_on_tier(s, Some(Tier::Gang))),
    ];
    for src in sources {
        let kernel = compile(src);
        for (name, run) in runs {
            // Seconds of compiled code: a missed flag fails, not hangs.
            let (result, unfinished) = run_stopped(&kernel, Vec::new(), 1 << 34, run);
            assert!(result.is_ok(), "{name}: {src}: {result:?}");
            assert_eq!(unfinished, 2, "{name}: {src}");
        }
    }
}

/// Runs `kernel` over 2 blocks of 8 lanes with `buffers` through `run`, and
/// sets the launch's stop flag 20 ms in: the result and how many blocks
/// did not finish.
fn run_stopped(
    kernel: &Kernel,
    buffers: Vec<Arc<lanes::memory::Buffer>>,
    max_steps: u64,
    run: impl FnOnce(&lanes::engine::LaunchSpec<'_>) -> Result<(), LaunchError>,
) -> (Result<(), LaunchError>, u64) {
    let stop = lanes::engine::StopFlag::new();
    let args = lanes::launch::BoundArgs {
        buffers,
        scalars: Vec::new(),
    };
    let spec = lanes::engine::LaunchSpec {
        kernel,
        grid: Dim3::x(2),
        block: Dim3::x(8),
        args: &args,
        max_steps,
        stop: &stop,
    };
    let result = std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(std::time::Duration::from_millis(20));
            stop.set();
        });
        run(&spec)
    });
    (result, stop.unfinished().blocks)
}

#[test]
fn a_stop_flag_ends_a_long_loop_without_barriers_in_a_lockstep_kernel_within_the_loop() {
    // A loop that provably ends (so the gang tier runs the kernel in
    // lockstep passes) but takes seconds, with no barrier inside: its
    // backward branch must keep its own check of the flag, or the lanes
    // finish the loop and store before the pass's check stops them.
    use lanes::engine::jit::{self, Tier};
    use lanes::memory::Buffer;
    let src = ".kernel spin\n.param x buf\n mov.u32 r1, 4000000000\nloop:\n sub.u32 r1, r1, 1\n\
               setp.ne.u32 p0, r1, 0\n @p0 bra loop\n st.global.u32 [x], 1\n bar.sync\n";
    let kernel = compile(src);
    let x = Arc::new(Buffer::zeroed(4).unwrap());
    let (result, unfinished) = run_stopped(&kernel, vec![Arc::clone(&x)], 1 << 36, |s| {
        jit::run_on_tier(s, Some(Tier::Gang))
    });
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(unfinished, 2);
    assert_eq!(u32s(&x.to_bytes()), [0], "a lane finished the loop");
}

#[test]
fn a_fault_is_not_starved_by_lanes_that_spin_beside_it() {
    // Block 0's lane faults after a few steps; the other 63 blocks' lanes
    // spin. The pool engine runs such blocks as one lockstep unit, and its
    // lowest-pc-first order would run the spinners (at a lower pc) to their
    // step limit before the faulting lane: it must take turns instead. The
    // timeout only turns a regression into a failure rather than a hang.
    let src = ".kernel s\n.param x buf\n mov.u32 r0, %ctaid.x\n setp.eq.u32 p0, r0, 0\n\
               @p0 bra fault\nloop:\n bra loop\nfault:\n ld.global.u32 r1, [x + 4096]\n";
    let kernel = compile(src);
    for threads in [1, 2] {
        let rt = Runtime::builder().threads(threads).build().unwrap();
        for engine in Engine::ALL {
            let x = rt.alloc(16).unwrap();
            let options = LaunchOptions {
                engine,
                jit_wait: std::time::Duration::MAX,
                max_steps: 1 << 40,
                timeout: Some(std::time::Duration::from_secs(60)),
            };
            let err = rt
                .launch(&kernel, Dim3::x(64), Dim3::x(1), &[Arg::Buffer(x)], options)
                .unwrap_err();
            let LaunchError::Fault(f) = &err else {
                panic!("{engine:?}, {threads} threads: expected the fault, got {err}");
            };
            assert!(
                matches!(f.kind, FaultKind::OutOfBounds { .. }),
                "{engine:?}: {f}"
            );
            assert_eq!(f.block, Dim3::new(0, 0, 0), "{engine:?}");
            rt.free(x).unwrap();
        }
    }
}
