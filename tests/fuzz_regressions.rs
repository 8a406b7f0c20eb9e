//! Inputs the fuzz targets (`fuzz/`) ran into, replayed with the very checks
//! the targets make (`fuzz/src/checks.rs` is included here as a module).
//!
//! Every input that ever found a bug gets a test here, named for what it
//! found; `cargo fuzz fmt TARGET ARTIFACT` prints a structured input as the
//! LASM and launch to paste. Inputs that found no bug but cover a corner the
//! fuzzers reached only slowly are kept too, marked as such.

#[allow(dead_code, clippy::all)]
#[path = "../fuzz/src/checks.rs"]
mod checks;

use checks::{Hostile, Valid, check_assembler, check_differential, check_hostile};
use lanes::Dim3;

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
