//! Warm-up, repetitions, and latency histograms.
//!
//! A measurement first warms up (at least [`Budget::warmup_runs`] calls and
//! at least [`Budget::warmup_time`]), then repeats until it has both
//! [`Budget::min_runs`] samples and [`Budget::target`] of measured time, or
//! [`Budget::max_runs`] samples, or (for very slow cases) 3 samples and
//! [`Budget::cap`]. Each sample is the wall time of `batch` calls divided
//! by `batch`: lanes launches are timed one by one (`batch` 1), while a
//! native loop over 256 elements takes less time than reading the clock, so
//! its samples group enough calls to last about a microsecond.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

/// How long and how often to measure one thing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// Warm-up calls, at least.
    pub warmup_runs: u64,
    /// Warm-up time, at least.
    pub warmup_time: Duration,
    /// Samples, at least (unless [`Budget::cap`] is reached first).
    pub min_runs: u64,
    /// Samples, at most.
    pub max_runs: u64,
    /// Measured time to reach (together with `min_runs`).
    pub target: Duration,
    /// A case this slow stops after 3 samples once it has measured this
    /// long, even below `min_runs`.
    pub cap: Duration,
}

impl Budget {
    /// The default of `lanes bench`: percentiles from hundreds to thousands
    /// of launches where a launch is cheap, at least 10 where it is not.
    pub const STANDARD: Budget = Budget {
        warmup_runs: 3,
        warmup_time: Duration::from_millis(10),
        min_runs: 10,
        max_runs: 20_000,
        target: Duration::from_millis(120),
        cap: Duration::from_secs(1),
    };

    /// `--quick`: a few samples, for smoke tests.
    pub const QUICK: Budget = Budget {
        warmup_runs: 1,
        warmup_time: Duration::ZERO,
        min_runs: 3,
        max_runs: 200,
        target: Duration::from_millis(3),
        cap: Duration::from_millis(50),
    };

    /// `base` with exactly `runs` samples (`--repeat`).
    pub const fn exact(base: Budget, runs: u64) -> Budget {
        Budget {
            min_runs: runs,
            max_runs: runs,
            target: Duration::ZERO,
            cap: Duration::MAX,
            ..base
        }
    }

    /// Round `i` of `rounds` that together spend this budget: runs and
    /// times split evenly (the first rounds take the remainder of the runs,
    /// so `--repeat N` still measures exactly N), and only the first round
    /// warms up fully (the others warm the caches with one call; a round
    /// left without runs does nothing).
    pub fn round(self, i: u64, rounds: u64) -> Budget {
        let rounds = rounds.max(1);
        let share = |n: u64| n / rounds + u64::from(i < n % rounds);
        let (warmup_runs, warmup_time) = if share(self.max_runs) == 0 {
            (0, Duration::ZERO)
        } else if i == 0 {
            (self.warmup_runs, self.warmup_time)
        } else {
            (self.warmup_runs.min(1), Duration::ZERO)
        };
        Budget {
            warmup_runs,
            warmup_time,
            min_runs: share(self.min_runs),
            max_runs: share(self.max_runs),
            target: self.target / rounds as u32,
            cap: if self.cap == Duration::MAX {
                Duration::MAX
            } else {
                self.cap / rounds as u32
            },
        }
    }

    /// A budget with `scale` times the measured time (for baselines, which
    /// need less time than the kernels to be as stable).
    pub fn scaled(self, scale: f64) -> Budget {
        Budget {
            target: self.target.mul_f64(scale),
            ..self
        }
    }
}

/// The samples of one measurement.
#[derive(Clone, Debug)]
pub struct Samples {
    /// Per-call latency in nanoseconds (3 significant digits).
    pub histogram: Histogram<u64>,
    /// Calls per sample.
    pub batch: u64,
    /// Wall time of all samples together.
    pub total: Duration,
}

/// A latency summary in nanoseconds, as the JSON reports hold it.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Latency {
    /// Samples taken.
    pub runs: u64,
    /// Calls per sample (1 for lanes launches).
    pub batch: u64,
    /// Smallest sample.
    pub min_ns: u64,
    /// Mean.
    pub mean_ns: f64,
    /// Median.
    pub p50_ns: u64,
    /// 90th percentile.
    pub p90_ns: u64,
    /// 99th percentile.
    pub p99_ns: u64,
    /// 99.9th percentile.
    pub p999_ns: u64,
    /// Largest sample.
    pub max_ns: u64,
    /// Wall time of all samples.
    pub total_ns: u64,
}

impl Samples {
    /// Adds `other`'s samples (another round of the same measurement).
    pub fn merge(&mut self, other: Samples) {
        // Both histograms resize automatically, so adding cannot fail.
        let _ = self.histogram.add(&other.histogram);
        self.batch = self.batch.max(other.batch);
        self.total += other.total;
    }

