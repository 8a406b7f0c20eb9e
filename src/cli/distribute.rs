//! `lanes run --distribute` (under `mpirun`, cargo feature `mpi`) and
//! `lanes run --dry-run-ranks N[,N...]` (any build): a launch split across
//! ranks with `--access NAME=all|blocks:K[:halo=H]|tiles:WxH:ROW[:halo=H]|reduce:OP|one:B`.

use std::sync::Arc;

use super::CliError;
use super::run::RunArgs;
use super::spec::{BufferSource, parse_buffer_value, quote, split_name};
use crate::cluster::{AccessSpec, DryBuffer, DryRun, Resolved, by_slot, resolve, summary_line};
use crate::kernel::{Kernel, ParamKind};
use crate::types::ScalarType;

/// `--access NAME=SPEC`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct AccessArg {
    pub name: String,
    pub spec: AccessSpec,
}

pub(crate) fn parse_access(s: &str) -> Result<AccessArg, String> {
    let (name, spec) = split_name(
        s,
        "NAME=all|blocks:K[:halo=H]|tiles:WxH:ROW[:halo=H]|reduce:OP|one:BLOCK",
    )?;
    Ok(AccessArg {
        name: name.to_string(),
        spec: spec.parse()?,
    })
}

/// `--dry-run-ranks`: rank counts from 1 to 65536, comma-separated.
pub(crate) fn parse_ranks(s: &str) -> Result<Vec<u32>, String> {
    s.split(',')
        .map(|part| match part.trim().parse::<u32>() {
            Ok(n @ 1..=65536) => Ok(n),
            _ => Err(format!(
                "`{}` is not a rank count from 1 to 65536",
                quote(part)
            )),
        })
        .collect()
}

/// The element type and byte length of each buffer parameter's value,
/// without reading or making the data (`.npy` headers are read).
fn buffer_shapes(
    kernel: &Kernel,
    values: &[&str],
) -> Result<Vec<Option<(ScalarType, u64)>>, CliError> {
    let mut shapes = Vec::with_capacity(values.len());
    for (p, value) in kernel.params.iter().zip(values) {
        let ParamKind::Buffer { .. } = p.kind else {
            shapes.push(None);
            continue;
        };
        let bad =
            |why: String| CliError::Usage(format!("--arg {}={}: {why}", p.name, quote(value)));
        let shape = match parse_buffer_value(value).map_err(bad)? {
            BufferSource::Npy(path) => {
                let file = crate::npy::open(&path)?;
                (file.ty, file.data_len as u64)
            }
            BufferSource::Made { ty, count, .. } => (ty, count.saturating_mul(ty.size() as u64)),
        };
        shapes.push(Some(shape));
    }
    Ok(shapes)
}

/// The checked declarations, by buffer slot, and each slot's parameter
/// index.
pub(crate) fn declarations(
    args: &RunArgs,
    kernel: &Kernel,
    elem: impl Fn(usize) -> u64,
) -> Result<Vec<Resolved>, CliError> {
    let slot_param = |slot: u16| {
        kernel
            .params
            .iter()
            .position(|p| matches!(p.kind, ParamKind::Buffer { slot: s } if s == slot))
            .unwrap_or(0)
    };
    let named: Vec<(String, AccessSpec)> = args
        .access
        .iter()
        .map(|a| (a.name.clone(), a.spec))
        .collect();
    let decls = by_slot(kernel, &named, |slot| elem(slot_param(slot))).map_err(CliError::Usage)?;
    resolve(kernel, &decls, args.grid).map_err(|e| CliError::Usage(e.to_string()))
}

/// `--dry-run-ranks`: prints the partition and the bytes moved.
pub(crate) fn dry_run(
    args: &RunArgs,
    ranks: &[u32],
    kernel: &Arc<Kernel>,
    values: &[&str],
) -> Result<String, CliError> {
    let shapes = buffer_shapes(kernel, values)?;
    let elem = |param: usize| shapes[param].map_or(1, |(ty, _)| ty.size() as u64);
    let resolved = declarations(args, kernel, elem)?;
    let mut buffers = Vec::new();
    for (param, p) in kernel.params.iter().enumerate() {
        if let (ParamKind::Buffer { slot }, Some((_, len))) = (p.kind, shapes[param]) {
            buffers.push((
                slot,
                DryBuffer {
                    name: p.name.clone(),
                    len,
                    resolved: resolved[slot as usize],
                },
            ));
        }
    }
    buffers.sort_by_key(|b| b.0);
    let saved = args
        .saves
        .iter()
        .filter_map(|s| buffers.iter().position(|b| b.1.name == s.name))
        .collect();
    let run = DryRun {
        kernel: kernel.name.clone(),
        grid_blocks: args.grid.count() as u64,
        buffers: buffers.into_iter().map(|b| b.1).collect(),
        launches: args.repeat.map_or(1, |n| n + 1),
        saved,
        movement: args.movement,
    };
    Ok(match ranks {
        [n] => run.detail(*n),
        many => many
            .iter()
            .map(|&n| summary_line(&run.plan(n)) + "\n")
            .collect(),
    })
}

#[cfg(feature = "mpi")]
pub(crate) use with_mpi::run;

#[cfg(not(feature = "mpi"))]
pub(crate) fn run(
    _args: &RunArgs,
    _kernel: &Arc<Kernel>,
    _values: &[&str],
    _options: crate::LaunchOptions,
) -> Result<String, CliError> {
    Err(CliError::Usage(
        "--distribute needs a lanes built with the `mpi` cargo feature \
         (cargo build --release --features mpi; see the README)"
            .to_string(),
    ))
}

