//! [`Cluster`]: the distributed runtime on MPI (cargo feature `mpi`).
//!
//! Every operation that involves other ranks (a launch, a host read, the
//! end of the program) starts with the same fixed-size exchange, a
//! *header* (operation number, kind, kernel name, a hash of the launch),
//! so ranks whose host programs diverged notice at the first operation
//! that differs, all of them, instead of pairing mismatched messages. All
//! later exchanges of the operation are sized by the plan, which every rank
//! computes the same way. Every wait polls non-blocking requests against a
//! deadline; a rank that misses it prints what it waited for and calls
//! `MPI_Abort`, which ends every rank of the job.

use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ::mpi::Threading;
use ::mpi::environment::Universe;
use ::mpi::request::{LocalScope, Request, Scope};
use ::mpi::topology::SimpleCommunicator;
use ::mpi::traits::*;

use super::ClusterError;
use super::access::{Access, AccessError, Resolved, resolve};
use super::affine::{AffineAccess, analyze, check as check_affine};
use super::plan::{Movement, PlannedBuffer, Planner, Transfer, owner_of};
use super::ranges::{block_bytes, complement, intersect};
use super::reduce::{combine, identity};
use super::verify::{self, Finding, Footprint, Verify};
use crate::engine::StopFlag;
use crate::kernel::{Kernel, ParamKind};
use crate::launch::{Arg, Dim3, LaunchError, check_shape};
use crate::memory::{Buffer, BufferId};
use crate::runtime::{LaunchOptions, LaunchStats, Runtime};

/// The message tag of buffer data (headers and statuses are collectives).
const DATA_TAG: i32 = 17;
/// The most bytes in one message (MPI counts are 32-bit).
const MAX_MESSAGE: u64 = 1 << 30;
/// Words in a header: magic, operation, kind, hash, ok, 3 of label, the
/// digest of the host's writes since the previous operation.
const HEADER_WORDS: usize = 9;
/// The header word of the host writes' digest.
const HOST_WORD: usize = 8;
/// Marks a header, so a stray message is not taken for one.
const MAGIC: u64 = 0x6c61_6e65_735f_6d70; // "lanes_mp"
/// Bytes of an error message carried in a status record.
const STATUS_MESSAGE: usize = 400;
/// Words before the message in a status record: ok, violation kind,
/// buffer, start, end, other rank, message length.
const STATUS_WORDS: usize = 7;

/// Settings of a [`Cluster`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterConfig {
    /// The longest any rank waits for the others in one operation (and the
    /// longest its own part of a launch may run). Past it the rank aborts
    /// the job with a message.
    pub timeout: Duration,
    /// When written data moves.
    pub movement: Movement,
    /// How much every launch checks that the kernel keeps to its
    /// declarations (see [`Verify`]).
    pub verify: Verify,
    /// Before every launch, check that the accesses whose addresses are
    /// affine in the block index stay inside each rank's declaration
    /// (see [`super::analyze`]; cached per kernel, shape and arguments).
    pub affine_check: bool,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            timeout: Duration::from_secs(300),
            movement: Movement::Lazy,
            verify: Verify::Off,
            affine_check: true,
        }
    }
}

/// What a rank moved and waited for, summed over its launches and reads.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClusterStats {
    /// Launches run.
    pub launches: u64,
    /// Buffer bytes sent to other ranks.
    pub bytes_sent: u64,
    /// Buffer bytes received from other ranks.
    pub bytes_received: u64,
    /// Wall time in MPI calls and waits (headers, statuses, transfers,
    /// reductions), including waiting for slower ranks.
    pub mpi_time: Duration,
    /// Wall time running this rank's blocks.
    pub run_time: Duration,
    /// Bytes written by the host and hashed for the check that every rank
    /// wrote the same.
    pub host_bytes_hashed: u64,
    /// Wall time hashing them.
    pub host_hash_time: Duration,
}

/// One launch as this rank saw it.
#[derive(Clone, Debug)]
pub struct DistributedLaunch {
    /// The blocks this rank ran.
    pub blocks: Range<u64>,
    /// Its local launch (`None` when it had no blocks).
    pub local: Option<LaunchStats>,
    /// What this launch moved and waited for on this rank.
    pub stats: ClusterStats,
}

/// A distributed runtime: one per process (rank), each wrapping its own
/// [`Runtime`]. See the [module docs](super).
pub struct Cluster {
    rt: Runtime,
    world: SimpleCommunicator,
    rank: u32,
    size: u32,
    planner: Planner<BufferId>,
    config: ClusterConfig,
    seq: u64,
    stats: ClusterStats,
    /// Set by an error that leaves the ranks out of step.
    stopped: Option<String>,
    /// What the host wrote into buffers since the last collective
    /// operation (compared across ranks by the next one).
    host: Option<HostWrites>,
    /// The last launch's affine accesses, by kernel, shape and scalars.
    affine: Option<(AffineKey, Arc<Vec<AffineAccess>>)>,
    finished: bool,
    /// Last: MPI is finalized when it drops.
    _universe: Universe,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("rank", &self.rank)
            .field("size", &self.size)
            .field("config", &self.config)
            .finish()
    }
}

/// A launch's header fields, for the divergence message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Launch = 1,
    Read = 2,
    Finish = 3,
}

/// FNV-1a, 64 bits: stable across processes and builds (the standard
/// library's hasher is not promised to be).
#[derive(Clone, Copy)]
struct Fnv(u64);

impl Fnv {
    fn new() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
    fn bytes(&mut self, b: &[u8]) -> &mut Fnv {
        for &x in b {
            self.0 = (self.0 ^ x as u64).wrapping_mul(0x100_0000_01b3);
        }
        self
    }
    fn u64(&mut self, v: u64) -> &mut Fnv {
        self.bytes(&v.to_le_bytes())
    }
    fn str(&mut self, s: &str) -> &mut Fnv {
        self.u64(s.len() as u64).bytes(s.as_bytes())
    }
}

