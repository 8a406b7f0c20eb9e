//! `lanes run`: compile a LASM file, bind arguments from the command line,
//! launch, save buffers (docs/LANGUAGE.md section 8).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};

use super::latency::{Latencies, format_ns};
use super::pool::{Placement, PoolSettings, make_runtime, parse_threads};
use super::spec::{
    ArgSpec, BufferSource, SaveSpec, parse_arg, parse_buffer_value, parse_dim3, parse_save,
    parse_timeout, quote, whole,
};
use super::{CliError, emit, read_source};
use crate::cluster::Movement;
use crate::kernel::{Kernel, ParamKind};
use crate::types::ScalarType;
use crate::{Arg, BufferId, Dim3, Engine, LaunchOptions, Runtime, Scalar};

/// Arguments of `lanes run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The LASM source file.
    pub(crate) file: PathBuf,
    /// The kernel to run (may be left out when the file has one kernel).
    #[arg(long)]
    pub(crate) kernel: Option<String>,
    /// Blocks in the grid.
    #[arg(long, value_name = "X[,Y[,Z]]", value_parser = parse_dim3)]
    pub(crate) grid: Dim3,
    /// Lanes in each block (at most 1024 in all).
    #[arg(long, value_name = "X[,Y[,Z]]", value_parser = parse_dim3)]
    pub(crate) block: Dim3,
    /// A parameter's value: for a buffer `@PATH.npy`, `zeros:TYPE:COUNT`,
    /// `arange:TYPE:COUNT`, `fill:TYPE:COUNT:VALUE` or
    /// `random:TYPE:COUNT[:SEED]`; a number for a scalar. Every parameter
    /// needs exactly one.
    #[arg(long = "arg", value_name = "NAME=VALUE", value_parser = parse_arg)]
    pub(crate) args: Vec<ArgSpec>,
    /// Save a buffer after the last launch, as TYPE if given.
    #[arg(long = "save", value_name = "NAME=PATH.npy[:TYPE]", value_parser = parse_save)]
    pub(crate) saves: Vec<SaveSpec>,
    /// The engine [default: jit, the library's default].
    #[arg(long, value_enum)]
    pub(crate) engine: Option<EngineChoice>,
    /// Threads that run the launch's tasks: the launching thread and
    /// N-1 workers (N workers with a --placement other than none).
    #[arg(long, value_name = "N", value_parser = parse_threads)]
    pub(crate) threads: Option<usize>,
    /// Where the pool's workers run: none, close, spread or cpus:LIST. With
    /// a pinning placement, all N threads are pinned workers.
    #[arg(long, value_name = "P", value_parser = clap::value_parser!(Placement))]
    pub(crate) placement: Option<Placement>,
    /// Launch N times after one warm-up and print latency percentiles.
    #[arg(long, value_name = "N", value_parser = whole(1, u64::MAX))]
    pub(crate) repeat: Option<u64>,
    /// Per-lane step budget.
    #[arg(long, value_name = "N", value_parser = whole(0, u64::MAX))]
    pub(crate) max_steps: Option<u64>,
    /// Wall-clock limit of each launch (`500ms`, `10s`, `2m`): past it the
    /// launch is cancelled, running blocks included, and the blocks that
    /// had not finished are named (exit status 1).
    #[arg(long, value_name = "DURATION", value_parser = parse_timeout)]
    pub(crate) timeout: Option<Duration>,
    /// Do not print the summary line.
    #[arg(long, short)]
    pub(crate) quiet: bool,
    /// Print the scheduler's per-worker report (tasks, steals, parks, queue
    /// wait and run time percentiles) after the launches.
    #[arg(long)]
    pub(crate) report: bool,
    /// Split the launch across the ranks of an MPI job (run under
    /// `mpirun`; needs a lanes built with the `mpi` feature).
    #[arg(long)]
    pub(crate) distribute: bool,
    /// What the blocks do with a buffer, for --distribute and
    /// --dry-run-ranks: `all` (only read), `blocks:K[:halo=H]` (block b
    /// writes elements b*K..(b+1)*K, reads H more each side),
    /// `tiles:WxH:ROW[:halo=H]` (block (x, y) writes the WxH tile at
    /// (x*W, y*H) of a row-major array of ROW elements per row),
    /// `reduce:add|min|max` (only atomics whose result is unused) or
    /// `one:BLOCK` (only that block writes it). A buffer the kernel only
    /// reads may be left out (`all`).
    #[arg(long = "access", value_name = "NAME=SPEC", value_parser = super::distribute::parse_access)]
    pub(crate) access: Vec<super::distribute::AccessArg>,
    /// Print how the launch would be split across N ranks and the bytes
    /// each rank would send and receive, without running it; several
    /// counts (`2,4,8`) print one summary line each.
    #[arg(long, value_name = "N[,N...]", value_parser = parse_rank_list)]
    pub(crate) dry_run_ranks: Option<RankList>,
    /// When data written by one rank moves to the others: `lazy` (when a
    /// later launch or a save needs it) or `eager` (after every launch).
    #[arg(long, value_name = "lazy|eager", default_value = "lazy", value_parser = parse_movement)]
    pub(crate) movement: Movement,
    /// With --distribute: check every launch for writes outside the
    /// declared ranges, overlapping writes and reads of another rank's
    /// writes. `--verify` (`=changes`) compares each written buffer before
    /// and after the launch (a copy per launch; a store of the value
    /// already there is not seen); `--verify=words` records every byte
    /// each rank writes and reads (runs on the reference interpreter: for
    /// debugging).
    #[arg(
        long,
        value_name = "changes|words",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "changes",
        value_parser = parse_verify
    )]
    pub(crate) verify: Option<crate::cluster::Verify>,
    /// With --distribute: skip the check, made before every launch, that
    /// accesses whose addresses are affine in the block index stay inside
    /// each rank's declaration (for a kernel whose guards keep lanes away
    /// from bytes their address formula reaches).
    #[arg(long)]
    pub(crate) no_affine_check: bool,
}

