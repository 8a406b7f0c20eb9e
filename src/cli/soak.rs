//! `lanes soak`: a bounded concurrency soak test.
//!
//! Many host threads ("clients") share one [`Runtime`] whose pool has more
//! workers than this machine has CPUs, and launch a random mix of kernels
//! for `--seconds`: vector adds of random sizes and block shapes, atomic
//! counters, shared-memory exchanges across a barrier, reference-engine
//! launches, and kernels where exactly one lane faults (out of bounds,
//! misaligned atomic, division by zero, endless loop against a small step
//! limit). Meanwhile the main thread rebuilds the pool with a different
//! worker count every half second, under the launches in flight.
//!
//! Every result is checked: each output element, that lanes past the end
//! wrote nothing, that each faulting launch reports exactly its lane and
//! kind, and that a buffer each client owns but never binds is unchanged.
//! Every launch started must return (no lost launch); if the clients have
//! not all finished `--grace` seconds after the deadline, the soak reports
//! a deadlock. Resident memory is sampled; it must not grow more than
//! `--rss-growth-mib` over its level after a warm-up (a leak per launch
//! would show up there).
//!
//! Prints one summary and exits 0 when all is well; otherwise prints what
//! went wrong and exits 1 (a hung launch cannot be joined, so the process
//! exits directly in that case too).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Args;

use super::CliError;
use crate::kernel::Kernel;
use crate::{
    Arg, BufferId, Dim3, Engine, FaultKind, LaunchError, LaunchOptions, PoolConfig, Runtime,
};

/// Arguments of `lanes soak`.
#[derive(Debug, Args)]
pub struct SoakArgs {
    /// How long to launch for, in seconds.
    #[arg(long, value_name = "N", default_value_t = 10.0, value_parser = super::spec::parse_seconds)]
    pub(crate) seconds: f64,
    /// Host threads launching concurrently.
    #[arg(long, value_name = "N", default_value_t = 6,
          value_parser = super::spec::whole(1, 256))]
    pub(crate) clients: u64,
    /// Threads per launch: pool workers plus the helping launching thread [default: twice the CPUs plus one].
    #[arg(long, value_name = "N", value_parser = super::spec::whole(1, lanes_scheduler::MAX_THREADS as u64))]
    pub(crate) threads: Option<u64>,
    /// Allowed growth of resident memory after the warm-up, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = 64, value_parser = super::spec::whole(0, u64::MAX))]
    pub(crate) rss_growth_mib: u64,
    /// Seconds after the deadline within which every client must finish.
    #[arg(long, value_name = "N", default_value_t = 60, value_parser = super::spec::whole(0, u64::MAX))]
    pub(crate) grace: u64,
    /// Seed of the clients' random choices.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = super::spec::whole(0, u64::MAX))]
    pub(crate) seed: u64,
}

/// xorshift64*: enough randomness for choosing workloads, no dependency.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

const SOURCE: &str = "\
.kernel vadd
.param a buf
.param b buf
.param c buf
.param n u32
    mov.u32        r0, %gid
    setp.ge.u32    p0, r0, n
    @p0 exit
    shl.u64        r1, r0, 2
    ld.global.f32  r2, [a + r1]
    ld.global.f32  r3, [b + r1]
    add.f32        r4, r2, r3
    st.global.f32  [c + r1], r4

.kernel count
.param c buf
    mov.u64        r0, %gid
    add.u64        r0, r0, 1
    atom.global.add.u64 r1, [c], r0
    atom.global.max.u32 r2, [c + 8], r0
    atom.global.add.u32 r3, [c + 12], 1

.kernel exchange
.param out buf
.shared 8192
    mov.u32        r0, %laneid
    shl.u32        r1, r0, 3
    mov.u64        r2, %gid
    mul.u64        r3, r2, 3
    st.shared.u64  [r1], r3
    bar.sync
    add.u32        r4, r0, 1
    rem.u32        r4, r4, %ntid.x
    shl.u32        r4, r4, 3
    ld.shared.u64  r5, [r4]
    shl.u64        r6, r2, 3
    st.global.u64  [out + r6], r5

