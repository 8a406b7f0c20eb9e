//! The README's engine table from a `cargo bench --bench engines` run:
//! reads criterion's results under `target/criterion` (or the directory
//! given) and prints, per vector operation and size, the median time of
//! each variant and the ratios, with the predecessor's published times
//! beside vector add.
//!
//! ```sh
//! cargo bench --bench engines -- --warm-up-time 0.5 --measurement-time 1.5 vector/
//! cargo run --release --example criterion_table [target/criterion]
//! ```

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The predecessor's vector add, ms per launch (as the project's design notes record them), by n.
const PREDECESSOR_ADD_MS: [(u64, f64); 4] =
    [(256, 0.189), (1024, 1.1), (4096, 9.8), (16384, 500.0)];

/// Variants in column order: criterion function id and column title.
const VARIANTS: [(&str, &str); 5] = [
    ("pool", "pool"),
    ("reference", "reference"),
    ("native", "native"),
    ("native_on_pool", "native on pool"),
    ("rayon_par_chunks", "rayon par_chunks"),
];

fn main() {
    let root = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target/criterion"));
    let mut found = Vec::new();
    if let Err(e) = collect(&root, &mut found) {
        eprintln!("cannot read {}: {e}", root.display());
        std::process::exit(1);
    }
    // op -> n -> variant -> median seconds
    let mut table: BTreeMap<String, BTreeMap<u64, BTreeMap<String, f64>>> = BTreeMap::new();
    for dir in found {
        match read_result(&dir) {
            Ok(Some((op, variant, n, median))) => {
                table
                    .entry(op)
                    .or_default()
                    .entry(n)
                    .or_default()
                    .insert(variant, median);
            }
            Ok(None) => {}
            Err(e) => eprintln!("skipping {}: {e}", dir.display()),
        }
    }
    if table.is_empty() {
        eprintln!(
            "no `vector/*` results under {}: run `cargo bench --bench engines -- vector/` first",
            root.display()
        );
        std::process::exit(1);
    }
    for (op, rows) in &table {
        print!("{}", render(op, rows));
    }
}

/// Every `new/` directory of a benchmark under `dir`.
fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if !path.is_dir() {
            continue;
        }
        if path.file_name().is_some_and(|n| n == "new") && path.join("benchmark.json").is_file() {
            out.push(path);
        } else {
            collect(&path, out)?;
        }
    }
    Ok(())
}

/// (operation, variant, n, median seconds) of a `vector/OP` benchmark.
fn read_result(dir: &Path) -> Result<Option<(String, String, u64, f64)>, String> {
    let read = |name: &str| -> Result<serde_json::Value, String> {
        let text = std::fs::read_to_string(dir.join(name)).map_err(|e| format!("{name}: {e}"))?;
        serde_json::from_str(&text).map_err(|e| format!("{name}: {e}"))
    };
    let bench = read("benchmark.json")?;
    let Some(op) = bench["group_id"]
        .as_str()
        .and_then(|g| g.strip_prefix("vector/"))
    else {
        return Ok(None);
    };
    let variant = bench["function_id"]
        .as_str()
        .ok_or("benchmark.json: no function_id")?;
    let n: u64 = bench["value_str"]
        .as_str()
        .and_then(|v| v.parse().ok())
        .ok_or("benchmark.json: no numeric value_str")?;
    let median_ns = read("estimates.json")?["median"]["point_estimate"]
        .as_f64()
        .ok_or("estimates.json: no median")?;
    Ok(Some((
        op.to_string(),
        variant.to_string(),
        n,
        median_ns * 1e-9,
    )))
}

fn render(op: &str, rows: &BTreeMap<u64, BTreeMap<String, f64>>) -> String {
    let add = op == "add";
    let mut s = format!("\nvector_{op} f32, median per launch (2 threads where parallel)\n\n| n |");
    for (_, title) in VARIANTS {
        write!(s, " {title} |").unwrap();
    }
    if add {
        s.push_str(" predecessor |");
    }
    s.push_str(" pool / native | pool / rayon | reference / pool |");
    if add {
        s.push_str(" predecessor / pool |");
    }
    s.push_str("\n|---:|");
    let columns = VARIANTS.len() + 3 + 2 * usize::from(add);
    for _ in 0..columns {
        s.push_str("---:|");
    }
    s.push('\n');
    for (&n, v) in rows {
        write!(s, "| {n} |").unwrap();
        for (id, _) in VARIANTS {
            write!(s, " {} |", v.get(id).map_or("-".into(), |&t| time(t))).unwrap();
        }
        let predecessor = PREDECESSOR_ADD_MS
            .iter()
            .find(|&&(m, _)| m == n)
            .map(|&(_, ms)| ms * 1e-3);
        if add {
            write!(s, " {} |", predecessor.map_or("-".into(), time)).unwrap();
        }
        let pool = v.get("pool").copied();
        let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) if b > 0.0 => format!("{:.2}x", a / b),
            _ => "-".into(),
        };
        write!(
            s,
            " {} | {} | {} |",
            ratio(pool, v.get("native").copied()),
            ratio(pool, v.get("rayon_par_chunks").copied()),
            ratio(v.get("reference").copied(), pool)
        )
        .unwrap();
        if add {
            write!(s, " {} |", ratio(predecessor, pool)).unwrap();
        }
        s.push('\n');
    }
    s
}

/// A duration with a unit that keeps three significant digits.
fn time(seconds: f64) -> String {
    if seconds >= 1.0 {
        format!("{seconds:.2} s")
    } else if seconds >= 1e-3 {
        format!("{:.2} ms", seconds * 1e3)
    } else if seconds >= 1e-6 {
        format!("{:.2} µs", seconds * 1e6)
    } else {
        format!("{:.0} ns", seconds * 1e9)
    }
}
