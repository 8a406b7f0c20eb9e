//! Inputs the fuzz targets (`fuzz/`) ran into, replayed with the very checks
//! the targets make (`fuzz/src/checks.rs` is included here as a module).
//!
//! Every input that ever found a bug gets a test here, named for what it
//! found; `cargo fuzz fmt TARGET ARTIFACT` prints a structured input as the
//! LASM and launch to paste. Inputs that found no bug but cover a corner the
//! fuzzers reached only slowly are kept too, marked as such. Inputs of bugs
//! not fixed yet are `#[ignore]`d tests whose reason names the bug.

#[allow(dead_code, clippy::all)]
#[path = "../fuzz/src/checks.rs"]
mod checks;
#[allow(dead_code, clippy::all)]
#[path = "../fuzz/src/jit_case.rs"]
mod jit_case;

use checks::{Hostile, Valid, check_assembler, check_differential, check_hostile, check_jit};
use jit_case::{Faults, JitCase, vout_regions};
use lanes::Dim3;
use lanes::engine::jit::Tier;

fn hostile(source: &str, grid: Dim3, block: Dim3, buffers: &[&[u8]], max_steps: u64) -> Hostile {
    Hostile {
        source: source.to_string(),
        grid,
        block,
        buffers: buffers.iter().map(|b| b.to_vec()).collect(),
        scalars: vec![u64::MAX, 3],
        max_steps,
    }
}

// ---------------------------------------------------------------------------
// assemble
// ---------------------------------------------------------------------------

#[test]
fn assembler_corner_inputs() {
    // Corners: empty input, invalid UTF-8, a lone `.kernel`, labels only,
    // a label named like a register, numbers at u64's edge, stray operators.
    let inputs: &[&[u8]] = &[
        b"",
        b"\xff\xfe\x00",
        b".kernel",
        b".kernel k\nL0:\nL0:\n",
        b".kernel k\nr1:\n bra r1\n",
        b".kernel k\n mov.u64 r0, 18446744073709551616\n",
        b".kernel k\n mov.u64 r0, -0x8000000000000001\n",
        b".kernel k\n.param a buf\n ld.global.u8 r0, [a + r1 - 18446744073709551615]\n",
        b".kernel k\n.shared 18446744073709551615\n",
        b".kernel k\n mov.f32 r0, 1e400\n mov.f64 r1, -nan\n",
        b".kernel k\n @p16 exit\n @!p0 bar.sync\n",
        b".kernel k\n[[[]]]]] ,,, @@ %tid.w\n",
        b";\n//\n.kernel k ; c\n.kernel k\n",
    ];
    for input in inputs {
        check_assembler(input);
    }
}

// ---------------------------------------------------------------------------
// run_reference
// ---------------------------------------------------------------------------

#[test]
fn hostile_corner_programs() {
    let cases = [
        // An endless loop at the step limit, in a 1024-lane block.
        hostile(
            ".kernel k0\n.param a buf\nL0: bra L0\n",
            Dim3::x(1),
            Dim3::x(1024),
            &[&[1; 8]],
            100,
        ),
        // A barrier inside a branch with an endless loop on the other path.
        hostile(
            ".kernel k0\n.param a buf\n setp.eq.u32 p0, %laneid, 0\n @p0 bra L1\n bar.sync\n exit\nL1: bra L1\n",
            Dim3::x(2),
            Dim3::x(33),
            &[&[]],
            64,
        ),
        // Shared memory at the limit, accessed at u64::MAX + 8.
        hostile(
            ".kernel k0\n.shared 65536\n mov.u64 r1, 0xFFFFFFFFFFFFFFFF\n st.shared.u64 [r1 + 8], r1\n",
            Dim3::x(1),
            Dim3::x(1),
            &[&[]],
            10,
        ),
        // Zero-length buffer, atomics on it.
        hostile(
            ".kernel k0\n.param a buf\n atom.global.cas.u64 r0, [a], 0, 1\n",
            Dim3::x(3),
            Dim3::new(2, 2, 2),
            &[&[]],
            10,
        ),
        // Launch shapes that are not allowed.
        hostile(
            ".kernel k0\n exit\n",
            Dim3::new(0, 1, 1),
            Dim3::x(1),
            &[],
            10,
        ),
        hostile(".kernel k0\n exit\n", Dim3::x(1), Dim3::x(1025), &[], 10),
        hostile(
            ".kernel k0\n exit\n",
            Dim3::new(u32::MAX, 2, u32::MAX),
            Dim3::new(1024, 1, 1),
            &[],
            10,
        ),
        // Zero step budget.
        hostile(
            ".kernel k0\n mov.u32 r0, 1\n",
            Dim3::x(1),
            Dim3::x(4),
            &[],
            0,
        ),
    ];
    for case in &cases {
        check_hostile(case);
    }
}

