//! `lanes bench`, `lanes affinity` and `lanes run --report` end to end, in
//! their `--quick` modes with tiny sizes and repeat counts: every option,
//! the JSON parsed back and its fields checked, the `.hgrm` files parsed
//! back, the plots written. No timing assertions: only shapes and
//! relations that hold on any machine (p50 <= p99 <= max).

use std::path::Path;
use std::process::Command;

use serde_json::Value;

struct Output {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `lanes ARGS` in the crate root.
fn lanes(args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_lanes"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the lanes binary runs");
    let output = Output {
        code: out.status.code().expect("lanes exits normally"),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(
        !output.stderr.contains("panicked"),
        "lanes panicked: {}",
        output.stderr
    );
    output
}

fn assert_ok(out: &Output) {
    assert_eq!(
        out.code, 0,
        "exit status\nstdout:\n{}\nstderr:\n{}",
        out.stdout, out.stderr
    );
    // The progress bar hides itself when stderr is not a terminal.
    assert_eq!(
        out.stderr, "",
        "nothing on stderr when it is not a terminal"
    );
}

/// Exit 2 with an `error:` line that mentions `what`.
fn assert_usage_error(out: &Output, what: &str) {
    assert_eq!(
        out.code, 2,
        "exit status\nstdout:\n{}\nstderr:\n{}",
        out.stdout, out.stderr
    );
    assert!(out.stderr.contains("error"), "stderr: {}", out.stderr);
    assert!(
        out.stderr.contains(what),
        "stderr should mention {what:?}: {}",
        out.stderr
    );
}

/// The first CPU this process (and so `lanes`) may run on.
fn first_cpu() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .and_then(|list| {
            let first = list.trim().split([',', '-']).next()?;
            first.parse().ok()
        })
        .unwrap_or(0)
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).expect("the JSON file was written");
    serde_json::from_str(&text).expect("the JSON file parses")
}

fn u(v: &Value, key: &str) -> u64 {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("`{key}` is a whole number in {v}"))
}

/// Checks a latency summary object: runs, and ordered percentiles.
fn check_latency(l: &Value, runs: u64) {
    assert_eq!(u(l, "runs"), runs, "{l}");
    assert!(u(l, "batch") >= 1);
    let order = ["min_ns", "p50_ns", "p90_ns", "p99_ns", "p999_ns", "max_ns"];
    for pair in order.windows(2) {
        assert!(
            u(l, pair[0]) <= u(l, pair[1]),
            "{} <= {} in {l}",
            pair[0],
            pair[1]
        );
    }
    assert!(u(l, "min_ns") >= 1);
    assert!(l["mean_ns"].as_f64().unwrap() > 0.0);
    assert!(u(l, "total_ns") > 0);
}

/// Checks an SVG file: written, non-trivial, and naming each of `names`.
fn check_svg(path: &Path, names: &[&str]) {
    let svg = std::fs::read_to_string(path).expect("the plot was written");
    assert!(svg.len() > 1000, "a real chart, not an empty file: {svg}");
    assert!(svg.contains("<svg"), "an SVG document");
    assert!(
        svg.trim_end().ends_with("</svg>"),
        "a complete SVG document"
    );
    for name in names {
        assert!(svg.contains(name), "the plot names {name}");
    }
}

/// Parses an `.hgrm` percentile distribution: its rows (value, percentile,
/// total count) and the footer's total count.
fn parse_hgrm(text: &str) -> (Vec<(f64, f64, u64)>, u64) {
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        ["Value", "Percentile", "TotalCount", "1/(1-Percentile)"]
    );
    assert_eq!(lines.next(), Some(""));
    let mut rows = Vec::new();
    let mut total = None;
    for line in lines {
        if let Some(footer) = line.strip_prefix("#[") {
            if let Some(rest) = footer.split("Total count    =").nth(1) {
                total = Some(rest.trim().trim_end_matches(']').trim().parse().unwrap());
            }
            continue;
        }
        let cols: Vec<&str> = line.split_whitespace().collect();
        assert!(cols.len() == 4 || cols.len() == 3, "a data row: {line}");
        rows.push((
            cols[0].parse().unwrap(),
            cols[1].parse().unwrap(),
            cols[2].parse().unwrap(),
        ));
    }
    (rows, total.expect("a `Total count` footer"))
}