/// A buffer of a launch, bound once however many parameters name it.
struct Distinct {
    id: BufferId,
    buffer: Arc<Buffer>,
    name: String,
    resolved: Resolved,
}

impl Cluster {
    /// Initializes MPI and wraps `rt`, this rank's runtime (give each rank
    /// the threads of its own CPU set: under `mpirun --bind-to core` the
    /// runtime's default thread count is what the launcher gave it).
    /// Fails when MPI was initialized before in this process.
    pub fn new(rt: Runtime, config: ClusterConfig) -> Result<Cluster, ClusterError> {
        let (universe, _) =
            ::mpi::initialize_with_threading(Threading::Funneled).ok_or_else(|| {
                ClusterError::Mpi("MPI was already initialized in this process".to_string())
            })?;
        let world = universe.world();
        let (rank, size) = (world.rank() as u32, world.size() as u32);
        Ok(Cluster {
            rt,
            world,
            rank,
            size,
            planner: Planner::new(size, config.movement),
            config,
            seq: 0,
            stats: ClusterStats::default(),
            stopped: None,
            host: None,
            affine: None,
            finished: false,
            _universe: universe,
        })
    }

    /// This process's rank.
    pub fn rank(&self) -> u32 {
        self.rank
    }

    /// The number of ranks.
    pub fn size(&self) -> u32 {
        self.size
    }

    /// This rank's runtime (compile kernels with it).
    pub fn runtime(&self) -> &Runtime {
        &self.rt
    }

    /// Turns the check of affine accesses made before every launch on or
    /// off ([`ClusterConfig::affine_check`]); call it on every rank alike.
    pub fn set_affine_check(&mut self, on: bool) {
        self.config.affine_check = on;
    }

    /// What this rank moved and waited for so far.
    pub fn stats(&self) -> &ClusterStats {
        &self.stats
    }

    /// A zeroed buffer of `len` bytes (on every rank: call it on all).
    pub fn alloc(&mut self, len: usize) -> Result<BufferId, ClusterError> {
        Ok(self.rt.alloc(len)?)
    }

    /// A buffer holding `bytes` (every rank must give the same bytes: the
    /// next collective operation checks that they did).
    pub fn alloc_from(&mut self, bytes: &[u8]) -> Result<BufferId, ClusterError> {
        let id = self.rt.alloc_from(bytes)?;
        self.note_host_write(id, 0, bytes);
        Ok(id)
    }

    /// Writes `bytes` at `offset` of `id` on this rank; every rank must
    /// write the same bytes (the host program is the same everywhere; the
    /// next collective operation checks that they did).
    pub fn write(&mut self, id: BufferId, offset: usize, bytes: &[u8]) -> Result<(), ClusterError> {
        self.rt.write(id, offset, bytes)?;
        self.note_host_write(id, offset as u64, bytes);
        let len = self.rt.len_of(id)? as u64;
        let at = offset as u64;
        self.planner
            .host_wrote(id, len, at..at + bytes.len() as u64);
        Ok(())
    }

    /// Declares that this rank's host wrote all of `id` directly (through
    /// [`Cluster::runtime`], a file reader, ...): its contents are hashed
    /// and the next collective operation checks that every rank's are the
    /// same. Writes through [`Cluster::write`] and [`Cluster::alloc_from`]
    /// are checked without this.
    pub fn host_wrote(&mut self, id: BufferId) -> Result<(), ClusterError> {
        let t = Instant::now();
        let buffer = self.rt.buffers.read().get(id)?.clone();
        let len = buffer.len();
        // In pieces that stay in the cache, without a copy of the buffer.
        let mut hasher = xxhash_rust::xxh3::Xxh3::new();
        let mut piece = vec![0u8; len.min(1 << 18)];
        let mut at = 0;
        while at < len {
            let n = piece.len().min(len - at);
            buffer
                .read_into(at, &mut piece[..n])
                .map_err(|_| internal("a buffer shrank while it was hashed"))?;
            hasher.update(&piece[..n]);
            at += n;
        }
        self.note_hash(id, 0, len as u64, hasher.digest(), t);
        self.planner.host_wrote(id, len as u64, 0..len as u64);
        Ok(())
    }

    /// Folds a host write into the digest the next header carries.
    fn note_host_write(&mut self, id: BufferId, offset: u64, bytes: &[u8]) {
        let t = Instant::now();
        let hash = xxhash_rust::xxh3::xxh3_64(bytes);
        self.note_hash(id, offset, bytes.len() as u64, hash, t);
    }

    /// Folds the hash of `len` bytes written at `offset` of `id` (hashing
    /// began at `start`) into the digest.
    fn note_hash(&mut self, id: BufferId, offset: u64, len: u64, hash: u64, start: Instant) {
        let host = self.host.get_or_insert_with(|| HostWrites {
            digest: Fnv::new().0,
            buffers: Vec::new(),
        });
        let mut h = Fnv(host.digest);
        h.u64(id.0).u64(offset).u64(len).u64(hash);
        // Never 0: a header's 0 means "no host writes".
        host.digest = h.0.max(1);
        if !host.buffers.contains(&id.0) {
            host.buffers.push(id.0);
        }
        self.stats.host_bytes_hashed += len;
        self.stats.host_hash_time += start.elapsed();
    }

    /// Frees `id` (on every rank).
    pub fn free(&mut self, id: BufferId) -> Result<(), ClusterError> {
        self.rt.free(id)?;
        self.planner.forget(id);
        Ok(())
    }

    /// All of `id`, on every rank (collective: every rank must call it).
    pub fn read(&mut self, id: BufferId) -> Result<Vec<u8>, ClusterError> {
        self.gather(id, None)?;
        Ok(self.rt.read(id)?)
    }