// ---------------------------------------------------------------------------
// differential
// ---------------------------------------------------------------------------

/// The prologue and epilogue of the differential generator around `body`.
fn valid(body: &str, grid: Dim3, block: Dim3, max_steps: u64) -> Valid {
    let lanes = block.x * block.y * block.z;
    let mut s = format!(
        ".kernel gen\n.param inp buf\n.param out buf\n.param counter buf\n.param k u32\n.shared {}\n\
         mov.u64 r31, %gid\n mul.u64 r31, r31, 128\n mov.u32 r28, %laneid\n add.u32 r27, r28, 1\n\
         rem.u32 r27, r27, {lanes}\n shl.u32 r28, r28, 3\n shl.u32 r27, r27, 3\n",
        lanes * 8
    );
    for r in 0..12 {
        s.push_str(&format!(
            " add.u64 r{r}, %gid, {}\n and.u64 r{r}, r{r}, 0x1F\n shl.u64 r{r}, r{r}, 3\n ld.global.u64 r{r}, [inp + r{r}]\n",
            r * 8
        ));
    }
    s.push_str(body);
    for r in 0..12 {
        s.push_str(&format!(
            " atom.global.exch.u64 r29, [out + r31 + {}], r{r}\n",
            r * 8
        ));
    }
    Valid {
        source: s,
        grid,
        block,
        input: (0..=255u8).collect(),
        k: 7,
        max_steps,
    }
}

#[test]
fn differential_corner_programs() {
    let cases = [
        // Barriers in both arms of a divergent branch.
        valid(
            " setp.lt.u32 p0, r0, r1\n @p0 bra a\n bar.sync\n add.u64 r2, r2, 1\n bra b\na:\n bar.sync\n add.u64 r3, r3, 1\nb:\n",
            Dim3::new(2, 2, 1),
            Dim3::new(7, 3, 1),
            1 << 14,
        ),
        // A budget that runs out in the middle of divergent loops.
        valid(
            " and.u32 r20, r0, 3\ntop:\n setp.eq.u32 p7, r20, 0\n @p7 bra end\n mul.u64 r1, r1, r2\n sub.u32 r20, r20, 1\n bra top\nend:\n",
            Dim3::x(3),
            Dim3::x(40),
            70,
        ),
        // Early exits between a shared-memory write and the barrier.
        valid(
            " st.shared.u64 [r28], r0\n setp.gt.u64 p1, r1, r2\n @p1 exit\n bar.sync\n ld.shared.u64 r3, [r27]\n bar.sync\n",
            Dim3::x(2),
            Dim3::x(1024),
            2000,
        ),
    ];
    for case in &cases {
        check_differential(case);
    }
}

// ---------------------------------------------------------------------------
// jit
// ---------------------------------------------------------------------------

