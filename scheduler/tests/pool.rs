//! Batches: every task exactly once, stealing, concurrent submitters,
//! failures, panics, shutdown. Small sizes under Miri.
#![cfg(not(loom))]

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use lanes_scheduler::{BatchError, BuildError, Placement, Pool};

/// Scales loop counts down under Miri, which runs ~1000x slower.
const fn scale(n: usize) -> usize {
    if cfg!(miri) { n.div_ceil(50) } else { n }
}

fn counters(n: usize) -> Vec<AtomicU8> {
    (0..n).map(|_| AtomicU8::new(0)).collect()
}

fn assert_once(counts: &[AtomicU8]) {
    for (i, c) in counts.iter().enumerate() {
        assert_eq!(
            c.load(Ordering::Relaxed),
            1,
            "task {i} ran {} times",
            c.load(Ordering::Relaxed)
        );
    }
}

/// Uneven cost: a few tasks are much slower than the rest.
fn work(task: usize) {
    let spins = if task % 13 == 0 { 2_000 } else { 10 };
    let mut x = task as u64;
    for _ in 0..scale(spins) {
        x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
    }
    std::hint::black_box(x);
}

#[test]
fn every_task_runs_exactly_once_under_heavy_stealing() {
    // More threads than cores on any CI box with <= 4 CPUs; no spin so the
    // workers park and wake constantly.
    for (threads, spin, helps) in [(5, 0, true), (3, 20, false), (1, 0, true)] {
        let pool = Pool::builder()
            .threads(threads)
            .spin(Duration::from_micros(spin))
            .submitter_helps(helps)
            .build(|_| ())
            .unwrap();
        for round in 0..scale(60) {
            let n = [2, 3, 7, 64, 1000, 2500][round % 6] + round;
            let counts = counters(n);
            let stats = pool
                .run(n, |_, task| {
                    work(task);
                    counts[task].fetch_add(1, Ordering::Relaxed);
                    Ok::<(), ()>(())
                })
                .unwrap();
            assert_eq!(stats.tasks, n);
            assert_once(&counts);
        }
    }
}