#[test]
fn bench_writes_table_json_hgrm_plot_and_report() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("bench.json");
    let hgrm = dir.path().join("hgrm");
    let plot = dir.path().join("bench.svg");
    let out = lanes(&[
        "bench",
        "--quick",
        "--threads",
        "2",
        "--placement",
        "close",
        "--filter",
        "vector_add,saxpy/256,empty",
        "--sizes",
        "256,1k",
        "--repeat",
        "3",
        "--json",
        json.to_str().unwrap(),
        "--hgrm",
        hgrm.to_str().unwrap(),
        "--plot",
        plot.to_str().unwrap(),
        "--report",
    ]);
    assert_ok(&out);
    let header = out.stdout.lines().nth(1).unwrap();
    for col in [
        "kernel", "n", "runs", "p50", "p99", "max", "elem/s", "GB/s", "native", "vs", "rayon",
    ] {
        assert!(header.contains(col), "{header}");
    }
    for row in [
        "vector_add      256",
        "vector_add     1024",
        "saxpy           256",
        "empty             1",
    ] {
        assert!(out.stdout.contains(row), "row {row:?} in\n{}", out.stdout);
    }
    assert!(!out.stdout.contains("saxpy          1024"), "--filter");
    // --report: one scheduler table per case, with both workers.
    assert_eq!(
        out.stdout.matches("scheduler report: ").count(),
        4,
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("worker 1"));
    assert!(out.stdout.contains("steals"));

    let v = read_json(&json);
    assert_eq!(u(&v, "threads"), 2);
    assert_eq!(v["placement"], "close");
    assert!(!v["cpus"].as_array().unwrap().is_empty());
    assert_eq!(u(&v["budget"], "min_runs"), 3);
    let cases = v["cases"].as_array().unwrap();
    let names: Vec<&str> = cases.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["vector_add/256", "vector_add/1024", "saxpy/256", "empty/1"]
    );
    for c in cases {
        assert_eq!(c["verified"], true);
        check_latency(&c["lanes"], 3);
        check_latency(&c["rayon"], c["rayon"]["runs"].as_u64().unwrap());
        assert!(c["vs_rayon"].as_f64().unwrap() > 0.0);
        let sched = &c["scheduler"];
        // Three measured launches, in three of the four rounds that alternate
        // with the baselines, each after one warm-up launch; the verify
        // launch is before the reset.
        assert_eq!(u(sched, "batches"), 6, "{sched}");
        assert!(u(sched, "tasks") >= 4);
        for key in [
            "steals",
            "parks",
            "wakeups",
            "failed_steals",
            "submitter_tasks",
        ] {
            assert!(sched[key].is_u64(), "{key} in {sched}");
        }
    }
    let add = &cases[1];
    assert_eq!(add["kernel"], "vector_add");
    assert_eq!(u(add, "n"), 1024);
    assert_eq!(u(add, "grid"), 4);
    assert_eq!(u(add, "block"), 256);
    check_latency(&add["native"], add["native"]["runs"].as_u64().unwrap());
    assert!(add["vs_native"].as_f64().unwrap() > 0.0);
    assert!(add["elements_per_s"].as_f64().unwrap() > 0.0);
    assert!(add["gb_per_s"].as_f64().unwrap() > 0.0);
    assert!(add["native_gb_per_s"].as_f64().unwrap() > 0.0);
    assert_eq!(add["rayon_method"], "par_iter");
    let empty = &cases[3];
    assert!(empty["native"].is_null());
    assert!(empty["vs_native"].is_null());
    assert!(empty["elements_per_s"].is_null());
    assert_eq!(empty["rayon_method"], "install");

    // One .hgrm per case, parsed back: ordered, and counting every run.
    let mut files: Vec<String> = std::fs::read_dir(&hgrm)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "empty-1.hgrm",
            "saxpy-256.hgrm",
            "vector_add-1024.hgrm",
            "vector_add-256.hgrm"
        ]
    );
    for (file, case) in [
        ("vector_add-256.hgrm", &cases[0]),
        ("empty-1.hgrm", &cases[3]),
    ] {
        let text = std::fs::read_to_string(hgrm.join(file)).unwrap();
        let (rows, total) = parse_hgrm(&text);
        assert_eq!(total, 3, "{file}");
        assert!(!rows.is_empty());
        for pair in rows.windows(2) {
            assert!(pair[0].0 <= pair[1].0, "values ascend in {file}");
            assert!(pair[0].1 <= pair[1].1, "percentiles ascend in {file}");
            assert!(pair[0].2 <= pair[1].2, "counts ascend in {file}");
        }
        let last = rows.last().unwrap();
        assert_eq!(last.1, 1.0);
        assert_eq!(last.2, 3);
        // Values are microseconds: the max matches the JSON's (3 digits).
        let max_us = u(&case["lanes"], "max_ns") as f64 / 1e3;
        assert!(
            (last.0 - max_us).abs() <= max_us * 0.01 + 0.001,
            "{file}: {} vs {max_us}",
            last.0
        );
    }

    check_svg(&plot, &["vector_add", "saxpy", "percentile"]);
}

