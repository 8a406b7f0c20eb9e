//! lanes-scheduler against rayon on the same thread counts.
//!
//! * `round_trip`: an empty batch (one task that does nothing) with 1 and 2
//!   workers: inline (the default for one task), forced through the workers
//!   (`inline_tasks(0)`), against `rayon::ThreadPool::install(|| ())`.
//! * `empty_items`: `n` empty tasks against a rayon `par_iter` over `n`
//!   empty items inside the pool, for n = 2..256; with and without the
//!   submitter helping, and with workers that park at once (`spin(0)`).
//! * `tiny_tasks`: throughput of 10 000 tiny tasks (default per-chunk timing,
//!   per-task timing, no timing).
//! * `imbalance`: 256 tasks of which the first 32 are 100x heavier.
//!
//! Run briefly with
//! `cargo bench -p lanes-scheduler --bench pool -- --warm-up-time 1 --measurement-time 3`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use lanes_scheduler::{Pool, TaskTiming};
use rayon::prelude::*;

fn lanes_pool(threads: usize, inline_tasks: usize, helps: bool, spin: Duration) -> Pool<()> {
    Pool::builder()
        .threads(threads)
        .inline_tasks(inline_tasks)
        .submitter_helps(helps)
        .spin(spin)
        .thread_name("bench")
        .build(|_| ())
        .expect("pool")
}

fn rayon_pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("rayon pool")
}

const SPIN: Duration = Duration::from_micros(50);

fn empty(_: &mut (), task: usize) -> Result<(), ()> {
    black_box(task);
    Ok(())
}

fn round_trip(c: &mut Criterion) {
    let mut g = c.benchmark_group("round_trip");
    for threads in [1, 2] {
        let pool = lanes_pool(threads, 1, true, SPIN);
        g.bench_function(BenchmarkId::new("lanes_inline", threads), |b| {
            b.iter(|| pool.run(1, empty).unwrap())
        });
        drop(pool);
        let pool = lanes_pool(threads, 0, true, SPIN);
        g.bench_function(BenchmarkId::new("lanes_via_workers", threads), |b| {
            b.iter(|| pool.run(1, empty).unwrap())
        });
        drop(pool);
        let pool = lanes_pool(threads, 0, false, SPIN);
        g.bench_function(BenchmarkId::new("lanes_via_workers_nohelp", threads), |b| {
            b.iter(|| pool.run(1, empty).unwrap())
        });
        drop(pool);
        let rayon = rayon_pool(threads);
        g.bench_function(BenchmarkId::new("rayon_install", threads), |b| {
            b.iter(|| rayon.install(|| black_box(())))
        });
    }
    g.finish();
}

fn empty_items(c: &mut Criterion) {
    let mut g = c.benchmark_group("empty_items");
    let threads = 2;
    let help = lanes_pool(threads, 1, true, SPIN);
    let nohelp = lanes_pool(threads, 1, false, SPIN);
    let cold = lanes_pool(threads, 1, true, Duration::ZERO);
    let rayon = rayon_pool(threads);
    for n in [2usize, 16, 256] {
        g.bench_function(BenchmarkId::new("lanes", n), |b| {
            b.iter(|| help.run(n, empty).unwrap())
        });
        g.bench_function(BenchmarkId::new("lanes_nohelp", n), |b| {
            b.iter(|| nohelp.run(n, empty).unwrap())
        });
        g.bench_function(BenchmarkId::new("lanes_spin0", n), |b| {
            b.iter(|| cold.run(n, empty).unwrap())
        });
        g.bench_function(BenchmarkId::new("rayon_par_iter", n), |b| {
            b.iter(|| {
                rayon.install(|| {
                    (0..n).into_par_iter().for_each(|i| {
                        black_box(i);
                    })
                })
            })
        });
    }
    g.finish();
}

fn tiny_work(i: usize) -> u64 {
    let mut x = i as u64;
    for _ in 0..20 {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
    }
    x
}

fn tiny_tasks(c: &mut Criterion) {
    let mut g = c.benchmark_group("tiny_tasks");
    let n = 10_000;
    g.throughput(Throughput::Elements(n as u64));
    let pool = lanes_pool(2, 1, true, SPIN);
    let untimed = Pool::builder()
        .threads(2)
        .task_timing(TaskTiming::Off)
        .build(|_| ())
        .expect("pool");
    let per_task = Pool::builder()
        .threads(2)
        .task_timing(TaskTiming::PerTask)
        .build(|_| ())
        .expect("pool");
    let rayon = rayon_pool(2);
    g.bench_function("lanes", |b| {
        b.iter(|| {
            pool.run(n, |_, i| {
                black_box(tiny_work(i));
                Ok::<(), ()>(())
            })
            .unwrap()
        })
    });
    g.bench_function("lanes_timed_per_task", |b| {
        b.iter(|| {
            per_task
                .run(n, |_, i| {
                    black_box(tiny_work(i));
                    Ok::<(), ()>(())
                })
                .unwrap()
        })
    });
    g.bench_function("lanes_untimed", |b| {
        b.iter(|| {
            untimed
                .run(n, |_, i| {
                    black_box(tiny_work(i));
                    Ok::<(), ()>(())
                })
                .unwrap()
        })
    });
    g.bench_function("rayon_par_iter", |b| {
        b.iter(|| {
            rayon.install(|| {
                (0..n).into_par_iter().for_each(|i| {
                    black_box(tiny_work(i));
                })
            })
        })
    });
    g.finish();
}

fn uneven_work(i: usize) -> u64 {
    let rounds = if i < 32 { 20_000 } else { 200 };
    let mut x = i as u64;
    for _ in 0..rounds {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
    }
    x
}

fn imbalance(c: &mut Criterion) {
    let mut g = c.benchmark_group("imbalance");
    let n = 256;
    let pool = lanes_pool(2, 1, true, SPIN);
    let nohelp = lanes_pool(2, 1, false, SPIN);
    let rayon = rayon_pool(2);
    g.bench_function("lanes", |b| {
        b.iter(|| {
            pool.run(n, |_, i| {
                black_box(uneven_work(i));
                Ok::<(), ()>(())
            })
            .unwrap()
        })
    });
    g.bench_function("lanes_nohelp", |b| {
        b.iter(|| {
            nohelp
                .run(n, |_, i| {
                    black_box(uneven_work(i));
                    Ok::<(), ()>(())
                })
                .unwrap()
        })
    });
    g.bench_function("rayon_par_iter", |b| {
        b.iter(|| {
            rayon.install(|| {
                (0..n).into_par_iter().for_each(|i| {
                    black_box(uneven_work(i));
                })
            })
        })
    });
    g.bench_function("serial", |b| {
        b.iter(|| {
            for i in 0..n {
                black_box(uneven_work(i));
            }
        })
    });
    println!(
        "\nlanes pool after the imbalance runs:\n{}",
        pool.report().to_table()
    );
    g.finish();
}

criterion_group!(benches, round_trip, empty_items, tiny_tasks, imbalance);
criterion_main!(benches);
