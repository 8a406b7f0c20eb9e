//! The distributed runtime (`lanes::cluster`, cargo feature `mpi`) under a
//! real `mpirun` on this machine: 2 ranks, and 4 ranks oversubscribed.
//!
//! Each test starts `mpirun -np N` on this very test binary, running only
//! the ignored test `child` with `LANES_CLUSTER_CHILD=CASES`; every rank
//! runs the cases through a `Cluster` and, beside it, on a plain
//! single-process `Runtime`, and compares every buffer (bit for bit, float
//! reductions within the bound of recursive summation). A rank prints
//! `RANK r OK` after its last case; the parent checks that every rank did,
//! and bounds the whole run by a timeout.
//!
//! Needs `mpirun` (Debian: `openmpi-bin`); as root, OpenMPI also wants the
//! allow-run-as-root variables, which the parent sets for its children.

#![cfg(feature = "mpi")]

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lanes::cluster::{
    Access, Cluster, ClusterConfig, ClusterError, Movement, ReduceOp, Verify, partition,
};
use lanes::{Arg, BufferId, Dim3, Kernel, LaunchOptions, Runtime};

const CHILD: &str = "LANES_CLUSTER_CHILD";

/// What `mpirun` left behind.
struct Job {
    code: Option<i32>,
    out: String,
    elapsed: Duration,
}