#[test]
fn bench_quick_runs_and_verifies_every_kernel() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("all.json");
    let out = lanes(&[
        "bench",
        "--quick",
        "--sizes",
        "256",
        "--repeat",
        "2",
        "--no-rayon",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_ok(&out);
    let v = read_json(&json);
    let kernels: Vec<&str> = v["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["kernel"].as_str().unwrap())
        .collect();
    assert_eq!(
        kernels,
        [
            "vector_add",
            "vector_sub",
            "vector_mul",
            "vector_div",
            "vector_min",
            "vector_max",
            "saxpy",
            "block_sum",
            "mandelbrot",
            "empty",
            "sum",
            "softmax",
            "matmul"
        ]
    );
    for c in v["cases"].as_array().unwrap() {
        assert_eq!(c["verified"], true);
        assert!(c["rayon"].is_null(), "--no-rayon");
        assert!(c["vs_rayon"].is_null());
        check_latency(&c["lanes"], 2);
    }
    let matmul = &v["cases"][12];
    assert_eq!(matmul["n"], 32, "--sizes leaves matmul's matrix side alone");
    assert_eq!(matmul["block"], 16);
    assert!(matmul["gb_per_s"].is_null(), "compute bound");
    assert_eq!(v["cases"][10]["n"], 256, "sum takes --sizes");
    let mandel = &v["cases"][8];
    assert!(mandel["gb_per_s"].is_null(), "compute bound: no GB/s");
    assert!(mandel["vs_native"].as_f64().unwrap() > 0.0);
    assert!(out.stdout.contains("mandelbrot"));
    assert!(
        !out.stdout.contains("scheduler report"),
        "only with --report"
    );
}

#[test]
fn bench_without_repeat_uses_the_quick_time_budget() {
    let out = lanes(&["bench", "--quick", "--filter", "empty", "--threads", "1"]);
    assert_ok(&out);
    // The header names the engine (whichever is the default) between the
    // case count and the threads.
    assert!(
        out.stdout.contains("1 cases, ")
            && out
                .stdout
                .contains(" engine, on 1 thread (the launching thread)"),
        "{}",
        out.stdout
    );
    let row = out.stdout.lines().find(|l| l.starts_with("empty")).unwrap();
    let runs: u64 = row.split_whitespace().nth(2).unwrap().parse().unwrap();
    assert!(runs >= 3, "at least the quick minimum: {row}");
}

#[test]
fn bench_options_are_validated() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let file = file.to_str().unwrap();
    let missing_dir = dir.path().join("no/such/dir/out.json");
    let cases: &[(&[&str], &str)] = &[
        (&["--threads", "0"], "at least 1 thread"),
        (&["--threads", "two"], "not a thread count"),
        (&["--placement", "packed"], "not a placement"),
        (&["--placement", "cpus:4096"], "4096"),
        (&["--filter", "no_such_kernel"], "matches no case"),
        (&["--filter", "vector_add,"], "empty pattern"),
        (&["--sizes", "0"], "at least 1"),
        (&["--sizes", "12x"], "not a size"),
        (&["--sizes", "1024M"], "too large"),
        (&["--repeat", "0"], "--repeat"),
        (&["--plot", "chart.png"], "must end in .svg"),
        (&["--json", missing_dir.to_str().unwrap()], "cannot create"),
        (&["--hgrm", file], "cannot create the directory"),
        (
            &["--json", "same.svg", "--plot", "same.svg"],
            "the same file",
        ),
        (&["--bogus"], "--bogus"),
    ];
    for (args, what) in cases {
        let mut all = vec!["bench", "--quick", "--repeat", "1", "--filter", "empty"];
        if args.contains(&"--filter") || args.contains(&"--repeat") {
            all.truncate(2);
        }
        all.extend_from_slice(args);
        let out = lanes(&all);
        assert_usage_error(&out, what);
    }
}

#[test]
fn affinity_sweeps_settings_and_says_where_workers_ran() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("affinity.json");
    let plot = dir.path().join("affinity.svg");
    let cpu = first_cpu();
    let pinned = format!("cpus:{cpu}");
    let out = lanes(&[
        "affinity",
        "--quick",
        "--repeat",
        "2",
        "--threads",
        "1,2",
        "--placement",
        "none",
        "--placement",
        &pinned,
        "--workloads",
        "tiny,compute",
        "--json",
        json.to_str().unwrap(),
        "--plot",
        plot.to_str().unwrap(),
    ]);
    assert_ok(&out);
    // One plain line per setting.
    for line in [
        "threads 1, none: worker 0 not pinned, ran on ".to_string(),
        "threads 2, none".to_string(),
        "worker 1 not pinned, ran on ".to_string(),
        format!("threads 1, {pinned}: worker 0 pinned to CPU {cpu}, ran on {cpu}\n"),
        format!("worker 1 pinned to CPU {cpu}, ran on {cpu}\n"),
    ] {
        assert!(out.stdout.contains(&line), "{line:?} in\n{}", out.stdout);
    }
    for col in [
        "workload", "p50", "p99", "max", "elem/s", "vs 1 thr", "steals", "parks",
    ] {
        assert!(out.stdout.contains(col), "{col}");
    }

    let v = read_json(&json);
    assert!(!v["cpus"].as_array().unwrap().is_empty());
    let ncpus = v["cpus"].as_array().unwrap().len();
    let settings = v["settings"].as_array().unwrap();
    let labels: Vec<(u64, &str)> = settings
        .iter()
        .map(|s| (u(s, "threads"), s["placement"].as_str().unwrap()))
        .collect();
    assert_eq!(
        labels,
        [
            (1, "none"),
            (2, "none"),
            (1, pinned.as_str()),
            (2, pinned.as_str())
        ]
    );
    for s in settings {
        let threads = u(s, "threads");
        assert!(s["pinning"].as_str().unwrap().starts_with("threads "));
        let workers = s["workers"].as_array().unwrap();
        assert_eq!(workers.len() as u64, threads);
        for w in workers {
            let is_pinned = w["pinned"].as_bool().unwrap();
            assert_eq!(is_pinned, s["placement"] == pinned.as_str());
            if is_pinned {
                assert_eq!(w["bound_to"], serde_json::json!([cpu]));
                assert_eq!(
                    w["ran_on"],
                    serde_json::json!([cpu]),
                    "a pinned worker ran where it was pinned"
                );
            }
        }
        // More workers than places: one CPU listed, or fewer CPUs than workers.
        assert_eq!(
            s["wrapped"].as_bool().unwrap(),
            threads == 2 && (s["placement"] == pinned.as_str() || ncpus == 1)
        );
        let workloads = s["workloads"].as_array().unwrap();
        let names: Vec<&str> = workloads
            .iter()
            .map(|w| w["workload"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["tiny", "compute"]);
        for w in workloads {
            check_latency(&w["latency"], 2);
            assert!(w["elements_per_s"].as_f64().unwrap() > 0.0);
            let speedup = w["speedup_vs_1_thread"].as_f64().unwrap();
            if threads == 1 {
                assert_eq!(speedup, 1.0);
            }
            for key in ["tasks", "steals", "parks", "wakeups"] {
                assert!(w["scheduler"][key].is_u64(), "{key}");
            }
        }
        assert!(
            workloads[0]["gb_per_s"].as_f64().is_some(),
            "tiny is vector_add"
        );
        assert!(workloads[1]["gb_per_s"].is_null(), "compute has no GB/s");
    }
    check_svg(&plot, &["tiny", "compute", "threads", &pinned]);
}

#[test]
fn affinity_defaults_cover_oversubscription_and_explicit_lists() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("defaults.json");
    let out = lanes(&[
        "affinity",
        "--quick",
        "--repeat",
        "1",
        "--workloads",
        "tiny",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_ok(&out);
    let v = read_json(&json);
    let cpus = v["cpus"].as_array().unwrap().len() as u64;
    let settings = v["settings"].as_array().unwrap();
    let threads: Vec<u64> = settings.iter().map(|s| u(s, "threads")).collect();
    assert!(threads.contains(&1) && threads.contains(&cpus) && threads.contains(&(2 * cpus)));
    assert!(settings.iter().any(|s| s["oversubscribed"] == true));
    assert!(out.stdout.contains("oversubscribed"));
    let placements: Vec<&str> = settings
        .iter()
        .map(|s| s["placement"].as_str().unwrap())
        .collect();
    let first = format!("cpus:{}", first_cpu());
    for p in ["none", "close", "spread", first.as_str()] {
        assert!(
            placements.iter().any(|x| x.starts_with(p)),
            "{p} in {placements:?}"
        );
    }
}

#[test]
fn affinity_options_are_validated() {
    let cases: &[(&[&str], &str)] = &[
        (&["--threads", "0"], "at least 1 thread"),
        (&["--threads", "1,x"], "not a thread count"),
        (&["--threads", "5000"], "at most 1024"),
        (&["--placement", "packed"], "not a placement"),
        (&["--placement", "cpus:4096"], "CPU 4096 is not available"),
        (&["--workloads", "heavy"], "heavy"),
        (&["--repeat", "0"], "--repeat"),
        (&["--plot", "chart.txt"], "must end in .svg"),
        (&["--json", "/no/such/dir/x.json"], "cannot create"),
    ];
    for (args, what) in cases {
        let mut all = vec![
            "affinity",
            "--quick",
            "--workloads",
            "tiny",
            "--threads",
            "1",
        ];
        if args.contains(&"--threads") || args.contains(&"--workloads") {
            all.truncate(2);
        }
        all.extend_from_slice(args);
        assert_usage_error(&lanes(&all), what);
    }
}

#[test]
fn run_report_prints_the_schedulers_table() {
    let out = lanes(&[
        "run",
        "tests/data/vector_add.lasm",
        "--grid",
        "16",
        "--block",
        "256",
        "--arg",
        "a=zeros:f32:4096",
        "--arg",
        "b=zeros:f32:4096",
        "--arg",
        "c=zeros:f32:4096",
        "--arg",
        "n=4096",
        "--threads",
        "3",
        "--repeat",
        "3",
        "--report",
    ]);
    assert_ok(&out);
    assert!(out.stdout.contains("p50 "), "the --repeat lines stay");
    assert!(
        out.stdout.contains("scheduler report: vector_add"),
        "{}",
        out.stdout
    );
    for what in [
        "tasks",
        "steals",
        "parks",
        "run time",
        "queue wait",
        "worker 0",
        "worker 1",
        "total",
        "batches 4",
    ] {
        assert!(out.stdout.contains(what), "{what} in\n{}", out.stdout);
    }
    let plain = lanes(&[
        "run",
        "tests/data/vector_add.lasm",
        "--grid",
        "1",
        "--block",
        "32",
        "--arg",
        "a=zeros:f32:32",
        "--arg",
        "b=zeros:f32:32",
        "--arg",
        "c=zeros:f32:32",
        "--arg",
        "n=32",
    ]);
    assert_ok(&plain);
    assert!(!plain.stdout.contains("scheduler report"));
}
