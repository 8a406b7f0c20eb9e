//! Faults (docs/LANGUAGE.md section 7): out of bounds, misaligned, division by zero and
//! the step limit, with every field of the fault and its message; the runtime
//! stays usable and buffers not bound to the launch are never touched.

mod common;

use common::*;
use lanes::kernel::Space;
use lanes::{Arg, Dim3, Engine, Fault, FaultKind, LaunchError, LaunchOptions, Runtime};

/// Runs `src` (one kernel) with the given buffers (as byte contents) and
/// scalar args appended, expecting a fault.
fn fault_of(src: &str, grid: Dim3, block: Dim3, bufs: &[Vec<u8>], scalars: &[Arg]) -> Fault {
    fault_steps(src, grid, block, bufs, scalars, u64::MAX)
}

fn fault_steps(
    src: &str,
    grid: Dim3,
    block: Dim3,
    bufs: &[Vec<u8>],
    scalars: &[Arg],
    max_steps: u64,
) -> Fault {
    let k = kernel(src);
    let rt = Runtime::builder().threads(2).build().unwrap();
    // The reference engine's fault is the one checked; the pool engine and
    // the JIT must report the very same fault.
    let mut faults = Vec::new();
    for engine in Engine::ALL {
        let mut args: Vec<Arg> = bufs
            .iter()
            .map(|b| Arg::Buffer(rt.alloc_from(b).unwrap()))
            .collect();
        args.extend_from_slice(scalars);
        let options = LaunchOptions {
            engine,
            jit_wait: std::time::Duration::MAX,
            ..opts(max_steps)
        };
        match rt.launch(&k, grid, block, &args, options) {
            Err(LaunchError::Fault(f)) => {
                // The launch error's message is the fault's.
                let e = LaunchError::Fault(f.clone());
                assert_eq!(e.to_string(), f.to_string());
                faults.push(*f);
            }
            Err(e) => panic!("{engine:?}: expected a fault, got {e}"),
            Ok(_) => panic!("{engine:?}: expected a fault, the launch succeeded"),
        }
    }
    for (f, engine) in faults.iter().zip(Engine::ALL).skip(1) {
        assert_eq!(
            &faults[0], f,
            "the {engine} engine faults differently\n{src}"
        );
    }
    faults.swap_remove(0)
}

/// Only the lane with `%gid == target` goes on past the prologue.
fn only_gid(target: u64) -> String {
    format!("    mov.u64 r0, %gid\n    setp.ne.u64 p0, r0, {target}\n    @p0 exit\n")
}

#[test]
fn out_of_bounds_global_with_all_fields() {
    // 2x2 blocks of 4x2 lanes; gid 13 = block (1,0,0) lane (1,1,0).
    let src = format!(
        ".kernel oob\n.param buf buf\n{}    mov.u64 r2, 16\n    ld.global.u32 r1, [buf + r2]\n",
        only_gid(13)
    );
    let f = fault_of(
        &src,
        Dim3::new(2, 2, 1),
        Dim3::new(4, 2, 1),
        &[vec![0; 16]],
        &[],
    );
    assert_eq!(f.kernel, "oob");
    assert_eq!(f.block, Dim3::new(1, 0, 0));
    assert_eq!(f.lane, Dim3::new(1, 1, 0));
    assert_eq!(f.instr, 4);
    assert_eq!(f.line, 7);
    assert_eq!(f.source, "ld.global.u32 r1, [buf + r2]");
    assert_eq!(
        f.kind,
        FaultKind::OutOfBounds {
            space: Space::Global,
            buffer: Some("buf".into()),
            offset: 16,
            size: 4,
            len: 16
        }
    );
    assert_eq!(
        f.to_string(),
        "kernel `oob` faulted in block (1, 0, 0) lane (1, 1, 0) at instruction 4 \
         (line 7: `ld.global.u32 r1, [buf + r2]`): out of bounds: 4-byte access at \
         offset 16 of global buffer `buf` (16 bytes)"
    );
}