/// A `jit` target case: the generator's parameters and `out` slot (r31),
/// then `body`, on `inp` words 0, 1, 2, ... (`inp_len` bytes).
fn jit_case(body: &str, grid: Dim3, block: Dim3, inp_len: usize) -> JitCase {
    let total = (grid.count() * block.count()) as u64;
    JitCase {
        source: format!(
            ".kernel gen\n.param inp buf\n.param out buf\n.param vout buf\n.param edge buf\n\
             .param junk buf\n.param counter buf\n.param k u32\n.param s i64\n.param x f64\n\
             .shared {}\n mov.u64 r31, %gid\n mul.u64 r31, r31, 256\n{body}",
            block.count() * 16 + 8
        ),
        grid,
        block,
        pattern: (0..64).collect(),
        inp_len,
        edge_len: total as usize * 8,
        junk_len: 0,
        k: 7,
        s: -3,
        x: 1.5f64.to_bits(),
        max_steps: 1 << 20,
        faults: Faults::None,
        lane: 0,
        lockstep: None,
    }
}

#[test]
fn jit_corner_programs() {
    // Not findings: corners of the gang tier the generator reaches, with
    // the tier each must run on (so a change of tier choice shows here).
    let (vout, _) = vout_regions(3 * 30);
    let cases = [
        // Contiguous loads and stores in blocks whose lanes do not fill the
        // last gang (30 lanes: 7 gangs and 2 lanes), in reverse lane order
        // too, with a per-lane exit.
        (
            jit_case(
                &format!(
                    " shl.u64 r1, %gid, 2\n ld.global.f32 r2, [inp + r1 + 4]\n\
                     sub.u64 r3, 89, %gid\n shl.u64 r3, r3, 2\n\
                     setp.eq.u32 p0, r2, 0\n @p0 exit\n\
                     st.global.f32 [vout + r3 + {}], r2\n st.global.u64 [out + r31], r2\n",
                    vout[5]
                ),
                Dim3::x(3),
                Dim3::x(30),
                2048,
            ),
            Tier::Gang,
        ),
        // %tid.x is not affine when blocks are 2-D and x is not a multiple
        // of 4: a gang spans two rows.
        (
            jit_case(
                " mul.u32 r1, %tid.x, 3\n add.u32 r1, r1, %tid.y\n st.global.u64 [out + r31], r1\n",
                Dim3::new(2, 1, 1),
                Dim3::new(5, 3, 2),
                1024,
            ),
            Tier::Gang,
        ),
        // A step budget that runs out in a uniform loop (the lockstep exact
        // path), each lane at the same step.
        (
            JitCase {
                max_steps: 40,
                faults: Faults::Steps,
                ..jit_case(
                    " and.u32 r20, k, 3\ntop:\n setp.eq.u32 p7, r20, 0\n @p7 bra end\n\
                     add.u64 r1, r1, %gid\n sub.u32 r20, r20, 1\n bra top\nend:\n bra top\n",
                    Dim3::x(2),
                    Dim3::x(9),
                    1024,
                )
            },
            Tier::Gang,
        ),
        // The last lane's contiguous load runs past the end of `edge`: the
        // vector check must find that lane, and only it faults.
        (
            JitCase {
                edge_len: 8 * 23 + 5,
                faults: Faults::OneLane,
                lane: 23,
                ..jit_case(
                    " shl.u64 r1, %gid, 3\n ld.global.u64 r2, [edge + r1]\n st.global.u64 [out + r31], r2\n",
                    Dim3::x(2),
                    Dim3::new(4, 3, 1),
                    1024,
                )
            },
            Tier::Gang,
        ),
    ];
    for (case, tier) in &cases {
        assert_eq!(check_jit(case), *tier, "{case:?}");
    }
}