/// `--dry-run-ranks`: the rank counts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RankList(pub(crate) Vec<u32>);

fn parse_rank_list(s: &str) -> Result<RankList, String> {
    super::distribute::parse_ranks(s).map(RankList)
}

fn parse_verify(s: &str) -> Result<crate::cluster::Verify, String> {
    s.parse()
}

fn parse_movement(s: &str) -> Result<Movement, String> {
    s.parse()
}

/// `--engine`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum EngineChoice {
    /// The parallel lane-block engine on the worker pool.
    Pool,
    /// The reference interpreter.
    Reference,
    /// Compiled machine code on the worker pool (kernels it cannot compile
    /// run on the pool engine).
    Jit,
}

impl From<EngineChoice> for Engine {
    fn from(e: EngineChoice) -> Engine {
        match e {
            EngineChoice::Pool => Engine::Pool,
            EngineChoice::Reference => Engine::Reference,
            EngineChoice::Jit => Engine::Jit,
        }
    }
}

/// Runs `lanes run`.
pub fn execute(args: &RunArgs) -> Result<(), CliError> {
    let file = args.file.display().to_string();
    let source = read_source(&args.file)?;
    let program = crate::compile(&file, &source)?;
    let kernel = select_kernel(&program, args.kernel.as_deref(), &file)?;
    let values = match_args(&kernel, &args.args)?;
    check_saves(&kernel, &args.saves)?;

    let mut options = LaunchOptions {
        // A command runs its kernel once (or --repeat times from the
        // first): waiting for the JIT keeps every launch on the engine
        // the summary names (and LANES_JIT_DUMP's output in this process).
        jit_wait: std::time::Duration::MAX,
        ..LaunchOptions::default()
    };
    if let Some(e) = args.engine {
        options.engine = e.into();
    }
    if let Some(m) = args.max_steps {
        options.max_steps = m;
    }
    options.timeout = args.timeout;
    if let Some(ranks) = &args.dry_run_ranks {
        if args.distribute {
            return Err(CliError::Usage(
                "--dry-run-ranks plans a distributed run without running it; leave out --distribute"
                    .to_string(),
            ));
        }
        emit(&super::distribute::dry_run(
            args, &ranks.0, &kernel, &values,
        )?);
        return Ok(());
    }
    if args.distribute {
        emit(&super::distribute::run(args, &kernel, &values, options)?);
        return Ok(());
    }
    if !args.access.is_empty() || args.verify.is_some() || args.no_affine_check {
        return Err(CliError::Usage(
            "--access and --verify are for distributed runs: add --distribute (under mpirun) or --dry-run-ranks N"
                .to_string(),
        ));
    }
    let settings = PoolSettings {
        threads: args.threads,
        placement: args.placement.clone(),
    };
    let rt = make_runtime(&settings)?;
    let bound = bind(&rt, &kernel, &values)?;
    // Buffer lengths do not change while running: refuse a bad `:TYPE`
    // before spending time on launches.
    for save in &args.saves {
        saved_type(&bound, &kernel, save)?;
    }
    let launch_args: Vec<Arg> = bound.iter().map(|b| b.arg).collect();
    let launch = || -> Result<Duration, CliError> {
        let start = Instant::now();
        rt.launch(&kernel, args.grid, args.block, &launch_args, options)?;
        Ok(start.elapsed())
    };

    let mut report = String::new();
    let lanes = args.grid.count() * args.block.count();
    let shape = format!(
        "{}: grid {} block {} ({lanes} lane{}), engine {}",
        kernel.name,
        dims(args.grid),
        dims(args.block),
        if lanes == 1 { "" } else { "s" },
        Engine::name(options.engine)
    );
    match args.repeat {
        None => {
            let wall = launch()?;
            if !args.quiet {
                report.push_str(&format!(
                    "{shape}, wall {}\n",
                    format_ns(wall.as_nanos() as f64)
                ));
            }
        }
        Some(n) => {
            launch()?; // warm-up
            let mut latencies = Latencies::new()?;
            let mut total = Duration::ZERO;
            for _ in 0..n {
                let d = launch()?;
                total += d;
                latencies.record(d)?;
            }
            if !args.quiet {
                report.push_str(&format!(
                    "{shape}, {n} launches after 1 warm-up, wall {}\n",
                    format_ns(total.as_nanos() as f64)
                ));
            }
            report.push_str(&latencies.report());
        }
    }
    if args.report {
        report.push_str(&super::report::scheduler_table(
            &format!("{} on the pool", kernel.name),
            &rt.report(),
        ));
    }
    for save in &args.saves {
        save_buffer(&rt, &bound, &kernel, save)?;
    }
    emit(&report);
    Ok(())
}

