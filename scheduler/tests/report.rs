//! Metrics, reports and placement.
#![cfg(not(loom))]

use std::time::Duration;

use lanes_scheduler::{Metric, Placement, Pool, TaskTiming, Topology};

#[test]
fn report_counts_every_task_once() {
    let pool = Pool::builder().threads(2).build(|_| ()).unwrap();
    for _ in 0..10 {
        pool.run(100, |_, _| Ok::<(), ()>(())).unwrap();
    }
    pool.run(1, |_, _| Ok::<(), ()>(())).unwrap();
    let report = pool.report();
    assert_eq!(report.total.tasks, 1001);
    let per_thread: u64 =
        report.workers.iter().map(|w| w.tasks).sum::<u64>() + report.submitters.tasks;
    assert_eq!(per_thread, 1001);
    assert_eq!(report.batches, 11);
    assert_eq!(report.batch_latency.count, 11);
    assert_eq!(report.total.run_time.count, 1001);
    assert_eq!(report.total.queue_wait.count, 1001);
    assert_eq!(report.histogram(Metric::RunTime).len(), 1001);
    assert!(report.batch_latency.p50_ns <= report.batch_latency.max_ns);

    pool.reset_metrics();
    let report = pool.report();
    assert_eq!(report.total.tasks, 0);
    assert_eq!(report.batches, 0);
    pool.run(10, |_, _| Ok::<(), ()>(())).unwrap();
    assert_eq!(pool.report().total.tasks, 10);
}

#[test]
fn task_timing_can_be_switched_off() {
    let pool = Pool::builder()
        .threads(2)
        .task_timing(TaskTiming::Off)
        .build(|_| ())
        .unwrap();
    pool.run(50, |_, _| Ok::<(), ()>(())).unwrap();
    let report = pool.report();
    assert_eq!(report.total.tasks, 50);
    assert_eq!(report.total.run_time.count, 0);
}

#[test]
fn report_renders_as_table_hgrm_and_json() {
    let pool = Pool::builder().threads(2).build(|_| ()).unwrap();
    pool.run(200, |_, t| {
        std::hint::black_box(t * 3);
        Ok::<(), ()>(())
    })
    .unwrap();
    let report = pool.report();

    let table = report.to_table();
    assert!(table.contains("worker 0"), "{table}");
    assert!(table.contains("worker 1"));
    assert!(table.contains("submitters"));
    assert!(table.contains("total"));
    assert!(table.contains("p99.9"));
    assert!(table.contains("bound to"));

    let hgrm = report.to_hgrm(Metric::RunTime);
    assert!(hgrm.starts_with("       Value     Percentile TotalCount 1/(1-Percentile)\n\n"));
    assert!(hgrm.contains("#[Mean    = "));
    assert!(hgrm.contains("#[Max     = "));
    assert!(hgrm.contains("#[Buckets = "));
    assert!(hgrm.contains("Total count    =          200]"), "{hgrm}");

    let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
    assert_eq!(json["total"]["tasks"], 200);
    assert_eq!(json["workers"].as_array().unwrap().len(), 2);
    assert!(json["total"]["run_time"]["p99_ns"].is_u64());
    assert!(json["affinity"]["workers"][0]["bound_to"].is_array());
}

#[test]
fn idle_workers_answer_reports_from_parking() {
    let pool = Pool::builder()
        .threads(2)
        .spin(Duration::ZERO)
        .build(|_| ())
        .unwrap();
    pool.run(20, |_, _| Ok::<(), ()>(())).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    for _ in 0..5 {
        let report = pool.report();
        assert_eq!(report.total.tasks, 20);
    }
}

#[cfg_attr(miri, ignore)] // pins threads and asks the OS for CPU numbers
#[test]
fn close_placement_pins_each_worker_to_one_allowed_cpu() {
    let topo = Topology::detect();
    let threads = topo.allowed().len().min(4);
    let pool = Pool::builder()
        .threads(threads)
        .placement(Placement::Close)
        .build(|_| ())
        .unwrap();
    for _ in 0..20 {
        pool.run(64, |_, _| Ok::<(), ()>(())).unwrap();
    }
    let affinity = pool.affinity();
    assert!(!affinity.wrapped);
    let places = topo.places();
    for (i, w) in affinity.workers.iter().enumerate() {
        assert!(w.pinned);
        assert_eq!(w.bound_to, vec![places[i]]);
        assert!(w.tid.is_some());
        // A pinned worker is only ever seen on its CPU.
        assert!(w.seen_on.iter().all(|c| *c == places[i]), "{w}");
    }
    let text = affinity.to_string();
    assert_eq!(
        text.lines().filter(|l| l.starts_with("worker")).count(),
        threads
    );
}