#[test]
fn out_of_bounds_in_3d_grid_names_block_and_lane() {
    // grid (2,3,2) of blocks (2,2,2): block (1,2,1) is linear 1 + 2*(2 + 3*1) = 11,
    // lane (1,0,1) is laneid 1 + 2*(0 + 2*1) = 5; gid = 11*8 + 5 = 93.
    let src = format!(
        ".kernel k\n.param b buf\n{}    st.global.u8 [b + 3], 1\n",
        only_gid(93)
    );
    let f = fault_of(
        &src,
        Dim3::new(2, 3, 2),
        Dim3::new(2, 2, 2),
        &[vec![0; 3]],
        &[],
    );
    assert_eq!((f.block, f.lane), (Dim3::new(1, 2, 1), Dim3::new(1, 0, 1)));
    assert_eq!((f.instr, f.line), (3, 6));
    assert_eq!(
        f.kind,
        FaultKind::OutOfBounds {
            space: Space::Global,
            buffer: Some("b".into()),
            offset: 3,
            size: 1,
            len: 3
        }
    );
}

#[test]
fn out_of_bounds_variants() {
    let cases: Vec<(&str, u64, i128, usize, usize, Space)> = vec![
        // (instruction, r2 value, offset, size, len, space)
        (
            "ld.global.u32 r1, [buf + r2 - 8]",
            4,
            -4,
            4,
            32,
            Space::Global,
        ),
        (
            "ld.global.u8 r1, [buf + r2 - 1]",
            0,
            -1,
            1,
            32,
            Space::Global,
        ),
        (
            "ld.global.u64 r1, [buf + r2]",
            1 << 40,
            1 << 40,
            8,
            32,
            Space::Global,
        ),
        (
            "ld.global.u64 r1, [buf + r2 + 16]",
            u64::MAX,
            u64::MAX as i128 + 16,
            8,
            32,
            Space::Global,
        ),
        (
            "st.global.u16 [buf + r2 + 0xFFFFFFFFFFFFFFFF], r1",
            2,
            u64::MAX as i128 + 2,
            2,
            32,
            Space::Global,
        ),
        ("st.global.f64 [buf + 32], r1", 0, 32, 8, 32, Space::Global),
        ("ld.global.u32 r1, [buf + 30]", 0, 30, 4, 32, Space::Global),
        ("ld.shared.u32 r1, [r2]", 64, 64, 4, 64, Space::Shared),
        ("st.shared.u8 [r2 - 1], r1", 0, -1, 1, 64, Space::Shared),
        (
            "ld.shared.f32 r1, [r2 + 8]",
            u64::MAX - 3,
            u64::MAX as i128 + 5,
            4,
            64,
            Space::Shared,
        ),
        ("ld.shared.u64 r1, [0x40]", 0, 64, 8, 64, Space::Shared),
        (
            "atom.global.add.u32 r1, [buf + r2], 1",
            32,
            32,
            4,
            32,
            Space::Global,
        ),
        (
            "atom.shared.cas.u64 r1, [r2], 1, 2",
            64,
            64,
            8,
            64,
            Space::Shared,
        ),
        (
            "atom.global.exch.f64 r1, [buf + r2 - 8], r1",
            0,
            -8,
            8,
            32,
            Space::Global,
        ),
    ];
    for (ins, r2, offset, size, len, space) in cases {
        let src = format!(
            ".kernel k\n.param buf buf\n.param v u64\n.shared 64\n    mov.u64 r2, v\n    {ins}\n"
        );
        let f = fault_of(
            &src,
            Dim3::x(1),
            Dim3::x(1),
            &[vec![0; 32]],
            &[Arg::from(r2)],
        );
        let buffer = (space == Space::Global).then(|| "buf".to_string());
        assert_eq!(
            f.kind,
            FaultKind::OutOfBounds {
                space,
                buffer,
                offset,
                size,
                len
            },
            "{ins}"
        );
        assert_eq!((f.instr, f.line), (1, 6), "{ins}");
        let place = if space == Space::Global {
            "global buffer `buf`"
        } else {
            "shared memory"
        };
        // Past u64::MAX the message says how far past 2^64 (the offsets
        // from 2^63 to 2^64 have their own test below).
        let shown = if offset > u64::MAX as i128 {
            format!(
                "2^64 + {} (past u64::MAX; offsets do not wrap)",
                offset - u64::MAX as i128 - 1
            )
        } else {
            offset.to_string()
        };
        assert!(
            f.to_string().ends_with(&format!(
                ": out of bounds: {size}-byte access at offset {shown} of {place} ({len} bytes)"
            )),
            "{f}"
        );
    }
}