pub(crate) fn dims(d: Dim3) -> String {
    format!("{},{},{}", d.x, d.y, d.z)
}

fn select_kernel(
    program: &crate::Program,
    name: Option<&str>,
    file: &str,
) -> Result<Arc<Kernel>, CliError> {
    let names = crate::text::list(&program.names());
    match name {
        Some(name) => program.kernel(name).cloned().ok_or_else(|| {
            CliError::Usage(format!(
                "`{file}` has no kernel `{}`; its kernels: {names}",
                quote(name)
            ))
        }),
        None if program.kernels.len() == 1 => Ok(program.kernels[0].clone()),
        None => Err(CliError::Usage(format!(
            "`{file}` has {} kernels; choose one with --kernel NAME: {names}",
            program.kernels.len()
        ))),
    }
}

/// The kernel's parameters for a message: a screenful at most.
fn param_list(kernel: &Kernel) -> String {
    let n = kernel.params.len();
    if n == 0 {
        return format!("kernel `{}` takes no parameters", kernel.name);
    }
    let shown: Vec<String> = kernel
        .params
        .iter()
        .take(crate::text::LISTED_NAMES)
        .map(|p| format!("{} {}", quote(&p.name), p.kind))
        .collect();
    format!(
        "kernel `{}` takes {n} parameter{}: {}",
        kernel.name,
        if n == 1 { "" } else { "s" },
        crate::text::list_of(&shown, n)
    )
}

/// The VALUE text for each parameter, in parameter order.
fn match_args<'a>(kernel: &Kernel, specs: &'a [ArgSpec]) -> Result<Vec<&'a str>, CliError> {
    let mut by_name: HashMap<&str, &str> = HashMap::new();
    for spec in specs {
        if kernel.param(&spec.name).is_none() {
            return Err(CliError::Usage(format!(
                "unknown parameter `{}`; {}",
                quote(&spec.name),
                param_list(kernel)
            )));
        }
        if by_name.insert(&spec.name, &spec.value).is_some() {
            return Err(CliError::Usage(format!(
                "parameter `{}` has more than one --arg; {}",
                spec.name,
                param_list(kernel)
            )));
        }
    }
    let missing: Vec<&str> = kernel
        .params
        .iter()
        .filter(|p| !by_name.contains_key(p.name.as_str()))
        .map(|p| p.name.as_str())
        .collect();
    if !missing.is_empty() {
        let quoted: Vec<String> = missing.iter().map(|n| format!("`{n}`")).collect();
        return Err(CliError::Usage(format!(
            "missing --arg for {}; {}",
            crate::text::list(&quoted),
            param_list(kernel)
        )));
    }
    Ok(kernel
        .params
        .iter()
        .map(|p| by_name[p.name.as_str()])
        .collect())
}

fn check_saves(kernel: &Kernel, saves: &[SaveSpec]) -> Result<(), CliError> {
    for save in saves {
        match kernel.param(&save.name).map(|p| p.kind) {
            Some(ParamKind::Buffer { .. }) => {}
            Some(ParamKind::Scalar { ty, .. }) => {
                return Err(CliError::Usage(format!(
                    "cannot save `{}`: it is a {ty} parameter, not a buffer",
                    save.name
                )));
            }
            None => {
                return Err(CliError::Usage(format!(
                    "cannot save `{}`: no such parameter; {}",
                    save.name,
                    param_list(kernel)
                )));
            }
        }
    }
    Ok(())
}

