//! 1 thread against 2 (or `--threads A,B`) in **one process**: the runtime's
//! pool is rebuilt between rounds, and the rounds alternate, so both
//! settings share the process's code and memory layout and the machine's
//! moment. On a shared 2-core VM, separate `lanes bench --threads` runs land
//! in a fast or a slow mode per process (same binary, up to 1.6x apart),
//! which swamps a ratio taken across processes.
//!
//! `cargo run --release --example scaling -- [mandelbrot|add] [PIXELS] [ROUNDS]`
//! (defaults: mandelbrot, 65536, 8). Prints each setting's best, p10,
//! median and p90 launch time and the ratio of the medians.

use std::time::{Duration, Instant};

use lanes::PoolConfig;
use lanes::Runtime;
use lanes::bench::baseline::Baseline;
use lanes::bench::case::{BenchKernel, Case, Prepared};

fn main() {
    let mut args = std::env::args().skip(1);
    let kernel = match args.next().as_deref() {
        None | Some("mandelbrot") => BenchKernel::Mandelbrot,
        Some("add") => BenchKernel::Add,
        Some(other) => {
            eprintln!("unknown kernel `{other}`: mandelbrot or add");
            std::process::exit(2);
        }
    };
    let n: u64 = args.next().and_then(|v| v.parse().ok()).unwrap_or(65536);
    let rounds: usize = args.next().and_then(|v| v.parse().ok()).unwrap_or(8);
    let settings = [1usize, 2];

    let rt = Runtime::builder().threads(1).build().expect("runtime");
    let mut baseline = Baseline::new(Case::new(kernel, n));
    let prepared = Prepared::new(&rt, &baseline).expect("upload");
    prepared.launch().expect("launch");
    prepared
        .verify(&mut baseline)
        .expect("result matches the native loop");

    // Launches per round: about 0.3 s of work at 1 thread.
    let t = Instant::now();
    prepared.launch().expect("launch");
    let per_round = (Duration::from_millis(300).as_secs_f64() / t.elapsed().as_secs_f64())
        .clamp(1.0, 10_000.0) as usize;

    let mut times: Vec<Vec<f64>> = vec![Vec::new(); settings.len()];
    for _ in 0..rounds {
        for (i, &threads) in settings.iter().enumerate() {
            let config = PoolConfig {
                threads: Some(threads),
                ..PoolConfig::default()
            };
            rt.reconfigure(config).expect("pool");
            prepared.launch().expect("warm-up launch");
            for _ in 0..per_round {
                let t = Instant::now();
                prepared.launch().expect("launch");
                times[i].push(t.elapsed().as_secs_f64());
            }
        }
    }
    let mut medians = Vec::new();
    for (i, &threads) in settings.iter().enumerate() {
        let v = &mut times[i];
        v.sort_by(f64::total_cmp);
        let median = v[v.len() / 2];
        medians.push(median);
        println!(
            "{} n={n}, {threads} thread(s): best {:.1} us, p10 {:.1} us, median {:.1} us, p90 {:.1} us over {} launches",
            kernel.name(),
            v[0] * 1e6,
            v[v.len() / 10] * 1e6,
            median * 1e6,
            v[v.len() * 9 / 10] * 1e6,
            v.len()
        );
    }
    println!(
        "{} thread(s) over {}: {:.2}x faster (medians)",
        settings[1],
        settings[0],
        medians[0] / medians[1]
    );
}
