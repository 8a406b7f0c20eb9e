//! The lanes side of the peers benchmark (`benches/peers/`): a small server
//! that the Python driver keeps running for the whole benchmark, so lanes,
//! like PoCL and Numba in the driver's own process, stays warm between the
//! rounds that the three systems take in turn.
//!
//! `cargo run --release --example peers -- [--engine NAME] [--threads N]`
//! (defaults: the library's default engine, which is also `lanes run`'s,
//! and 2 threads: the launching thread and one worker).
//!
//! It reads one JSON request per line on stdin and answers each with one
//! JSON line on stdout, `{"ok": ...}` or `{"error": "..."}`:
//!
//! - `{"cmd": "hello"}`: the engine and thread count in use.
//! - `{"cmd": "load", "case": C, "file": F, "kernel": K, "grid": [x, y, z],
//!   "block": [x, y, z], "args": [A, ...]}` compiles kernel `K` of LASM file
//!   `F` and binds one argument per parameter, in order: `{"npy": PATH}` (a
//!   buffer with the array's bytes), `{"zeros": TYPE, "count": N}` (a zeroed
//!   buffer) or `{"value": TEXT}` (a scalar, parsed as the parameter's type).
//! - `{"cmd": "check", "case": C, "save": [{"param": P, "path": PATH}]}`
//!   launches once and writes each named buffer as `.npy` (with the type it
//!   was made with), for the driver to compare with NumPy.
//! - `{"cmd": "time", "case": C, "reps": N, "min_reps": M, "max_ms": T}`:
//!   up to N launches, each timed from the call to its return (launch to
//!   completion), stopping early once they have taken T ms and at least M
//!   were made (`min_reps` and `max_ms` may be left out: then N launches);
//!   answers `{"ok": {"ns": [...]}}`.
//! - `{"cmd": "unload", "case": C}` frees the case's buffers.
//!
//! End of input ends the server.

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Instant;

use lanes::kernel::ParamKind;
use lanes::types::ScalarType;
use lanes::{Arg, BufferId, Dim3, Engine, Kernel, LaunchOptions, Runtime, Scalar};
use serde::Deserialize;
use serde_json::{Value, json};

/// One request line.
#[derive(Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
enum Request {
    Hello,
    Load {
        case: String,
        file: PathBuf,
        kernel: String,
        grid: [u32; 3],
        block: [u32; 3],
        args: Vec<ArgValue>,
    },
    Check {
        case: String,
        save: Vec<Save>,
    },
    Time {
        case: String,
        reps: u32,
        #[serde(default)]
        min_reps: u32,
        max_ms: Option<f64>,
    },
    Unload {
        case: String,
    },
}

/// One launch argument of a `load` request.
#[derive(Deserialize)]
#[serde(untagged)]
enum ArgValue {
    Npy { npy: PathBuf },
    Zeros { zeros: String, count: usize },
    Value { value: String },
}

/// A buffer to write after a `check` launch.
#[derive(Deserialize)]
struct Save {
    param: String,
    path: PathBuf,
}

/// A loaded case: its kernel, launch shape and bound arguments.
struct Case {
    kernel: Arc<Kernel>,
    grid: Dim3,
    block: Dim3,
    args: Vec<Arg>,
    /// Per parameter name: its buffer and the element type it was made with.
    buffers: HashMap<String, (BufferId, ScalarType)>,
}

struct Server {
    rt: Runtime,
    options: LaunchOptions,
    threads: usize,
    cases: HashMap<String, Case>,
}

impl Server {
    fn handle(&mut self, request: Request) -> Result<Value, String> {
        match request {
            Request::Hello => Ok(json!({
                "engine": format!("{:?}", self.options.engine).to_lowercase(),
                "threads": self.threads,
            })),
            Request::Load {
                case,
                file,
                kernel,
                grid,
                block,
                args,
            } => {
                self.unload(&case)?;
                let loaded = self.load(&file, &kernel, grid, block, &args)?;
                self.cases.insert(case, loaded);
                Ok(json!(null))
            }
            Request::Check { case, save } => {
                let c = self.case(&case)?;
                self.rt
                    .launch(&c.kernel, c.grid, c.block, &c.args, self.options)
                    .map_err(|e| format!("{case}: launch failed: {e}"))?;
                for s in &save {
                    let (id, ty) = c.buffers.get(&s.param).ok_or_else(|| {
                        format!("{case}: `{}` is not a buffer parameter", s.param)
                    })?;
                    let bytes = self
                        .rt
                        .read(*id)
                        .map_err(|e| format!("{case}: reading `{}`: {e}", s.param))?;
                    lanes::npy::write(&s.path, *ty, &bytes).map_err(|e| e.to_string())?;
                }
                Ok(json!(null))
            }
            Request::Time {
                case,
                reps,
                min_reps,
                max_ms,
            } => {
                let c = self.case(&case)?;
                // A round that meets a slow moment of the machine (launches
                // far slower than calibrated) is cut short, not stretched.
                let limit = max_ms.map(|ms| ms * 1e6).unwrap_or(f64::INFINITY);
                let mut ns = Vec::with_capacity(reps as usize);
                let mut spent = 0.0;
                for made in 1..=reps {
                    let start = Instant::now();
                    self.rt
                        .launch(&c.kernel, c.grid, c.block, &c.args, self.options)
                        .map_err(|e| format!("{case}: launch failed: {e}"))?;
                    let took = start.elapsed().as_nanos() as u64;
                    ns.push(took);
                    spent += took as f64;
                    if spent >= limit && made >= min_reps {
                        break;
                    }
                }
                Ok(json!({ "ns": ns }))
            }
            Request::Unload { case } => {
                self.unload(&case)?;
                Ok(json!(null))
            }
        }
    }