    /// All of `id` on rank 0, `None` on the others (collective).
    pub fn read_root(&mut self, id: BufferId) -> Result<Option<Vec<u8>>, ClusterError> {
        self.gather(id, Some(0))?;
        Ok(if self.rank == 0 {
            Some(self.rt.read(id)?)
        } else {
            None
        })
    }

    fn gather(&mut self, id: BufferId, to: Option<u32>) -> Result<(), ClusterError> {
        self.usable()?;
        let local = self.rt.buffers.read().get(id).cloned();
        let len = local.as_ref().map_or(0, |b| b.len() as u64);
        let mut h = Fnv::new();
        h.u64(id.0).u64(len).u64(to.map_or(u64::MAX, u64::from));
        let ok = local.as_ref().map(|_| ()).map_err(|e| e.to_string());
        self.header(Kind::Read, "", h.0, ok)?;
        let buffer = local?;
        let transfers = self.planner.gather(id, len, to);
        let mut stats = ClusterStats::default();
        for (t, data) in self.exchange(&transfers, std::slice::from_ref(&buffer), &mut stats)? {
            write_at(&buffer, t.bytes.start, &data)?;
        }
        self.add_stats(&stats);
        Ok(())
    }

    /// Runs `kernel` over `grid`, each rank its share of the blocks, with
    /// the buffer parameters named in `access` declared so (the others must
    /// be only read by the kernel: they count as `all`). Collective: every
    /// rank must make the same launch.
    pub fn launch(
        &mut self,
        kernel: &Arc<Kernel>,
        grid: Dim3,
        block: Dim3,
        args: &[Arg],
        access: &[(&str, Access)],
        options: LaunchOptions,
    ) -> Result<DistributedLaunch, ClusterError> {
        self.usable()?;
        let mut stats = ClusterStats {
            launches: 1,
            ..ClusterStats::default()
        };
        let prepared = self
            .prepare(kernel, grid, block, args, access)
            .and_then(|d| self.check_reach(kernel, grid, block, args, &d).map(|_| d));
        let hash = launch_hash(kernel, grid, block, args, access, options, &prepared);
        let ok = prepared.as_ref().map(|_| ()).map_err(|e| e.to_string());
        let t = Instant::now();
        self.header(Kind::Launch, &kernel.name, hash, ok)?;
        stats.mpi_time += t.elapsed();
        let distinct = prepared?;
        let blocks_total = grid.count() as u64;

        let planned: Vec<PlannedBuffer<BufferId>> = distinct
            .iter()
            .map(|d| PlannedBuffer {
                key: d.id,
                len: d.buffer.len() as u64,
                resolved: d.resolved,
            })
            .collect();
        let plan = self.planner.launch(blocks_total, &planned);
        let buffers: Vec<Arc<Buffer>> = distinct.iter().map(|d| d.buffer.clone()).collect();
        let mine = plan.blocks[self.rank as usize].clone();

        for (t, data) in self.exchange(&plan.before, &buffers, &mut stats)? {
            write_at(&buffers[t.buffer], t.bytes.start, &data)?;
        }

        // Reduced buffers start from the identity; rank 0 keeps the
        // contents to combine the total with.
        let mut initial: Vec<Option<Vec<u8>>> = vec![None; distinct.len()];
        for (i, d) in distinct.iter().enumerate() {
            if let (Access::Reduce(op), Some(ty)) = (d.resolved.access, d.resolved.reduce_type) {
                if self.rank == 0 {
                    initial[i] = Some(d.buffer.to_bytes());
                }
                let identity = identity(op, ty, d.buffer.len());
                write_at(&d.buffer, 0, &identity)?;
            }
        }
        let snapshots: Vec<Option<Vec<u8>>> = distinct
            .iter()
            .map(|d| {
                (self.config.verify == Verify::Changes && checked(&d.resolved))
                    .then(|| d.buffer.to_bytes())
            })
            .collect();

        let run_start = Instant::now();
        let mut footprints: Vec<Footprint> = vec![Footprint::default(); distinct.len()];
        let local = if mine.is_empty() {
            Ok(None)
        } else if self.config.verify == Verify::Words {
            self.traced_run(kernel, grid, block, args, options, &distinct, mine.clone())
                .map(|prints| {
                    footprints = prints;
                    Some(LaunchStats {
                        blocks: mine.end - mine.start,
                        lanes: (mine.end - mine.start) as u128 * block.count(),
                        tasks: 0,
                        elapsed: run_start.elapsed(),
                        batch: None,
                        engine: crate::runtime::Engine::Reference,
                        compile_time: None,
                        general_compile_time: None,
                        blocks_before_jit: 0,
                    })
                })
        } else {
            let mut options = options;
            options.timeout = Some(
                options
                    .timeout
                    .map_or(self.config.timeout, |t| t.min(self.config.timeout)),
            );
            self.rt
                .launch_blocks(
                    kernel,
                    grid,
                    block,
                    args,
                    options,
                    &StopFlag::new(),
                    Some(mine.clone()),
                )
                .map(Some)
        };
        stats.run_time = run_start.elapsed();

        let violation = match &local {
            Ok(_) => self.find_violation(&distinct, &snapshots, &plan.blocks),
            Err(_) => None,
        };
        let statuses = self.status(&kernel.name, &local, violation, &mut stats)?;
        let local = match local {
            Ok(l) => l,
            Err(source) => {
                return Err(ClusterError::Launch {
                    rank: self.rank,
                    source,
                });
            }
        };
        for (rank, s) in statuses.iter().enumerate() {
            if let Some(message) = &s.error {
                return Err(ClusterError::Remote {
                    rank: rank as u32,
                    message: message.clone(),
                });
            }
        }
        if self.config.verify == Verify::Words {
            self.judge_footprints(kernel, &distinct, &plan.blocks, &footprints, &mut stats)?;
        }
        for (rank, s) in statuses.iter().enumerate() {
            if let Some(v) = &s.violation {
                let buffer = distinct
                    .get(v.buffer)
                    .map_or_else(|| format!("#{}", v.buffer), |d| d.name.clone());
                return Err(ClusterError::Violation {
                    kernel: kernel.name.clone(),
                    buffer,
                    rank: if v.halo { v.other } else { rank as u32 },
                    what: if v.halo {
                        "read as its halo what another rank wrote in the same launch:"
                    } else {
                        "wrote outside its declared range:"
                    },
                    bytes: v.bytes.clone(),
                    owner: if v.halo {
                        Some(rank as u32)
                    } else {
                        (v.other != u32::MAX).then_some(v.other)
                    },
                });
            }
        }

        // The reduction tree: each receiver combines, its own partial on
        // the left.
        for step in &plan.reduce {
            let received = self.exchange(step, &buffers, &mut stats)?;
            for (t, data) in received {
                let d = &distinct[t.buffer];
                if let (Access::Reduce(op), Some(ty)) = (d.resolved.access, d.resolved.reduce_type)
                {
                    let mut mine = d.buffer.to_bytes();
                    combine(op, ty, &mut mine, &data);
                    write_at(&d.buffer, 0, &mine)?;
                }
            }
        }
        for (i, d) in distinct.iter().enumerate() {
            if let (Some(mut init), Access::Reduce(op), Some(ty)) =
                (initial[i].take(), d.resolved.access, d.resolved.reduce_type)
            {
                combine(op, ty, &mut init, &d.buffer.to_bytes());
                write_at(&d.buffer, 0, &init)?;
            }
        }
        for (t, data) in self.exchange(&plan.after, &buffers, &mut stats)? {
            write_at(&buffers[t.buffer], t.bytes.start, &data)?;
        }
        self.add_stats(&stats);
        Ok(DistributedLaunch {
            blocks: mine,
            local,
            stats,
        })
    }