.kernel faulty
.param out buf
.param t u64
.param how u32
    mov.u64        r0, %gid
    shl.u64        r1, r0, 3
    setp.ne.u64    p0, r0, t
    @p0 bra fine
    setp.eq.u32    p1, how, 0
    @p1 ld.global.u64 r2, [out + 0x100000000]
    setp.eq.u32    p1, how, 1
    @p1 atom.global.add.u32 r2, [out + 2], 1
    setp.eq.u32    p1, how, 2
    @p1 div.u32 r2, r0, 0
spin:
    setp.eq.u32    p1, how, 3
    @p1 bra spin
fine:
    st.global.u64  [out + r1], r0
";

struct Kernels {
    vadd: Arc<Kernel>,
    count: Arc<Kernel>,
    exchange: Arc<Kernel>,
    faulty: Arc<Kernel>,
}

/// What the clients found, all together.
#[derive(Default)]
struct Tally {
    started: AtomicU64,
    returned: AtomicU64,
    ok: AtomicU64,
    faults: AtomicU64,
    wrong: AtomicU64,
    clients_done: AtomicU64,
}

/// The first few problems, for the report.
type Problems = parking_lot::Mutex<Vec<String>>;

fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn u64s(bytes: &[u8]) -> Vec<u64> {
    bytes
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
        .collect()
}

struct Client<'a> {
    rt: &'a Runtime,
    k: &'a Kernels,
    tally: &'a Tally,
    problems: &'a Problems,
    rng: Rng,
    id: u64,
}