    fn case(&self, name: &str) -> Result<&Case, String> {
        self.cases
            .get(name)
            .ok_or_else(|| format!("no case `{name}` is loaded"))
    }

    fn unload(&mut self, name: &str) -> Result<(), String> {
        if let Some(c) = self.cases.remove(name) {
            for (param, (id, _)) in c.buffers {
                self.rt
                    .free(id)
                    .map_err(|e| format!("{name}: freeing `{param}`: {e}"))?;
            }
        }
        Ok(())
    }

    fn load(
        &self,
        file: &PathBuf,
        name: &str,
        grid: [u32; 3],
        block: [u32; 3],
        values: &[ArgValue],
    ) -> Result<Case, String> {
        let shown = file.display().to_string();
        let source = std::fs::read_to_string(file).map_err(|e| format!("reading {shown}: {e}"))?;
        let program = self
            .rt
            .compile(&shown, &source)
            .map_err(|d| d.to_string())?;
        let kernel = program
            .kernel(name)
            .ok_or_else(|| format!("{shown} has no kernel `{name}`"))?
            .clone();
        if values.len() != kernel.params.len() {
            return Err(format!(
                "{name} has {} parameters, {} arguments given",
                kernel.params.len(),
                values.len()
            ));
        }
        let mut case = Case {
            kernel: kernel.clone(),
            grid: Dim3::new(grid[0], grid[1], grid[2]),
            block: Dim3::new(block[0], block[1], block[2]),
            args: Vec::new(),
            buffers: HashMap::new(),
        };
        if let Err(e) = self.bind(&mut case, values) {
            // The case is not kept: free what was made for it.
            for (id, _) in case.buffers.values() {
                let _ = self.rt.free(*id);
            }
            return Err(e);
        }
        Ok(case)
    }

    /// Makes `case`'s arguments from `values`, one per parameter in order.
    fn bind(&self, case: &mut Case, values: &[ArgValue]) -> Result<(), String> {
        let kernel = case.kernel.clone();
        for (param, value) in kernel.params.iter().zip(values) {
            let arg = match (param.kind, value) {
                (ParamKind::Buffer { .. }, ArgValue::Npy { npy }) => {
                    let array = lanes::npy::read(npy).map_err(|e| e.to_string())?;
                    let id = self
                        .rt
                        .alloc_from(&array.bytes)
                        .map_err(|e| format!("{}: {e}", param.name))?;
                    case.buffers.insert(param.name.clone(), (id, array.ty));
                    Arg::Buffer(id)
                }
                (ParamKind::Buffer { .. }, ArgValue::Zeros { zeros, count }) => {
                    let ty = ScalarType::from_name(zeros)
                        .ok_or_else(|| format!("{}: unknown type `{zeros}`", param.name))?;
                    let bytes = count
                        .checked_mul(ty.size())
                        .ok_or_else(|| format!("{}: {count} elements is too many", param.name))?;
                    let id = self
                        .rt
                        .alloc(bytes)
                        .map_err(|e| format!("{}: {e}", param.name))?;
                    case.buffers.insert(param.name.clone(), (id, ty));
                    Arg::Buffer(id)
                }
                (ParamKind::Scalar { ty, .. }, ArgValue::Value { value }) => Arg::Scalar(
                    Scalar::parse(ty, value).map_err(|e| format!("{}: {e}", param.name))?,
                ),
                (kind, _) => {
                    return Err(format!(
                        "parameter `{}` ({kind}) cannot take that argument",
                        param.name
                    ));
                }
            };
            case.args.push(arg);
        }
        Ok(())
    }
}

/// `--engine NAME` and `--threads N`.
fn parse_args() -> Result<(LaunchOptions, usize), String> {
    let mut options = LaunchOptions {
        // Measure compiled code: the warm-up waits for it.
        jit_wait: std::time::Duration::MAX,
        ..LaunchOptions::default()
    };
    let mut threads = 2;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--engine" => options.engine = Engine::from_str(&value)?,
            "--threads" => {
                threads = value
                    .parse()
                    .map_err(|_| format!("--threads: `{value}` is not a count"))?
            }
            other => return Err(format!("unknown option `{other}` (--engine, --threads)")),
        }
    }
    Ok((options, threads))
}

fn main() {
    let (options, threads) = match parse_args() {
        Ok(parsed) => parsed,
        Err(e) => {
            eprintln!("peers: {e}");
            std::process::exit(2);
        }
    };
    let rt = match Runtime::builder().threads(threads).build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("peers: {e}");
            std::process::exit(2);
        }
    };
    let mut server = Server {
        rt,
        options,
        threads,
        cases: HashMap::new(),
    };
    let stdin = std::io::stdin();
    let mut stdout = std::io::stdout().lock();
    for line in stdin.lock().lines() {
        let line = match line {
            Ok(l) => l,
            Err(e) => {
                eprintln!("peers: reading stdin: {e}");
                std::process::exit(1);
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        let answer = match serde_json::from_str::<Request>(&line) {
            Ok(request) => match server.handle(request) {
                Ok(v) => json!({ "ok": v }),
                Err(e) => json!({ "error": e }),
            },
            Err(e) => json!({ "error": format!("bad request: {e}") }),
        };
        if writeln!(stdout, "{answer}")
            .and_then(|()| stdout.flush())
            .is_err()
        {
            // The driver went away.
            return;
        }
    }
}