    /// Ends the program's part in the cluster: the ranks check that none
    /// has operations left that the others skipped. Dropping the cluster
    /// does this too, printing an error instead of returning it.
    pub fn finish(mut self) -> Result<ClusterStats, ClusterError> {
        self.finish_inner()?;
        Ok(self.stats.clone())
    }

    fn finish_inner(&mut self) -> Result<(), ClusterError> {
        if self.finished {
            return Ok(());
        }
        self.finished = true;
        if let Some(why) = &self.stopped {
            return Err(ClusterError::Stopped(why.clone()));
        }
        self.header(Kind::Finish, "", 0, Ok(()))
    }

    fn usable(&self) -> Result<(), ClusterError> {
        match (&self.stopped, self.finished) {
            (Some(why), _) => Err(ClusterError::Stopped(why.clone())),
            (None, true) => Err(ClusterError::Stopped("finish was called".to_string())),
            _ => Ok(()),
        }
    }

    fn add_stats(&mut self, s: &ClusterStats) {
        self.stats.launches += s.launches;
        self.stats.bytes_sent += s.bytes_sent;
        self.stats.bytes_received += s.bytes_received;
        self.stats.mpi_time += s.mpi_time;
        self.stats.run_time += s.run_time;
    }

    /// The launch's distinct buffers and their checked declarations.
    fn prepare(
        &self,
        kernel: &Kernel,
        grid: Dim3,
        block: Dim3,
        args: &[Arg],
        access: &[(&str, Access)],
    ) -> Result<Vec<Distinct>, ClusterError> {
        let fail = |e: LaunchError| ClusterError::Launch {
            rank: self.rank,
            source: e,
        };
        check_shape(grid, block).map_err(fail)?;
        let mut decls: Vec<Option<Access>> = vec![None; kernel.buffer_slots];
        for &(name, a) in access {
            match kernel.param(name).map(|p| p.kind) {
                Some(ParamKind::Buffer { slot }) => decls[slot as usize] = Some(a),
                _ => {
                    return Err(AccessError {
                        kernel: kernel.name.clone(),
                        buffer: name.to_string(),
                        access: a.to_string(),
                        reason: "the kernel has no buffer parameter of that name".to_string(),
                    }
                    .into());
                }
            }
        }
        let resolved = resolve(kernel, &decls, grid)?;
        let table = self.rt.buffers.read();
        let bound =
            crate::launch::bind_args(kernel, args, |id| table.get(id).cloned()).map_err(fail)?;
        let mut ids = Vec::new();
        for (p, a) in kernel.params.iter().zip(args) {
            if let (ParamKind::Buffer { slot }, Arg::Buffer(id)) = (p.kind, a) {
                ids.push((slot as usize, *id, p.name.clone()));
            }
        }
        ids.sort_by_key(|x| x.0);
        let mut distinct: Vec<Distinct> = Vec::new();
        for (slot, id, name) in ids {
            let r = resolved[slot];
            if let Some(d) = distinct.iter().find(|d| d.id == id) {
                if d.resolved.access != r.access {
                    return Err(AccessError {
                        kernel: kernel.name.clone(),
                        buffer: name,
                        access: r.access.to_string(),
                        reason: format!(
                            "the same buffer is bound to `{}` declared {}",
                            d.name, d.resolved.access
                        ),
                    }
                    .into());
                }
                continue;
            }
            distinct.push(Distinct {
                id,
                buffer: bound.buffers[slot].clone(),
                name,
                resolved: r,
            });
        }
        Ok(distinct)
    }

