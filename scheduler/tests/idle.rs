//! An idle pool past its spin window uses no CPU. Its own test binary, so
//! no other test's threads run in the process while it measures.
#![cfg(not(loom))]

use std::time::Duration;

use lanes_scheduler::Pool;

/// User + system CPU time of this process, from /proc/self/stat (clock
/// ticks, usually 10 ms).
fn process_cpu_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are the
    // 14th and 15th fields overall.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

#[cfg_attr(miri, ignore)] // reads /proc and sleeps a second
#[test]
fn an_idle_pool_uses_no_cpu() {
    let Some(_) = process_cpu_ticks() else {
        eprintln!("no /proc/self/stat; skipping");
        return;
    };
    let pool = Pool::builder()
        .threads(4)
        .spin(Duration::from_millis(1))
        .build(|_| ())
        .unwrap();
    for _ in 0..20 {
        pool.run(100, |_, _| Ok::<(), ()>(())).unwrap();
    }
    // Past the spin window every worker is parked.
    std::thread::sleep(Duration::from_millis(50));
    let before = process_cpu_ticks().unwrap();
    std::thread::sleep(Duration::from_secs(1));
    let used = process_cpu_ticks().unwrap() - before;
    // 4 spinning workers would burn ~400 ticks (at 100 Hz); parked ones 0.
    // Generous bound for a noisy shared machine.
    assert!(
        used <= 10,
        "idle pool used {used} clock ticks of CPU in 1 s"
    );
    let report = pool.report();
    assert!(report.total.parks >= 4, "{}", report.to_table());
}
