//! The latency report and histogram of a series of launches: launch the
//! same kernel many times, then read what the scheduler recorded, as a
//! table per worker, as percentiles, as a histogram and in HdrHistogram's
//! `.hgrm` format, next to the latencies the host measured itself.
//!
//! ```sh
//! cargo run --release --example latency_report            # 2000 launches of 16384 elements
//! cargo run --release --example latency_report -- 500 4096
//! ```
//!
//! Also run by `cargo test`, with fewer launches.

use std::error::Error;
use std::time::Duration;

use lanes::{Dim3, Metric, Runtime};

const SOURCE: &str = include_str!("../docs/examples/vector_add.lasm");

fn run(launches: usize, n: usize) -> Result<(), Box<dyn Error>> {
    let rt = Runtime::builder().threads(2).build()?;
    let program = rt.compile("vector_add.lasm", SOURCE)?;
    let kernel = program.kernel("vector_add").ok_or("no vector_add")?;
    let a = rt.buffer_from(&vec![1.0f32; n])?;
    let c = rt.buffer_zeroed::<f32>(n)?;
    let grid = Dim3::x(n.div_ceil(256) as u32);
    let launch = || {
        kernel
            .launch(grid, Dim3::x(256))
            .arg(&a)
            .arg(&a)
            .arg(&c)
            .arg(n as u32)
            .run(&rt)
    };

    launch()?; // warm-up: the first launch prepares the kernel
    rt.reset_metrics(); // the report counts from here
    let mut host = Vec::with_capacity(launches);
    for _ in 0..launches {
        host.push(launch()?.elapsed); // LaunchStats: the host's own measure
    }
    let report = rt.report();

    // 1. The scheduler's table: tasks, steals, parks, run time and queue
    // wait per worker and for the launching thread ("submitters").
    println!("{}", report.to_table());

    // 2. Percentiles of the batch latency (one batch per launch), and the
    // same percentiles of the host's measure (which adds argument binding).
    let hist = report.histogram(Metric::BatchLatency);
    host.sort();
    let at = |q: f64| host[((host.len() - 1) as f64 * q).round() as usize];
    println!("{launches} launches of vector_add over {n} elements:");
    for q in [0.5, 0.9, 0.99, 1.0] {
        println!(
            "  p{:<5} scheduler {:>8.1?}   host {:>8.1?}",
            q * 100.0,
            Duration::from_nanos(hist.value_at_quantile(q)),
            at(q),
        );
    }

    // 3. The histogram itself, in buckets doubling from 1 µs.
    println!("histogram of batch latency:");
    for bucket in hist.iter_log(1000, 2.0) {
        let count = bucket.count_since_last_iteration();
        if count > 0 {
            let bar = "#".repeat((60 * count / hist.len()).max(1) as usize);
            println!(
                "  <= {:>9.1?} {count:>6} {bar}",
                Duration::from_nanos(bucket.value_iterated_to())
            );
        }
    }

    // 4. The same distribution in `.hgrm` form, for HdrHistogram's plotters.
    let hgrm = report.to_hgrm(Metric::BatchLatency);
    println!("{}", hgrm.lines().take(6).collect::<Vec<_>>().join("\n"));

    assert_eq!(report.batches, launches as u64, "one batch per launch");
    assert_eq!(hist.len(), launches as u64);
    assert_eq!(c.read()?, vec![2.0; n]);
    Ok(())
}

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let launches = args.next().map_or(Ok(2000), |v| v.parse())?;
    let n = args.next().map_or(Ok(16384), |v| v.parse())?;
    run(launches, n)
}

#[cfg(test)]
mod tests {
    #[test]
    fn runs() {
        super::run(50, 4096).unwrap();
    }
}