#[cfg(feature = "mpi")]
mod with_mpi {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use super::super::CliError;
    use super::super::latency::{Latencies, format_ns};
    use super::super::pool::{PoolSettings, make_runtime};
    use super::super::run::{RunArgs, bind, saved_type};
    use crate::cluster::{Access, Cluster, ClusterConfig, ClusterError};
    use crate::kernel::Kernel;
    use crate::{Arg, LaunchError, LaunchOptions};

    impl From<ClusterError> for CliError {
        fn from(e: ClusterError) -> CliError {
            match e {
                ClusterError::Launch {
                    source: LaunchError::Fault(f),
                    ..
                } => CliError::Fault(f),
                ClusterError::Access(a) => CliError::Usage(a.to_string()),
                other => CliError::Failed(other.to_string()),
            }
        }
    }

    /// `--distribute`: every rank loads the arguments, runs its blocks,
    /// and rank 0 saves; each rank prints what it moved.
    pub(crate) fn run(
        args: &RunArgs,
        kernel: &Arc<Kernel>,
        values: &[&str],
        options: LaunchOptions,
    ) -> Result<String, CliError> {
        let rt = make_runtime(&PoolSettings {
            threads: args.threads,
            placement: args.placement.clone(),
        })?;
        let config = ClusterConfig {
            timeout: args.timeout.unwrap_or(ClusterConfig::default().timeout),
            movement: args.movement,
            verify: args.verify.unwrap_or_default(),
            affine_check: !args.no_affine_check,
        };
        let mut cluster = Cluster::new(rt, config)?;
        let bound = bind(cluster.runtime(), kernel, values)?;
        // Every rank read its own files (or ran the generators): the first
        // launch checks that all of them hold the same inputs. Zeroed
        // buffers are the same everywhere.
        for (b, value) in bound.iter().zip(values) {
            if let Some((id, _, _)) = b.buffer
                && !value.starts_with("zeros:")
            {
                cluster.host_wrote(id)?;
            }
        }
        for save in &args.saves {
            saved_type(&bound, kernel, save)?;
        }
        let elem = |param: usize| bound[param].buffer.map_or(1, |(_, ty, _)| ty.size() as u64);
        let resolved = super::declarations(args, kernel, elem)?;
        let access: Vec<(&str, Access)> = kernel
            .params
            .iter()
            .filter_map(|p| match p.kind {
                crate::kernel::ParamKind::Buffer { slot } => {
                    Some((p.name.as_str(), resolved[slot as usize].access))
                }
                _ => None,
            })
            .collect();
        let launch_args: Vec<Arg> = bound.iter().map(|b| b.arg).collect();
        let launch = |c: &mut Cluster| -> Result<Duration, CliError> {
            let start = Instant::now();
            c.launch(
                kernel,
                args.grid,
                args.block,
                &launch_args,
                &access,
                options,
            )?;
            Ok(start.elapsed())
        };
        let (rank, size) = (cluster.rank(), cluster.size());
        let mut report = String::new();
        let shape = format!(
            "{}: grid {} block {} on {size} rank{}, engine {}",
            kernel.name,
            super::super::run::dims(args.grid),
            super::super::run::dims(args.block),
            if size == 1 { "" } else { "s" },
            options.engine
        );
        match args.repeat {
            None => {
                let wall = launch(&mut cluster)?;
                if rank == 0 && !args.quiet {
                    report.push_str(&format!(
                        "{shape}, wall {}\n",
                        format_ns(wall.as_nanos() as f64)
                    ));
                }
            }
            Some(n) => {
                launch(&mut cluster)?;
                let mut latencies = Latencies::new()?;
                let mut total = Duration::ZERO;
                for _ in 0..n {
                    let d = launch(&mut cluster)?;
                    total += d;
                    latencies.record(d)?;
                }
                if rank == 0 {
                    if !args.quiet {
                        report.push_str(&format!(
                            "{shape}, {n} launches after 1 warm-up, wall {}\n",
                            format_ns(total.as_nanos() as f64)
                        ));
                    }
                    report.push_str(&latencies.report());
                }
            }
        }
        let launched = cluster.stats().clone();
        for save in &args.saves {
            let (id, ty) = saved_type(&bound, kernel, save)?;
            if let Some(bytes) = cluster.read_root(id)? {
                crate::npy::write(&save.path, ty, &bytes)?;
            }
        }
        let stats = cluster.stats().clone();
        if !args.quiet {
            let launches = launched.launches.max(1);
            // One write per rank (stderr is unbuffered, and the ranks'
            // lines are merged by the launcher), before MPI ends.
            let line = format!(
                "rank {rank}: per launch sent {} B, received {} B, {} in MPI, {} running blocks; \
                 saves moved {} B; hashed {} B of inputs in {}\n",
                launched.bytes_sent / launches,
                launched.bytes_received / launches,
                format_ns(launched.mpi_time.as_nanos() as f64 / launches as f64),
                format_ns(launched.run_time.as_nanos() as f64 / launches as f64),
                (stats.bytes_sent + stats.bytes_received)
                    - (launched.bytes_sent + launched.bytes_received),
                stats.host_bytes_hashed,
                format_ns(stats.host_hash_time.as_nanos() as f64),
            );
            eprint!("{line}");
        }
        cluster.finish()?;
        Ok(report)
    }
}