/// A tree reduction whose barriers every lane meets in lockstep (the
/// generator's lockstep programs, `fuzz/src/jit_gen.rs`) on `inp` words 0,
/// 2, 4, ...: `s` halving from half the block's lanes, a barrier per trip.
/// The lanes below `s` fold slot `lane + s` into their own, after work, in
/// a basic block of its own, that a shortened trip must not skip in later
/// gangs (each lane adds its word to r2 in every trip: r2 is not
/// block-invariant, so that work is not pure). With `up`, the lanes from
/// `lanes - s` on fold slot `lane - s`, with no work before the test: the
/// lanes that skip a trip's work are a prefix, so no trip may be shortened.
/// `max_steps` against the JIT's step bound: 12 instructions outside the
/// loop, 15 (14 with `up`) in it, each counted 66 times.
fn lockstep_tree(up: bool, block: Dim3, max_steps: u64) -> JitCase {
    let lanes = block.count();
    let (test, result, in_loop) = if up {
        let test = format!(
            " sub.u32 r39, {lanes}, r36\n setp.lt.u32 p11, r35, r39\n @p11 bra trip\n\
             sub.u32 r37, r35, r36\n"
        );
        (test, (lanes - 1) * 16 + 8, 14)
    } else {
        let test = " add.u32 r2, r2, r1\n bra test\ntest:\n setp.lt.u32 p11, r35, r36\n\
                    @!p11 bra trip\n add.u32 r37, r35, r36\n";
        (test.to_string(), 8, 15)
    };
    JitCase {
        max_steps,
        lockstep: Some(12 + 66 * in_loop),
        ..jit_case(
            &format!(
                " mov.u32 r35, %laneid\n shl.u32 r27, r35, 4\n ld.global.u64 r1, [inp + r27]\n\
                 st.shared.u64 [r27 + 8], r1\n bar.sync\n mov.u32 r36, {lanes}\n shr.u32 r36, r36, 1\n\
                 top:\n setp.eq.u32 p10, r36, 0\n @p10 bra end\n{test} shl.u32 r37, r37, 4\n\
                 ld.shared.u64 r38, [r37 + 8]\n ld.shared.u64 r47, [r27 + 8]\n add.u64 r47, r47, r38\n\
                 st.shared.u64 [r27 + 8], r47\n\
                 trip:\n bar.sync\n shr.u32 r36, r36, 1\n bra top\n\
                 end:\n ld.shared.u64 r3, [{result}]\n st.global.u64 [out + r31], r2\n\
                 st.global.u64 [out + r31 + 8], r3\n"
            ),
            Dim3::x(2),
            block,
            1024,
        )
    }
}

#[test]
fn jit_lockstep_tree_reductions() {
    // Not findings: the lockstep scheme's tree reductions, with the tier
    // each must run on. With a budget short of the JIT's step bound by
    // one, it counts steps: one lane at a time.
    let bound = 12 + 66 * 15;
    let cases = [
        (lockstep_tree(false, Dim3::x(30), bound), Tier::Gang),
        (lockstep_tree(false, Dim3::x(30), bound - 1), Tier::Lane),
        (
            lockstep_tree(true, Dim3::new(6, 5, 1), u64::MAX),
            Tier::Gang,
        ),
    ];
    for (case, tier) in &cases {
        assert_eq!(check_jit(case), *tier, "{case:?}");
    }
}

/// Found by the `jit` target in its first minutes (fixed): on the gang
/// tier, an affine value of a type narrower than the register that holds it
/// (u8, i8, u16, i16; u32 and i32 in a register also written at 64 bits)
/// was spread over the gang's lanes as `base + k * stride` without wrapping
/// it to its type and extending it again, so the lanes past the point where
/// the value wraps got wrong values: `sub.u8 r13, %laneid, 1` left 0x100 in
/// lane 1, not 0.
const NARROW_AFFINE: &str = "gang tier: narrow affine values wrap per lane";

#[test]
fn jit_narrow_affine_u8_wraps_per_lane() {
    // Lane 1: reference 0 (the bug gave 0x100).
    let case = jit_case(
        " sub.u8 r13, %laneid, 1\n st.global.u64 [out + r31], r13\n",
        Dim3::x(1),
        Dim3::x(8),
        1024,
    );
    assert_eq!(check_jit(&case), Tier::Gang, "{NARROW_AFFINE}");
}