/// A lane that computed a negative index: its register holds the index's
/// two's complement (index -48 of an f32 buffer: 2^64 - 192). The fault
/// holds the exact offset, the register read as u64 (the value every
/// engine agrees on); its message shows the signed value the kernel
/// computed, with the u64 beside it.
#[test]
fn negative_offsets_print_as_the_signed_value_the_kernel_computed() {
    const WRAPPED: u64 = 18446744073709551424; // -192 as u64
    assert_eq!(WRAPPED, (-192i64) as u64);
    // (memory instruction, exact offset, its text in the message, size, len, space)
    let cases: Vec<(&str, i128, &str, usize, usize, Space)> = vec![
        (
            "ld.global.f32 r3, [x + r2]",
            WRAPPED as i128,
            "-192 (as u64: 18446744073709551424)",
            4,
            16,
            Space::Global,
        ),
        (
            "st.global.f32 [x + r2 - 8], r3",
            WRAPPED as i128 - 8,
            "-200 (as u64: 18446744073709551416)",
            4,
            16,
            Space::Global,
        ),
        (
            "atom.global.add.f32 r3, [x + r2 + 4], r3",
            WRAPPED as i128 + 4,
            "-188 (as u64: 18446744073709551428)",
            4,
            16,
            Space::Global,
        ),
        (
            "ld.shared.f64 r3, [r2]",
            WRAPPED as i128,
            "-192 (as u64: 18446744073709551424)",
            8,
            64,
            Space::Shared,
        ),
        // The displacement carries the sum past u64::MAX: it does not wrap
        // back to 8, and the message says so.
        (
            "ld.global.u32 r3, [x + r2 + 200]",
            (1i128 << 64) + 8,
            "2^64 + 8 (past u64::MAX; offsets do not wrap)",
            4,
            16,
            Space::Global,
        ),
    ];
    for (ins, offset, shown, size, len, space) in cases {
        // Lane 0 of 4 computes index -48 (i32, sign-extended to 64 bits),
        // then its byte offset; the other lanes exit.
        let src = format!(
            ".kernel neg\n.param x buf\n.shared 64\n\
             mov.u32 r0, %tid.x\n    setp.ne.u32 p0, r0, 0\n    @p0 exit\n\
             sub.i32 r1, r0, 48\n    shl.u64 r2, r1, 2\n    {ins}\n"
        );
        let f = fault_of(&src, Dim3::x(1), Dim3::x(4), &[vec![0; 16]], &[]);
        let buffer = (space == Space::Global).then(|| "x".to_string());
        assert_eq!(
            f.kind,
            FaultKind::OutOfBounds {
                space,
                buffer,
                offset,
                size,
                len
            },
            "{ins}"
        );
        let place = if space == Space::Global {
            "global buffer `x`"
        } else {
            "shared memory"
        };
        assert_eq!(
            f.to_string(),
            format!(
                "kernel `neg` faulted in block (0, 0, 0) lane (0, 0, 0) at instruction 5 \
                 (line 9: `{ins}`): out of bounds: {size}-byte access at offset {shown} of \
                 {place} ({len} bytes)"
            )
        );
    }
}

#[test]
fn shared_access_without_shared_memory_faults() {
    let f = fault_of(
        ".kernel k\n    ld.shared.u8 r0, [0]\n",
        Dim3::x(1),
        Dim3::x(1),
        &[],
        &[],
    );
    assert_eq!(
        f.kind,
        FaultKind::OutOfBounds {
            space: Space::Shared,
            buffer: None,
            offset: 0,
            size: 1,
            len: 0
        }
    );
    // An empty global buffer has no bytes either.
    let f = fault_of(
        ".kernel k\n.param e buf\n    st.global.u8 [e], 0\n",
        Dim3::x(1),
        Dim3::x(1),
        &[vec![]],
        &[],
    );
    assert!(matches!(f.kind, FaultKind::OutOfBounds { len: 0, .. }));
}

