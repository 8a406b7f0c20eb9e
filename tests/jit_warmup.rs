//! Launches on the JIT that do not wait for their kernel to compile
//! (`LaunchOptions::jit_wait`): their blocks start on the block engine
//! while the kernel compiles on the background thread, and switch to the
//! compiled code task by task. Whatever ran where, the results and faults
//! are the reference engine's.

use std::time::{Duration, Instant};

use lanes::{Arg, Dim3, Engine, LaunchError, LaunchOptions, Runtime};

/// A kernel whose lanes each run a loop of `trips` steps of a linear
/// congruential generator from their `%gid` plus `seed`, and store the
/// result. Each seed makes a new kernel (a new compilation).
fn lcg_source(seed: u32, trips: u32) -> String {
    // PAD instructions after the loop make the kernel slow to compile
    // (milliseconds), so a launch that does not wait starts on the block
    // engine.
    let pad = "    add.u32 r1, r1, 1\n".repeat(PAD as usize);
    format!(
        ".kernel lcg
.param x buf
.param n u32
    mov.u32 r0, %gid
    setp.ge.u32 p0, r0, n
    @p0 exit
    add.u32 r1, r0, {seed}
    mov.u32 r2, {trips}
again:
    mul.u32 r1, r1, 1664525
    add.u32 r1, r1, 1013904223
    xor.u32 r1, r1, r0
    sub.u32 r2, r2, 1
    setp.ne.u32 p1, r2, 0
    @p1 bra again
{pad}    shl.u64 r3, r0, 2
    st.global.u32 [x + r3], r1
"
    )
}

/// What [`lcg_source`]'s kernel stores for `gid`.
fn lcg(seed: u32, trips: u32, gid: u32) -> u32 {
    let mut r = gid.wrapping_add(seed);
    for _ in 0..trips {
        r = r.wrapping_mul(1664525).wrapping_add(1013904223) ^ gid;
    }
    r.wrapping_add(PAD)
}

/// Blocks of 64 lanes in `launch_until_compiled`'s launches.
const BLOCKS: u64 = 2048;

/// Instructions of padding in [`lcg_source`].
const PAD: u32 = 3000;

