//! 1 thread against 2 in **one process**, with the machine's speed read
//! around every launch.
//!
//! The runtime's pool is rebuilt between rounds, and the rounds alternate,
//! so both settings share the process's code, its memory layout and the
//! machine's moment. The threads are pinned workers on the first CPUs this
//! process may use (1 thread: the first CPU; 2: the first two).
//!
//! **Why the probe.** On a shared VM a vCPU's speed for scalar, branchy code
//! moves by up to 2x for seconds at a time (other guests on the host's
//! cores, and whether the host runs our two vCPUs on sibling
//! hyperthreads): a plain C loop of loads, integer ops and branches runs in
//! 57 ms, then 80-100 ms, then 57 ms again, in one process. A 1-thread
//! launch in a fast moment against a 2-thread launch with one slow vCPU
//! gives a ratio that says nothing about the runtime. So just before and
//! just after each launch a *probe* reads the speed of the CPUs the launch
//! runs on, occupied as the launch occupies them: a small launch of the
//! same kernel (about 1.5 ms of work, one thread) run by a pinned thread on
//! each of those CPUs at once (on the first CPU alone for a 1-thread
//! launch, on both at once for a 2-thread one).
//!
//! Three views of the same launches:
//!
//! * **all**: every launch as measured.
//! * **quiet**: the launches whose readings (before and after, every CPU
//!   it ran on) are all within 10% of the fastest reading of any launch of
//!   the same setting (of any CPU: they are the same hardware, and one vCPU
//!   can stay slow for a whole run). Each setting is then measured at the
//!   machine's best speed for that many busy CPUs: two busy CPUs may run
//!   slower than one (a lower boost clock, sibling hyperthreads), and that
//!   cost stays in the 2-thread figure. On a busy host, moments with both
//!   CPUs fast can be rare: run more rounds.
//! * **scaled**: every launch's time multiplied by its CPUs' mean speed
//!   (fastest reading of its setting / reading, averaged over its CPUs and
//!   the two readings): an estimate of its time at that best speed. The
//!   probe runs the same code as the launch, so both slow down alike; the
//!   speed can still change between the readings. Uses every launch.
//!
//! `cargo run --release --example scaling -- [KERNEL] [N] [ROUNDS]`
//! (defaults: mandelbrot, 65536, 8; KERNEL is any `lanes bench` kernel,
//! `add` for `vector_add`). Prints each setting's best, p10,
//! median and p90 launch time in each view and the ratios of the medians.
//! With `SCALING_TRACE=1` in the environment, every launch's time and the
//! readings after it go to stderr.

use std::time::{Duration, Instant};

use lanes::bench::baseline::Baseline;
use lanes::bench::case::{BenchKernel, Case, Prepared};
use lanes::{Placement, PoolConfig, Runtime};
use lanes_scheduler::{Pool, Topology};
use parking_lot::Mutex;

/// How far above the fastest probe reading of a setting a reading may be
/// for the moment to count as quiet.
const QUIET: f64 = 1.10;