    /// The header exchange that starts every collective operation.
    fn header(
        &mut self,
        kind: Kind,
        name: &str,
        hash: u64,
        ok: Result<(), String>,
    ) -> Result<(), ClusterError> {
        self.seq += 1;
        let mut mine = [0u64; HEADER_WORDS];
        mine[0] = MAGIC;
        mine[1] = self.seq;
        mine[2] = kind as u64;
        mine[3] = hash;
        mine[4] = ok.is_ok() as u64;
        let host = self.host.take();
        mine[HOST_WORD] = host.as_ref().map_or(0, |h| h.digest);
        let mut label = [0u8; 24];
        let n = name.len().min(24);
        label[..n].copy_from_slice(&name.as_bytes()[..n]);
        for (w, c) in mine[5..HOST_WORD].iter_mut().zip(label.chunks(8)) {
            *w = u64::from_le_bytes(c.try_into().unwrap_or([0; 8]));
        }
        let mut all = vec![0u64; HEADER_WORDS * self.size as usize];
        let what = format!("operation {} ({})", self.seq, describe(&mine));
        let deadline = Instant::now() + self.config.timeout;
        let t = Instant::now();
        ::mpi::request::scope(|scope: &LocalScope<'_>| {
            let r = self
                .world
                .immediate_all_gather_into(scope, &mine[..], &mut all[..]);
            wait_all(&self.world, self.rank, vec![r], deadline, &what);
        });
        self.stats.mpi_time += t.elapsed();
        let theirs: Vec<&[u64]> = all.chunks(HEADER_WORDS).collect();
        let reference = theirs[0];
        for (rank, h) in theirs.iter().enumerate() {
            if h[..4] != reference[..4] || h[5..HOST_WORD] != reference[5..HOST_WORD] {
                let e = ClusterError::Diverged {
                    seq: self.seq,
                    ours: describe(reference),
                    rank: rank as u32,
                    theirs: describe(h),
                };
                self.stopped = Some(e.to_string());
                return Err(e);
            }
        }
        if let Some(rank) = theirs
            .iter()
            .position(|h| h[HOST_WORD] != reference[HOST_WORD])
        {
            let e = ClusterError::HostInputs {
                seq: self.seq,
                rank: rank as u32,
                buffers: host.map(|h| h.buffers).unwrap_or_default(),
            };
            self.stopped = Some(e.to_string());
            return Err(e);
        }
        // A rank whose operation could not start returns its own error;
        // the others name it.
        if ok.is_err() {
            return Ok(());
        }
        if let Some(rank) = theirs.iter().position(|h| h[4] == 0) {
            return Err(ClusterError::Remote {
                rank: rank as u32,
                message: "its launch could not start (it reports the reason)".to_string(),
            });
        }
        Ok(())
    }

    /// Sends and receives `transfers` (the ones that concern this rank);
    /// returns what was received, in the list's order.
    fn exchange(
        &self,
        transfers: &[Transfer],
        buffers: &[Arc<Buffer>],
        stats: &mut ClusterStats,
    ) -> Result<Vec<(Transfer, Vec<u8>)>, ClusterError> {
        let me = self.rank;
        let mut sends: Vec<(u32, Vec<u8>)> = Vec::new();
        let mut recvs: Vec<(Transfer, Vec<u8>)> = Vec::new();
        for t in transfers {
            let mut at = t.bytes.start;
            while at < t.bytes.end {
                let end = (at + MAX_MESSAGE).min(t.bytes.end);
                let piece = Transfer {
                    bytes: at..end,
                    ..t.clone()
                };
                let n = (end - at) as usize;
                if t.from == me {
                    let mut data = vec![0u8; n];
                    buffers[t.buffer]
                        .read_into(at as usize, &mut data)
                        .map_err(|_| internal("a transfer reaches past its buffer"))?;
                    stats.bytes_sent += n as u64;
                    sends.push((t.to, data));
                }
                if t.to == me {
                    stats.bytes_received += n as u64;
                    recvs.push((piece, vec![0u8; n]));
                }
                at = end;
            }
        }
        if sends.is_empty() && recvs.is_empty() {
            return Ok(recvs);
        }
        let what = format!("buffer data of operation {}", self.seq);
        let deadline = Instant::now() + self.config.timeout;
        let t = Instant::now();
        ::mpi::request::scope(|scope: &LocalScope<'_>| {
            let mut requests = Vec::with_capacity(sends.len() + recvs.len());
            for (piece, data) in recvs.iter_mut() {
                requests.push(
                    self.world
                        .process_at_rank(piece.from as i32)
                        .immediate_receive_into_with_tag(scope, &mut data[..], DATA_TAG),
                );
            }
            for (to, data) in &sends {
                requests.push(
                    self.world
                        .process_at_rank(*to as i32)
                        .immediate_send_with_tag(scope, &data[..], DATA_TAG),
                );
            }
            wait_all(&self.world, self.rank, requests, deadline, &what);
        });
        stats.mpi_time += t.elapsed();
        Ok(recvs)
    }

    /// This rank's first violation of its declarations, if any
    /// ([`ClusterConfig::verify`]).
    fn find_violation(
        &self,
        distinct: &[Distinct],
        snapshots: &[Option<Vec<u8>>],
        ranges: &[Range<u64>],
    ) -> Option<Violation> {
        let me = self.rank as usize;
        for (i, (d, snap)) in distinct.iter().zip(snapshots).enumerate() {
            let Some(before) = snap else { continue };
            let after = d.buffer.to_bytes();
            let len = after.len() as u64;
            let owners = owned_bytes(&d.resolved.access, ranges, len);
            let own = &owners[me];
            for region in complement(own, len) {
                if let Some(bytes) = first_change(before, &after, region) {
                    let other = owners
                        .iter()
                        .position(|o| o.iter().any(|r| r.contains(&bytes.start)))
                        .map_or(u32::MAX, |o| o as u32);
                    return Some(Violation {
                        buffer: i,
                        bytes,
                        other,
                        halo: false,
                    });
                }
            }
            // Bytes this rank wrote that another rank read as its halo.
            let a = d.resolved.access;
            if a.halo() > 0 && d.resolved.loaded {
                for (r, blocks) in ranges.iter().enumerate() {
                    if r == me {
                        continue;
                    }
                    let read = block_bytes(&a, blocks, len, true);
                    for seen in intersect(&read, own) {
                        if let Some(bytes) = first_change(before, &after, seen) {
                            return Some(Violation {
                                buffer: i,
                                bytes,
                                other: r as u32,
                                halo: true,
                            });
                        }
                    }
                }
            }
        }
        None
    }

    /// The always-on check of accesses whose addresses are affine in the
    /// block index ([`ClusterConfig::affine_check`]); every rank finds the
    /// same.
    fn check_reach(
        &mut self,
        kernel: &Arc<Kernel>,
        grid: Dim3,
        block: Dim3,
        args: &[Arg],
        distinct: &[Distinct],
    ) -> Result<(), ClusterError> {
        if !self.config.affine_check {
            return Ok(());
        }
        let scalars: Vec<u64> = kernel
            .params
            .iter()
            .zip(args)
            .filter_map(|(p, a)| match (p.kind, a) {
                (ParamKind::Scalar { ty, .. }, Arg::Scalar(s)) => Some(ty.extend(s.bits)),
                _ => None,
            })
            .collect();
        let key = AffineKey {
            kernel: kernel.clone(),
            grid,
            block,
            scalars,
        };
        let accesses = match &self.affine {
            Some((k, a)) if *k == key => a.clone(),
            _ => {
                let a = Arc::new(analyze(kernel, grid, block, &key.scalars));
                self.affine = Some((key, a.clone()));
                a
            }
        };
        if accesses.is_empty() {
            return Ok(());
        }
        let mut resolved = vec![None; kernel.buffer_slots];
        let mut lens = vec![0u64; kernel.buffer_slots];
        for (p, a) in kernel.params.iter().zip(args) {
            if let (ParamKind::Buffer { slot }, Arg::Buffer(id)) = (p.kind, a)
                && let Some(d) = distinct.iter().find(|d| d.id == *id)
            {
                resolved[slot as usize] = Some(d.resolved);
                lens[slot as usize] = d.buffer.len() as u64;
            }
        }
        let Some(resolved) = resolved.into_iter().collect::<Option<Vec<Resolved>>>() else {
            return Ok(());
        };
        let ranges = super::plan::partition(grid.count() as u64, self.size);
        match check_affine(&accesses, &resolved, &lens, &ranges, grid, block) {
            None => Ok(()),
            Some(e) => Err(ClusterError::Reach {
                kernel: kernel.name.clone(),
                buffer: kernel
                    .buffer_param(e.slot)
                    .map_or_else(|| format!("#{}", e.slot), |p| p.name.clone()),
                rank: e.rank,
                line: e.line,
                write: e.write,
                bytes: e.bytes,
                owner: e.owner,
            }),
        }
    }

    /// This rank's blocks on the reference interpreter, recording the
    /// bytes they write and read of each checked buffer
    /// ([`Verify::Words`]).
    #[allow(clippy::too_many_arguments)]
    fn traced_run(
        &self,
        kernel: &Kernel,
        grid: Dim3,
        block: Dim3,
        args: &[Arg],
        options: LaunchOptions,
        distinct: &[Distinct],
        mine: Range<u64>,
    ) -> Result<Vec<Footprint>, LaunchError> {
        let bound = {
            let table = self.rt.buffers.read();
            crate::launch::bind_args(kernel, args, |id| table.get(id).cloned())?
        };
        let mut slot_to = vec![None; kernel.buffer_slots];
        for (p, a) in kernel.params.iter().zip(args) {
            if let (ParamKind::Buffer { slot }, Arg::Buffer(id)) = (p.kind, a)
                && let Some(i) = distinct.iter().position(|d| d.id == *id)
                && checked(&distinct[i].resolved)
            {
                slot_to[slot as usize] = Some(i);
            }
        }
        let lens: Vec<u64> = distinct
            .iter()
            .map(|d| {
                if checked(&d.resolved) {
                    d.buffer.len() as u64
                } else {
                    0
                }
            })
            .collect();
        let timeout = options
            .timeout
            .map_or(self.config.timeout, |t| t.min(self.config.timeout));
        verify::trace_blocks(
            kernel,
            grid,
            block,
            &bound,
            slot_to,
            &lens,
            mine,
            options.max_steps,
            timeout,
        )
    }

    /// Exchanges every rank's footprints and judges them
    /// ([`Verify::Words`]): every rank finds the same violation.
    fn judge_footprints(
        &mut self,
        kernel: &Kernel,
        distinct: &[Distinct],
        ranges: &[Range<u64>],
        footprints: &[Footprint],
        stats: &mut ClusterStats,
    ) -> Result<(), ClusterError> {
        let mine = verify::encode(footprints);
        let size = self.size as usize;
        let mut counts = vec![0u64; size];
        let what = format!(
            "the byte records of launch {} (kernel `{}`)",
            self.seq, kernel.name
        );
        let deadline = Instant::now() + self.config.timeout;
        let t = Instant::now();
        let n = [mine.len() as u64];
        ::mpi::request::scope(|scope: &LocalScope<'_>| {
            let r = self
                .world
                .immediate_all_gather_into(scope, &n[..], &mut counts[..]);
            wait_all(&self.world, self.rank, vec![r], deadline, &what);
        });
        if counts.iter().sum::<u64>() > i32::MAX as u64 {
            let e = ClusterError::Mpi(format!(
                "the byte records of launch {} are too large to exchange ({} words); \
                 check a smaller launch",
                self.seq,
                counts.iter().sum::<u64>()
            ));
            self.stopped = Some(e.to_string());
            return Err(e);
        }
        let counts: Vec<i32> = counts.iter().map(|&c| c as i32).collect();
        let displs: Vec<i32> = counts
            .iter()
            .scan(0i32, |at, &c| {
                let d = *at;
                *at += c;
                Some(d)
            })
            .collect();
        let mut all = vec![0u64; counts.iter().map(|&c| c as usize).sum()];
        let mut parts = ::mpi::datatype::PartitionMut::new(&mut all[..], &counts[..], &displs[..]);
        ::mpi::request::scope(|scope: &LocalScope<'_>| {
            let r = self
                .world
                .immediate_all_gather_varcount_into(scope, &mine[..], &mut parts);
            wait_all(&self.world, self.rank, vec![r], deadline, &what);
        });
        stats.mpi_time += t.elapsed();
        let mut prints = Vec::with_capacity(size);
        for (c, d) in counts.iter().zip(&displs) {
            let words = &all[*d as usize..(*d + *c) as usize];
            prints.push(
                verify::decode(words, distinct.len())
                    .ok_or_else(|| internal("a rank's byte record is malformed"))?,
            );
        }
        let owned: Vec<Vec<Vec<Range<u64>>>> = distinct
            .iter()
            .map(|d| owned_bytes(&d.resolved.access, ranges, d.buffer.len() as u64))
            .collect();
        let lens: Vec<u64> = distinct.iter().map(|d| d.buffer.len() as u64).collect();
        let name = |b: usize| {
            distinct
                .get(b)
                .map_or_else(|| format!("#{b}"), |d| d.name.clone())
        };
        let owner_of_bytes = |b: usize, at: u64| {
            owned
                .get(b)
                .and_then(|o| o.iter().position(|x| x.iter().any(|r| r.contains(&at))))
                .map(|o| o as u32)
        };
        Err(match verify::judge(&owned, &lens, &prints) {
            None => return Ok(()),
            Some(Finding::Overlap {
                buffer,
                first,
                second,
                bytes,
            }) => ClusterError::Overlap {
                kernel: kernel.name.clone(),
                buffer: name(buffer),
                first,
                second,
                owner: owner_of_bytes(buffer, bytes.start),
                bytes,
            },
            Some(Finding::Outside {
                buffer,
                rank,
                bytes,
                owner,
            }) => ClusterError::Violation {
                kernel: kernel.name.clone(),
                buffer: name(buffer),
                rank,
                what: "wrote outside its declared range:",
                bytes,
                owner,
            },
            Some(Finding::ForeignRead {
                buffer,
                reader,
                writer,
                bytes,
            }) => ClusterError::Violation {
                kernel: kernel.name.clone(),
                buffer: name(buffer),
                rank: reader,
                what: "read what another rank wrote in the same launch:",
                bytes,
                owner: Some(writer),
            },
        })
    }

    /// The status exchange after each rank ran its part.
    fn status(
        &mut self,
        kernel: &str,
        local: &Result<Option<LaunchStats>, LaunchError>,
        violation: Option<Violation>,
        stats: &mut ClusterStats,
    ) -> Result<Vec<Status>, ClusterError> {
        let mut words = [0u64; STATUS_WORDS];
        let mut message = [0u8; STATUS_MESSAGE];
        words[0] = local.is_ok() as u64;
        if let Some(v) = &violation {
            words[1] = 1 + v.halo as u64;
            words[2] = v.buffer as u64;
            words[3] = v.bytes.start;
            words[4] = v.bytes.end;
            words[5] = v.other as u64;
        }
        if let Err(e) = local {
            let text = e.to_string();
            let mut n = text.len().min(STATUS_MESSAGE);
            while !text.is_char_boundary(n) {
                n -= 1;
            }
            message[..n].copy_from_slice(&text.as_bytes()[..n]);
            words[6] = n as u64;
        }
        let mut mine: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        mine.extend_from_slice(&message);
        let record = mine.len();
        let mut all = vec![0u8; record * self.size as usize];
        let what = format!(
            "the other ranks to finish their part of launch {} (kernel `{kernel}`)",
            self.seq
        );
        let deadline = Instant::now() + self.config.timeout;
        let t = Instant::now();
        ::mpi::request::scope(|scope: &LocalScope<'_>| {
            let r = self
                .world
                .immediate_all_gather_into(scope, &mine[..], &mut all[..]);
            wait_all(&self.world, self.rank, vec![r], deadline, &what);
        });
        stats.mpi_time += t.elapsed();
        Ok(all
            .chunks(record)
            .map(|c| {
                let w =
                    |i: usize| u64::from_le_bytes(c[i * 8..i * 8 + 8].try_into().unwrap_or([0; 8]));
                let error = (w(0) == 0).then(|| {
                    let n = (w(6) as usize).min(STATUS_MESSAGE);
                    let text = &c[STATUS_WORDS * 8..STATUS_WORDS * 8 + n];
                    String::from_utf8_lossy(text).into_owned()
                });
                let violation = (w(1) != 0).then(|| Violation {
                    buffer: w(2) as usize,
                    bytes: w(3)..w(4),
                    other: w(5) as u32,
                    halo: w(1) == 2,
                });
                Status { error, violation }
            })
            .collect())
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if !self.finished
            && self.stopped.is_none()
            && let Err(e) = self.finish_inner()
        {
            eprintln!("lanes: rank {}: {e}", self.rank);
        }
    }
}

