//! Launch latency of f32 vector_add under different pool configurations,
//! measured in one process (medians of many launches): how the submitting
//! thread waits (spin or helping) matters on machines with few cores.
//!
//! `cargo run --release --example launch_configs [N]`

use lanes::launch::{Arg, Dim3, Scalar};
use lanes::runtime::{LaunchOptions, Runtime};
use std::time::{Duration, Instant};

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(16384);
    let kernel = lanes::ops::kernel(lanes::ops::Op::Add);
    let configs: [(&str, usize, bool, Duration); 4] = [
        (
            "2 workers, submitter waits (spin 50us)",
            2,
            false,
            Duration::from_micros(50),
        ),
        (
            "2 workers, submitter helps",
            2,
            true,
            Duration::from_micros(50),
        ),
        (
            "1 worker, submitter helps",
            1,
            true,
            Duration::from_micros(50),
        ),
        ("2 workers, no spin", 2, false, Duration::ZERO),
    ];
    for (name, threads, helps, spin) in configs {
        let rt = Runtime::builder()
            .threads(threads)
            .submitter_helps(helps)
            .spin(spin)
            .build()
            .expect("pool");
        let bytes: Vec<u8> = (0..n).flat_map(|i| (i as f32).to_le_bytes()).collect();
        let a = rt.alloc_from(&bytes).unwrap();
        let b = rt.alloc_from(&bytes).unwrap();
        let c = rt.alloc(n * 4).unwrap();
        let args = [
            Arg::Buffer(a),
            Arg::Buffer(b),
            Arg::Buffer(c),
            Arg::Scalar(Scalar {
                ty: lanes::types::ScalarType::U32,
                bits: n as u64,
            }),
        ];
        let grid = Dim3::x(n.div_ceil(256) as u32);
        let mut times = Vec::new();
        let end = Instant::now() + Duration::from_secs(2);
        while Instant::now() < end {
            let t = Instant::now();
            rt.launch(&kernel, grid, Dim3::x(256), &args, LaunchOptions::default())
                .unwrap();
            times.push(t.elapsed());
        }
        times.sort();
        let p = |q: f64| times[((times.len() - 1) as f64 * q) as usize];
        println!(
            "{name:42} n={n}: p50 {:?} p90 {:?} ({} launches)",
            p(0.5),
            p(0.9),
            times.len()
        );
    }
}