fn main() {
    let mut args = std::env::args().skip(1);
    let name = args.next().unwrap_or_else(|| "mandelbrot".into());
    let Some(kernel) = BenchKernel::ALL.into_iter().find(|k| {
        // `add` for `vector_add`, and so on.
        k.name() == name || k.name().strip_prefix("vector_") == Some(name.as_str())
    }) else {
        let names: Vec<&str> = BenchKernel::ALL.iter().map(|k| k.name()).collect();
        eprintln!("unknown kernel `{name}`: one of {}", names.join(", "));
        std::process::exit(2);
    };
    let n: u64 = args.next().and_then(|v| v.parse().ok()).unwrap_or(65536);
    let rounds: usize = args.next().and_then(|v| v.parse().ok()).unwrap_or(8);
    let trace = std::env::var_os("SCALING_TRACE").is_some();
    let settings = [1usize, 2];

    let allowed = Topology::detect().allowed().to_vec();
    let widest = settings.iter().copied().max().unwrap_or(1);
    if allowed.len() < widest {
        eprintln!(
            "this process may run on {} CPU(s); the comparison needs {widest}",
            allowed.len()
        );
        std::process::exit(2);
    }
    let cpus = allowed[..widest].to_vec();
    let pinned = |threads: usize| PoolConfig {
        threads: Some(threads),
        placement: Placement::Cpus(cpus[..threads].to_vec()),
        submitter_helps: false,
        ..PoolConfig::default()
    };

    let rt = Runtime::builder().build().expect("runtime");
    rt.reconfigure(pinned(settings[0])).expect("pool");
    let mut baseline = Baseline::new(Case::new(kernel, n));
    let prepared = Prepared::new(&rt, &baseline).expect("upload");
    prepared.launch().expect("launch");
    prepared
        .verify(&mut baseline)
        .expect("result matches the native loop");

    // Launches per round: about 0.3 s of work at 1 thread (at the best of
    // three launches' speed).
    let one = (0..3)
        .map(|_| {
            let t = Instant::now();
            prepared.launch().expect("launch");
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min);
    let per_round = (Duration::from_millis(300).as_secs_f64() / one).clamp(1.0, 10_000.0) as usize;

    // The probe: the same kernel on about 1.5 ms of work per CPU (at most
    // the measured launch's size, at least 1024 elements).
    let probe_n = ((n as f64 * 1.5e-3 / one) as u64)
        .next_power_of_two()
        .clamp(n.min(1024), n);
    let probe_rt = Runtime::builder()
        .threads(1)
        .build()
        .expect("probe runtime");
    let probe = Probe::new(&probe_rt, Case::new(kernel, probe_n), &cpus);

    let mut launches: Vec<Vec<Launch>> = vec![Vec::new(); settings.len()];
    for _ in 0..rounds {
        for (i, &threads) in settings.iter().enumerate() {
            rt.reconfigure(pinned(threads)).expect("pool");
            prepared.launch().expect("warm-up launch");
            let mut before = probe.read(threads);
            for _ in 0..per_round {
                let t = Instant::now();
                prepared.launch().expect("launch");
                let seconds = t.elapsed().as_secs_f64();
                let after = probe.read(threads);
                if trace {
                    eprintln!(
                        "{threads} thread(s): {:.1} ms, probe after {after:?}",
                        seconds * 1e3
                    );
                }
                launches[i].push(Launch {
                    seconds,
                    readings: [before, after.clone()],
                });
                before = after;
            }
        }
    }

    println!(
        "quiet: every probe reading around the launch within {:.0}% of the fastest reading of its setting",
        (QUIET - 1.0) * 100.0
    );
    let views = ["all", "quiet", "scaled"];
    let mut medians = vec![Vec::new(); views.len()];
    for (i, &threads) in settings.iter().enumerate() {
        let launches = &launches[i];
        let quickest = launches
            .iter()
            .filter_map(Launch::all_readings)
            .flatten()
            .fold(f64::INFINITY, f64::min);
        println!(
            "{threads} thread(s): fastest probe reading {:.0} us (cpus {:?} at once)",
            quickest * 1e6,
            &cpus[..threads]
        );
        let times = [
            launches.iter().map(|l| l.seconds).collect::<Vec<f64>>(),
            launches
                .iter()
                .filter(|l| l.quiet(quickest))
                .map(|l| l.seconds)
                .collect(),
            launches
                .iter()
                .filter_map(|l| Some(l.seconds * l.speed(quickest)?))
                .collect(),
        ];
        for (k, (view, times)) in views.iter().zip(times).enumerate() {
            let summary = Summary::of(times);
            match &summary {
                Some(s) => println!(
                    "{} n={n}, {threads} thread(s), {view:>6}: best {:.1} us, p10 {:.1} us, median {:.1} us, p90 {:.1} us over {} launches",
                    kernel.name(),
                    s.best * 1e6,
                    s.p10 * 1e6,
                    s.median * 1e6,
                    s.p90 * 1e6,
                    s.count
                ),
                None => println!(
                    "{} n={n}, {threads} thread(s), {view:>6}: no launches",
                    kernel.name()
                ),
            }
            medians[k].push(summary.map(|s| s.median));
        }
    }
    let (few, many) = (settings[0], settings[1]);
    for (view, m) in views.iter().zip(&medians) {
        match (m[0], m[1]) {
            (Some(one), Some(two)) => println!(
                "{view:>6}: {many} threads run {:.2}x as fast as {few} (medians)",
                one / two
            ),
            _ => println!(
                "{view:>6}: {many} threads against {few} not measured (no such launch for one setting; run more rounds)"
            ),
        }
    }
}

/// One timed launch and the probe readings of its CPUs just before and
/// just after it (`None`: the probe's threads did not run at once).
#[derive(Clone)]
struct Launch {
    seconds: f64,
    readings: [Option<Vec<f64>>; 2],
}

impl Launch {
    /// Every reading, or `None` if one is missing.
    fn all_readings(&self) -> Option<impl Iterator<Item = f64> + '_> {
        let [Some(before), Some(after)] = &self.readings else {
            return None;
        };
        Some(before.iter().chain(after).copied())
    }

    /// Whether every CPU the launch ran on was at (nearly) full speed just
    /// before and just after it.
    fn quiet(&self, fastest: f64) -> bool {
        self.all_readings()
            .is_some_and(|mut r| r.all(|seconds| seconds <= fastest * QUIET))
    }

    /// The mean speed of its CPUs around the launch, as a fraction of full
    /// speed (1.0: every reading was the fastest).
    fn speed(&self, fastest: f64) -> Option<f64> {
        let (sum, count) = self
            .all_readings()?
            .fold((0.0, 0usize), |(sum, count), seconds| {
                (sum + fastest / seconds, count + 1)
            });
        (count > 0).then(|| sum / count as f64)
    }
}