#[test]
fn misaligned_accesses() {
    let cases: Vec<(&str, u64, u64, usize, Space)> = vec![
        ("ld.global.u32 r1, [buf + r2]", 2, 2, 4, Space::Global),
        ("ld.global.i16 r1, [buf + 1]", 0, 1, 2, Space::Global),
        ("st.global.u64 [buf + r2], r1", 4, 4, 8, Space::Global),
        ("st.global.f32 [buf + r2 - 1], r1", 8, 7, 4, Space::Global),
        (
            "atom.global.add.u32 r1, [buf + r2], 1",
            6,
            6,
            4,
            Space::Global,
        ),
        (
            "atom.global.max.f64 r1, [buf + r2], r1",
            12,
            12,
            8,
            Space::Global,
        ),
        (
            "atom.global.cas.i32 r1, [buf + r2 + 1], 0, 1",
            0,
            1,
            4,
            Space::Global,
        ),
        ("ld.shared.u16 r1, [r2]", 3, 3, 2, Space::Shared),
        ("st.shared.u64 [r2 + 2], r1", 0, 2, 8, Space::Shared),
        (
            "atom.shared.exch.u32 r1, [r2], r1",
            10,
            10,
            4,
            Space::Shared,
        ),
        (
            "atom.shared.cas.u64 r1, [r2], 0, 1",
            20,
            20,
            8,
            Space::Shared,
        ),
    ];
    for (ins, r2, offset, size, space) in cases {
        let src = format!(
            ".kernel k\n.param buf buf\n.param v u64\n.shared 64\n    mov.u64 r2, v\n    {ins}\n"
        );
        let f = fault_of(
            &src,
            Dim3::x(1),
            Dim3::x(1),
            &[vec![0; 32]],
            &[Arg::from(r2)],
        );
        let buffer = (space == Space::Global).then(|| "buf".to_string());
        assert_eq!(
            f.kind,
            FaultKind::Misaligned {
                space,
                buffer,
                offset,
                size
            },
            "{ins}"
        );
        let place = if space == Space::Global {
            "global buffer `buf`"
        } else {
            "shared memory"
        };
        assert!(
            f.to_string().ends_with(&format!(
                ": misaligned: {size}-byte access at offset {offset} of {place} (offset must be a multiple of {size})"
            )),
            "{f}"
        );
    }
    // Bytes never misalign.
    let k = kernel(
        ".kernel k\n.param b buf\n.shared 4\n    st.global.u8 [b + 7], 1\n    ld.shared.u8 r0, [3]\n",
    );
    let rt = Runtime::new();
    let b = rt.alloc(8).unwrap();
    rt.launch(&k, Dim3::x(1), Dim3::x(1), &[Arg::Buffer(b)], reference())
        .unwrap();
}

#[test]
fn misaligned_and_out_of_bounds_reports_out_of_bounds() {
    // Offset 15 of 16 bytes for a 4-byte access is both: bounds come first.
    let f = fault_of(
        ".kernel k\n.param buf buf\n    ld.global.u32 r0, [buf + 15]\n",
        Dim3::x(1),
        Dim3::x(1),
        &[vec![0; 16]],
        &[],
    );
    assert!(
        matches!(f.kind, FaultKind::OutOfBounds { offset: 15, .. }),
        "{f}"
    );
}

#[test]
fn integer_division_by_zero_faults_for_every_int_type() {
    for ty in ["u8", "u16", "u32", "u64", "i8", "i16", "i32", "i64"] {
        for op in ["div", "rem"] {
            // The divisor register holds 1 << bits (for narrow types): its low
            // bits, which the instruction reads, are zero.
            let bits: u32 = ty[1..].parse().unwrap();
            let zero = if bits == 64 { 0 } else { 1u64 << bits };
            let src = format!(
                ".kernel k\n.param z u64\n    mov.u64 r2, z\n    mov.u64 r1, 7\n    {op}.{ty} r3, r1, r2\n"
            );
            let f = fault_of(&src, Dim3::x(1), Dim3::x(1), &[], &[Arg::from(zero)]);
            assert_eq!(f.kind, FaultKind::DivisionByZero, "{op}.{ty}");
            assert_eq!((f.instr, f.line), (2, 5));
            assert_eq!(f.source, format!("{op}.{ty} r3, r1, r2"));
            assert!(f.to_string().ends_with(": integer division by zero"), "{f}");
        }
    }
    // By an immediate zero too.
    let f = fault_of(
        ".kernel k\n    rem.i32 r0, r0, 0\n",
        Dim3::x(1),
        Dim3::x(1),
        &[],
        &[],
    );
    assert_eq!(f.kind, FaultKind::DivisionByZero);
    // Floats never fault.
    let k = kernel(
        ".kernel k\n    div.f32 r0, 1.0, 0.0\n    rem.f64 r1, 1.0, 0.0\n    div.f64 r2, r3, r4\n",
    );
    let rt = Runtime::new();
    rt.launch(&k, Dim3::x(1), Dim3::x(1), &[], reference())
        .unwrap();
}