/// One parameter's launch argument, and for buffers the element type it was
/// loaded or created with.
pub(crate) struct Bound {
    pub(crate) arg: Arg,
    pub(crate) buffer: Option<(BufferId, ScalarType, usize)>,
}

pub(crate) fn bind(rt: &Runtime, kernel: &Kernel, values: &[&str]) -> Result<Vec<Bound>, CliError> {
    let mut budget = MemoryBudget::of_machine();
    let mut bound = Vec::with_capacity(values.len());
    for (p, value) in kernel.params.iter().zip(values) {
        let bad =
            |why: String| CliError::Usage(format!("--arg {}={}: {why}", p.name, quote(value)));
        match p.kind {
            ParamKind::Scalar { ty, .. } => {
                let s = Scalar::parse(ty, value)
                    .map_err(|e| bad(format!("parameter `{}` is {ty}: {e}", p.name)))?;
                bound.push(Bound {
                    arg: Arg::Scalar(s),
                    buffer: None,
                });
            }
            ParamKind::Buffer { .. } => {
                let source = parse_buffer_value(value)
                    .map_err(|e| bad(format!("parameter `{}` is a buffer: {e}", p.name)))?;
                let (id, ty, len) = match source {
                    BufferSource::Npy(path) => {
                        // The header first: its declared size is checked
                        // against the file and the memory before any data
                        // is read, and the data goes straight into the
                        // buffer, a piece at a time.
                        let mut file = crate::npy::open(&path)?;
                        let len = file.data_len;
                        budget.take(len).map_err(&bad)?;
                        let id = rt.alloc(len).map_err(|e| bad(e.to_string()))?;
                        file.read_chunks(|at, piece| {
                            rt.write(id, at, piece).map_err(std::io::Error::other)
                        })?;
                        (id, file.ty, len)
                    }
                    BufferSource::Made { ty, count, values } => {
                        let bytes = count
                            .checked_mul(ty.size() as u64)
                            .and_then(|b| usize::try_from(b).ok())
                            .ok_or_else(|| {
                                bad(format!("{count} {ty} elements is too many bytes"))
                            })?;
                        budget.take(bytes).map_err(&bad)?;
                        let id = rt.alloc(bytes).map_err(|e| bad(e.to_string()))?;
                        super::generate::write_values(ty, count, values, |at, piece| {
                            rt.write(id, at, piece)
                        })
                        .map_err(|e| bad(e.to_string()))?;
                        (id, ty, bytes)
                    }
                };
                bound.push(Bound {
                    arg: Arg::Buffer(id),
                    buffer: Some((id, ty, len)),
                });
            }
        }
    }
    Ok(bound)
}

/// Refuses buffers that together exceed the machine's memory, so that a
/// typo like `zeros:f32:10000000000` is an error rather than the OOM killer.
struct MemoryBudget {
    left: Option<usize>,
}

impl MemoryBudget {
    fn of_machine() -> MemoryBudget {
        MemoryBudget {
            left: total_memory(),
        }
    }

    fn take(&mut self, bytes: usize) -> Result<(), String> {
        let Some(left) = self.left else {
            return Ok(());
        };
        match left.checked_sub(bytes) {
            Some(rest) => {
                self.left = Some(rest);
                Ok(())
            }
            None => Err(format!(
                "a buffer of {bytes} bytes does not fit in this machine's memory ({left} bytes left of its total)"
            )),
        }
    }
}

/// Physical memory in bytes, where the system says (Linux).
fn total_memory() -> Option<usize> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// The buffer a `--save` names and the type to save it as.
pub(crate) fn saved_type(
    bound: &[Bound],
    kernel: &Kernel,
    save: &SaveSpec,
) -> Result<(BufferId, ScalarType), CliError> {
    let index = kernel
        .params
        .iter()
        .position(|p| p.name == save.name)
        .ok_or_else(|| {
            CliError::Usage(format!("cannot save `{}`: no such parameter", save.name))
        })?;
    let Some((id, loaded, len)) = bound[index].buffer else {
        return Err(CliError::Usage(format!(
            "cannot save `{}`: it is not a buffer",
            save.name
        )));
    };
    let ty = save.ty.unwrap_or(loaded);
    if len % ty.size() != 0 {
        return Err(CliError::Usage(format!(
            "cannot save `{}` as {ty}: its {len} bytes are not a whole number of {}-byte elements",
            save.name,
            ty.size()
        )));
    }
    Ok((id, ty))
}

fn save_buffer(
    rt: &Runtime,
    bound: &[Bound],
    kernel: &Kernel,
    save: &SaveSpec,
) -> Result<(), CliError> {
    let (id, ty) = saved_type(bound, kernel, save)?;
    let bytes = rt.read(id).map_err(|e| CliError::Usage(e.to_string()))?;
    crate::npy::write(&save.path, ty, &bytes)?;
    Ok(())
}