#[test]
fn concurrent_submitters_each_get_their_own_tasks() {
    let pool = Arc::new(
        Pool::builder()
            .threads(3)
            .spin(Duration::from_micros(10))
            .build(|w| w)
            .unwrap(),
    );
    let submitters = 4;
    let barrier = Arc::new(Barrier::new(submitters));
    let handles: Vec<_> = (0..submitters)
        .map(|s| {
            let pool = Arc::clone(&pool);
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                barrier.wait();
                for round in 0..scale(50) {
                    let n = 1 + (s * 37 + round * 11) % 600;
                    let counts = counters(n);
                    pool.run(n, |_, task| {
                        work(task);
                        counts[task].fetch_add(1, Ordering::Relaxed);
                        Ok::<(), ()>(())
                    })
                    .unwrap();
                    assert_once(&counts);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

#[test]
fn each_worker_uses_its_own_state_made_on_its_thread() {
    // The factory records the thread it ran on; tasks check that the state
    // they get belongs to the thread running them.
    let pool: Pool<(usize, thread::ThreadId)> = Pool::builder()
        .threads(2)
        .thread_name("state-test")
        .build(|w| (w, thread::current().id()))
        .unwrap();
    let seen = counters(4);
    pool.run(scale(400), |state, _| {
        assert_eq!(state.1, thread::current().id());
        if state.0 < 2 {
            let name = thread::current().name().map(str::to_owned);
            assert_eq!(name, Some(format!("state-test-{}", state.0)));
        }
        seen[state.0.min(3)].store(1, Ordering::Relaxed);
        Ok::<(), ()>(())
    })
    .unwrap();
}

#[test]
fn a_single_task_runs_on_the_submitting_thread() {
    let pool = Pool::builder().threads(2).build(|_| ()).unwrap();
    let me = thread::current().id();
    for _ in 0..10 {
        let stats = pool
            .run(1, |_, task| {
                assert_eq!(task, 0);
                assert_eq!(thread::current().id(), me);
                Ok::<(), ()>(())
            })
            .unwrap();
        assert!(stats.inline);
        assert_eq!(stats.woken, 0);
        assert_eq!(stats.submitter_tasks, 1);
    }
    let stats = pool.run(0, |_, _| Ok::<(), ()>(())).unwrap();
    assert_eq!(stats.tasks, 0);
}

#[test]
fn inline_threshold_is_configurable() {
    let pool = Pool::builder()
        .threads(2)
        .inline_tasks(8)
        .build(|_| ())
        .unwrap();
    let me = thread::current().id();
    let stats = pool
        .run(8, |_, _| {
            assert_eq!(thread::current().id(), me);
            Ok::<(), ()>(())
        })
        .unwrap();
    assert!(stats.inline);
    assert!(!pool.run(9, |_, _| Ok::<(), ()>(())).unwrap().inline);
}

#[test]
fn a_failing_task_fails_the_batch_and_cancels_the_rest() {
    let pool = Pool::builder().threads(2).build(|_| ()).unwrap();
    let n = scale(10_000);
    let ran = AtomicUsize::new(0);
    let err = pool
        .run(n, |_, task| {
            ran.fetch_add(1, Ordering::Relaxed);
            if task == 0 {
                return Err(format!("task {task} is bad"));
            }
            // Slow enough that cancellation has something to cancel.
            work(0);
            Ok(())
        })
        .unwrap_err();
    assert_eq!(
        err,
        BatchError::Task {
            task: 0,
            error: "task 0 is bad".to_string()
        }
    );
    assert!(ran.load(Ordering::Relaxed) < n, "nothing was cancelled");
    // The pool keeps working.
    let counts = counters(100);
    pool.run(100, |_, t| {
        counts[t].fetch_add(1, Ordering::Relaxed);
        Ok::<(), ()>(())
    })
    .unwrap();
    assert_once(&counts);
}

#[test]
fn the_first_of_several_errors_wins() {
    let pool = Pool::builder().threads(3).build(|_| ()).unwrap();
    let err = pool
        .run(
            scale(500),
            |_, task| if task % 2 == 1 { Err(task) } else { Ok(()) },
        )
        .unwrap_err();
    match err {
        BatchError::Task { task, error } => {
            assert_eq!(task, error);
            assert_eq!(task % 2, 1);
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn a_panicking_task_fails_the_batch_with_its_message() {
    let pool = Pool::builder().threads(2).build(|_| 0u64).unwrap();
    for n in [1, 2, scale(1000)] {
        let target = n / 2;
        let err = pool
            .run(n, |_, task| {
                if task == target {
                    panic!("boom at {task}");
                }
                Ok::<(), ()>(())
            })
            .unwrap_err();
        assert_eq!(
            err,
            BatchError::Panicked {
                task: target,
                message: format!("boom at {target}")
            }
        );
    }
    // Non-string payloads are reported too.
    let err = pool
        .run(4, |_, task| {
            if task == 3 {
                std::panic::panic_any(17u32);
            }
            Ok::<(), ()>(())
        })
        .unwrap_err();
    assert!(matches!(err, BatchError::Panicked { task: 3, .. }));
    // Workers survived, states still usable.
    let counts = counters(scale(1000));
    pool.run(counts.len(), |state, t| {
        *state += 1;
        counts[t].fetch_add(1, Ordering::Relaxed);
        Ok::<(), ()>(())
    })
    .unwrap();
    assert_once(&counts);
}

#[test]
fn shutdown_under_load_fails_batches_in_flight_and_never_hangs() {
    let pool = Arc::new(
        Pool::builder()
            .threads(3)
            .spin(Duration::from_micros(5))
            .build(|_| ())
            .unwrap(),
    );
    let progress = Arc::new(AtomicUsize::new(0));
    let submitters: Vec<_> = (0..3)
        .map(|s| {
            let pool = Arc::clone(&pool);
            let progress = Arc::clone(&progress);
            thread::spawn(move || {
                let mut round = 0usize;
                loop {
                    let n = 50 + (round * 7 + s) % 500;
                    round += 1;
                    match pool.run(n, |_, t| {
                        work(t);
                        Ok::<(), ()>(())
                    }) {
                        Ok(_) => {
                            progress.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(BatchError::ShutDown) => return round,
                        Err(other) => panic!("unexpected {other:?}"),
                    }
                }
            })
        })
        .collect();
    while progress.load(Ordering::Relaxed) < scale(30) {
        thread::yield_now();
    }
    pool.shutdown();
    for s in submitters {
        s.join().unwrap();
    }
    assert!(pool.is_shut_down());
    assert_eq!(
        pool.run(3, |_, _| Ok::<(), ()>(())),
        Err(BatchError::ShutDown)
    );
    assert_eq!(
        pool.run(1, |_, _| Ok::<(), ()>(())),
        Err(BatchError::ShutDown)
    );
    // Reports still work after shutdown (from the workers' last metrics).
    let report = pool.report();
    assert_eq!(report.workers.len(), 3);
    pool.shutdown(); // idempotent
}

#[test]
fn dropping_pools_joins_their_threads() {
    for threads in 1..4 {
        let pool = Pool::builder().threads(threads).build(|_| ()).unwrap();
        pool.run(10, |_, _| Ok::<(), ()>(())).unwrap();
        drop(pool);
    }
    // Dropped right after build, while workers may still be spinning.
    drop(Pool::builder().threads(2).build(|_| ()).unwrap());
}

#[test]
fn build_errors() {
    assert_eq!(
        Pool::builder().threads(0).build(|_| ()).unwrap_err(),
        BuildError::ZeroThreads
    );
    let err = Pool::builder()
        .threads(1)
        .placement(Placement::Cpus(vec![1_000_000]))
        .build(|_| ())
        .unwrap_err();
    assert!(
        matches!(err, BuildError::UnknownCpu { cpu: 1_000_000, .. }),
        "{err}"
    );
    let err = Pool::builder()
        .threads(2)
        .build(|w| {
            if w == 1 {
                panic!("no state for worker {w}");
            }
        })
        .unwrap_err();
    assert_eq!(
        err,
        BuildError::Factory {
            worker: 1,
            message: "no state for worker 1".into()
        }
    );
}

#[test]
fn submitter_states_come_from_the_factory_with_indices_past_the_workers() {
    let made = Arc::new(std::sync::Mutex::new(Vec::new()));
    let made2 = Arc::clone(&made);
    let pool = Pool::builder()
        .threads(2)
        .build(move |i| {
            made2.lock().unwrap().push((i, thread::current().id()));
            i
        })
        .unwrap();
    pool.run(1, |state, _| {
        assert!(*state >= 2, "inline batch ran on worker state {state}");
        Ok::<(), ()>(())
    })
    .unwrap();
    let made = made.lock().unwrap();
    let submitter = made.iter().find(|(i, _)| *i >= 2).unwrap();
    assert_eq!(
        submitter.1,
        thread::current().id(),
        "made on the submitting thread"
    );
}

#[test]
fn pool_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Pool<Vec<u8>>>();
    check::<Pool<std::cell::Cell<u8>>>();
}
