//! The JIT's compile time for every kernel of the op library (the ready
//! kernels of `lanes::ops` and every type of every family), at the block
//! shapes the library launches them with: p50, max, and the slowest.
//!
//! ```sh
//! cargo run --release --example jit_compile_times
//! ```

use std::sync::Arc;
use std::time::Duration;

use lanes::Kernel;
use lanes::engine::jit::{JitLaunch, Tier};
use lanes::engine::{LaunchSpec, StopFlag};
use lanes::kernel::ParamKind;
use lanes::launch::{BoundArgs, Dim3};
use lanes::memory::Buffer;
use lanes::ops::{Family, Op};

/// Compiles `k` (freshly assembled: compiled code is cached beside the
/// kernel) for blocks of `block`; returns the compile time and tier.
fn compile_time(k: &Kernel, block: Dim3) -> (Duration, Tier) {
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
    (
        launch.compile_time().expect("a fresh kernel is compiled"),
        launch.tier(),
    )
}

fn main() {
    let mut times: Vec<(Duration, String, Tier)> = Vec::new();
    for op in Op::ALL {
        let program = lanes::compile("op.lasm", op.source()).expect("ops compile");
        for k in &program.kernels {
            let (t, tier) = compile_time(k, Dim3::x(256));
            times.push((t, format!("ops::{}", op.name()), tier));
        }
    }
    for family in Family::ALL {
        for &ty in family.types() {
            let Some(src) = family.source(ty) else {
                continue;
            };
            let program = lanes::compile("family.lasm", &src).expect("library kernels compile");
            for k in &program.kernels {
                let block = if k.name.contains("gemm") {
                    Dim3::new(16, 16, 1)
                } else {
                    Dim3::x(256)
                };
                let (t, tier) = compile_time(k, block);
                times.push((t, format!("{}.{ty}", k.name), tier));
            }
        }
    }
    times.sort_by_key(|t| t.0);
    let p50 = times[times.len() / 2].0;
    let max = times[times.len() - 1].0;
    println!(
        "{} kernels: p50 {:.2} ms, max {:.2} ms",
        times.len(),
        p50.as_secs_f64() * 1e3,
        max.as_secs_f64() * 1e3
    );
    println!("slowest:");
    for (t, name, tier) in times.iter().rev().take(8) {
        println!(
            "  {:>7.2} ms  {name} ({tier:?} tier)",
            t.as_secs_f64() * 1e3
        );
    }
}