/// Runs the child cases `cases` on `np` ranks, killing the job after
/// `limit`.
fn mpirun(np: u32, cases: &str, limit: Duration) -> Job {
    let exe = std::env::current_exe().expect("the test binary has a path");
    let mut cmd = Command::new("mpirun");
    cmd.args([
        "-np",
        &np.to_string(),
        "--oversubscribe",
        "--bind-to",
        "none",
    ])
    .args(["--timeout", &limit.as_secs().to_string()])
    .arg(exe)
    .args([
        "child",
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(CHILD, cases)
    .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
    .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
    // Shared-memory transport without cross-process memory attach,
    // which containers often forbid.
    .env("OMPI_MCA_btl_vader_single_copy_mechanism", "none")
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let start = Instant::now();
    let mut child = cmd.spawn().expect("mpirun starts (install openmpi-bin)");
    let deadline = start + limit + Duration::from_secs(10);
    loop {
        if child
            .try_wait()
            .expect("mpirun can be waited for")
            .is_some()
        {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("mpirun's output");
    Job {
        code: out.status.code(),
        out: format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
        elapsed: start.elapsed(),
    }
}

fn assert_every_rank_ok(np: u32, job: &Job) {
    assert_eq!(job.code, Some(0), "mpirun failed:\n{}", job.out);
    for r in 0..np {
        assert!(
            job.out.contains(&format!("RANK {r} OK")),
            "rank {r} did not finish:\n{}",
            job.out
        );
    }
}

const CASES: &str = "elementwise,stencil,tiles,histogram,pipeline,errors";

#[test]
fn two_ranks_match_one_process() {
    let job = mpirun(2, CASES, Duration::from_secs(120));
    assert_every_rank_ok(2, &job);
}

#[test]
fn four_oversubscribed_ranks_match_one_process() {
    let job = mpirun(4, CASES, Duration::from_secs(180));
    assert_every_rank_ok(4, &job);
}

#[test]
fn eager_movement_matches_one_process() {
    // Every written buffer is copied to every rank after each launch.
    let job = mpirun(
        2,
        "eager:elementwise,stencil,tiles,histogram,pipeline",
        Duration::from_secs(120),
    );
    assert_every_rank_ok(2, &job);
}

#[test]
fn the_per_byte_check_matches_one_process_and_finds_every_error() {
    // Every launch on the reference interpreter, recording each byte
    // written and read.
    let job = mpirun(
        2,
        "words:elementwise,stencil,tiles,histogram,pipeline,errors",
        Duration::from_secs(180),
    );
    assert_every_rank_ok(2, &job);
}

#[test]
fn ranks_whose_host_inputs_differ_fail_together() {
    let job = mpirun(2, "host_inputs", Duration::from_secs(60));
    assert_every_rank_ok(2, &job);
}

#[test]
fn a_rank_that_stops_answering_ends_the_job_with_a_message() {
    // Rank 1 sleeps past the cluster's 2-second timeout before its launch:
    // rank 0 reports what it waited for and aborts the job.
    let job = mpirun(2, "late", Duration::from_secs(60));
    assert_ne!(job.code, Some(0), "{}", job.out);
    assert!(
        job.out
            .contains("lanes: rank 0: timed out waiting for operation 1"),
        "{}",
        job.out
    );
    assert!(job.elapsed < Duration::from_secs(50), "{:?}", job.elapsed);
}

/// `lanes run` on `np` ranks (`--distribute`) and alone, saving `saves`
/// in two directories; returns (distributed, single) outputs' paths.
fn cli_pair(np: u32, run: &[&str], distributed: &[&str], saves: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let save_args = |tag: &str| -> Vec<String> {
        saves
            .iter()
            .flat_map(|name| {
                let path = dir.path().join(format!("{name}.{tag}.npy"));
                ["--save".to_string(), format!("{name}={}", path.display())]
            })
            .collect()
    };
    let lanes = env!("CARGO_BIN_EXE_lanes");
    let mut cmd = Command::new("mpirun");
    cmd.args([
        "-np",
        &np.to_string(),
        "--oversubscribe",
        "--bind-to",
        "none",
    ])
    .args(["--timeout", "60", lanes, "run"])
    .args(run)
    .args(distributed)
    .args(["--distribute", "--verify"])
    .args(save_args("mpi"))
    .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
    .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
    .env("OMPI_MCA_btl_vader_single_copy_mechanism", "none")
    .current_dir(env!("CARGO_MANIFEST_DIR"));
    let out = cmd.output().expect("mpirun starts");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    for r in 0..np {
        assert!(
            text.contains(&format!("rank {r}: per launch sent")),
            "{text}"
        );
    }
    let out = Command::new(lanes)
        .arg("run")
        .args(run)
        .args(save_args("one"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir
}

fn saved(dir: &tempfile::TempDir, name: &str, tag: &str) -> Vec<u8> {
    std::fs::read(dir.path().join(format!("{name}.{tag}.npy"))).unwrap()
}

#[test]
fn the_command_line_splits_a_stencil_and_a_histogram() {
    const FILE: &str = "tests/data/cluster/kernels.lasm";
    // Smoothing: `x` read with a halo of one element, `y` written by
    // blocks and gathered to rank 0 for the save.
    let dir = cli_pair(
        2,
        &[
            FILE,
            "--kernel",
            "smooth",
            "--grid",
            "40",
            "--block",
            "64",
            "--arg",
            "x=random:f32:2560:3",
            "--arg",
            "y=zeros:f32:2560",
            "--arg",
            "n=2560",
        ],
        &["--access", "x=blocks:64:halo=1", "--access", "y=blocks:64"],
        &["y"],
    );
    assert_eq!(saved(&dir, "y", "mpi"), saved(&dir, "y", "one"));
    // A histogram with integer atomics: exact.
    let dir = cli_pair(
        3,
        &[
            FILE,
            "--kernel",
            "hist",
            "--grid",
            "50",
            "--block",
            "128",
            "--arg",
            "x=random:u32:6400:9",
            "--arg",
            "h=fill:u32:17:2",
            "--arg",
            "s=zeros:f32:1",
            "--arg",
            "lo=fill:u32:1:4000000000",
            "--arg",
            "n=6400",
            "--arg",
            "bins=17",
            "--repeat",
            "2",
        ],
        &[
            "--access",
            "x=blocks:128",
            "--access",
            "h=reduce:add",
            "--access",
            "s=reduce:add",
            "--access",
            "lo=reduce:min",
        ],
        &["h", "lo"],
    );
    assert_eq!(saved(&dir, "h", "mpi"), saved(&dir, "h", "one"));
    assert_eq!(saved(&dir, "lo", "mpi"), saved(&dir, "lo", "one"));
}

/// The child: runs the cases named in `LANES_CLUSTER_CHILD` on this rank.
#[test]
#[ignore = "run by the tests above under mpirun"]
fn child() {
    let Ok(cases) = std::env::var(CHILD) else {
        return;
    };
    let (movement, cases) = match cases.strip_prefix("eager:") {
        Some(rest) => (Movement::Eager, rest.to_string()),
        None => (Movement::Lazy, cases),
    };
    let (verify, cases) = match cases.strip_prefix("words:") {
        Some(rest) => (Verify::Words, rest.to_string()),
        None => (Verify::Changes, cases),
    };
    let rt = Runtime::builder().threads(2).build().unwrap();
    let config = ClusterConfig {
        timeout: if cases == "late" {
            Duration::from_secs(2)
        } else {
            Duration::from_secs(60)
        },
        movement,
        verify,
        affine_check: true,
    };
    let mut c = Cluster::new(rt, config).unwrap();
    let rank = c.rank();
    for case in cases.split(',') {
        match case {
            "elementwise" => elementwise(&mut c),
            "stencil" => stencil(&mut c),
            "tiles" => tiles(&mut c),
            "histogram" => histogram(&mut c),
            "pipeline" => pipeline(&mut c),
            "errors" => errors(&mut c, verify == Verify::Words),
            "host_inputs" => host_inputs(&mut c),
            "late" => {
                if rank == 1 {
                    std::thread::sleep(Duration::from_secs(20));
                }
                elementwise(&mut c);
            }
            other => panic!("unknown case {other}"),
        }
        println!("rank {rank}: case {case} ok");
    }
    println!("RANK {rank} OK");
}

const KERNELS: &str = include_str!("data/cluster/kernels.lasm");

fn kernel(rt: &Runtime, name: &str) -> Arc<Kernel> {
    rt.compile("cluster.lasm", KERNELS)
        .unwrap()
        .kernel(name)
        .unwrap()
        .clone()
}

fn f32s(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn u32s(v: &[u32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn as_f32(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

/// Deterministic test data (the same on every rank).
fn data(n: usize, seed: u32) -> Vec<u32> {
    let mut s = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            s % 100_000
        })
        .collect()
}

/// The same buffers on the cluster and on a single-process runtime.
struct Twin {
    cluster: BufferId,
    local: BufferId,
}

fn twin(c: &mut Cluster, single: &Runtime, bytes: &[u8]) -> Twin {
    Twin {
        cluster: c.alloc_from(bytes).unwrap(),
        local: single.alloc_from(bytes).unwrap(),
    }
}

fn same(c: &mut Cluster, single: &Runtime, t: &Twin, what: &str) {
    let got = c.read(t.cluster).unwrap();
    let want = single.read(t.local).unwrap();
    assert!(got == want, "rank {}: {what} differs", c.rank());
}

/// Launches on both, with the cluster's declarations.
#[allow(clippy::too_many_arguments)]
fn both(
    c: &mut Cluster,
    single: &Runtime,
    k: &Arc<Kernel>,
    grid: impl Into<Shape>,
    block: impl Into<Shape>,
    args: &[(Option<&Twin>, Arg)],
    access: &[(&str, Access)],
) {
    let (grid, block) = (grid.into().0, block.into().0);
    let cl: Vec<Arg> = args
        .iter()
        .map(|(t, a)| t.map_or(*a, |t| Arg::Buffer(t.cluster)))
        .collect();
    let lo: Vec<Arg> = args
        .iter()
        .map(|(t, a)| t.map_or(*a, |t| Arg::Buffer(t.local)))
        .collect();
    c.launch(k, grid, block, &cl, access, LaunchOptions::default())
        .unwrap_or_else(|e| panic!("rank {}: {e}", c.rank()));
    single
        .launch(k, grid, block, &lo, LaunchOptions::default())
        .unwrap();
}

/// A launch dimension: a number (x only) or a `Dim3`.
struct Shape(Dim3);

impl From<u32> for Shape {
    fn from(x: u32) -> Shape {
        Shape(Dim3::x(x))
    }
}

impl From<Dim3> for Shape {
    fn from(d: Dim3) -> Shape {
        Shape(d)
    }
}

fn buf(t: &Twin) -> (Option<&Twin>, Arg) {
    (Some(t), Arg::Buffer(BufferId(0)))
}

fn val(v: u32) -> (Option<&'static Twin>, Arg) {
    (None, Arg::from(v))
}

fn elementwise(c: &mut Cluster) {
    let single = Runtime::builder().threads(1).build().unwrap();
    let k = kernel(c.runtime(), "vector_add");
    let n = 10_007u32;
    let a: Vec<f32> = data(n as usize, 1)
        .iter()
        .map(|&v| v as f32 * 0.5)
        .collect();
    let b: Vec<f32> = data(n as usize, 2)
        .iter()
        .map(|&v| v as f32 / 7.0)
        .collect();
    let (a, b) = (twin(c, &single, &f32s(&a)), twin(c, &single, &f32s(&b)));
    let out = twin(c, &single, &vec![0; n as usize * 4]);
    let blocks = Access::blocks(256, 4);
    both(
        c,
        &single,
        &k,
        n.div_ceil(256),
        256,
        &[buf(&a), buf(&b), buf(&out), val(n)],
        &[("a", blocks), ("b", blocks), ("c", blocks)],
    );
    same(c, &single, &out, "vector_add's c");
    same(c, &single, &a, "vector_add's a");
}

fn stencil(c: &mut Cluster) {
    // Ping-pong smoothing: each launch reads the previous one's output
    // with a halo of one element, so halos move between launches.
    let single = Runtime::builder().threads(1).build().unwrap();
    let k = kernel(c.runtime(), "smooth");
    let n = 3000u32;
    let x: Vec<f32> = data(n as usize, 3).iter().map(|&v| v as f32).collect();
    let x = twin(c, &single, &f32s(&x));
    let y = twin(c, &single, &vec![0; n as usize * 4]);
    let read = Access::blocks(64, 4).with_halo(1);
    let write = Access::blocks(64, 4);
    for step in 0..6 {
        let (from, to) = if step % 2 == 0 { (&x, &y) } else { (&y, &x) };
        both(
            c,
            &single,
            &k,
            n.div_ceil(64),
            64,
            &[buf(from), buf(to), val(n)],
            &[("x", read), ("y", write)],
        );
    }
    same(c, &single, &x, "smoothed x");
    same(c, &single, &y, "smoothed y");
}

fn tiles(c: &mut Cluster) {
    // A 2-D five-point stencil ping-ponging between two 100 x 37 arrays in
    // tiles of 16 x 8 (the last tile column and row are cut), read with a
    // halo of one row and column: halo rows and columns move between
    // launches.
    let single = Runtime::builder().threads(1).build().unwrap();
    let k = kernel(c.runtime(), "blur2d");
    let (w, h) = (100u32, 37u32);
    let x: Vec<f32> = data((w * h) as usize, 8)
        .iter()
        .map(|&v| v as f32)
        .collect();
    let x = twin(c, &single, &f32s(&x));
    let y = twin(c, &single, &vec![0; (w * h) as usize * 4]);
    let grid = Dim3::new(w.div_ceil(16), h.div_ceil(8), 1);
    let read = Access::tiles(16, 8, w as u64, 4).with_halo(1);
    let write = Access::tiles(16, 8, w as u64, 4);
    for step in 0..5 {
        let (from, to) = if step % 2 == 0 { (&x, &y) } else { (&y, &x) };
        both(
            c,
            &single,
            &k,
            grid,
            Dim3::new(16, 8, 1),
            &[buf(from), buf(to), val(w), val(h)],
            &[("x", read), ("y", write)],
        );
    }
    same(c, &single, &x, "blurred x");
    same(c, &single, &y, "blurred y");
}

fn histogram(c: &mut Cluster) {
    let single = Runtime::builder().threads(1).build().unwrap();
    let k = kernel(c.runtime(), "hist");
    let (n, bins) = (20_000u32, 37u32);
    let input = data(n as usize, 4);
    let x = twin(c, &single, &u32s(&input));
    // Start from non-identity contents: the result must include them.
    let h = twin(c, &single, &u32s(&vec![5; bins as usize]));
    let s = twin(c, &single, &f32s(&[1.5]));
    let lo = twin(c, &single, &u32s(&[70_000]));
    hist_launch(c, &single, &k, &[&x, &h, &s, &lo], n, bins);
    same(c, &single, &h, "histogram");
    same(c, &single, &lo, "minimum");
    let got = as_f32(&c.read(s.cluster).unwrap())[0] as f64;
    let want = as_f32(&single.read(s.local).unwrap())[0] as f64;
    // Any order of n+1 f32 additions is within (n * eps) * sum|terms| of
    // the exact sum, so two orders are within twice that.
    let terms: f64 = 1.5 + input.iter().map(|&v| v as f64 * 0.001).sum::<f64>();
    let bound = 2.0 * n as f64 * f32::EPSILON as f64 * terms;
    assert!(
        (got - want).abs() <= bound,
        "rank {}: sum {got} vs {want} (bound {bound})",
        c.rank()
    );
}

fn hist_launch(
    c: &mut Cluster,
    single: &Runtime,
    k: &Arc<Kernel>,
    b: &[&Twin; 4],
    n: u32,
    bins: u32,
) {
    both(
        c,
        single,
        k,
        n.div_ceil(128),
        128,
        &[
            buf(b[0]),
            buf(b[1]),
            buf(b[2]),
            buf(b[3]),
            val(n),
            val(bins),
        ],
        &[
            ("x", Access::blocks(128, 4)),
            ("h", Access::Reduce(ReduceOp::Add)),
            ("s", Access::Reduce(ReduceOp::Add)),
            ("lo", Access::Reduce(ReduceOp::Min)),
        ],
    );
}

fn pipeline(c: &mut Cluster) {
    // scale -> histogram (accumulating over rounds) -> normalize by it ->
    // one block totals the histogram; twice, so every kind of holder
    // state meets every kind of declaration.
    let single = Runtime::builder().threads(1).build().unwrap();
    let rt = c.runtime();
    let (scale, hist, norm, total) = (
        kernel(rt, "scale"),
        kernel(rt, "hist"),
        kernel(rt, "norm"),
        kernel(rt, "total"),
    );
    let (n, bins) = (5000u32, 11u32);
    let x = twin(c, &single, &u32s(&data(n as usize, 5)));
    let y = twin(c, &single, &vec![0; n as usize * 4]);
    let z = twin(c, &single, &vec![0; n as usize * 4]);
    let h = twin(c, &single, &vec![0; bins as usize * 4]);
    let s = twin(c, &single, &[0; 4]);
    let lo = twin(c, &single, &u32s(&[u32::MAX]));
    let t = twin(c, &single, &[0; 4]);
    let part = Access::blocks(100, 4);
    for _ in 0..2 {
        both(
            c,
            &single,
            &scale,
            n / 100,
            100,
            &[buf(&x), buf(&y), val(n)],
            &[("x", part), ("y", part)],
        );
        hist_launch(c, &single, &hist, &[&y, &h, &s, &lo], n, bins);
        both(
            c,
            &single,
            &norm,
            n / 100,
            100,
            &[buf(&y), buf(&h), buf(&z), val(n), val(bins)],
            &[("y", part), ("h", Access::All), ("z", part)],
        );
        both(
            c,
            &single,
            &total,
            4,
            32,
            &[buf(&h), buf(&t), val(bins)],
            &[("t", Access::One { block: 0 })],
        );
    }
    for (b, what) in [(&y, "y"), (&z, "z"), (&h, "h"), (&lo, "lo"), (&t, "t")] {
        same(c, &single, b, what);
    }
    let stats = c.stats().clone();
    println!(
        "rank {}: {} launches, sent {} B, received {} B, {:?} in MPI",
        c.rank(),
        stats.launches,
        stats.bytes_sent,
        stats.bytes_received,
        stats.mpi_time
    );
}

fn host_inputs(c: &mut Cluster) {
    let rank = c.rank();
    // Equal inputs pass (and are hashed: elementwise allocates from bytes).
    elementwise(c);
    assert!(c.stats().host_bytes_hashed >= 3 * 10_007 * 4);
    // Rank 1 reads one bit differently: the next collective operation
    // fails on every rank, naming rank 1 and the buffer.
    let mut bytes = u32s(&data(1000, 9));
    if rank == 1 {
        bytes[17] ^= 1;
    }
    let x = c.alloc_from(&bytes).unwrap();
    let e = c.read(x).unwrap_err();
    match &e {
        ClusterError::HostInputs {
            rank: 1, buffers, ..
        } if buffers == &[x.0] => {}
        other => panic!("rank {rank}: expected different host inputs, got {other}"),
    }
    assert!(e.to_string().contains("rank 1 wrote other bytes"), "{e}");
    assert!(matches!(c.read(x), Err(ClusterError::Stopped(_))));
}

fn errors(c: &mut Cluster, words: bool) {
    let rank = c.rank();
    let last = c.size() - 1;
    let rt = c.runtime();
    let (shifted, in_place, count_used, add) = (
        kernel(rt, "shifted"),
        kernel(rt, "smooth_in_place"),
        kernel(rt, "count_used"),
        kernel(rt, "vector_add"),
    );
    let opts = LaunchOptions::default();

    // Writes one block (1024 bytes) past each block's declared range: the
    // lowest rank that did so is named, with the rank whose bytes it wrote.
    // The address is affine in the block index: found before running.
    let blocks = 8u32;
    let buf_c = c.alloc((blocks as usize + 1) * 1024).unwrap();
    let launch_shifted = |c: &mut Cluster| {
        c.launch(
            &shifted,
            Dim3::x(blocks),
            Dim3::x(256),
            &[Arg::Buffer(buf_c), Arg::from(blocks * 256)],
            &[("c", Access::blocks(256, 4))],
            opts,
        )
        .unwrap_err()
    };
    let e = launch_shifted(c);
    let first_boundary = partition(blocks as u64, c.size())[0].end * 1024;
    match &e {
        ClusterError::Reach {
            kernel,
            buffer,
            rank: 0,
            line: 116,
            write: true,
            bytes,
            owner: Some(1),
        } if kernel == "shifted"
            && buffer == "c"
            && *bytes == (first_boundary..first_boundary + 1024) => {}
        other => {
            panic!("rank {rank}: expected rank 0's store to reach rank 1's bytes, got {other}")
        }
    }
    // Without that check, the launch runs and the check after it finds it.
    c.set_affine_check(false);
    let e = launch_shifted(c);
    c.set_affine_check(true);
    match &e {
        ClusterError::Violation {
            kernel,
            buffer,
            rank: 0,
            bytes,
            owner: Some(1),
            ..
        } if kernel == "shifted" && buffer == "c" && bytes.start == first_boundary => {}
        other => panic!("rank {rank}: expected a violation by rank 0, got {other}"),
    }
    assert!(
        e.to_string().contains("wrote outside its declared range"),
        "{e}"
    );

    // In place with a halo: a rank's first element is read by the rank
    // before it as its halo, and written in the same launch.
    let n = 2048u32;
    let x: Vec<f32> = data(n as usize, 6).iter().map(|&v| v as f32).collect();
    let buf_x = c.alloc_from(&f32s(&x)).unwrap();
    let e = c
        .launch(
            &in_place,
            Dim3::x(n / 64),
            Dim3::x(64),
            &[Arg::Buffer(buf_x), Arg::from(n)],
            &[("x", Access::blocks(64, 4).with_halo(1))],
            opts,
        )
        .unwrap_err();
    if words {
        // The last lane of rank 0 read the first element of rank 1, which
        // rank 1 wrote.
        match &e {
            ClusterError::Violation {
                rank: 0,
                owner: Some(1),
                bytes,
                ..
            } if bytes.start == partition((n / 64) as u64, c.size())[1].start * 256 => {}
            other => panic!("rank {rank}: expected a read of rank 1's writes, got {other}"),
        }
        assert!(
            e.to_string().contains("read what another rank wrote"),
            "{e}"
        );
    } else {
        match &e {
            // Rank 0 wrote its last element, which rank 1 declared it reads.
            ClusterError::Violation {
                rank: 1,
                owner: Some(0),
                ..
            } => {}
            other => panic!("rank {rank}: expected a halo violation, got {other}"),
        }
        assert!(e.to_string().contains("halo"), "{e}");
    }

    if words {
        // Lane 0 of every block stores 0 over the 0 already in element 0:
        // no contents change, but ranks 0 and 1 both wrote it. (The check
        // before the launch sees it too: the address is constant.)
        let zero = kernel(c.runtime(), "store_zero");
        let z = c.alloc(8 * 256 * 4).unwrap();
        c.set_affine_check(false);
        let e = c
            .launch(
                &zero,
                Dim3::x(8),
                Dim3::x(256),
                &[Arg::Buffer(z)],
                &[("c", Access::blocks(256, 4))],
                opts,
            )
            .unwrap_err();
        c.set_affine_check(true);
        match &e {
            ClusterError::Overlap {
                first: 0,
                second: 1,
                bytes,
                owner: Some(0),
                ..
            } if *bytes == (0..4) => {}
            other => panic!("rank {rank}: expected overlapping writes, got {other}"),
        }
    }

    // Written by one block only: block 0 writes `t`, declared as block 3's
    // (which the last rank runs).
    let total = kernel(c.runtime(), "total");
    let h = c.alloc_from(&u32s(&[7; 5])).unwrap();
    let t = c.alloc(4).unwrap();
    let e = c
        .launch(
            &total,
            Dim3::x(4),
            Dim3::x(32),
            &[Arg::Buffer(h), Arg::Buffer(t), Arg::from(5u32)],
            &[("t", Access::One { block: 3 })],
            opts,
        )
        .unwrap_err();
    match &e {
        ClusterError::Violation {
            rank: 0,
            owner: Some(o),
            buffer,
            ..
        } if *o == last && buffer == "t" => {}
        other => panic!("rank {rank}: expected rank 0 writing rank {last}'s `t`, got {other}"),
    }

    // A 2-D kernel that writes one column right of its tile: on 2 and 4
    // ranks, rank 0's last tile writes into the first tile of rank 1.
    let shifted2d = kernel(c.runtime(), "shifted2d");
    let (w, h) = (48u32, 24u32);
    let y = c.alloc((w * h) as usize * 4).unwrap();
    let e = c
        .launch(
            &shifted2d,
            Dim3::new(w / 16, h / 8, 1),
            Dim3::new(16, 8, 1),
            &[Arg::Buffer(y), Arg::from(w), Arg::from(h)],
            &[("y", Access::tiles(16, 8, w as u64, 4))],
            opts,
        )
        .unwrap_err();
    match &e {
        ClusterError::Violation {
            kernel,
            buffer,
            rank: 0,
            owner: Some(1),
            ..
        } if kernel == "shifted2d" && buffer == "y" => {}
        other => panic!("rank {rank}: expected a tile violation, got {other}"),
    }

    // An atomic's returned value used on a reduced buffer: refused before
    // running, on every rank.
    let h = c.alloc(4).unwrap();
    let out = c.alloc(4096).unwrap();
    let e = c
        .launch(
            &count_used,
            Dim3::x(4),
            Dim3::x(256),
            &[Arg::Buffer(out), Arg::Buffer(h), Arg::from(1024u32)],
            &[
                ("x", Access::blocks(256, 4)),
                ("h", Access::Reduce(ReduceOp::Add)),
            ],
            opts,
        )
        .unwrap_err();
    assert!(
        matches!(&e, ClusterError::Access(a) if a.reason.contains("returned by the atomic")),
        "rank {rank}: {e}"
    );

    // A fault in the last block: that rank reports it, the others name it.
    let small = c.alloc(4096).unwrap();
    let e = c
        .launch(
            &add,
            Dim3::x(9),
            Dim3::x(128),
            &[
                Arg::Buffer(small),
                Arg::Buffer(small),
                Arg::Buffer(out),
                Arg::from(1025u32),
            ],
            &[("c", Access::blocks(128, 4))],
            opts,
        )
        .unwrap_err();
    match (&e, rank == last) {
        (ClusterError::Launch { rank: r, .. }, true) if *r == last => {}
        (ClusterError::Remote { rank: r, message }, false)
            if *r == last && message.contains("out of bounds") => {}
        (other, _) => panic!("rank {rank}: expected the fault of rank {last}, got {other}"),
    }
    // The cluster still works after a fault.
    elementwise(c);

    // Divergence: rank 1 launches another kernel; every rank says so.
    let e = if rank == 1 {
        c.launch(
            &in_place,
            Dim3::x(1),
            Dim3::x(16),
            &[Arg::Buffer(buf_x), Arg::from(16u32)],
            &[("x", Access::blocks(16, 4))],
            opts,
        )
    } else {
        c.launch(
            &add,
            Dim3::x(1),
            Dim3::x(16),
            &[
                Arg::Buffer(small),
                Arg::Buffer(small),
                Arg::Buffer(out),
                Arg::from(16u32),
            ],
            &[("c", Access::blocks(16, 4))],
            opts,
        )
    }
    .unwrap_err();
    match &e {
        ClusterError::Diverged {
            rank: 1,
            ours,
            theirs,
            ..
        } if ours.contains("vector_add") && theirs.contains("smooth_in_place") => {}
        other => panic!("rank {rank}: expected divergence at rank 1, got {other}"),
    }
    // Nothing more runs.
    assert!(matches!(c.read(out), Err(ClusterError::Stopped(_))));
}
