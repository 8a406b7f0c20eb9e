//! The launch's stop flag: how a fault in one block, or a deadline, stops
//! the blocks that are already running.
//!
//! Every engine polls the flag of its [`LaunchSpec`](super::LaunchSpec)
//! before each block (or fused unit) and at every backward branch, where a
//! lane's step count is checked too: a lane that never ends must take a
//! backward branch, so it notices a stop within one pass over its loop. An
//! engine that notices the flag records the blocks it did not finish
//! ([`StopFlag::record_unfinished`]) and returns `Ok(())`; the caller then
//! tells a stop caused by a fault (the fault is the launch's error) from one
//! caused by a deadline (the unfinished blocks are).
//!
//! # Layout, for generated code
//!
//! `StopFlag` is `#[repr(C)]` and starts with an [`AtomicBool`], which has
//! the layout of a `bool`: generated code may load the byte at the address
//! of the `StopFlag` (or [`StopFlag::as_ptr`]) through a pointer, with a
//! plain or relaxed load; `0` means run on, anything else means stop. Only
//! Rust code sets it. Nothing orders other memory by it: it is a request,
//! and the launch's end (the scheduler's latch) is what publishes results.

use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// Unfinished block ranges kept for a report: the lowest ones.
const KEPT_RANGES: usize = 8;

/// A launch's stop flag and the blocks that had not finished when it
/// stopped. See the module docs.
#[repr(C)]
#[derive(Debug, Default)]
pub struct StopFlag {
    /// First field: generated code loads it through a pointer.
    flag: AtomicBool,
    unfinished: Mutex<Unfinished>,
}

/// Blocks an engine gave up on after the stop.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Unfinished {
    /// How many blocks, in all.
    pub blocks: u64,
    /// The lowest linear block ranges, sorted and merged where they touch;
    /// at most a few (the count above covers them all).
    pub ranges: Vec<Range<u64>>,
}

impl StopFlag {
    /// A flag that is not set.
    pub fn new() -> StopFlag {
        StopFlag::default()
    }

    /// Whether the launch should stop.
    #[inline]
    pub fn is_set(&self) -> bool {
        self.flag.load(Ordering::Relaxed)
    }

    /// Asks every engine running the launch to stop.
    pub fn set(&self) {
        self.flag.store(true, Ordering::Relaxed);
    }

    /// The flag itself (the first byte of the `StopFlag`).
    pub fn flag(&self) -> &AtomicBool {
        &self.flag
    }

    /// The address generated code loads: nonzero means stop.
    pub fn as_ptr(&self) -> *const u8 {
        self.flag.as_ptr().cast_const().cast()
    }

    /// Notes that the linear blocks `blocks` did not finish because of the
    /// stop (the caller saw the flag set). Memory stays bounded however
    /// many ranges are recorded.
    pub fn record_unfinished(&self, blocks: Range<u64>) {
        if blocks.is_empty() {
            return;
        }
        let mut u = self.unfinished.lock();
        u.blocks += blocks.end - blocks.start;
        // Ranges before `at` end before a gap; the one at `at` may touch or
        // overlap, and so may those after it.
        let at = u.ranges.partition_point(|r| r.end < blocks.start);
        u.ranges.insert(at, blocks);
        while at + 1 < u.ranges.len() && u.ranges[at].end >= u.ranges[at + 1].start {
            let next = u.ranges.remove(at + 1);
            let r = &mut u.ranges[at];
            r.start = r.start.min(next.start);
            r.end = r.end.max(next.end);
        }
        u.ranges.truncate(KEPT_RANGES);
    }

    /// The blocks recorded as unfinished so far. Engines give up on blocks
    /// only once they have seen the flag set, so while it is clear there
    /// are none and no lock is taken (every launch asks, at its end, which
    /// also makes what its engines saw and recorded visible).
    pub fn unfinished(&self) -> Unfinished {
        if !self.is_set() {
            return Unfinished::default();
        }
        self.unfinished.lock().clone()
    }
}

/// Runs `f` while a watchdog thread sets `stop` once `timeout` has passed
/// (if `f` is still running then). With no timeout, just runs `f`. Fails,
/// without running `f`, only when the watchdog thread cannot be started.
///
/// One thread per call: a launch with a deadline pays for a thread start
/// (tens of microseconds), launches without one pay nothing.
pub fn with_deadline<R>(
    stop: &StopFlag,
    timeout: Option<Duration>,
    f: impl FnOnce() -> R,
) -> std::io::Result<R> {
    let Some(timeout) = timeout else {
        return Ok(f());
    };
    let start = Instant::now();
    let done = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let watchdog = std::thread::Builder::new()
            .name("lanes-deadline".to_string())
            .spawn_scoped(scope, || {
                while !done.load(Ordering::Acquire) {
                    let left = timeout.saturating_sub(start.elapsed());
                    if left.is_zero() {
                        stop.set();
                        return;
                    }
                    // Spurious wake-ups and the final unpark both land here.
                    std::thread::park_timeout(left);
                }
            })?;
        let result = f();
        done.store(true, Ordering::Release);
        watchdog.thread().unpark();
        Ok(result)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_merge_and_stay_few() {
        let s = StopFlag::new();
        assert!(!s.is_set());
        s.set();
        assert!(s.is_set());
        // The documented layout: the flag is the struct's first byte.
        assert_eq!(s.as_ptr(), (&s as *const StopFlag).cast::<u8>());
        s.record_unfinished(10..12);
        s.record_unfinished(0..2);
        s.record_unfinished(2..4);
        s.record_unfinished(12..13);
        s.record_unfinished(5..5);
        assert_eq!(
            s.unfinished(),
            Unfinished {
                blocks: 7,
                ranges: vec![0..4, 10..13]
            }
        );
        // A range bridging two merges them.
        s.record_unfinished(4..10);
        assert_eq!(s.unfinished().ranges, vec![0..13]);
        // Many disjoint ranges: the count is exact, the list short.
        let s = StopFlag::new();
        s.set();
        for b in (0..1000u64).rev() {
            s.record_unfinished(2 * b..2 * b + 1);
        }
        let u = s.unfinished();
        assert_eq!(u.blocks, 1000);
        assert_eq!(u.ranges.len(), KEPT_RANGES);
        assert_eq!(u.ranges[0], 0..1);
        assert_eq!(u.ranges[KEPT_RANGES - 1], 14..15);
    }

    #[test]
    fn the_watchdog_sets_the_flag_only_after_the_deadline() {
        let s = StopFlag::new();
        let r = with_deadline(&s, Some(Duration::from_secs(3600)), || 7).unwrap();
        assert_eq!(r, 7);
        assert!(!s.is_set(), "finished long before the deadline");
        // A body that waits for the flag returns once the watchdog sets it.
        let s = StopFlag::new();
        with_deadline(&s, Some(Duration::from_millis(5)), || {
            while !s.is_set() {
                std::thread::yield_now();
            }
        })
        .unwrap();
        assert!(s.is_set());
        let s = StopFlag::new();
        with_deadline(&s, None, || ()).unwrap();
        assert!(!s.is_set());
    }
}