impl Client<'_> {
    fn wrong(&self, what: String) {
        self.tally.wrong.fetch_add(1, Ordering::Relaxed);
        let mut p = self.problems.lock();
        if p.len() < 20 {
            p.push(format!("client {}: {what}", self.id));
        }
    }

    fn launch(
        &self,
        kernel: &Arc<Kernel>,
        grid: Dim3,
        block: Dim3,
        args: &[Arg],
        options: LaunchOptions,
    ) -> Result<(), LaunchError> {
        self.tally.started.fetch_add(1, Ordering::Relaxed);
        let r = self.rt.launch(kernel, grid, block, args, options);
        self.tally.returned.fetch_add(1, Ordering::Relaxed);
        match &r {
            Ok(_) => self.tally.ok.fetch_add(1, Ordering::Relaxed),
            Err(_) => self.tally.faults.fetch_add(1, Ordering::Relaxed),
        };
        r.map(|_| ())
    }

    fn block_size(&mut self) -> u32 {
        [1, 32, 64, 100, 256, 1024][self.rng.range(0, 5) as usize]
    }

    fn alloc(&self, bytes: &[u8]) -> Option<BufferId> {
        match self.rt.alloc_from(bytes) {
            Ok(id) => Some(id),
            Err(e) => {
                self.wrong(format!("alloc of {} bytes failed: {e}", bytes.len()));
                None
            }
        }
    }

    fn read_free(&self, id: BufferId) -> Vec<u8> {
        let bytes = self.rt.read(id).unwrap_or_else(|e| {
            self.wrong(format!("read failed: {e}"));
            Vec::new()
        });
        if let Err(e) = self.rt.free(id) {
            self.wrong(format!("free failed: {e}"));
        }
        bytes
    }

    fn vadd(&mut self, engine: Engine) {
        let n = if engine == Engine::Reference {
            self.rng.range(1, 512)
        } else {
            self.rng.range(1, 20000)
        } as usize;
        let bs = self.block_size();
        let a: Vec<f32> = (0..n)
            .map(|_| (self.rng.next() % 20001) as f32 / 16.0 - 625.0)
            .collect();
        let b: Vec<f32> = (0..n)
            .map(|_| (self.rng.next() % 20001) as f32 / 8.0 - 1250.0)
            .collect();
        // c has 16 extra elements past n, which no lane may write.
        let pad = 16;
        let bytes = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
        let (Some(ia), Some(ib), Some(ic)) = (
            self.alloc(&bytes(&a)),
            self.alloc(&bytes(&b)),
            self.alloc(&vec![0xEE; (n + pad) * 4]),
        ) else {
            return;
        };
        let grid = Dim3::x((n as u32).div_ceil(bs));
        let r = self.launch(
            &self.k.vadd,
            grid,
            Dim3::x(bs),
            &[
                Arg::Buffer(ia),
                Arg::Buffer(ib),
                Arg::Buffer(ic),
                Arg::from(n as u32),
            ],
            LaunchOptions {
                engine,
                ..LaunchOptions::default()
            },
        );
        self.read_free(ia);
        self.read_free(ib);
        let c = self.read_free(ic);
        if let Err(e) = r {
            return self.wrong(format!("vadd n={n}: {e}"));
        }
        let got = f32s(&c);
        for i in 0..n {
            if got[i].to_bits() != (a[i] + b[i]).to_bits() {
                return self.wrong(format!("vadd n={n} block {bs}: c[{i}] = {}", got[i]));
            }
        }
        if c[n * 4..].iter().any(|&x| x != 0xEE) {
            self.wrong(format!("vadd n={n}: a lane wrote past n"));
        }
    }

    fn count(&mut self) {
        let bs = self.block_size();
        let blocks = self.rng.range(1, 64) as u32;
        let lanes = u64::from(bs) * u64::from(blocks);
        let Some(c) = self.alloc(&[0; 16]) else {
            return;
        };
        let r = self.launch(
            &self.k.count,
            Dim3::x(blocks),
            Dim3::x(bs),
            &[Arg::Buffer(c)],
            LaunchOptions::default(),
        );
        let got = self.read_free(c);
        if let Err(e) = r {
            return self.wrong(format!("count: {e}"));
        }
        let sum = u64s(&got[..8])[0];
        let max = u32::from_le_bytes([got[8], got[9], got[10], got[11]]);
        let n = u32::from_le_bytes([got[12], got[13], got[14], got[15]]);
        if sum != lanes * (lanes + 1) / 2 || u64::from(max) != lanes || u64::from(n) != lanes {
            self.wrong(format!(
                "count over {lanes} lanes: sum {sum}, max {max}, n {n}"
            ));
        }
    }

    fn exchange(&mut self) {
        let bs = self.block_size();
        let blocks = self.rng.range(1, 16) as u32;
        let lanes = u64::from(bs) * u64::from(blocks);
        let Some(out) = self.alloc(&vec![0; lanes as usize * 8]) else {
            return;
        };
        let r = self.launch(
            &self.k.exchange,
            Dim3::x(blocks),
            Dim3::x(bs),
            &[Arg::Buffer(out)],
            LaunchOptions::default(),
        );
        let got = u64s(&self.read_free(out));
        if let Err(e) = r {
            return self.wrong(format!("exchange: {e}"));
        }
        for (gid, &v) in got.iter().enumerate() {
            let gid = gid as u64;
            let block = gid / u64::from(bs);
            let lane = gid % u64::from(bs);
            let want = (block * u64::from(bs) + (lane + 1) % u64::from(bs)) * 3;
            if v != want {
                return self.wrong(format!("exchange block size {bs}: out[{gid}] = {v}"));
            }
        }
    }

    fn faulty(&mut self) {
        let bs = self.block_size();
        let blocks = self.rng.range(1, 8) as u32;
        let lanes = u64::from(bs) * u64::from(blocks);
        let t = self.rng.range(0, lanes - 1);
        let how = self.rng.range(0, 3) as u32;
        let limit = self.rng.range(50, 2000);
        let engine = if self.rng.range(0, 7) == 0 {
            Engine::Reference
        } else {
            Engine::Pool
        };
        let Some(out) = self.alloc(&vec![0; lanes as usize * 8]) else {
            return;
        };
        let r = self.launch(
            &self.k.faulty,
            Dim3::x(blocks),
            Dim3::x(bs),
            &[Arg::Buffer(out), Arg::from(t), Arg::from(how)],
            LaunchOptions {
                engine,
                max_steps: limit,
                ..LaunchOptions::default()
            },
        );
        let got = u64s(&self.read_free(out));
        let f = match r {
            Err(LaunchError::Fault(f)) => f,
            Err(e) => return self.wrong(format!("faulty how={how}: error {e}")),
            Ok(()) => return self.wrong(format!("faulty how={how}: no fault")),
        };
        let kind_ok = match (how, &f.kind) {
            (0, FaultKind::OutOfBounds { offset, .. }) => *offset == 1 << 32,
            (1, FaultKind::Misaligned { offset, .. }) => *offset == 2,
            (2, FaultKind::DivisionByZero) => true,
            (3, FaultKind::StepLimit { limit: l }) => *l == limit,
            _ => false,
        };
        let (block, lane) = (t / u64::from(bs), t % u64::from(bs));
        if !kind_ok || u64::from(f.block.x) != block || u64::from(f.lane.x) != lane {
            return self.wrong(format!(
                "faulty how={how} t={t} block size {bs}: wrong fault: {f}"
            ));
        }
        // Lanes that ran wrote only their own gid (or nothing).
        for (gid, &v) in got.iter().enumerate() {
            if v != 0 && v != gid as u64 {
                return self.wrong(format!("faulty: out[{gid}] = {v}"));
            }
        }
    }

    fn run(mut self, deadline: Instant) {
        let pattern: Vec<u8> = (0..4096u32)
            .map(|i| (i as u8).wrapping_mul(7) ^ self.id as u8)
            .collect();
        let canary = self.alloc(&pattern);
        let mut launches = 0u64;
        while Instant::now() < deadline {
            match self.rng.range(0, 9) {
                0..=2 => self.vadd(Engine::Pool),
                3 => self.vadd(Engine::Reference),
                4 | 5 => self.count(),
                6 | 7 => self.exchange(),
                _ => self.faulty(),
            }
            launches += 1;
            if let Some(c) = canary {
                if launches % 16 == 0 && self.rt.read(c).ok().as_deref() != Some(&pattern[..]) {
                    self.wrong("an unbound buffer changed".to_string());
                }
            }
        }
        if let Some(c) = canary {
            if self.read_free(c) != pattern {
                self.wrong("an unbound buffer changed".to_string());
            }
        }
        self.tally.clients_done.fetch_add(1, Ordering::Release);
    }
}