struct Summary {
    best: f64,
    p10: f64,
    median: f64,
    p90: f64,
    count: usize,
}

impl Summary {
    fn of(mut v: Vec<f64>) -> Option<Summary> {
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        Some(Summary {
            best: v[0],
            p10: v[v.len() / 10],
            median: v[v.len() / 2],
            p90: v[v.len() * 9 / 10],
            count: v.len(),
        })
    }
}

/// Reads the speed of some CPUs at the same moment: one pinned worker per
/// CPU runs a small launch of the measured kernel on one thread (the
/// worker itself) and times it.
struct Probe<'rt> {
    pool: Pool<usize>,
    /// One small launch per worker, each with its own buffers.
    launches: Vec<Prepared<'rt>>,
    /// The latest reading of each worker (its CPU).
    readings: Mutex<Vec<Option<f64>>>,
}

impl<'rt> Probe<'rt> {
    /// `rt` must run launches on the launching thread (one thread).
    fn new(rt: &'rt Runtime, case: Case, cpus: &[usize]) -> Probe<'rt> {
        let pool = Pool::builder()
            .threads(cpus.len())
            .placement(Placement::Cpus(cpus.to_vec()))
            .submitter_helps(false)
            .inline_tasks(0)
            .thread_name("probe")
            .build(|worker| worker)
            .expect("probe pool");
        let launches = cpus
            .iter()
            .map(|_| Prepared::new(rt, &Baseline::new(case)).expect("probe upload"))
            .collect();
        let probe = Probe {
            pool,
            launches,
            readings: Mutex::new(vec![None; cpus.len()]),
        };
        // The first readings warm the code and the workers up.
        for _ in 0..3 {
            probe.read(cpus.len());
        }
        probe
    }

    /// The time of the probe's launch on each of the first `cpus` CPUs,
    /// run on all of them at once; `None` when one worker ran two shares
    /// (the other was late).
    fn read(&self, cpus: usize) -> Option<Vec<f64>> {
        self.readings.lock().fill(None);
        self.pool
            .run(cpus, |&mut worker, _| {
                let t = Instant::now();
                self.launches[worker].launch().expect("probe launch");
                let seconds = t.elapsed().as_secs_f64();
                let mut readings = self.readings.lock();
                // A worker that already ran a share did not run at once
                // with the others.
                readings[worker] = match readings[worker] {
                    None => Some(seconds),
                    Some(_) => Some(f64::NAN),
                };
                Ok::<(), ()>(())
            })
            .expect("probe batch");
        let reading: Option<Vec<f64>> = self.readings.lock()[..cpus].iter().copied().collect();
        reading.filter(|r| r.iter().all(|s| s.is_finite()))
    }
}
