//! SVG charts of the reports (plotters, SVG backend only: no font or
//! bitmap dependencies; text is left to the SVG viewer).

use std::error::Error;
use std::path::Path;

use plotters::prelude::*;

use super::BenchError;
use super::suite::SuiteReport;
use super::sweep::SweepReport;

type Drawn = Result<(), Box<dyn Error>>;

/// A line of the sweep chart: colour index, placement, (threads, M/s).
type Series<'a> = (usize, &'a String, Vec<(f64, f64)>);

const FONT: &str = "sans-serif";

/// `lanes bench --plot`: p50 launch latency against `n` per kernel
/// (log-log), and the latency percentile distribution of each kernel at its
/// smallest `n` (where launch overhead dominates).
pub fn suite_svg(report: &SuiteReport, path: &Path) -> Result<(), BenchError> {
    draw_suite(report, path).map_err(|e| plot_error(path, e.as_ref()))
}

/// `lanes affinity --plot`: throughput against thread count, one panel per
/// workload, one line per placement.
pub fn sweep_svg(report: &SweepReport, path: &Path) -> Result<(), BenchError> {
    draw_sweep(report, path).map_err(|e| plot_error(path, e.as_ref()))
}

fn plot_error(path: &Path, e: &dyn Error) -> BenchError {
    BenchError::Plot {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

/// The kernels of the report, in order of first appearance.
fn kernels(report: &SuiteReport) -> Vec<&'static str> {
    let mut names: Vec<&'static str> = Vec::new();
    for c in &report.cases {
        if !names.contains(&c.kernel) {
            names.push(c.kernel);
        }
    }
    names
}

/// A log axis range around `lo..hi` with some room.
fn log_range(lo: f64, hi: f64) -> std::ops::Range<f64> {
    let lo = lo.max(1e-3);
    let hi = hi.max(lo);
    (lo / 1.5)..(hi * 1.5)
}

fn draw_suite(report: &SuiteReport, path: &Path) -> Drawn {
    let root = SVGBackend::new(path, (1280, 520)).into_drawing_area();
    root.fill(&WHITE)?;
    let (left, right) = root.split_horizontally(640);
    let names = kernels(report);
    let color = |i: usize| Palette99::pick(i).to_rgba();

    // Latency against n.
    let us = |ns: u64| ns as f64 / 1e3;
    let (n_lo, n_hi) = report.cases.iter().fold((f64::MAX, 0f64), |(lo, hi), c| {
        (lo.min(c.n as f64), hi.max(c.n as f64))
    });
    let (t_lo, t_hi) = report.cases.iter().fold((f64::MAX, 0f64), |(lo, hi), c| {
        (lo.min(us(c.lanes.p50_ns)), hi.max(us(c.lanes.p50_ns)))
    });
    let mut chart = ChartBuilder::on(&left)
        .caption(
            format!("p50 launch latency vs n ({} threads)", report.threads),
            (FONT, 18),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(64)
        .build_cartesian_2d(
            log_range(n_lo, n_hi).log_scale(),
            log_range(t_lo, t_hi).log_scale(),
        )?;
    chart
        .configure_mesh()
        .x_desc("n (elements)")
        .y_desc("p50 latency (µs)")
        .x_label_formatter(&|v| short_count(*v))
        .y_label_formatter(&|v| format!("{v}"))
        .draw()?;
    for (i, name) in names.iter().enumerate() {
        let points: Vec<(f64, f64)> = report
            .cases
            .iter()
            .filter(|c| c.kernel == *name)
            .map(|c| (c.n as f64, us(c.lanes.p50_ns)))
            .collect();
        let style = color(i);
        chart
            .draw_series(LineSeries::new(points.clone(), style.stroke_width(2)))?
            .label(*name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], style.stroke_width(2))
            });
        chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, style.filled())))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;

    // Percentile distribution at each kernel's smallest n.
    let mut curves = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let Some(case) = report
            .cases
            .iter()
            .filter(|c| c.kernel == *name)
            .min_by_key(|c| c.n)
        else {
            continue;
        };
        let h = &case.histogram;
        if h.is_empty() {
            continue;
        }
        let points: Vec<(f64, f64)> = h
            .iter_quantiles(5)
            .map(|v| (v.quantile_iterated_to(), v.value_iterated_to()))
            .filter(|(q, _)| *q < 1.0)
            .map(|(q, ns)| (1.0 / (1.0 - q), ns as f64 / 1e3))
            .collect();
        if !points.is_empty() {
            curves.push((i, case.name.clone(), points));
        }
    }
    let x_hi = curves
        .iter()
        .flat_map(|(_, _, p)| p.iter().map(|(x, _)| *x))
        .fold(10f64, f64::max);
    let (y_lo, y_hi) = curves
        .iter()
        .flat_map(|(_, _, p)| p.iter().map(|(_, y)| *y))
        .fold((f64::MAX, 0f64), |(lo, hi), y| (lo.min(y), hi.max(y)));
    let mut chart = ChartBuilder::on(&right)
        .caption("launch latency by percentile (smallest n)", (FONT, 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(64)
        .build_cartesian_2d(
            (1f64..x_hi * 1.2).log_scale(),
            log_range(y_lo, y_hi).log_scale(),
        )?;
    chart
        .configure_mesh()
        .x_desc("percentile")
        .y_desc("latency (µs)")
        .x_label_formatter(&|v| percentile_label(*v))
        .y_label_formatter(&|v| format!("{v}"))
        .draw()?;
    for (i, name, points) in curves {
        let style = color(i);
        chart
            .draw_series(LineSeries::new(points, style.stroke_width(2)))?
            .label(name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], style.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

fn draw_sweep(report: &SweepReport, path: &Path) -> Drawn {
    let mut workloads: Vec<&'static str> = Vec::new();
    let mut placements: Vec<String> = Vec::new();
    for s in &report.settings {
        if !placements.contains(&s.placement) {
            placements.push(s.placement.clone());
        }
        for w in &s.workloads {
            if !workloads.contains(&w.workload) {
                workloads.push(w.workload);
            }
        }
    }
    let panels = workloads.len().max(1);
    let root = SVGBackend::new(path, (420 * panels as u32, 440)).into_drawing_area();
    root.fill(&WHITE)?;
    let areas = root.split_evenly((1, panels));
    let max_threads = report.settings.iter().map(|s| s.threads).max().unwrap_or(1);
    for (area, workload) in areas.iter().zip(&workloads) {
        let series: Vec<Series<'_>> = placements
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let points = report
                    .settings
                    .iter()
                    .filter(|s| &s.placement == p)
                    .flat_map(|s| {
                        s.workloads
                            .iter()
                            .filter(|w| w.workload == *workload)
                            .map(|w| (s.threads as f64, w.elements_per_s / 1e6))
                    })
                    .collect();
                (i, p, points)
            })
            .collect();
        let y_hi = series
            .iter()
            .flat_map(|(_, _, p)| p.iter().map(|(_, y)| *y))
            .fold(0f64, f64::max);
        let n = report
            .settings
            .iter()
            .flat_map(|s| s.workloads.iter())
            .find(|w| w.workload == *workload)
            .map_or(0, |w| w.n);
        let mut chart = ChartBuilder::on(area)
            .caption(
                format!("{workload} (n = {})", short_count(n as f64)),
                (FONT, 18),
            )
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(64)
            .build_cartesian_2d(
                0.5f64..max_threads as f64 + 0.5,
                0f64..(y_hi * 1.15).max(1e-3),
            )?;
        chart
            .configure_mesh()
            .x_desc("threads")
            .y_desc("M elements/s (p50)")
            .x_labels(max_threads.min(16) + 1)
            .x_label_formatter(&|v| {
                if (v - v.round()).abs() < 1e-9 {
                    format!("{}", v.round())
                } else {
                    String::new()
                }
            })
            .draw()?;
        for (i, name, points) in series {
            let style = Palette99::pick(i).to_rgba();
            chart
                .draw_series(LineSeries::new(points.clone(), style.stroke_width(2)))?
                .label(name.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], style.stroke_width(2))
                });
            chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, style.filled())))?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()?;
    }
    root.present()?;
    Ok(())
}

/// `256`, `4k`, `16M` for powers of two and round numbers.
fn short_count(v: f64) -> String {
    let v = v.round();
    if v >= (1u64 << 20) as f64 && v % (1u64 << 20) as f64 == 0.0 {
        format!("{}M", v / (1u64 << 20) as f64)
    } else if v >= 1024.0 && v % 1024.0 == 0.0 {
        format!("{}k", v / 1024.0)
    } else {
        format!("{v}")
    }
}

/// `1/(1-q)` as a percentile: 1 is `p0`, 10 is `p90`, 100 is `p99`.
fn percentile_label(x: f64) -> String {
    if x < 1.0 {
        return String::new();
    }
    let q = 100.0 * (1.0 - 1.0 / x);
    let digits = (x.log10().round() as usize).saturating_sub(2);
    format!("p{q:.digits$}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        assert_eq!(short_count(256.0), "256");
        assert_eq!(short_count(4096.0), "4k");
        assert_eq!(short_count(16777216.0), "16M");
        assert_eq!(percentile_label(1.0), "p0");
        assert_eq!(percentile_label(10.0), "p90");
        assert_eq!(percentile_label(100.0), "p99");
        assert_eq!(percentile_label(1000.0), "p99.9");
    }
}