/// The host's writes since the last collective operation.
#[derive(Debug)]
struct HostWrites {
    /// A hash of every write's buffer, offset, length and contents, in
    /// order.
    digest: u64,
    /// The buffers written, for the error message.
    buffers: Vec<u64>,
}

/// What the affine accesses of a launch depend on.
struct AffineKey {
    kernel: Arc<Kernel>,
    grid: Dim3,
    block: Dim3,
    scalars: Vec<u64>,
}

impl PartialEq for AffineKey {
    fn eq(&self, o: &AffineKey) -> bool {
        Arc::ptr_eq(&self.kernel, &o.kernel)
            && self.grid == o.grid
            && self.block == o.block
            && self.scalars == o.scalars
    }
}

/// Whether the per-byte check records a buffer: one the launch writes
/// with a declaration that gives its bytes to ranks.
fn checked(r: &Resolved) -> bool {
    r.written
        && matches!(
            r.access,
            Access::Blocks { .. } | Access::Tiles { .. } | Access::One { .. }
        )
}

/// Each rank's declared bytes of a buffer of `len` bytes (for `one:B`, all
/// of it for the rank running `B`; for the others, none).
fn owned_bytes(access: &Access, ranges: &[Range<u64>], len: u64) -> Vec<Vec<Range<u64>>> {
    match *access {
        a @ (Access::Blocks { .. } | Access::Tiles { .. }) => ranges
            .iter()
            .map(|r| block_bytes(&a, r, len, false))
            .collect(),
        Access::One { block } => {
            let owner = owner_of(ranges, block) as usize;
            (0..ranges.len())
                .map(|r| if r == owner { vec![0..len] } else { Vec::new() })
                .collect()
        }
        _ => vec![Vec::new(); ranges.len()],
    }
}