/// Resident set size and its peak, in bytes (Linux; `None` elsewhere).
fn rss() -> Option<(u64, u64)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))?
            .split_whitespace()
            .nth(1)?
            .parse::<u64>()
            .ok()
            .map(|kib| kib * 1024)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// Runs `lanes soak`.
pub fn execute(args: &SoakArgs) -> Result<(), CliError> {
    if !(args.seconds.is_finite() && args.seconds > 0.0 && args.seconds <= 86400.0) {
        return Err(CliError::Usage(format!(
            "--seconds must be more than 0 and at most 86400, got {}",
            args.seconds
        )));
    }
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let big = args.threads.map_or(2 * cpus + 1, |t| t as usize);
    let small = cpus + 1;
    let rt = Runtime::builder()
        .threads(big)
        .build()
        .map_err(|e| CliError::Usage(e.to_string()))?;
    let program = rt.compile("soak.lasm", SOURCE)?;
    let get = |name: &str| {
        program
            .kernel(name)
            .cloned()
            .ok_or_else(|| CliError::Usage(format!("soak kernel `{name}` missing")))
    };
    let kernels = Kernels {
        vadd: get("vadd")?,
        count: get("count")?,
        exchange: get("exchange")?,
        faulty: get("faulty")?,
    };
    let rt = Arc::new(rt);
    let kernels = Arc::new(kernels);
    let tally = Arc::new(Tally::default());
    let problems = Arc::new(Problems::default());
    let start = Instant::now();
    let duration = Duration::from_secs_f64(args.seconds);
    let deadline = start + duration;
    let rss_start = rss();

    let mut handles = Vec::new();
    for id in 0..args.clients {
        let (rt, kernels, tally, problems) =
            (rt.clone(), kernels.clone(), tally.clone(), problems.clone());
        let seed = args.seed.wrapping_mul(1000).wrapping_add(id);
        let h = std::thread::Builder::new()
            .name(format!("soak-client-{id}"))
            .spawn(move || {
                Client {
                    rt: &rt,
                    k: &kernels,
                    tally: &tally,
                    problems: &problems,
                    rng: Rng::new(seed),
                    id,
                }
                .run(deadline)
            })
            .map_err(|e| CliError::Usage(format!("cannot start a client thread: {e}")))?;
        handles.push(h);
    }

    // Warm-up: the first fifth of the run (at most 5 s); then the resident
    // set must stay within the bound of its level at that point.
    let warm = start + (duration / 5).min(Duration::from_secs(5));
    let mut baseline: Option<u64> = None;
    let mut max_after: u64 = 0;
    let mut reconfigures = 0u64;
    let mut next_reconfigure = start + Duration::from_millis(500);
    let grace_end = deadline + Duration::from_secs(args.grace);
    loop {
        let done = tally.clients_done.load(Ordering::Acquire) == args.clients;
        let now = Instant::now();
        if done || now > grace_end {
            break;
        }
        if let Some((now_rss, _)) = rss() {
            if now >= warm {
                baseline.get_or_insert(now_rss);
                max_after = max_after.max(now_rss);
            }
        }
        if now >= next_reconfigure && now < deadline {
            // Rebuild the pool under the launches in flight.
            let threads = if reconfigures % 2 == 0 { small } else { big };
            let config = PoolConfig {
                threads: Some(threads),
                ..rt.pool_config()
            };
            if let Err(e) = rt.reconfigure(config) {
                problems.lock().push(format!("reconfigure failed: {e}"));
                tally.wrong.fetch_add(1, Ordering::Relaxed);
            }
            reconfigures += 1;
            next_reconfigure = now + Duration::from_millis(500);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let all_done = tally.clients_done.load(Ordering::Acquire) == args.clients;
    if all_done {
        for h in handles {
            if h.join().is_err() {
                problems.lock().push("a client thread panicked".to_string());
                tally.wrong.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    let elapsed = start.elapsed();
    let started = tally.started.load(Ordering::Relaxed);
    let returned = tally.returned.load(Ordering::Relaxed);
    let wrong = tally.wrong.load(Ordering::Relaxed);
    let leaked = if all_done { rt.buffer_count() } else { 0 };
    let (rss_now, rss_peak) = rss().unwrap_or((0, 0));
    let growth = baseline.map_or(0, |b| max_after.saturating_sub(b));
    let rss_bad = baseline.is_some() && growth > args.rss_growth_mib * 1024 * 1024;

    println!(
        "soak: {:.1} s, {} clients, pool of {big}/{small} threads on {cpus} CPUs, {reconfigures} pool rebuilds",
        elapsed.as_secs_f64(),
        args.clients
    );
    println!(
        "launches: {started} started, {returned} returned, {} ok, {} faulted as expected, {wrong} wrong, {} lost",
        tally.ok.load(Ordering::Relaxed),
        tally.faults.load(Ordering::Relaxed),
        started - returned
    );
    match (rss_start, baseline) {
        (Some((s, _)), Some(b)) => println!(
            "memory: rss at start {}, after warm-up {}, max after warm-up {}, now {}, peak {} (growth {} of {} MiB allowed), {leaked} buffers left",
            mib(s),
            mib(b),
            mib(max_after),
            mib(rss_now),
            mib(rss_peak),
            mib(growth),
            args.rss_growth_mib
        ),
        _ => println!("memory: resident set size not available here, {leaked} buffers left"),
    }
    let mut failures = problems.lock().clone();
    if !all_done {
        failures.push(format!(
            "{} of {} clients did not finish within {} s after the deadline: deadlock or lost launch ({} launches in flight)",
            args.clients - tally.clients_done.load(Ordering::Acquire),
            args.clients,
            args.grace,
            started - returned
        ));
    }
    if started != returned && all_done {
        failures.push(format!("{} launches lost", started - returned));
    }
    if rss_bad {
        failures.push(format!(
            "resident memory grew by {} after the warm-up (allowed {} MiB)",
            mib(growth),
            args.rss_growth_mib
        ));
    }
    if leaked != 0 {
        failures.push(format!("{leaked} buffers were not freed"));
    }
    if started == 0 {
        failures.push("no launch ran".to_string());
    }
    if failures.is_empty() && wrong == 0 {
        println!("soak: ok");
        return Ok(());
    }
    for f in &failures {
        eprintln!("error: {f}");
    }
    eprintln!("error: soak failed");
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    // Hung clients cannot be joined; exit with status 1 (a failure while
    // running) either way.
    std::process::exit(1)
}