#[test]
fn step_limit_stops_infinite_loops() {
    let f = fault_steps(
        ".kernel spin\nloop:\n    bra loop\n",
        Dim3::x(2),
        Dim3::x(3),
        &[],
        &[],
        100,
    );
    // Lanes run in order, so the first lane of the first block trips it.
    assert_eq!(f.kind, FaultKind::StepLimit { limit: 100 });
    assert_eq!((f.block, f.lane), (Dim3::new(0, 0, 0), Dim3::new(0, 0, 0)));
    assert_eq!((f.instr, f.line, f.source.as_str()), (0, 3, "bra loop"));
    assert_eq!(
        f.to_string(),
        "kernel `spin` faulted in block (0, 0, 0) lane (0, 0, 0) at instruction 0 \
         (line 3: `bra loop`): step limit exceeded (100 instructions per lane)"
    );
    // A loop that only some lane never leaves.
    let src = format!(
        ".kernel k\n{}loop:\n    add.u32 r1, r1, 1\n    bra loop\n",
        only_gid(4)
    );
    let f = fault_steps(&src, Dim3::x(2), Dim3::x(4), &[], &[], 1000);
    assert_eq!((f.block, f.lane), (Dim3::new(1, 0, 0), Dim3::new(0, 0, 0)));
    assert_eq!(f.kind, FaultKind::StepLimit { limit: 1000 });
    // 3 prologue steps, then the loop body alternates; step 1001 is reached
    // at instruction 3 + (1000 - 3) % 2 = 4.
    assert_eq!(f.instr, 4);
}

