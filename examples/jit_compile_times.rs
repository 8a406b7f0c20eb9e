//! The JIT's compile time for every kernel of the op library (the ready
//! kernels of `lanes::ops` and every type of every family), at the block
//! shapes the library launches them with: p50, max, and the slowest (of
//! the hot part, for kernels compiled in two, and the general parts'
//! apart); then
//! each kernel's first code: a kernel whose lanes may wait apart and that
//! the gang tier takes starts on one-lane code, compiled first, while its
//! gang code compiles in the background (`starts_on_one_lane`); then
//! how long a first launch with the default options waits for the JIT
//! (`LaunchOptions::jit_wait`: past it, blocks start on the block engine
//! while the kernel compiles in the background).
//!
//! ```sh
//! cargo run --release --example jit_compile_times
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use lanes::engine::jit::{JitLaunch, JitState, Start, Tier, starts_on_one_lane};
use lanes::engine::{LaunchSpec, StopFlag};
use lanes::kernel::ParamKind;
use lanes::launch::{BoundArgs, Dim3};
use lanes::memory::Buffer;
use lanes::ops::{Family, Op};
use lanes::{DEFAULT_JIT_WAIT, Kernel};

/// What [`compile_time`] measures of one kernel.
struct Measured {
    /// The JIT's choice: its compile time and tier.
    compiled: Duration,
    tier: Tier,
    /// The compile time of its general part, when compiled apart.
    general: Option<Duration>,
    /// The compile time of its one-lane variant, when its first launches
    /// run that while the gang code compiles.
    one_lane: Option<Duration>,
    /// How long a first launch with the default wait waited.
    waited: Duration,
    /// The code that first launch got, if it got code: its tier and
    /// compile time (kernels whose lanes wait apart start on the one-lane
    /// tier while the gang tier compiles), and how long the launch took
    /// to its end (on one thread).
    first: Option<(Tier, Duration, Duration)>,
}

/// Compiles `k` (freshly assembled: compiled code is cached beside the
/// kernel) for blocks of `block`; measures the compile time and tier, and
/// how long a launch that does not wait more than [`DEFAULT_JIT_WAIT`]
/// waited for a second copy of `k` and what it got (measured after the
/// first compiled, so the compiler thread is idle).
/// `lane` is a third copy, for the one-lane variant.
fn compile_time(k: &Kernel, copy: &Arc<Kernel>, lane: &Kernel, block: Dim3) -> Measured {
    let buffers = (0..k.buffer_slots)
        .map(|_| Arc::new(Buffer::zeroed(64).expect("small buffer")))
        .collect();
    let scalars = k
        .params
        .iter()
        .filter(|p| matches!(p.kind, ParamKind::Scalar { .. }))
        .map(|_| 0)
        .collect();
    let args = BoundArgs { buffers, scalars };
    let stop = StopFlag::new();
    let spec = LaunchSpec {
        kernel: k,
        grid: Dim3::x(1),
        block,
        args: &args,
        max_steps: 1 << 32,
        stop: &stop,
    };
    let launch = JitLaunch::new(&spec).expect("the JIT compiles every op kernel");
    let (compiled, tier) = (
        launch.compile_time().expect("a fresh kernel is compiled"),
        launch.tier(),
    );
    let general = launch.general_compile_time();
    let one_lane = starts_on_one_lane(&spec).then(|| {
        let spec = LaunchSpec {
            kernel: lane,
            ..spec
        };
        JitLaunch::with_tier(&spec, Some(Tier::Lane))
            .expect("the one-lane tier compiles every op kernel")
            .compile_time()
            .expect("a fresh kernel is compiled")
    });
    let spec = LaunchSpec {
        kernel: copy,
        ..spec
    };
    let start = Instant::now();
    let started = JitLaunch::start(&spec, copy, DEFAULT_JIT_WAIT);
    let waited = start.elapsed();
    let first = match &started {
        Ok(Start::Ready(l)) => {
            // Run it (one block; sizes zero, so its lanes mostly exit at
            // once, and a fault ends it as well): a gang that leaves the
            // full version waits for the general part of a kernel
            // compiled in two.
            let _ = JitState::new().run_blocks(l, 0..1);
            Some((
                l.tier(),
                l.compile_time().unwrap_or_default(),
                start.elapsed(),
            ))
        }
        _ => None,
    };
    drop(started);
    // Let the background compilation (the general part too) finish
    // before the next kernel.
    JitLaunch::new(&spec)
        .expect("the JIT compiles every op kernel")
        .general_compile_time();
    Measured {
        compiled,
        tier,
        general,
        one_lane,
        waited,
        first,
    }
}

/// The p50 and the largest of `v` (sorted here), in milliseconds.
fn p50_max(v: &mut [Duration]) -> (f64, f64) {
    v.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    (ms(v[v.len() / 2]), ms(v[v.len() - 1]))
}