    /// The summary of these samples.
    pub fn latency(&self) -> Latency {
        let h = &self.histogram;
        Latency {
            runs: h.len(),
            batch: self.batch,
            min_ns: h.min(),
            mean_ns: if h.is_empty() { 0.0 } else { h.mean() },
            p50_ns: h.value_at_quantile(0.5),
            p90_ns: h.value_at_quantile(0.9),
            p99_ns: h.value_at_quantile(0.99),
            p999_ns: h.value_at_quantile(0.999),
            max_ns: h.max(),
            total_ns: u64::try_from(self.total.as_nanos()).unwrap_or(u64::MAX),
        }
    }
}

/// How calls are grouped into samples.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Batching {
    /// One call per sample.
    Single,
    /// Enough calls per sample that a sample lasts at least this long.
    AtLeast(Duration),
}

/// Warms up, then measures `call` within `budget`.
pub fn measure<E>(
    budget: &Budget,
    batching: Batching,
    mut call: impl FnMut() -> Result<(), E>,
) -> Result<Samples, E> {
    let warm = Instant::now();
    let mut warmups = 0u64;
    while warmups < budget.warmup_runs || warm.elapsed() < budget.warmup_time {
        call()?;
        warmups += 1;
    }
    let batch = match batching {
        Batching::Single => 1,
        Batching::AtLeast(floor) => {
            // Time a few calls together to see how many make a sample.
            let probe = 16u64;
            let t = Instant::now();
            for _ in 0..probe {
                call()?;
            }
            let per_call = t.elapsed().as_nanos().max(1) / u128::from(probe);
            let batch = floor.as_nanos().div_ceil(per_call);
            u64::try_from(batch).unwrap_or(u64::MAX).clamp(1, 1 << 20)
        }
    };
    let mut histogram = new_histogram();
    let mut total = Duration::ZERO;
    let mut runs = 0u64;
    loop {
        let enough = runs >= budget.max_runs
            || (runs >= budget.min_runs && total >= budget.target)
            || (runs >= 3 && total >= budget.cap);
        if enough {
            break;
        }
        let t = Instant::now();
        for _ in 0..batch {
            call()?;
        }
        let d = t.elapsed();
        total += d;
        runs += 1;
        let ns = u64::try_from(d.as_nanos() / u128::from(batch)).unwrap_or(u64::MAX);
        // An auto-resizing histogram takes any value.
        let _ = histogram.record(ns.max(1));
    }
    Ok(Samples {
        histogram,
        batch,
        total,
    })
}

/// An empty auto-resizing histogram with 3 significant digits.
pub fn new_histogram() -> Histogram<u64> {
    let mut h = Histogram::new_with_bounds(1, 2, 3).unwrap_or_else(|_| {
        // 1..2 with 3 digits is always a valid range; keep a fallback anyway.
        Histogram::new(3).unwrap_or_else(|e| panic!("hdrhistogram: {e}"))
    });
    h.auto(true);
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_split_a_budget_exactly() {
        for (runs, rounds) in [(10u64, 4u64), (3, 4), (20_000, 4), (7, 1), (1, 3)] {
            let b = Budget::exact(Budget::STANDARD, runs);
            let parts: Vec<Budget> = (0..rounds).map(|i| b.round(i, rounds)).collect();
            assert_eq!(parts.iter().map(|p| p.min_runs).sum::<u64>(), runs);
            assert_eq!(parts.iter().map(|p| p.max_runs).sum::<u64>(), runs);
            assert!(parts.iter().all(|p| p.cap == Duration::MAX));
        }
        let parts: Vec<Budget> = (0..4).map(|i| Budget::STANDARD.round(i, 4)).collect();
        assert_eq!(parts[0].warmup_runs, Budget::STANDARD.warmup_runs);
        assert_eq!(parts[0].warmup_time, Budget::STANDARD.warmup_time);
        assert!(
            parts[1..]
                .iter()
                .all(|p| p.warmup_runs == 1 && p.warmup_time.is_zero())
        );
        assert_eq!(
            parts.iter().map(|p| p.target).sum::<Duration>(),
            Budget::STANDARD.target
        );
        assert_eq!(
            parts.iter().map(|p| p.min_runs).sum::<u64>(),
            Budget::STANDARD.min_runs
        );
    }

    #[test]
    fn exact_budget_takes_exactly_n_samples() {
        let mut calls = 0u64;
        let s = measure(
            &Budget::exact(Budget::QUICK, 7),
            Batching::Single,
            || -> Result<(), ()> {
                calls += 1;
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(s.latency().runs, 7);
        assert_eq!(calls, 7 + Budget::QUICK.warmup_runs);
    }

    #[test]
    fn batching_groups_cheap_calls() {
        let s = measure(
            &Budget::exact(Budget::QUICK, 2),
            Batching::AtLeast(Duration::from_micros(50)),
            || -> Result<(), ()> {
                std::hint::black_box(0u64);
                Ok(())
            },
        )
        .unwrap();
        assert!(s.batch > 1);
        assert_eq!(s.latency().batch, s.batch);
    }

    #[test]
    fn errors_stop_the_measurement() {
        let mut calls = 0;
        let r = measure(&Budget::QUICK, Batching::Single, || {
            calls += 1;
            if calls == 3 { Err("boom") } else { Ok(()) }
        });
        assert_eq!(r.unwrap_err(), "boom");
    }
}