/// A rank's report after its part of a launch.
struct Status {
    error: Option<String>,
    violation: Option<Violation>,
}

/// A write outside a rank's range (`halo: false`; `other`: the rank whose
/// range it is, `u32::MAX` for none), or a write inside the halo rank
/// `other` read (`halo: true`).
#[derive(Clone, Debug)]
struct Violation {
    buffer: usize,
    bytes: Range<u64>,
    other: u32,
    halo: bool,
}

fn internal(what: &str) -> ClusterError {
    ClusterError::Mpi(format!("internal error: {what}"))
}

fn write_at(buffer: &Buffer, at: u64, data: &[u8]) -> Result<(), ClusterError> {
    buffer
        .write(at as usize, data)
        .map_err(|_| internal("received data reaches past its buffer"))
}

/// The first run of changed bytes inside `region`.
fn first_change(before: &[u8], after: &[u8], region: Range<u64>) -> Option<Range<u64>> {
    let (s, e) = (
        region.start as usize,
        (region.end as usize).min(after.len()),
    );
    if s >= e {
        return None;
    }
    let first = (s..e).find(|&i| before[i] != after[i])?;
    let end = (first..e).find(|&i| before[i] == after[i]).unwrap_or(e);
    Some(first as u64..end as u64)
}

/// What a header says the rank did.
fn describe(h: &[u64]) -> String {
    let label: Vec<u8> = h[5..HOST_WORD]
        .iter()
        .flat_map(|w| w.to_le_bytes())
        .collect();
    let name = String::from_utf8_lossy(&label)
        .trim_end_matches('\0')
        .to_string();
    if h[0] != MAGIC {
        return "sent something that is not a lanes header".to_string();
    }
    match h[2] {
        1 => format!(
            "launched kernel `{name}` (launch hash {:016x}, operation {})",
            h[3], h[1]
        ),
        2 => format!("read a buffer (hash {:016x}, operation {})", h[3], h[1]),
        3 => format!("ended its program (operation {})", h[1]),
        k => format!("did operation kind {k}"),
    }
}