/// Runs `src` with `max_steps`; `Ok` or the fault.
fn steps(src: &str, max_steps: u64) -> Result<(), Box<Fault>> {
    let k = kernel(src);
    let rt = Runtime::new();
    match rt.launch(&k, Dim3::x(1), Dim3::x(2), &[], opts(max_steps)) {
        Ok(_) => Ok(()),
        Err(LaunchError::Fault(f)) => Err(f),
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn step_count_rule_exact_limits() {
    // The rule (src/engine/reference.rs): every instruction a lane's pc
    // reaches is one step, guarded-off ones included; running past the end
    // is not a step; the step that would exceed the budget faults.
    let straight = ".kernel k\n    mov.u32 r0, 1\n    add.u32 r0, r0, 1\n    add.u32 r0, r0, 1\n";
    assert!(steps(straight, 3).is_ok());
    let f = steps(straight, 2).unwrap_err();
    assert_eq!(
        (f.instr, f.kind.clone()),
        (2, FaultKind::StepLimit { limit: 2 })
    );

    // Guarded-off instructions count.
    let guarded = ".kernel k\n    @p0 mov.u32 r0, 1\n    @p0 mov.u32 r0, 1\n    @p0 mov.u32 r0, 1\n    exit\n";
    assert!(steps(guarded, 4).is_ok());
    assert_eq!(steps(guarded, 3).unwrap_err().instr, 3);

    // `exit` and `bar.sync` are steps.
    let bar = ".kernel k\n    bar.sync\n    bar.sync\n    exit\n    mov.u32 r0, 1\n";
    assert!(steps(bar, 3).is_ok());
    assert_eq!(steps(bar, 2).unwrap_err().instr, 2);

    // A loop of 10 iterations: 1 + 10 * 3 + (the final test and branch) ...
    let looped = ".kernel k\n    mov.u32 r0, 0\nloop:\n    add.u32 r0, r0, 1\n    setp.lt.u32 p0, r0, 10\n    @p0 bra loop\n";
    // mov (1) + 10 iterations of 3 instructions = 31, then it runs off the end.
    assert!(steps(looped, 31).is_ok());
    let f = steps(looped, 30).unwrap_err();
    assert_eq!(f.instr, 3);

    // No instruction at all, or a zero budget with nothing to run.
    assert!(steps(".kernel k\nend:\n", 0).is_ok());
    assert_eq!(steps(straight, 0).unwrap_err().instr, 0);
    // The default budget runs ordinary kernels.
    let k = kernel(looped);
    Runtime::new()
        .launch(
            &k,
            Dim3::x(1),
            Dim3::x(1),
            &[],
            lanes::LaunchOptions::default(),
        )
        .unwrap();
}

#[test]
fn runtime_usable_after_fault_and_unbound_buffers_untouched() {
    let rt = Runtime::new();
    let pattern: Vec<u8> = (0..64u8).map(|i| i.wrapping_mul(37)).collect();
    let bystander = rt.alloc_from(&pattern).unwrap();
    let bound = rt.alloc_from(&[0xAA; 64]).unwrap();
    // Every lane writes its own byte, then lane 40 faults.
    let k = kernel(
        ".kernel k\n.param b buf\n    mov.u64 r0, %gid\n    st.global.u8 [b + r0], 1\n    \
         setp.eq.u64 p0, r0, 40\n    @p0 ld.global.u32 r1, [b + 64]\n",
    );
    for engine_try in 0..2 {
        let err = rt
            .launch(
                &k,
                Dim3::x(4),
                Dim3::x(16),
                &[Arg::Buffer(bound)],
                reference(),
            )
            .unwrap_err();
        assert!(
            matches!(err, LaunchError::Fault(_)),
            "try {engine_try}: {err}"
        );
        assert_eq!(rt.read(bystander).unwrap(), pattern);
    }
    // Bound buffers may be partly written, but hold only values the kernel
    // or the host wrote.
    assert!(rt.read(bound).unwrap().iter().all(|&b| b == 1 || b == 0xAA));
    // The runtime still runs kernels and serves buffers.
    let good =
        kernel(".kernel g\n.param b buf\n    mov.u64 r0, %gid\n    st.global.u8 [b + r0], 2\n");
    rt.launch(
        &good,
        Dim3::x(4),
        Dim3::x(16),
        &[Arg::Buffer(bound)],
        reference(),
    )
    .unwrap();
    assert_eq!(rt.read(bound).unwrap(), vec![2; 64]);
    assert_eq!(rt.read(bystander).unwrap(), pattern);
}

#[test]
fn launch_limits_and_argument_checks() {
    let rt = Runtime::new();
    let k = kernel(".kernel k\n.param b buf\n.param n u32\n    exit\n");
    let b = rt.alloc(4).unwrap();
    let ok_args = [Arg::Buffer(b), Arg::from(1u32)];
    for (grid, block) in [
        (Dim3::new(0, 1, 1), Dim3::x(1)),
        (Dim3::new(1, 0, 1), Dim3::x(1)),
        (Dim3::x(1), Dim3::new(1, 1, 0)),
        (Dim3::x(1), Dim3::x(1025)),
        (Dim3::x(1), Dim3::new(32, 32, 2)),
    ] {
        let e = rt
            .launch(&k, grid, block, &ok_args, reference())
            .unwrap_err();
        assert!(matches!(e, LaunchError::Shape(_)), "{e}");
    }
    rt.launch(&k, Dim3::x(1), Dim3::new(32, 32, 1), &ok_args, reference())
        .unwrap();
    for args in [
        vec![Arg::Buffer(b)],
        vec![Arg::Buffer(b), Arg::from(1u32), Arg::from(1u32)],
        vec![Arg::from(1u32), Arg::Buffer(b)],
        vec![Arg::Buffer(b), Arg::from(1i32)],
        vec![Arg::Buffer(b), Arg::Buffer(b)],
    ] {
        let e = rt
            .launch(&k, Dim3::x(1), Dim3::x(1), &args, reference())
            .unwrap_err();
        assert!(matches!(e, LaunchError::Arguments { .. }), "{e}");
    }
    rt.free(b).unwrap();
    let e = rt
        .launch(&k, Dim3::x(1), Dim3::x(1), &ok_args, reference())
        .unwrap_err();
    assert!(matches!(e, LaunchError::Memory(_)), "{e}");
}

/// The engines and JIT tiers a launch runs on directly ([`run_direct`]).
const DIRECT: [&str; 4] = ["reference", "block", "one-lane tier", "gang tier"];

/// Runs `kernel` on one of [`DIRECT`] with `out` as its one buffer (and
/// 1000 steps a lane): its fault, if any.
fn run_direct_out(
    engine: &str,
    kernel: &lanes::Kernel,
    grid: Dim3,
    block: Dim3,
    out: &std::sync::Arc<lanes::memory::Buffer>,
) -> Result<(), Box<Fault>> {
    let args = lanes::launch::BoundArgs {
        buffers: vec![out.clone()],
        scalars: vec![],
    };
    let spec = lanes::engine::LaunchSpec {
        kernel,
        grid,
        block,
        args: &args,
        max_steps: 1000,
        stop: &lanes::engine::StopFlag::new(),
    };
    run_direct(engine, &spec)
}

/// Runs `spec` on one of [`DIRECT`]: its fault, if any.
fn run_direct(engine: &str, spec: &lanes::engine::LaunchSpec<'_>) -> Result<(), Box<Fault>> {
    use lanes::engine::{block, jit, reference};
    let on_tier = |tier| match jit::run_on_tier(spec, Some(tier)) {
        Err(LaunchError::Fault(f)) => Err(f),
        Err(e) => panic!("{e}"),
        Ok(()) => Ok(()),
    };
    match engine {
        "reference" => reference::run(spec),
        "block" => block::run(spec),
        "one-lane tier" => on_tier(jit::Tier::Lane),
        _ => on_tier(jit::Tier::Gang),
    }
}

#[test]
fn a_faulting_store_leaves_the_stores_of_the_lanes_before_it_only() {
    // Each lane of a four-lane block stores `tid + 1` at its own word, lane
    // 2 far past the buffer's end: lanes 0 and 1 (and in the second kernel
    // only lane 0: lane 1 does not run the store) have stored when lane 2
    // faults, lane 3 has not, as when the lanes run the store in order. On
    // the gang tier the addresses are not consecutive, so the gang stores
    // lane by lane, each store behind its own check: a way of storing the
    // gang's lanes that checks them all first, or stores the lanes after a
    // failing one, fails here.
    for (guard, want) in [("", [1, 2, 0, 0]), ("@p1 ", [1, 0, 0, 0])] {
        let k = kernel(&format!(
            ".kernel k\n.param out buf\n    mov.u32 r0, %tid.x\n    shl.u64 r1, r0, 2\n\
             \x20   setp.eq.u32 p0, r0, 2\n    @p0 add.u64 r1, r1, 4096\n    setp.ne.u32 p1, r0, 1\n\
             \x20   add.u32 r2, r0, 1\n    {guard}st.global.u32 [out + r1], r2\n"
        ));
        for engine in DIRECT {
            let out = std::sync::Arc::new(lanes::memory::Buffer::zeroed(16).unwrap());
            let result = run_direct_out(engine, &k, Dim3::x(1), Dim3::x(4), &out);
            let f = result.expect_err("lane 2 faults");
            assert_eq!(f.lane, Dim3::new(2, 0, 0), "{engine}");
            let got: Vec<u64> = (0..4).map(|i| out.load(i * 4, 4).unwrap()).collect();
            assert_eq!(got, want, "{engine}, guard {guard:?}");
        }
    }
}

#[test]
fn shared_accesses_at_the_end_of_shared_memory() {
    // Each lane of a 256-lane block stores `tid + 1` at `tid * size + d` in
    // shared memory of exactly 256 elements, loads it back and writes it
    // to `out[tid]`. With `d = 0` the last lane's element ends at the last
    // byte; one element further (or one before the start) the last (or
    // first) lane faults. The addresses' ranges are known when the kernel
    // is compiled (`%tid.x` below the block's size), so the JIT may leave
    // out the bounds test of an access that cannot leave shared memory,
    // and only that: each tier must fault exactly where the reference
    // engine does.
    for (ty, size) in [("u32", 4u64), ("f64", 8), ("u16", 2)] {
        let shift = size.trailing_zeros();
        for (disp, faulting) in [
            (String::new(), None),
            (format!(" + {size}"), Some((255, 256 * size as i128))),
            (format!(" - {size}"), Some((0, -(size as i128)))),
        ] {
            for via_store in [true, false] {
                // The faulting access: the store, or (after an in-bounds
                // store) the load.
                let (st, ld) = if via_store {
                    (format!("[r1{disp}]"), format!("[r1{disp}]"))
                } else {
                    ("[r1]".to_string(), format!("[r1{disp}]"))
                };
                let src = format!(
                    ".kernel k\n.param out buf\n.shared {bytes}\n    mov.u64 r0, %tid.x\n\
                     \x20   shl.u64 r1, r0, {shift}\n    add.u64 r2, r0, 1\n\
                     \x20   cvt.{ty}.u64 r3, r2\n    st.shared.{ty} {st}, r3\n\
                     \x20   ld.shared.{ty} r4, {ld}\n    st.global.{ty} [out + r1], r4\n",
                    bytes = 256 * size
                );
                let k = kernel(&src);
                for engine in DIRECT {
                    let out = std::sync::Arc::new(
                        lanes::memory::Buffer::zeroed(256 * size as usize).unwrap(),
                    );
                    let result = run_direct_out(engine, &k, Dim3::x(2), Dim3::x(256), &out);
                    let what = format!("{engine}: {ty}, disp {disp:?}, store {via_store}");
                    match (result, faulting) {
                        (Ok(()), None) => {
                            for t in 0..256u64 {
                                let v = out.load(t * size, size as usize).unwrap();
                                let want = match ty {
                                    "f64" => ((t + 1) as f64).to_bits(),
                                    _ => t + 1,
                                };
                                assert_eq!(v, want, "{what}: out[{t}]");
                            }
                        }
                        (Err(f), Some((lane, offset))) => {
                            assert_eq!(f.lane, Dim3::new(lane, 0, 0), "{what}");
                            assert_eq!(f.instr, if via_store { 4 } else { 5 }, "{what}");
                            assert_eq!(
                                f.kind,
                                FaultKind::OutOfBounds {
                                    space: Space::Shared,
                                    buffer: None,
                                    offset,
                                    size: size as usize,
                                    len: 256 * size as usize,
                                },
                                "{what}"
                            );
                        }
                        (got, _) => panic!("{what}: {got:?}"),
                    }
                }
            }
        }
    }
}

#[test]
fn a_conversion_that_reinterprets_its_source_keeps_the_shared_bounds_test() {
    // `cvt.u32.i8` reads 255 as -1: r1 is 4294967295, far past shared
    // memory, though the value it converts is 255. The JIT leaves out the
    // bounds test of a shared access only where the address register's
    // range keeps it inside; a range that followed the converted value
    // (not the converted read) would let this load read far outside the
    // block's shared memory. Every engine and tier faults, exactly.
    // (With a displacement the offset passes 2^64, where a range that
    // followed the converted value also dropped the overflow test: the
    // offset wrapped to 15 and the load read inside, before this test.)
    for (conv, disp, offset) in [
        ("cvt.u32.i8 r1, r0", 0, u32::MAX as i128),
        ("cvt.u64.i8 r1, r0", 0, u64::MAX as i128),
        ("cvt.u64.i8 r1, r0", 16, u64::MAX as i128 + 16),
    ] {
        let src = format!(
            ".kernel k\n.param out buf\n.shared 1024\n    mov.u32 r0, 255\n    {conv}\n\
             \x20   ld.shared.u8 r2, [r1 + {disp}]\n    st.global.u8 [out], r2\n"
        );
        let k = kernel(&src);
        for engine in DIRECT {
            let out = std::sync::Arc::new(lanes::memory::Buffer::zeroed(8).unwrap());
            let result = run_direct_out(engine, &k, Dim3::x(1), Dim3::x(8), &out);
            let f = result.expect_err("the load is out of bounds");
            assert_eq!(f.instr, 2, "{engine}: {conv}");
            assert_eq!(
                f.kind,
                FaultKind::OutOfBounds {
                    space: Space::Shared,
                    buffer: None,
                    offset,
                    size: 1,
                    len: 1024
                },
                "{engine}: {conv}"
            );
        }
    }
}
