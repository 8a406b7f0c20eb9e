//! Launch latency percentiles for `--repeat`.

use std::time::Duration;

use hdrhistogram::Histogram;

use super::CliError;

/// Launch latencies in nanoseconds, kept to three significant digits.
pub(crate) struct Latencies {
    histogram: Histogram<u64>,
}

impl Latencies {
    pub(crate) fn new() -> Result<Latencies, CliError> {
        // An auto-resizing histogram: any latency fits.
        let histogram = Histogram::new(3)
            .map_err(|e| CliError::Usage(format!("cannot create a latency histogram: {e}")))?;
        Ok(Latencies { histogram })
    }

    pub(crate) fn record(&mut self, d: Duration) -> Result<(), CliError> {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.histogram
            .record(ns)
            .map_err(|e| CliError::Usage(format!("cannot record latency {ns} ns: {e}")))
    }

    /// The `p50 p90 p99 p99.9 max` lines, each `LABEL VALUE UNIT`.
    pub(crate) fn report(&self) -> String {
        let h = &self.histogram;
        let rows = [
            ("p50", h.value_at_quantile(0.5)),
            ("p90", h.value_at_quantile(0.9)),
            ("p99", h.value_at_quantile(0.99)),
            ("p99.9", h.value_at_quantile(0.999)),
            ("max", h.max()),
        ];
        rows.iter()
            .map(|(label, ns)| format!("{label} {}\n", format_ns(*ns as f64)))
            .collect()
    }
}

/// `ns` nanoseconds with one decimal in the largest unit that keeps the
/// value at least 1: `850.0 ns`, `3.2 µs`, `12.5 ms`, `2.0 s`.
pub(crate) fn format_ns(ns: f64) -> String {
    const UNITS: [(&str, f64); 4] = [("ns", 1.0), ("µs", 1e3), ("ms", 1e6), ("s", 1e9)];
    for (i, (unit, scale)) in UNITS.iter().enumerate() {
        let v = ns / scale;
        // Switch unit when the value would print as 1000.0 or more.
        if i == UNITS.len() - 1 || (v * 10.0).round() < 10_000.0 {
            return format!("{v:.1} {unit}");
        }
    }
    unreachable!("the last unit always returns")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(format_ns(0.0), "0.0 ns");
        assert_eq!(format_ns(850.0), "850.0 ns");
        assert_eq!(format_ns(999.96), "1.0 µs");
        assert_eq!(format_ns(3_240.0), "3.2 µs");
        assert_eq!(format_ns(12_500_000.0), "12.5 ms");
        assert_eq!(format_ns(2e9), "2.0 s");
        assert_eq!(format_ns(5e12), "5000.0 s");
    }

    #[test]
    fn report_has_five_lines() {
        let mut l = Latencies::new().unwrap();
        for us in 1..=100u64 {
            l.record(Duration::from_micros(us)).unwrap();
        }
        let r = l.report();
        let labels: Vec<&str> = r.lines().map(|s| s.split(' ').next().unwrap()).collect();
        assert_eq!(labels, ["p50", "p90", "p99", "p99.9", "max"]);
        assert!(r.starts_with("p50 50.0 µs\n"), "{r}");
        assert!(r.ends_with("max 100.0 µs\n"), "{r}");
    }
}