#[cfg_attr(miri, ignore)]
#[test]
fn more_workers_than_cpus_wrap_around_and_say_so() {
    let topo = Topology::detect();
    let threads = topo.allowed().len() + 1;
    let pool = Pool::builder()
        .threads(threads)
        .placement(Placement::Spread)
        .build(|_| ())
        .unwrap();
    let affinity = pool.affinity();
    assert!(affinity.wrapped);
    assert!(affinity.to_string().contains("wraps around"));
    assert_eq!(
        affinity.workers[threads - 1].bound_to,
        vec![topo.places()[0]]
    );
    pool.run(100, |_, _| Ok::<(), ()>(())).unwrap();
}

#[cfg_attr(miri, ignore)]
#[test]
fn explicit_cpu_list_is_honoured() {
    let topo = Topology::detect();
    let cpu = *topo.allowed().last().unwrap();
    let pool = Pool::builder()
        .threads(2)
        .placement(Placement::Cpus(vec![cpu]))
        .build(|_| ())
        .unwrap();
    pool.run(10, |_, _| Ok::<(), ()>(())).unwrap();
    let affinity = pool.affinity();
    assert!(affinity.wrapped);
    for w in &affinity.workers {
        assert_eq!(w.bound_to, vec![cpu]);
    }
}

#[cfg_attr(miri, ignore)]
#[test]
fn unpinned_workers_are_bound_to_the_process_mask() {
    let topo = Topology::detect();
    let pool = Pool::builder().threads(2).build(|_| ()).unwrap();
    pool.run(10, |_, _| Ok::<(), ()>(())).unwrap();
    for w in &pool.affinity().workers {
        assert!(!w.pinned);
        assert_eq!(w.bound_to, topo.allowed());
        assert!(!w.seen_on.is_empty());
    }
}

#[test]
fn a_task_may_ask_for_a_report_of_its_own_pool() {
    // The calling worker skips its own mailbox instead of waiting for
    // itself. (Tasks on several workers asking at once could wait on each
    // other; see `Pool::report`.)
    let pool = Pool::builder()
        .threads(1)
        .inline_tasks(0)
        .submitter_helps(false)
        .build(|_| ())
        .unwrap();
    pool.run(1, |_, _| {
        assert_eq!(pool.report().workers.len(), 1);
        pool.reset_metrics();
        Ok::<(), ()>(())
    })
    .unwrap();
}

#[test]
fn an_inline_batch_is_timed_from_its_submission_to_its_chunk_end() {
    // One task runs on the submitting thread: its chunk starts at the
    // batch's submission (no queue wait) and the batch ends with it, so the
    // batch latency covers the whole run and the task's run time does too.
    for timing in [TaskTiming::PerChunk, TaskTiming::PerTask] {
        let pool = Pool::builder()
            .threads(2)
            .task_timing(timing)
            .build(|_| ())
            .unwrap();
        // A worker's batch first: what it leaves must not time the next one.
        pool.run(64, |_, _| Ok::<(), ()>(())).unwrap();
        pool.reset_metrics();
        let pause = Duration::from_millis(20);
        let stats = pool
            .run(1, |_, _| {
                std::thread::sleep(pause);
                Ok::<(), ()>(())
            })
            .unwrap();
        assert!(stats.inline);
        assert!(stats.latency >= pause, "{:?}: {:?}", timing, stats.latency);
        let report = pool.report();
        assert_eq!(report.submitters.run_time.count, 1);
        assert_eq!(report.submitters.queue_wait.max_ns, 0);
        assert!(report.submitters.run_time.min_ns >= pause.as_nanos() as u64);
        // The latency recorded is the one returned, and no shorter than the
        // task's run time (the same interval, or one that holds it).
        assert_eq!(report.batch_latency.count, 1);
        assert!(report.batch_latency.max_ns >= report.submitters.run_time.min_ns);
        // A task that panics leaves no chunk end: the batch is timed by the
        // clock, and the next inline batch still from its own submission.
        assert!(
            pool.run(1, |_, _| -> Result<(), ()> { panic!("boom") })
                .is_err()
        );
        let stats = pool.run(1, |_, _| Ok::<(), ()>(())).unwrap();
        assert!(stats.latency < pause, "{:?}", stats.latency);
        // (A stale end, before the panicking batch's submission, would
        // have recorded it as taking no time.)
        let report = pool.report();
        assert_eq!(report.batch_latency.count, 3);
        assert!(report.batch_latency.min_ns > 0);
    }
}