fn u32s(b: &[u8]) -> Vec<u32> {
    b.chunks_exact(4)
        .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

fn no_wait(engine: Engine) -> LaunchOptions {
    LaunchOptions {
        engine,
        jit_wait: Duration::ZERO,
        ..LaunchOptions::default()
    }
}

/// Launches a fresh kernel without waiting until a launch runs all its
/// blocks on compiled code; checks every launch's results and stats.
/// Returns the blocks the first launch ran on the block engine.
fn launch_until_compiled(rt: &Runtime, seed: u32) -> u64 {
    const N: u32 = BLOCKS as u32 * 64;
    const TRIPS: u32 = 64;
    let k = rt
        .compile("lcg.lasm", &lcg_source(seed, TRIPS))
        .unwrap()
        .kernels[0]
        .clone();
    let want: Vec<u32> = (0..N).map(|g| lcg(seed, TRIPS, g)).collect();
    let (grid, block) = (Dim3::x(N / 64), Dim3::x(64));
    let mut first_before = None;
    let mut reports = Vec::new();
    let launch = |i: usize| {
        let x = rt.alloc(4 * N as usize).unwrap();
        let stats = rt
            .launch(
                &k,
                grid,
                block,
                &[Arg::Buffer(x), Arg::from(N)],
                no_wait(Engine::Jit),
            )
            .unwrap();
        assert_eq!(u32s(&rt.read(x).unwrap()), want, "launch {i}");
        rt.free(x).unwrap();
        stats
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    for i in 0.. {
        assert!(
            Instant::now() < deadline,
            "the kernel never ran on compiled code"
        );
        let stats = launch(i);
        assert_eq!(stats.engine, Engine::Jit, "launch {i}");
        assert!(stats.blocks_before_jit <= stats.blocks, "launch {i}");
        first_before.get_or_insert(stats.blocks_before_jit);
        let ran_compiled = stats.blocks_before_jit < stats.blocks;
        if let Some(t) = stats.compile_time {
            assert!(t > Duration::ZERO);
            reports.push(i);
        }
        if ran_compiled {
            // The first launch that ran compiled code reported the compile
            // time; no other launch does.
            assert_eq!(
                reports.len(),
                1,
                "launch {i}: compile time reported by {reports:?}"
            );
        }
        if stats.blocks_before_jit == 0 {
            let again = launch(i + 1);
            assert_eq!(again.blocks_before_jit, 0);
            assert_eq!(again.compile_time, None, "compile time reported twice");
            break;
        }
        // Not compiled yet: give the compiler thread the CPU.
        std::thread::sleep(Duration::from_millis(1));
    }
    first_before.unwrap()
}

#[test]
fn launches_start_before_the_kernel_is_compiled_and_switch_to_it() {
    for threads in [1, 2, 5] {
        let rt = Runtime::builder().threads(threads).build().unwrap();
        // A zero wait starts the first launch on the block engine, and the
        // kernel compiles faster than the block engine runs the launch, so
        // its tasks switch to compiled code on the way, unless the
        // threads were scheduled otherwise (a few tries make sure that
        // path runs).
        let switched = (0..8).any(|seed| {
            let before = launch_until_compiled(&rt, 1000 * threads as u32 + seed);
            before > 0 && before < BLOCKS
        });
        // With more threads than cores the compiler thread may get too
        // little time to finish during a launch.
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert!(
            switched || threads > cores,
            "{threads} threads: no launch switched to compiled code on the way"
        );
    }
}

#[test]
fn a_launch_that_waits_runs_every_block_on_compiled_code() {
    let rt = Runtime::builder().threads(2).build().unwrap();
    let k = rt.compile("lcg.lasm", &lcg_source(7, 8)).unwrap().kernels[0].clone();
    let x = rt.alloc(4 * 4096).unwrap();
    let options = LaunchOptions {
        jit_wait: Duration::MAX,
        ..no_wait(Engine::Jit)
    };
    let args = [Arg::Buffer(x), Arg::from(4096u32)];
    let stats = rt
        .launch(&k, Dim3::x(64), Dim3::x(64), &args, options)
        .unwrap();
    assert_eq!(stats.blocks_before_jit, 0);
    assert!(stats.compile_time.is_some(), "the first launch compiled");
    let again = rt
        .launch(&k, Dim3::x(64), Dim3::x(64), &args, options)
        .unwrap();
    assert!(again.compile_time.is_none(), "compiled once");
    let want: Vec<u32> = (0..4096).map(|g| lcg(7, 8, g)).collect();
    assert_eq!(u32s(&rt.read(x).unwrap()), want);
}

#[test]
fn faults_while_the_kernel_compiles_are_the_reference_engines() {
    // Block 900's lane 5 stores past the end of `x`; every other lane
    // stores inside it.
    let src = ".kernel late_fault
.param x buf
    mov.u32 r0, %gid
    mov.u32 r1, 0
    mov.u32 r2, 200
spin:
    add.u32 r1, r1, r0
    sub.u32 r2, r2, 1
    setp.ne.u32 p0, r2, 0
    @p0 bra spin
    mov.u64 r3, %gid
    setp.eq.u32 p1, r0, 57605
    @p1 add.u64 r3, r3, 1000000
    shl.u64 r3, r3, 2
    st.global.u32 [x + r3], r1
";
    for threads in [1, 2, 5] {
        let rt = Runtime::builder().threads(threads).build().unwrap();
        let k = rt.compile("f.lasm", src).unwrap().kernels[0].clone();
        let fault = |engine| {
            let x = rt.alloc(4 * 1024 * 64).unwrap();
            let err = rt
                .launch(
                    &k,
                    Dim3::x(1024),
                    Dim3::x(64),
                    &[Arg::Buffer(x)],
                    no_wait(engine),
                )
                .unwrap_err();
            rt.free(x).unwrap();
            match err {
                LaunchError::Fault(f) => f,
                other => panic!("{engine:?}: expected a fault, got {other}"),
            }
        };
        let want = fault(Engine::Reference);
        assert_eq!((want.block.x, want.lane.x), (900, 5));
        // The first launches run on the block engine, the JIT, or both.
        for i in 0..20 {
            assert_eq!(fault(Engine::Jit), want, "{threads} threads, launch {i}");
        }
    }
}

#[test]
fn a_kernel_the_jit_cannot_compile_runs_on_the_pool_engine_without_waiting() {
    // Longer than the JIT takes (`MAX_INSTRUCTIONS`).
    let mut src = String::from(".kernel long\n.param x buf\n    mov.u32 r1, 0\n");
    for _ in 0..lanes::engine::jit::MAX_INSTRUCTIONS {
        src.push_str("    add.u32 r1, r1, 3\n");
    }
    src.push_str("    mov.u64 r0, %gid\n    shl.u64 r0, r0, 2\n    st.global.u32 [x + r0], r1\n");
    let rt = Runtime::builder().threads(2).build().unwrap();
    let k = rt.compile("long.lasm", &src).unwrap().kernels[0].clone();
    let want = 3 * lanes::engine::jit::MAX_INSTRUCTIONS as u32;
    for i in 0..3 {
        let x = rt.alloc(4 * 8).unwrap();
        let stats = rt
            .launch(
                &k,
                Dim3::x(2),
                Dim3::x(4),
                &[Arg::Buffer(x)],
                no_wait(Engine::Jit),
            )
            .unwrap();
        assert_eq!(stats.engine, Engine::Pool, "launch {i}");
        assert_eq!(stats.blocks_before_jit, 0, "launch {i}");
        assert_eq!(stats.compile_time, None, "launch {i}");
        assert_eq!(u32s(&rt.read(x).unwrap()), vec![want; 8], "launch {i}");
    }
}

#[test]
fn barrier_kernels_start_on_the_one_lane_tier_and_move_to_the_gang_tier() {
    // block_sum's gang code takes several times as long to compile as its
    // one-lane code, which is compiled first and runs the launches until
    // the gang code is ready. Every launch sums right, whatever ran it;
    // each tier's compile time is reported once, by the first launch on it.
    const N: u32 = 256 * 64;
    let values: Vec<f32> = (0..N).map(|i| (i % 8) as f32).collect();
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    for threads in [1, 2, 5] {
        let rt = Runtime::builder().threads(threads).build().unwrap();
        let src = include_str!("../src/ops/block_sum.lasm");
        let k = rt.compile("block_sum.lasm", src).unwrap().kernels[0].clone();
        let x = rt.alloc_from(&bytes).unwrap();
        let mut reports = 0;
        for i in 0..40 {
            let out = rt.alloc(4).unwrap();
            // The last launch waits for the gang code.
            let jit_wait = if i == 39 {
                Duration::MAX
            } else {
                Duration::ZERO
            };
            let options = LaunchOptions {
                jit_wait,
                ..no_wait(Engine::Jit)
            };
            let args = [Arg::Buffer(x), Arg::Buffer(out), Arg::from(N)];
            let stats = rt
                .launch(&k, Dim3::x(N / 256), Dim3::x(256), &args, options)
                .unwrap();
            let sum = f32::from_le_bytes(rt.read(out).unwrap()[..4].try_into().unwrap());
            assert_eq!(sum, (N / 8 * 28) as f32, "{threads} threads, launch {i}");
            reports += usize::from(stats.compile_time.is_some());
            rt.free(out).unwrap();
        }
        assert!(
            (1..=2).contains(&reports),
            "{threads} threads: {reports} compile times reported"
        );
    }
}

#[test]
fn a_two_part_kernel_reports_its_general_part_once() {
    // vector_add has no barriers and a full-gang version: it compiles in
    // two parts. 1001 of 1024 lanes: the last block's partial gangs leave
    // the full version. The general part's compile time is reported once,
    // by the first launch that ends after it is compiled. A kernel
    // compiled whole reports none.
    let rt = Runtime::builder().threads(2).build().unwrap();
    let src = include_str!("../src/ops/vector_add.lasm");
    let k = rt.compile("vector_add.lasm", src).unwrap().kernels[0].clone();
    let (a, b, c) = (
        rt.alloc(4 * 1024).unwrap(),
        rt.alloc(4 * 1024).unwrap(),
        rt.alloc(4 * 1024).unwrap(),
    );
    let options = LaunchOptions {
        jit_wait: Duration::MAX,
        ..no_wait(Engine::Jit)
    };
    let args = [
        Arg::Buffer(a),
        Arg::Buffer(b),
        Arg::Buffer(c),
        Arg::from(1001u32),
    ];
    let launch = || {
        rt.launch(&k, Dim3::x(4), Dim3::x(256), &args, options)
            .unwrap()
    };
    let first = launch();
    assert_eq!(first.engine, Engine::Jit);
    assert!(first.compile_time.is_some());
    // The background compiler makes the general part (the first launch's
    // partial gangs ran on the interpreter meanwhile, unless it was
    // ready): the first launch that ends after that reports it.
    let mut reported = first.general_compile_time;
    for _ in 0..10_000 {
        if reported.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
        reported = launch().general_compile_time;
    }
    assert!(reported.is_some(), "the general part was never reported");
    for i in 0..5 {
        let again = launch();
        assert_eq!(again.general_compile_time, None, "launch {i}");
        assert_eq!(again.compile_time, None, "launch {i}");
    }
    let sum = rt
        .compile("sum.lasm", include_str!("../src/ops/block_sum.lasm"))
        .unwrap()
        .kernels[0]
        .clone();
    let out = rt.alloc(4).unwrap();
    let args = [Arg::Buffer(a), Arg::Buffer(out), Arg::from(1024u32)];
    let stats = rt
        .launch(&sum, Dim3::x(4), Dim3::x(256), &args, options)
        .unwrap();
    assert!(stats.compile_time.is_some());
    assert_eq!(stats.general_compile_time, None, "block_sum compiles whole");
}