fn main() {
    let mut all: Vec<(String, Measured)> = Vec::new();
    for op in Op::ALL {
        let program = lanes::compile("op.lasm", op.source()).expect("ops compile");
        let copy = lanes::compile("op.lasm", op.source()).expect("ops compile");
        let third = lanes::compile("op.lasm", op.source()).expect("ops compile");
        let copies = copy.kernels.iter().zip(&third.kernels);
        for (k, (c, l)) in program.kernels.iter().zip(copies) {
            let m = compile_time(k, c, l, Dim3::x(256));
            all.push((format!("ops::{}", op.name()), m));
        }
    }
    for family in Family::ALL {
        for &ty in family.types() {
            let Some(src) = family.source(ty) else {
                continue;
            };
            let program = lanes::compile("family.lasm", &src).expect("library kernels compile");
            let copy = lanes::compile("family.lasm", &src).expect("library kernels compile");
            let third = lanes::compile("family.lasm", &src).expect("library kernels compile");
            let copies = copy.kernels.iter().zip(&third.kernels);
            for (k, (c, l)) in program.kernels.iter().zip(copies) {
                let block = if k.name.contains("gemm") {
                    Dim3::new(16, 16, 1)
                } else {
                    Dim3::x(256)
                };
                all.push((format!("{}.{ty}", k.name), compile_time(k, c, l, block)));
            }
        }
    }
    let mut times: Vec<Duration> = all.iter().map(|(_, m)| m.compiled).collect();
    let (p50, max) = p50_max(&mut times);
    println!("{} kernels: p50 {p50:.2} ms, max {max:.2} ms", all.len());
    let mut general: Vec<Duration> = all.iter().filter_map(|(_, m)| m.general).collect();
    if !general.is_empty() {
        let mut hot: Vec<Duration> = all
            .iter()
            .filter(|(_, m)| m.general.is_some())
            .map(|(_, m)| m.compiled)
            .collect();
        let (hot_p50, hot_max) = p50_max(&mut hot);
        let (p50, max) = p50_max(&mut general);
        println!(
            "{} of them in two parts: the hot part p50 {hot_p50:.2} ms, max {hot_max:.2} ms; the general part (compiled when first needed or after the hot part) p50 {p50:.2} ms, max {max:.2} ms",
            general.len()
        );
    }
    let mut first: Vec<Duration> = all
        .iter()
        .map(|(_, m)| m.one_lane.unwrap_or(m.compiled))
        .collect();
    let (p50, max) = p50_max(&mut first);
    let mut behind: Vec<Duration> = all
        .iter()
        .filter(|(_, m)| m.one_lane.is_some())
        .map(|(_, m)| m.compiled)
        .collect();
    print!("each kernel's first code: p50 {p50:.2} ms, max {max:.2} ms");
    if behind.is_empty() {
        println!();
    } else {
        let (p50, max) = p50_max(&mut behind);
        println!(
            " ({} start on one-lane code; their gang code, compiled in the background meanwhile: p50 {p50:.2} ms, max {max:.2} ms)",
            behind.len()
        );
    }
    let mut waits: Vec<Duration> = all.iter().map(|(_, m)| m.waited).collect();
    let (p50, max) = p50_max(&mut waits);
    println!(
        "first launch waits (jit_wait {:.1} ms): p50 {p50:.2} ms, max {max:.2} ms",
        DEFAULT_JIT_WAIT.as_secs_f64() * 1e3
    );
    let got = all.iter().filter(|(_, m)| m.first.is_some()).count();
    // First launches on one-lane code of kernels whose choice is the gang
    // tier: that code's compile time.
    let mut quick: Vec<Duration> = all
        .iter()
        .filter_map(|(_, m)| match m.first {
            Some((Tier::Lane, t, _)) if m.tier == Tier::Gang => Some(t),
            _ => None,
        })
        .collect();
    print!("first launches on compiled code: {got} of {}", all.len());
    if quick.is_empty() {
        println!();
    } else {
        let (p50, max) = p50_max(&mut quick);
        println!(
            "; {} on the one-lane tier while the gang tier compiled (compiled in p50 {p50:.2} ms, max {max:.2} ms)",
            quick.len()
        );
    }
    let mut whole: Vec<Duration> = all
        .iter()
        .filter_map(|(_, m)| m.first.map(|f| f.2))
        .collect();
    let (p50, max) = p50_max(&mut whole);
    println!(
        "first launches on compiled code, from the launch to its end (one block of zero sizes): p50 {p50:.2} ms, max {max:.2} ms"
    );
    let missed: Vec<String> = all
        .iter()
        .filter(|(_, m)| m.first.is_none())
        .map(|(name, m)| format!("{name} ({:.2} ms)", m.compiled.as_secs_f64() * 1e3))
        .collect();
    if !missed.is_empty() {
        println!("first launches on the block engine: {}", missed.join(", "));
    }
    all.sort_by_key(|(_, m)| m.compiled);
    let over: Vec<&str> = all
        .iter()
        .filter(|(_, m)| m.compiled > Duration::from_millis(2))
        .map(|(name, _)| name.as_str())
        .collect();
    println!(
        "compiled in more than 2 ms: {} of {} ({})",
        over.len(),
        all.len(),
        over.join(", ")
    );
    println!("slowest to compile:");
    for (name, m) in all.iter().rev().take(8) {
        println!(
            "  {:>7.2} ms  {name} ({:?} tier)",
            m.compiled.as_secs_f64() * 1e3,
            m.tier
        );
    }
}