/// Polls `requests` until all complete; past `deadline`, reports and aborts
/// the job (an incomplete request cannot be dropped safely).
fn wait_all<'a, D: ?Sized, S: Scope<'a>>(
    world: &SimpleCommunicator,
    rank: u32,
    mut requests: Vec<Request<'a, D, S>>,
    deadline: Instant,
    what: &str,
) {
    let mut polls = 0u32;
    while !requests.is_empty() {
        requests = requests
            .into_iter()
            .filter_map(|r| r.test().err())
            .collect();
        if requests.is_empty() {
            break;
        }
        if Instant::now() >= deadline {
            eprintln!(
                "lanes: rank {rank}: timed out waiting for {what}; a rank failed, hangs or \
                 runs another program; aborting the job"
            );
            world.abort(124);
        }
        // Spin briefly (the answer is usually microseconds away), then
        // sleep so that ranks sharing a core let the others run.
        polls = polls.saturating_add(1);
        if polls < 2000 {
            std::hint::spin_loop();
        } else if polls < 4000 {
            std::thread::yield_now();
        } else {
            std::thread::sleep(Duration::from_micros(200));
        }
    }
}

/// A hash of everything the ranks must agree on for a launch.
fn launch_hash(
    kernel: &Kernel,
    grid: Dim3,
    block: Dim3,
    args: &[Arg],
    access: &[(&str, Access)],
    options: LaunchOptions,
    prepared: &Result<Vec<Distinct>, ClusterError>,
) -> u64 {
    let mut h = Fnv::new();
    h.str(&kernel.name);
    for line in &kernel.lines {
        h.str(&line.text);
    }
    for d in [grid, block] {
        h.u64(d.x as u64).u64(d.y as u64).u64(d.z as u64);
    }
    for a in args {
        match a {
            Arg::Buffer(id) => h.u64(1).u64(id.0),
            Arg::Scalar(s) => h.u64(2).str(&s.ty.to_string()).u64(s.bits),
        };
    }
    for (name, a) in access {
        h.str(name).str(&a.to_string());
    }
    h.u64(options.max_steps);
    if let Ok(distinct) = prepared {
        for d in distinct {
            h.u64(d.buffer.len() as u64);
        }
    }
    h.0
}