#[test]
fn jit_narrow_affine_i8_sign_extends_per_lane() {
    // Lane 2: reference -128 (0xFFFF_FFFF_FFFF_FF80; the bug gave 0x80).
    let case = jit_case(
        " add.i8 r13, %laneid, 126\n st.global.u64 [out + r31], r13\n",
        Dim3::x(1),
        Dim3::x(8),
        1024,
    );
    assert_eq!(check_jit(&case), Tier::Gang, "{NARROW_AFFINE}");
}

#[test]
fn jit_narrow_affine_u32_in_a_64_bit_register_wraps_per_lane() {
    // Lane 2: reference 0 (the bug gave 0x1_0000_0000: r12 is also
    // written at 64 bits).
    let case = jit_case(
        " mov.u64 r12, %gid\n sub.u32 r12, %laneid, 2\n st.global.u64 [out + r31], r12\n",
        Dim3::x(1),
        Dim3::x(8),
        1024,
    );
    assert_eq!(check_jit(&case), Tier::Gang, "{NARROW_AFFINE}");
}

#[test]
fn jit_narrow_affine_address_wraps_per_lane() {
    // Lane 14's address is (14 * 8 + 152) mod 256 = 8: the bug loaded
    // from 264 instead (a wrong word; with a 256-byte `inp`, a fault the
    // reference engine does not have).
    for inp_len in [1024, 256] {
        let case = jit_case(
            " shl.u64 r23, %gid, 3\n add.u8 r23, r23, 152\n ld.global.u64 r3, [inp + r23]\n\
             st.global.u64 [out + r31], r3\n",
            Dim3::x(1),
            Dim3::x(32),
            inp_len,
        );
        assert_eq!(check_jit(&case), Tier::Gang, "{NARROW_AFFINE}");
    }
}

/// Found by the `jit` target built without `-C target-cpu=native` (cargo
/// fuzz sets `RUSTFLAGS`, which replaces the repository's
/// `.cargo/config.toml`); fixed: `floor` and `ceil` of a signalling NaN.
/// Rust's `f32::ceil` returned the NaN unchanged when it called libm
/// (baseline x86-64) and quieted it (`roundss`) when SSE 4.1 was on; the
/// JIT emits `roundss` whenever the CPU has it. So in a build for baseline
/// x86-64 the reference engine gave 0xFFAA_1234 and the JIT 0xFFEA_1234.
/// The reference engine now pins the NaN results of these functions; this
/// checks every tier, uniform and per-lane operands alike, in either build
/// (`RUSTFLAGS="-C target-cpu=x86-64"` for the baseline one).
#[test]
fn jit_floor_ceil_of_signalling_nan() {
    // Low half: an f32 signalling NaN; the whole word: an f64 one.
    let snan = 0xFFF4_0000_FFAA_1234;
    let case = JitCase {
        pattern: vec![snan],
        ..jit_case(
            " ld.global.u64 r1, [inp]\n shl.u64 r2, %gid, 3\n ld.global.u64 r2, [inp + r2]\n\
             ceil.f32 r3, r1\n floor.f32 r4, r1\n ceil.f64 r5, r1\n floor.f64 r6, r1\n\
             ceil.f32 r7, r2\n floor.f32 r8, r2\n ceil.f64 r9, r2\n floor.f64 r10, r2\n\
             st.global.u64 [out + r31], r3\n st.global.u64 [out + r31 + 8], r4\n\
             st.global.u64 [out + r31 + 16], r5\n st.global.u64 [out + r31 + 24], r6\n\
             st.global.u64 [out + r31 + 32], r7\n st.global.u64 [out + r31 + 40], r8\n\
             st.global.u64 [out + r31 + 48], r9\n st.global.u64 [out + r31 + 56], r10\n",
            Dim3::x(2),
            Dim3::x(8),
            1024,
        )
    };
    assert_eq!(check_jit(&case), Tier::Gang);
}
