//! Well-known GPU benchmark kernels ported to LASM the way a CUDA programmer
//! writes them (`tests/data/ports/*.lasm`, one kernel a file), each run on
//! every engine and checked against its meaning computed in plain Rust.
//!
//! The kernels: a tiled transpose through a padded shared tile (2-D blocks
//! of 32 x H, partial edge tiles), a batched tiled matmul (shared tiles,
//! barriers inside the k loop, 3-D grid), Hillis-Steele and Blelloch scans
//! (barriers in loops, divergent `tid < d` branches around them), a
//! bitonic sort of each block's keys (nested loops, divergent
//! compare-exchange, 1-D, 2-D and 3-D blocks), a byte histogram (shared
//! then global atomics, grid-stride loop), a 2-D Jacobi step and a 1-D
//! stencil with halos in shared memory, an n-body step with shared tiles
//! and `rsqrt`, Black-Scholes (`exp`, `log`, `sqrt`, grid-stride), SpMV in
//! CSR (loops of data-dependent length), SAXPY with a grid-stride loop, an
//! i64 and f64 block reduction whose tree is a branch, a k-means
//! assignment (loop over shared centroids, min with index, atomic counts),
//! a row softmax (shared max and sum trees), a 3-D Laplacian over a 3-D
//! grid of 3-D blocks, an in-place reversal through shared memory whose
//! lanes past the end exit before the barrier, a max and argmax by
//! compare-and-swap loops and packed 64-bit keys, and an RGB to grayscale
//! conversion storing neighbouring bytes. Together they use f32, f64, i16,
//! i32, u32, i64 and u8 data, 1-D, 2-D and 3-D shapes, partial last blocks
//! guarded by `n`, and blocks from 1 to 1024 lanes, many of them (7, 30,
//! 33, 35, 60, 100, ...) not a multiple of the JIT's four-lane gangs.
//!
//! Every launch runs on each engine ([`Engine::ALL`]) on runtimes of 1, 2
//! and 5 threads (`jit_wait: Duration::MAX`: every block on compiled code),
//! and on each JIT tier directly; all must give the reference engine's
//! bytes, bit for bit, in every buffer. The JIT's own choice is the
//! one-lane tier for most of these kernels, so a test reruns the suite in
//! child processes with the tier forced (`LANES_JIT_TIER`), for the
//! runtimes' JIT launches on each tier. The reference engine's outputs are
//! then checked against a plain-Rust computation of what the kernel means:
//! exactly for integers, bit for bit for floats where the Rust follows the
//! kernel's order of operations, and within a stated tolerance where the
//! kernel uses `exp` or `log` (lanes' own algorithms, not the host's libm).
//! Three of the kernels also run through `lanes run` with `.npy` files, on
//! `--engine jit` and `--engine reference`.

use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use lanes::engine::{LaunchSpec, StopFlag, jit};
use lanes::launch::BoundArgs;
use lanes::memory::Buffer;
use lanes::{Arg, Dim3, Engine, Kernel, LaunchError, LaunchOptions, Runtime};

// (The harness of the differential suites: its watchdog and runtimes.)
#[allow(dead_code)]
#[path = "common/differential.rs"]
mod differential_common;

use differential_common::{Watchdog, runtimes};

const TRANSPOSE: &str = include_str!("data/ports/transpose.lasm");
const MATMUL: &str = include_str!("data/ports/matmul.lasm");
const SCAN_HILLIS: &str = include_str!("data/ports/scan_hillis.lasm");
const SCAN_BLELLOCH: &str = include_str!("data/ports/scan_blelloch.lasm");
const BITONIC: &str = include_str!("data/ports/bitonic.lasm");
const HISTOGRAM: &str = include_str!("data/ports/histogram.lasm");
const JACOBI2D: &str = include_str!("data/ports/jacobi2d.lasm");
const STENCIL1D: &str = include_str!("data/ports/stencil1d.lasm");
const NBODY: &str = include_str!("data/ports/nbody.lasm");
const BLACK_SCHOLES: &str = include_str!("data/ports/black_scholes.lasm");
const SPMV_CSR: &str = include_str!("data/ports/spmv_csr.lasm");
const SAXPY: &str = include_str!("data/ports/saxpy.lasm");
const REDUCE: &str = include_str!("data/ports/reduce.lasm");
const KMEANS: &str = include_str!("data/ports/kmeans_assign.lasm");
const SOFTMAX: &str = include_str!("data/ports/softmax.lasm");
const LAPLACE3D: &str = include_str!("data/ports/laplace3d.lasm");
const REVERSE: &str = include_str!("data/ports/reverse.lasm");
const ARGMAX: &str = include_str!("data/ports/argmax.lasm");
const RGB_TO_GRAY: &str = include_str!("data/ports/rgb_to_gray.lasm");

// ---------------------------------------------------------------------------
// Inputs: a fixed-seed xorshift generator and little-endian bytes.

/// xorshift64* (Marsaglia, Vigna): small, fixed-seed, no dependency.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        // Any nonzero state; mix the seed so that small seeds differ early.
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    /// Uniform in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// Uniform in `[lo, hi)` (f64).
    fn f64_in(&mut self, lo: f64, hi: f64) -> f64 {
        let unit = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        lo + (hi - lo) * unit
    }

    /// Uniform in `[lo, hi)` (f32).
    fn f32_in(&mut self, lo: f32, hi: f32) -> f32 {
        let unit = (self.next_u64() >> 40) as f32 / (1u32 << 24) as f32;
        lo + (hi - lo) * unit
    }
}

/// A scalar type as little-endian bytes.
trait Le: Copy + Debug {
    const SIZE: usize;
    fn put(self, out: &mut Vec<u8>);
    fn get(b: &[u8]) -> Self;
}

macro_rules! le {
    ($($t:ty),*) => {$(
        impl Le for $t {
            const SIZE: usize = std::mem::size_of::<$t>();
            fn put(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
            fn get(b: &[u8]) -> Self {
                <$t>::from_le_bytes(b.try_into().unwrap())
            }
        }
    )*};
}
le!(u8, i16, u32, i32, u64, i64, f32, f64);

fn bytes<T: Le>(v: &[T]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len() * T::SIZE);
    for &x in v {
        x.put(&mut out);
    }
    out
}

fn values<T: Le>(b: &[u8]) -> Vec<T> {
    assert_eq!(b.len() % T::SIZE, 0);
    b.chunks_exact(T::SIZE).map(T::get).collect()
}

// ---------------------------------------------------------------------------
// The harness: one launch on every engine, thread count and JIT tier.

/// A launch argument, in the kernel's parameter order.
enum In {
    /// A buffer holding these bytes.
    Buf(Vec<u8>),
    /// A scalar.
    Val(Arg),
}

fn buf<T: Le>(v: &[T]) -> In {
    In::Buf(bytes(v))
}

fn zeros(len_bytes: usize) -> In {
    In::Buf(vec![0; len_bytes])
}

fn val(a: impl Into<Arg>) -> In {
    In::Val(a.into())
}

/// One launch of a port.
struct Launch<'a> {
    kernel: &'a Arc<Kernel>,
    grid: Dim3,
    block: Dim3,
    args: Vec<In>,
}

impl Launch<'_> {
    fn describe(&self) -> String {
        format!(
            "kernel `{}`, grid {}, block {}",
            self.kernel.name, self.grid, self.block
        )
    }

    /// The scalar arguments' register values, in order.
    fn scalar_bits(&self) -> Vec<u64> {
        self.args
            .iter()
            .filter_map(|a| match a {
                In::Val(Arg::Scalar(s)) => Some(s.bits),
                _ => None,
            })
            .collect()
    }
}

/// Compiles a port's file (one kernel); one kernel serves every engine of
/// a test, so the JIT compiles each variant once.
fn kernel(file: &str, source: &str) -> Arc<Kernel> {
    let program = lanes::compile(file, source).unwrap_or_else(|e| panic!("{file}:\n{e}"));
    assert_eq!(program.kernels.len(), 1, "{file} holds one kernel");
    program.kernels[0].clone()
}

/// Runs `l` through `Runtime::launch` on `engine`; returns every buffer
/// argument's bytes afterwards, in parameter order.
fn on_runtime(l: &Launch, rt: &Runtime, engine: Engine) -> Vec<Vec<u8>> {
    let mut ids = Vec::new();
    let args: Vec<Arg> = l
        .args
        .iter()
        .map(|a| match a {
            In::Buf(b) => {
                let id = rt.alloc_from(b).unwrap();
                ids.push(id);
                Arg::Buffer(id)
            }
            In::Val(v) => *v,
        })
        .collect();
    let options = LaunchOptions {
        engine,
        jit_wait: Duration::MAX,
        ..LaunchOptions::default()
    };
    let stats = rt
        .launch(l.kernel, l.grid, l.block, &args, options)
        .unwrap_or_else(|e| panic!("{engine} engine: {e}\n{}", l.describe()));
    // No engine may quietly hand the launch to another (the JIT to pool).
    assert_eq!(stats.engine, engine, "{}", l.describe());
    let out = ids.iter().map(|&id| rt.read(id).unwrap()).collect();
    for id in ids {
        rt.free(id).unwrap();
    }
    out
}

/// Runs `l` on the JIT directly, on the calling thread, on `tier` where
/// the kernel allows it (`None`: the JIT's own choice); with `handovers`,
/// the JIT's own choice, every gang that the hot part of a kernel compiled
/// in two hands over running on the interpreter (as while its general part
/// compiles). Returns the buffers and the tier that ran.
fn on_jit_tier(l: &Launch, tier: Option<jit::Tier>, handovers: bool) -> (Vec<Vec<u8>>, jit::Tier) {
    let buffers: Vec<Arc<Buffer>> = l
        .args
        .iter()
        .filter_map(|a| match a {
            In::Buf(b) => Some(Arc::new(Buffer::from_bytes(b).unwrap())),
            In::Val(_) => None,
        })
        .collect();
    let args = BoundArgs {
        buffers: buffers.clone(),
        scalars: l.scalar_bits(),
    };
    let stop = StopFlag::new();
    let spec = LaunchSpec {
        kernel: l.kernel,
        grid: l.grid,
        block: l.block,
        args: &args,
        max_steps: LaunchOptions::default().max_steps,
        stop: &stop,
    };
    let mut launch = jit::JitLaunch::with_tier(&spec, tier)
        .unwrap_or_else(|e| panic!("the JIT cannot take it: {e}\n{}", l.describe()));
    if handovers {
        launch = launch.interpreting_handovers();
    }
    let ran = launch.tier();
    let result: Result<(), LaunchError> =
        jit::JitState::new().run_blocks(&launch, 0..spec.block_count());
    result.unwrap_or_else(|e| panic!("JIT {tier:?}: {e}\n{}", l.describe()));
    drop(launch);
    (buffers.iter().map(|b| b.to_bytes()).collect(), ran)
}

/// Asserts that `got` has `want`'s bytes in every buffer.
fn same_buffers(l: &Launch, who: &str, want: &[Vec<u8>], got: &[Vec<u8>]) {
    assert_eq!(want.len(), got.len());
    for (i, (w, g)) in want.iter().zip(got).enumerate() {
        if w != g {
            let first = w.iter().zip(g).position(|(a, b)| a != b).unwrap();
            let differing = w.iter().zip(g).filter(|(a, b)| a != b).count();
            panic!(
                "{who} differs from the reference engine in buffer {i} \
                 ({differing} bytes), first at byte {first}: reference {:?}, {who} {:?}\n{}",
                &w[first..(first + 8).min(w.len())],
                &g[first..(first + 8).min(g.len())],
                l.describe()
            );
        }
    }
}

/// Runs `l` on the reference engine, then on every engine with 1, 2 and 5
/// threads and on each JIT tier directly (and with the hand-overs of a
/// kernel compiled in two interpreted), asserting that every run leaves
/// the reference's bytes in every buffer; returns the reference's buffers
/// (every buffer argument, in parameter order).
///
/// With the JIT's tier forced (`LANES_JIT_TIER`: the child processes of
/// [`the_ports_again_with_the_jit_tier_forced`]) only the JIT's launches
/// are compared with the reference's: the others do not depend on it.
fn run_everywhere(l: &Launch) -> Vec<Vec<u8>> {
    let _watch = Watchdog::start(l.describe());
    let forced = std::env::var_os("LANES_JIT_TIER").is_some();
    let rts = runtimes();
    let want = on_runtime(l, &rts[0].1, Engine::Reference);
    for (threads, rt) in rts {
        for engine in Engine::ALL {
            if (engine == Engine::Reference && *threads == 1) || (forced && engine != Engine::Jit) {
                continue;
            }
            let got = on_runtime(l, rt, engine);
            same_buffers(
                l,
                &format!("{engine} engine on {threads} threads"),
                &want,
                &got,
            );
        }
    }
    if forced {
        return want;
    }
    for (tier, handovers) in [
        (None, false),
        (Some(jit::Tier::Lane), false),
        (Some(jit::Tier::Gang), false),
        (None, true),
    ] {
        let (got, ran) = on_jit_tier(l, tier, handovers);
        same_buffers(
            l,
            &format!(
                "the JIT asked for {tier:?} (ran {ran:?}, hand-overs interpreted: {handovers})"
            ),
            &want,
            &got,
        );
    }
    want
}

// ---------------------------------------------------------------------------
// Comparisons with the plain-Rust meaning.

/// Asserts `got == want` element by element, bit for bit (floats by bits).
fn assert_exact<T: Le>(what: &str, got: &[T], want: &[T]) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    let (g, w) = (bytes(got), bytes(want));
    if g != w {
        let bad: Vec<usize> = (0..got.len())
            .filter(|&i| g[i * T::SIZE..(i + 1) * T::SIZE] != w[i * T::SIZE..(i + 1) * T::SIZE])
            .collect();
        let i = bad[0];
        panic!(
            "{what}: {} of {} elements differ from the Rust model, first [{i}]: \
             kernel {:?}, model {:?}",
            bad.len(),
            got.len(),
            got[i],
            want[i]
        );
    }
}

/// Asserts `|got - want| <= abs + rel |want|` element by element.
fn assert_close(what: &str, got: &[f64], want: &[f64], abs: f64, rel: f64) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= abs + rel * w.abs(),
            "{what}[{i}]: kernel {g}, model {w} (difference {}, allowed {abs} + {rel} x |model|)",
            (g - w).abs()
        );
    }
}

// ---------------------------------------------------------------------------
// The ports.

/// Tiled transpose of a 100 x 150 matrix over blocks of 32 x 8, 32 x 6,
/// 32 x 32 and 32 x 1 lanes (lanes that move 4, 6, 1 or 32 tile rows),
/// edge tiles partial in both directions. The data are arbitrary
/// f32 bit patterns (NaNs with payloads included): a transpose moves bits.
#[test]
fn transpose_through_a_padded_shared_tile() {
    let k = kernel("transpose.lasm", TRANSPOSE);
    let (rows, cols) = (100u32, 150u32);
    let mut rng = Rng::new(1);
    let inp: Vec<u32> = (0..rows * cols).map(|_| rng.next_u32()).collect();
    let mut want = vec![0u32; inp.len()];
    for r in 0..rows as usize {
        for c in 0..cols as usize {
            want[c * rows as usize + r] = inp[r * cols as usize + c];
        }
    }
    for block in [
        Dim3::new(32, 8, 1),
        Dim3::new(32, 6, 1),
        Dim3::new(32, 32, 1),
        Dim3::new(32, 1, 1),
    ] {
        let l = Launch {
            kernel: &k,
            grid: Dim3::new(cols.div_ceil(32), rows.div_ceil(32), 1),
            block,
            args: vec![buf(&inp), zeros(inp.len() * 4), val(rows), val(cols)],
        };
        let out = run_everywhere(&l);
        assert_exact("inp (unchanged)", &values::<u32>(&out[0]), &inp);
        assert_exact("transpose", &values::<u32>(&out[1]), &want);
    }
}

/// Batched tiled matmul over a 3-D grid (tiles x, tiles y, batch), with m,
/// n and k not multiples of the 16-wide tile. The model accumulates with
/// fma over the padded k range, as the kernel does (the padding adds
/// 0 x 0).
#[test]
fn matmul_with_shared_tiles_and_barriers_in_the_k_loop() {
    let kern = kernel("matmul.lasm", MATMUL);
    let (m, n, k, batches) = (37usize, 45usize, 50usize, 3usize);
    let mut rng = Rng::new(2);
    let a: Vec<f32> = (0..batches * m * k)
        .map(|_| rng.f32_in(-1.0, 1.0))
        .collect();
    let b: Vec<f32> = (0..batches * k * n)
        .map(|_| rng.f32_in(-1.0, 1.0))
        .collect();
    let l = Launch {
        kernel: &kern,
        grid: Dim3::new(n.div_ceil(16) as u32, m.div_ceil(16) as u32, batches as u32),
        block: Dim3::new(16, 16, 1),
        args: vec![
            buf(&a),
            buf(&b),
            zeros(batches * m * n * 4),
            val(m as u32),
            val(n as u32),
            val(k as u32),
        ],
    };
    let out = run_everywhere(&l);
    let mut want = vec![0f32; batches * m * n];
    for bt in 0..batches {
        let (a, b) = (&a[bt * m * k..], &b[bt * k * n..]);
        for row in 0..m {
            for col in 0..n {
                let mut acc = 0f32;
                for kk in 0..k.div_ceil(16) * 16 {
                    let (x, y) = if kk < k {
                        (a[row * k + kk], b[kk * n + col])
                    } else {
                        (0.0, 0.0)
                    };
                    acc = x.mul_add(y, acc);
                }
                want[bt * m * n + row * n + col] = acc;
            }
        }
    }
    assert_exact("c", &values::<f32>(&out[2]), &want);
    // And close to the product computed another way (f64, plain loop).
    let plain: Vec<f64> = (0..batches * m * n)
        .map(|i| {
            let (bt, row, col) = (i / (m * n), i / n % m, i % n);
            (0..k)
                .map(|kk| a[bt * m * k + row * k + kk] as f64 * b[bt * k * n + kk * n + col] as f64)
                .sum()
        })
        .collect();
    let got: Vec<f64> = values::<f32>(&out[2]).iter().map(|&v| v as f64).collect();
    assert_close("c against f64", &got, &plain, 1e-5, 1e-5);
}

/// Segmented inclusive prefix sums, wrapping: y[i] for i < n over blocks
/// of `block` elements.
fn segmented_inclusive(x: &[i32], block: usize) -> Vec<i32> {
    let mut y = Vec::with_capacity(x.len());
    for seg in x.chunks(block) {
        let mut acc = 0i32;
        for &v in seg {
            acc = acc.wrapping_add(v);
            y.push(acc);
        }
    }
    y
}

/// Hillis-Steele scan of 5017 elements over blocks of 100, 30, 7 and 256
/// lanes (the first three neither powers of two nor multiples of four),
/// the last block partial; full-range i32, so the sums wrap.
#[test]
fn hillis_steele_inclusive_scan() {
    let k = kernel("scan_hillis.lasm", SCAN_HILLIS);
    let n = 5017usize;
    let mut rng = Rng::new(3);
    let x: Vec<i32> = (0..n).map(|_| rng.next_u32() as i32).collect();
    for block in [100u32, 30, 7, 256] {
        let l = Launch {
            kernel: &k,
            grid: Dim3::x((n as u32).div_ceil(block)),
            block: Dim3::x(block),
            args: vec![buf(&x), zeros(n * 4), val(n as u32)],
        };
        let out = run_everywhere(&l);
        assert_exact(
            "y",
            &values::<i32>(&out[1]),
            &segmented_inclusive(&x, block as usize),
        );
    }
}

/// Blelloch scan of 5000 elements: blocks of 64, 256, 2 and 1 lanes scan
/// 128, 512, 4 and 2 elements each, the last block partial.
#[test]
fn blelloch_exclusive_scan_with_block_sums() {
    let k = kernel("scan_blelloch.lasm", SCAN_BLELLOCH);
    let n = 5000usize;
    let mut rng = Rng::new(4);
    let x: Vec<u32> = (0..n).map(|_| rng.next_u32()).collect();
    for lanes in [64usize, 256, 2, 1] {
        let per_block = 2 * lanes;
        let blocks = n.div_ceil(per_block);
        let l = Launch {
            kernel: &k,
            grid: Dim3::x(blocks as u32),
            block: Dim3::x(lanes as u32),
            args: vec![buf(&x), zeros(n * 4), zeros(blocks * 4), val(n as u32)],
        };
        let out = run_everywhere(&l);
        let mut y = Vec::new();
        let mut sums = Vec::new();
        for seg in x.chunks(per_block) {
            let mut acc = 0u32;
            for &v in seg {
                y.push(acc);
                acc = acc.wrapping_add(v);
            }
            sums.push(acc);
        }
        assert_exact("y", &values::<u32>(&out[1]), &y);
        assert_exact("sums", &values::<u32>(&out[2]), &sums);
    }
}

/// Bitonic sort of 2000 keys in segments of 64 keys (1-D blocks of 64
/// lanes, 3-D blocks of 4 x 8 x 2 and 1 x 2 x 32), 1024 keys (blocks of
/// 32 x 32) and 2 keys; duplicates and the i32 extremes among the keys, the last
/// segment partial.
#[test]
fn bitonic_sort_of_each_block_in_shared_memory() {
    let k = kernel("bitonic.lasm", BITONIC);
    let n = 2000usize;
    let mut rng = Rng::new(5);
    let mut keys: Vec<i32> = (0..n)
        .map(|_| {
            if rng.below(3) == 0 {
                rng.below(9) as i32 - 4
            } else {
                rng.next_u32() as i32
            }
        })
        .collect();
    keys[10] = i32::MIN;
    keys[70] = i32::MAX;
    keys[1999] = i32::MIN;
    for block in [
        Dim3::x(64),
        Dim3::new(4, 8, 2),
        Dim3::new(1, 2, 32),
        Dim3::new(32, 32, 1),
        Dim3::x(2),
    ] {
        let seg = block.count() as usize;
        let l = Launch {
            kernel: &k,
            grid: Dim3::x(n.div_ceil(seg) as u32),
            block,
            args: vec![buf(&keys), val(n as u32)],
        };
        let out = run_everywhere(&l);
        let mut want = Vec::new();
        for s in keys.chunks(seg) {
            let mut s = s.to_vec();
            s.sort_unstable();
            want.extend(s);
        }
        assert_exact("sorted keys", &values::<i32>(&out[0]), &want);
    }
}

/// Byte histogram of 20000 bytes, over 7 blocks of 100 lanes, 3 of 33,
/// 2 of 256 and 1 of 1 (a grid much smaller than the data: grid-stride
/// loop); a few hot values make the atomics contend.
#[test]
fn histogram_with_shared_then_global_atomics() {
    let k = kernel("histogram.lasm", HISTOGRAM);
    let n = 20000usize;
    let mut rng = Rng::new(6);
    let data: Vec<u8> = (0..n)
        .map(|_| match rng.below(4) {
            0 => 7,
            1 => 200 + rng.below(3) as u8,
            _ => rng.next_u32() as u8,
        })
        .collect();
    let mut want = vec![0u32; 256];
    for &d in &data {
        want[d as usize] += 1;
    }
    for (grid, block) in [(7u32, 100u32), (3, 33), (2, 256), (1, 1)] {
        let l = Launch {
            kernel: &k,
            grid: Dim3::x(grid),
            block: Dim3::x(block),
            args: vec![buf(&data), zeros(256 * 4), val(n as u32)],
        };
        let out = run_everywhere(&l);
        assert_exact("bins", &values::<u32>(&out[1]), &want);
    }
}

/// Jacobi step on a 70 x 90 grid over 16 x 16 blocks (partial edge
/// blocks both ways).
#[test]
fn jacobi_step_with_a_halo_in_shared_memory() {
    let k = kernel("jacobi2d.lasm", JACOBI2D);
    let (h, w) = (70usize, 90usize);
    let mut rng = Rng::new(7);
    let u: Vec<f32> = (0..h * w).map(|_| rng.f32_in(-1.0, 1.0)).collect();
    let l = Launch {
        kernel: &k,
        grid: Dim3::new(w.div_ceil(16) as u32, h.div_ceil(16) as u32, 1),
        block: Dim3::new(16, 16, 1),
        args: vec![buf(&u), zeros(h * w * 4), val(h as u32), val(w as u32)],
    };
    let out = run_everywhere(&l);
    let mut want = u.clone();
    for y in 1..h - 1 {
        for x in 1..w - 1 {
            let at = |yy: usize, xx: usize| u[yy * w + xx];
            want[y * w + x] =
                ((at(y - 1, x) + at(y + 1, x)) + (at(y, x - 1) + at(y, x + 1))) * 0.25;
        }
    }
    assert_exact("v", &values::<f32>(&out[1]), &want);
}

/// Radius-3 weighted stencil of 5000 elements over blocks of 30 lanes
/// (the last block holds 20 elements), 3 (the fewest the kernel's halo
/// loading allows) and 1024.
#[test]
fn stencil_1d_with_halos_in_shared_memory() {
    let k = kernel("stencil1d.lasm", STENCIL1D);
    let n = 5000usize;
    let mut rng = Rng::new(8);
    let inp: Vec<f64> = (0..n).map(|_| rng.f64_in(-10.0, 10.0)).collect();
    let wt: Vec<f64> = (0..7).map(|_| rng.f64_in(-1.0, 1.0)).collect();
    let mut outs = Vec::new();
    for block in [30u32, 3, 1024] {
        let l = Launch {
            kernel: &k,
            grid: Dim3::x((n as u32).div_ceil(block)),
            block: Dim3::x(block),
            args: vec![buf(&inp), buf(&wt), zeros(n * 8), val(n as u32)],
        };
        outs.push(run_everywhere(&l));
    }
    let want: Vec<f64> = (0..n as i64)
        .map(|i| {
            let mut acc = 0f64;
            for o in -3i64..=3 {
                let j = i + o;
                let v = if (0..n as i64).contains(&j) {
                    inp[j as usize]
                } else {
                    0.0
                };
                acc = wt[(o + 3) as usize].mul_add(v, acc);
            }
            acc
        })
        .collect();
    for out in outs {
        assert_exact("out", &values::<f64>(&out[2]), &want);
    }
}

/// n-body accelerations of 250 bodies over blocks of 60 lanes (tiles of
/// 60 bodies, the last one partial; the last block has 10 bodies), 256
/// and 7.
/// `rsqrt` is `1 / sqrt` with two roundings (docs/LANGUAGE.md section 9),
/// so the model is bit-exact.
#[test]
fn nbody_step_with_shared_tiles() {
    let k = kernel("nbody.lasm", NBODY);
    let n = 250usize;
    let eps2 = 0.01f32;
    let mut rng = Rng::new(9);
    let pos: Vec<f32> = (0..n)
        .flat_map(|_| {
            let p = [
                rng.f32_in(-1.0, 1.0),
                rng.f32_in(-1.0, 1.0),
                rng.f32_in(-1.0, 1.0),
                rng.f32_in(0.1, 1.0),
            ];
            p.into_iter()
        })
        .collect();
    let outs: Vec<_> = [60u32, 256, 7]
        .into_iter()
        .map(|block| {
            run_everywhere(&Launch {
                kernel: &k,
                grid: Dim3::x((n as u32).div_ceil(block)),
                block: Dim3::x(block),
                args: vec![buf(&pos), zeros(n * 16), val(n as u32), val(eps2)],
            })
        })
        .collect();
    let mut want = vec![0f32; n * 4];
    for i in 0..n {
        let pi = &pos[4 * i..4 * i + 4];
        let mut a = [0f32; 3];
        for j in 0..n {
            let pj = &pos[4 * j..4 * j + 4];
            let r = [pj[0] - pi[0], pj[1] - pi[1], pj[2] - pi[2]];
            let d2 = r[2].mul_add(r[2], r[1].mul_add(r[1], r[0] * r[0])) + eps2;
            let inv = 1.0 / d2.sqrt();
            let s = pj[3] * (inv * inv * inv);
            for c in 0..3 {
                a[c] = r[c].mul_add(s, a[c]);
            }
        }
        want[4 * i..4 * i + 3].copy_from_slice(&a);
    }
    for out in outs {
        assert_exact("acc", &values::<f32>(&out[1]), &want);
    }
}

/// Black-Scholes call and put prices in f64, the formula of the kernel.
fn black_scholes_model(s: f64, x: f64, t: f64, r: f64, v: f64) -> (f64, f64) {
    fn cnd(d: f64) -> f64 {
        let k = 1.0 / (1.0 + 0.2316419 * d.abs());
        let poly = k
            * (0.31938153
                + k * (-0.356563782 + k * (1.781477937 + k * (-1.821255978 + k * 1.330274429))));
        let c = 0.3989422804014327 * (-0.5 * d * d).exp() * poly;
        if d > 0.0 { 1.0 - c } else { c }
    }
    let sqrt_t = t.sqrt();
    let d1 = ((s / x).ln() + (r + 0.5 * v * v) * t) / (v * sqrt_t);
    let d2 = d1 - v * sqrt_t;
    let (c1, c2) = (cnd(d1), cnd(d2));
    let xe = x * (-r * t).exp();
    (s * c1 - xe * c2, xe * (1.0 - c2) - s * (1.0 - c1))
}

/// The inputs of the Black-Scholes tests: prices, strikes, years.
fn options(n: usize, seed: u64) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let mut rng = Rng::new(seed);
    let s = (0..n).map(|_| rng.f32_in(5.0, 30.0)).collect();
    let x = (0..n).map(|_| rng.f32_in(1.0, 100.0)).collect();
    let t = (0..n).map(|_| rng.f32_in(0.25, 10.0)).collect();
    (s, x, t)
}

/// Tolerance of f32 Black-Scholes prices against the f64 model: a few
/// f32 roundings of prices up to 30, and `exp`/`log` within 1 ulp.
const BS_ABS: f64 = 2e-5;
const BS_REL: f64 = 1e-5;

/// Checks f32 call and put prices against the f64 model.
fn check_black_scholes(call: &[f32], put: &[f32], s: &[f32], x: &[f32], t: &[f32], r: f32, v: f32) {
    let (mut want_call, mut want_put) = (Vec::new(), Vec::new());
    for i in 0..s.len() {
        let (c, p) = black_scholes_model(s[i] as f64, x[i] as f64, t[i] as f64, r as f64, v as f64);
        want_call.push(c);
        want_put.push(p);
    }
    let f64s = |v: &[f32]| v.iter().map(|&x| x as f64).collect::<Vec<f64>>();
    assert_close("call", &f64s(call), &want_call, BS_ABS, BS_REL);
    assert_close("put", &f64s(put), &want_put, BS_ABS, BS_REL);
    // Put-call parity holds for the model's prices, so for the kernel's.
    for i in 0..s.len() {
        let parity = call[i] as f64
            - put[i] as f64
            - (s[i] as f64 - x[i] as f64 * (-(r as f64) * t[i] as f64).exp());
        assert!(
            parity.abs() < 1e-4,
            "put-call parity off by {parity} at {i}"
        );
    }
}

/// Black-Scholes over 4000 options with 6 blocks of 64 lanes (each lane
/// prices about 10 options), 3 blocks of 1000 and 1 lane.
#[test]
fn black_scholes_with_a_grid_stride_loop() {
    let k = kernel("black_scholes.lasm", BLACK_SCHOLES);
    let n = 4000usize;
    let (s, x, t) = options(n, 10);
    let (r, v) = (0.02f32, 0.30f32);
    for (grid, block) in [(6u32, 64u32), (3, 1000), (1, 1)] {
        let l = Launch {
            kernel: &k,
            grid: Dim3::x(grid),
            block: Dim3::x(block),
            args: vec![
                zeros(n * 4),
                zeros(n * 4),
                buf(&s),
                buf(&x),
                buf(&t),
                val(r),
                val(v),
                val(n as u32),
            ],
        };
        let out = run_everywhere(&l);
        check_black_scholes(
            &values::<f32>(&out[0]),
            &values::<f32>(&out[1]),
            &s,
            &x,
            &t,
            r,
            v,
        );
    }
}

/// SpMV on a 1003 x 400 CSR matrix whose rows hold 0 to 17 nonzeros (one
/// holds 60), over blocks of 30, 1 and 256 lanes.
#[test]
fn spmv_csr_with_rows_of_data_dependent_length() {
    let k = kernel("spmv_csr.lasm", SPMV_CSR);
    let (rows, cols) = (1003usize, 400usize);
    let mut rng = Rng::new(11);
    let mut row_ptr = vec![0u32];
    let (mut col, mut vals) = (Vec::new(), Vec::new());
    for r in 0..rows {
        let len = match r {
            100 => 60,
            _ if rng.below(8) == 0 => 0,
            _ => rng.below(18),
        };
        for _ in 0..len {
            col.push(rng.below(cols as u64) as i32);
            vals.push(rng.f64_in(-1.0, 1.0));
        }
        row_ptr.push(col.len() as u32);
    }
    let x: Vec<f64> = (0..cols).map(|_| rng.f64_in(-1.0, 1.0)).collect();
    let want: Vec<f64> = (0..rows)
        .map(|r| {
            (row_ptr[r] as usize..row_ptr[r + 1] as usize)
                .fold(0f64, |acc, j| vals[j].mul_add(x[col[j] as usize], acc))
        })
        .collect();
    for block in [30u32, 1, 256] {
        let l = Launch {
            kernel: &k,
            grid: Dim3::x((rows as u32).div_ceil(block)),
            block: Dim3::x(block),
            args: vec![
                buf(&row_ptr),
                buf(&col),
                buf(&vals),
                buf(&x),
                zeros(rows * 8),
                val(rows as u32),
            ],
        };
        let out = run_everywhere(&l);
        assert_exact("y", &values::<f64>(&out[4]), &want);
    }
}

/// SAXPY over 20000 elements with launches of 180 lanes (a 3 x 2 grid of
/// 10 x 3 blocks), 35 lanes (5 blocks of 7), 1 lane and 2048 (2 blocks
/// of 1024), all fewer than n.
#[test]
fn saxpy_with_a_grid_stride_loop() {
    let k = kernel("saxpy.lasm", SAXPY);
    let n = 20000usize;
    let a = 1.7f32;
    let mut rng = Rng::new(12);
    let x: Vec<f32> = (0..n).map(|_| rng.f32_in(-100.0, 100.0)).collect();
    let y: Vec<f32> = (0..n).map(|_| rng.f32_in(-100.0, 100.0)).collect();
    let want: Vec<f32> = x
        .iter()
        .zip(&y)
        .map(|(&xi, &yi)| a.mul_add(xi, yi))
        .collect();
    for (grid, block) in [
        (Dim3::new(3, 2, 1), Dim3::new(10, 3, 1)),
        (Dim3::x(5), Dim3::x(7)),
        (Dim3::x(1), Dim3::x(1)),
        (Dim3::x(2), Dim3::x(1024)),
    ] {
        let l = Launch {
            kernel: &k,
            grid,
            block,
            args: vec![buf(&x), buf(&y), val(a), val(n as u64)],
        };
        let out = run_everywhere(&l);
        assert_exact("y", &values::<f32>(&out[1]), &want);
    }
}

/// i64 and f64 block sums of 4950 values over blocks of 100 lanes (padded
/// to the 128 of the tree; the last block half full), 64 and 128, and the
/// i64 grand total by atomics. f64 values of widely varied magnitudes, so the tree's order
/// shows in the bits; the model adds in the same tree order.
#[test]
fn block_reduction_with_the_tree_as_a_branch() {
    let k = kernel("reduce.lasm", REDUCE);
    let n = 4950usize;
    let mut rng = Rng::new(13);
    let xi: Vec<i64> = (0..n).map(|_| rng.next_u64() as i64).collect();
    let xf: Vec<f64> = (0..n)
        .map(|_| rng.f64_in(-1.0, 1.0) * 2f64.powi(rng.below(40) as i32 - 20))
        .collect();
    for lanes in [100usize, 64, 128] {
        let blocks = n.div_ceil(lanes);
        reduce_on(&k, &xi, &xf, lanes, blocks);
    }
}

fn reduce_on(k: &Arc<Kernel>, xi: &[i64], xf: &[f64], lanes: usize, blocks: usize) {
    let n = xi.len();
    let l = Launch {
        kernel: k,
        grid: Dim3::x(blocks as u32),
        block: Dim3::x(lanes as u32),
        args: vec![
            buf(xi),
            buf(xf),
            zeros(blocks * 8),
            zeros(blocks * 8),
            zeros(8),
            val(n as u32),
        ],
    };
    let out = run_everywhere(&l);
    let (mut sum_i, mut sum_f) = (Vec::new(), Vec::new());
    for b in 0..blocks {
        let mut ti = [0i64; 128];
        let mut tf = [0f64; 128];
        for t in 0..lanes {
            let g = b * lanes + t;
            if g < n {
                ti[t] = xi[g];
                tf[t] = xf[g];
            }
        }
        let mut s = 64;
        while s > 0 {
            for t in 0..s {
                ti[t] = ti[t].wrapping_add(ti[t + s]);
                tf[t] += tf[t + s];
            }
            s /= 2;
        }
        sum_i.push(ti[0]);
        sum_f.push(tf[0]);
    }
    // The i64 sums are the plain sums, whatever the order.
    let plain: Vec<i64> = xi
        .chunks(lanes)
        .map(|c| c.iter().fold(0i64, |a, &v| a.wrapping_add(v)))
        .collect();
    assert_eq!(sum_i, plain, "the model's tree sums everything");
    assert_exact("block i64 sums", &values::<i64>(&out[2]), &sum_i);
    assert_exact("block f64 sums", &values::<f64>(&out[3]), &sum_f);
    let total = xi.iter().fold(0i64, |a, &v| a.wrapping_add(v));
    assert_exact("i64 total", &values::<i64>(&out[4]), &[total]);
}

/// k-means assignment of 5000 points to 7 centroids (the sixth a copy of
/// the third: ties go to the first) over an 8 x 8 grid of 16 x 5 blocks
/// (the last blocks partial) and a 1-D grid of 7 x 3 x 2 blocks.
#[test]
fn kmeans_assignment_to_the_nearest_centroid() {
    let kern = kernel("kmeans_assign.lasm", KMEANS);
    let (n, k) = (5000usize, 7usize);
    let mut rng = Rng::new(14);
    let points: Vec<f32> = (0..n * 3).map(|_| rng.f32_in(-10.0, 10.0)).collect();
    let mut cents: Vec<f32> = (0..k * 3).map(|_| rng.f32_in(-8.0, 8.0)).collect();
    cents.copy_within(6..9, 15);
    let outs: Vec<_> = [
        (Dim3::new(8, 8, 1), Dim3::new(16, 5, 1)),
        (Dim3::x((n as u32).div_ceil(42)), Dim3::new(7, 3, 2)),
    ]
    .into_iter()
    .map(|(grid, block)| {
        run_everywhere(&Launch {
            kernel: &kern,
            grid,
            block,
            args: vec![
                buf(&points),
                buf(&cents),
                zeros(n * 4),
                zeros(n * 4),
                zeros(k * 4),
                val(n as u32),
                val(k as u32),
            ],
        })
    })
    .collect();
    let (mut labels, mut dists, mut counts) = (Vec::new(), Vec::new(), vec![0u32; k]);
    for p in points.chunks(3) {
        let mut best = (f32::INFINITY, 0u32);
        for (c, q) in cents.chunks(3).enumerate() {
            let d = [p[0] - q[0], p[1] - q[1], p[2] - q[2]];
            let d2 = d[2].mul_add(d[2], d[1].mul_add(d[1], d[0] * d[0]));
            if d2 < best.0 {
                best = (d2, c as u32);
            }
        }
        labels.push(best.1);
        dists.push(best.0);
        counts[best.1 as usize] += 1;
    }
    assert_eq!(counts[5], 0, "the copied centroid never wins a tie");
    assert!(counts[2] > 0, "the first of the tied centroids wins points");
    for out in outs {
        assert_exact("labels", &values::<u32>(&out[2]), &labels);
        assert_exact("dists", &values::<f32>(&out[3]), &dists);
        assert_exact("counts", &values::<u32>(&out[4]), &counts);
    }
}

/// Row softmax of a 50 x 77 matrix over 32 x 3 blocks (17 blocks, the last
/// with one row past the end), 32 x 1 and 32 x 32 (one block, 1024 lanes); one row so large that exp without the max
/// would overflow f32, one constant row. Compared with an f64 model
/// within 1e-6 relative (the kernel's `exp` is within 1 ulp).
#[test]
fn softmax_rows_with_shared_max_and_sum() {
    let k = kernel("softmax.lasm", SOFTMAX);
    let (rows, cols) = (50usize, 77usize);
    let mut rng = Rng::new(15);
    let mut x: Vec<f32> = (0..rows * cols).map(|_| rng.f32_in(-10.0, 10.0)).collect();
    for v in &mut x[4 * cols..5 * cols] {
        *v += 90.0;
    }
    x[7 * cols..8 * cols].fill(3.0);
    let mut want = Vec::new();
    for row in x.chunks(cols) {
        let m = row.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v as f64));
        let e: Vec<f64> = row.iter().map(|&v| (v as f64 - m).exp()).collect();
        let s: f64 = e.iter().sum();
        want.extend(e.iter().map(|v| v / s));
    }
    for h in [3u32, 1, 32] {
        let l = Launch {
            kernel: &k,
            grid: Dim3::x((rows as u32).div_ceil(h)),
            block: Dim3::new(32, h, 1),
            args: vec![
                buf(&x),
                zeros(rows * cols * 4),
                val(rows as u32),
                val(cols as u32),
            ],
        };
        let out = run_everywhere(&l);
        let y = values::<f32>(&out[1]);
        let got: Vec<f64> = y.iter().map(|&v| v as f64).collect();
        assert_close("y", &got, &want, 1e-9, 1e-6);
        assert!(
            y[7 * cols..8 * cols].iter().all(|&v| v == y[7 * cols]),
            "a constant row gives equal probabilities"
        );
    }
}

/// 7-point Laplacian of a 30 x 21 x 11 u8 volume over a 4 x 6 x 4 grid of
/// 8 x 4 x 3 blocks (96 lanes; partial blocks in every direction) and
/// over 3-D grids of 5 x 5 x 5 and 1 x 1 x 1 blocks.
#[test]
fn laplacian_3d_over_3d_blocks() {
    let k = kernel("laplace3d.lasm", LAPLACE3D);
    let (nx, ny, nz) = (30usize, 21usize, 11usize);
    let mut rng = Rng::new(16);
    let vol: Vec<u8> = (0..nx * ny * nz).map(|_| rng.next_u32() as u8).collect();
    let outs: Vec<_> = [Dim3::new(8, 4, 3), Dim3::new(5, 5, 5), Dim3::new(1, 1, 1)]
        .into_iter()
        .map(|block| {
            run_everywhere(&Launch {
                kernel: &k,
                grid: Dim3::new(
                    (nx as u32).div_ceil(block.x),
                    (ny as u32).div_ceil(block.y),
                    (nz as u32).div_ceil(block.z),
                ),
                block,
                args: vec![
                    buf(&vol),
                    zeros(vol.len() * 4),
                    val(nx as u32),
                    val(ny as u32),
                    val(nz as u32),
                ],
            })
        })
        .collect();
    let at = |x: i64, y: i64, z: i64| -> i32 {
        if (0..nx as i64).contains(&x) && (0..ny as i64).contains(&y) && (0..nz as i64).contains(&z)
        {
            vol[(z as usize * ny + y as usize) * nx + x as usize] as i32
        } else {
            0
        }
    };
    let mut want = Vec::new();
    for z in 0..nz as i64 {
        for y in 0..ny as i64 {
            for x in 0..nx as i64 {
                want.push(
                    6 * at(x, y, z)
                        - at(x - 1, y, z)
                        - at(x + 1, y, z)
                        - at(x, y - 1, z)
                        - at(x, y + 1, z)
                        - at(x, y, z - 1)
                        - at(x, y, z + 1),
                );
            }
        }
    }
    for out in outs {
        assert_exact("out", &values::<i32>(&out[1]), &want);
    }
}

/// In-place reversal of each block's slice of 1000 i16 values over blocks
/// of 100, 30, 7 and 1024 lanes; in the partial last block (and in the
/// block of 1024) the lanes past n exit before the barrier.
#[test]
fn reverse_in_shared_memory_with_lanes_exiting_before_the_barrier() {
    let k = kernel("reverse.lasm", REVERSE);
    let n = 1000usize;
    let mut rng = Rng::new(17);
    let d: Vec<i16> = (0..n).map(|_| rng.next_u32() as i16).collect();
    for block in [100usize, 30, 7, 1024] {
        let l = Launch {
            kernel: &k,
            grid: Dim3::x(n.div_ceil(block) as u32),
            block: Dim3::x(block as u32),
            args: vec![buf(&d), val(n as u32)],
        };
        let out = run_everywhere(&l);
        let mut want = Vec::new();
        for s in d.chunks(block) {
            want.extend(s.iter().rev());
        }
        assert_exact("d", &values::<i16>(&out[0]), &want);
    }
}

/// Max and argmax of 4000 f32 values by a compare-and-swap loop and by
/// atom.max.u64 on packed keys, over blocks of 100, 256 (the last block
/// partial: its lanes past n exit before the barrier) and 7 lanes; the
/// max occurs twice (in different blocks: the first index must win), and
/// a second data set is all negative (the order-preserving key of a
/// negative f32).
#[test]
fn max_and_argmax_by_compare_and_swap_loops_and_packed_keys() {
    let k = kernel("argmax.lasm", ARGMAX);
    let n = 4000usize;
    let mut rng = Rng::new(18);
    let mixed: Vec<f32> = (0..n)
        .map(|_| {
            let v = rng.f32_in(1.0, 100.0);
            if rng.below(2) == 0 { v } else { -v }
        })
        .collect();
    let negative: Vec<f32> = (0..n).map(|_| -rng.f32_in(1.0, 100.0)).collect();
    for mut x in [mixed, negative] {
        let top = x.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v)) + 0.5;
        x[3100] = top;
        x[1234] = top;
        let first = x.iter().position(|&v| v == top).unwrap();
        assert_eq!(first, 1234);
        let mut init = bytes(&[f32::NEG_INFINITY.to_bits(), 0u32]);
        init.extend(bytes(&[0u64]));
        for block in [100u32, 256, 7] {
            let l = Launch {
                kernel: &k,
                grid: Dim3::x((n as u32).div_ceil(block)),
                block: Dim3::x(block),
                args: vec![buf(&x), In::Buf(init.clone()), val(n as u32)],
            };
            let out = run_everywhere(&l);
            let max = f32::from_bits(values::<u32>(&out[1][..4])[0]);
            let key = values::<u64>(&out[1][8..])[0];
            assert_exact("max", &[max], &[top]);
            assert_eq!(u32::MAX - key as u32, first as u32, "argmax (key {key:#x})");
            // The high half is the max's order-preserving image.
            let bits = top.to_bits();
            let image = if bits >> 31 == 1 {
                !bits
            } else {
                bits | 1 << 31
            };
            assert_eq!((key >> 32) as u32, image, "the key's value half");
        }
    }
}

/// RGB to grayscale of a 67 x 29 u8 image over 2-D blocks of 16 x 6,
/// 5 x 7 and 33 x 1 lanes (partial blocks at the right and bottom edges):
/// neighbouring lanes store neighbouring bytes, and each must keep the
/// others'. The luma is f32 arithmetic in the kernel's order, truncated
/// by `cvt.u8.f32`.
#[test]
fn rgb_to_gray_with_byte_loads_and_stores() {
    let k = kernel("rgb_to_gray.lasm", RGB_TO_GRAY);
    let (w, h) = (67usize, 29usize);
    let mut rng = Rng::new(19);
    let rgb: Vec<u8> = (0..w * h * 3).map(|_| rng.next_u32() as u8).collect();
    let want: Vec<u8> = rgb
        .chunks(3)
        .map(|p| {
            let (r, g, b) = (p[0] as f32, p[1] as f32, p[2] as f32);
            (b.mul_add(0.114, g.mul_add(0.587, r * 0.299)) + 0.5) as u8
        })
        .collect();
    for block in [Dim3::new(16, 6, 1), Dim3::new(5, 7, 1), Dim3::new(33, 1, 1)] {
        let l = Launch {
            kernel: &k,
            grid: Dim3::new(
                (w as u32).div_ceil(block.x),
                (h as u32).div_ceil(block.y),
                1,
            ),
            block,
            args: vec![buf(&rgb), zeros(w * h), val(w as u32), val(h as u32)],
        };
        let out = run_everywhere(&l);
        assert_exact("gray", &values::<u8>(&out[1]), &want);
    }
}

/// The ports again, in a child process of this test binary with the JIT's
/// tier forced (`LANES_JIT_TIER`, which the JIT reads once per process),
/// so that the runtimes' JIT launches on 1, 2 and 5 threads run each
/// tier's code: the JIT's own choice is the one-lane tier for most of
/// these kernels (their lanes wait apart at barriers) and the gang tier
/// for the others. Does nothing in the child, or where the variable is
/// set for the whole run already.
#[test]
fn the_ports_again_with_the_jit_tier_forced() {
    if std::env::var_os("LANES_JIT_TIER").is_some() {
        return;
    }
    for tier in ["gang", "lane"] {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .env("LANES_JIT_TIER", tier)
            .args(["--skip", "cli::", "--skip", "jit_tier_forced"])
            .args(["--test-threads", "2"])
            .output()
            .expect("the test binary runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "LANES_JIT_TIER={tier}:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let passed: usize = stdout
            .split("test result: ok. ")
            .nth(1)
            .and_then(|rest| rest.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no test summary:\n{stdout}"));
        assert!(passed >= 16, "LANES_JIT_TIER={tier}: {passed} tests ran");
    }
}

// ---------------------------------------------------------------------------
// Through `lanes run`.

mod cli {
    use super::*;
    use std::path::Path;
    use std::process::Command;

    /// Runs `lanes ARGS` in the crate root and asserts that it succeeds.
    fn lanes(args: &[String]) {
        let out = Command::new(env!("CARGO_BIN_EXE_lanes"))
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("the lanes binary runs");
        assert!(
            out.status.success(),
            "lanes {}\nexit {:?}\nstdout:\n{}\nstderr:\n{}",
            args.join(" "),
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn save<T: npyz::AutoSerialize + Copy>(dir: &Path, name: &str, v: &[T]) -> String {
        let path = dir.join(name);
        npyz::to_file_1d(&path, v.iter().copied()).unwrap();
        path.to_str().unwrap().to_string()
    }

    fn load<T: npyz::Deserialize>(path: &Path) -> Vec<T> {
        let file = std::fs::File::open(path).unwrap();
        npyz::NpyFile::new(std::io::BufReader::new(file))
            .unwrap()
            .into_vec()
            .unwrap()
    }

    /// Runs `file` on `--engine jit` and `--engine reference` (2 threads)
    /// with `args`, saving `saved` (NAME=FILE.npy into `dir`); returns the
    /// two runs' saved arrays, in the order of `saved`, for the caller to
    /// load.
    fn both_engines(
        dir: &Path,
        file: &str,
        grid: &str,
        block: &str,
        args: &[String],
        saved: &[&str],
    ) -> [Vec<std::path::PathBuf>; 2] {
        ["jit", "reference"].map(|engine| {
            let mut cmd: Vec<String> = [
                "run",
                file,
                "--grid",
                grid,
                "--block",
                block,
                "--engine",
                engine,
                "--threads",
                "2",
                "--quiet",
            ]
            .map(String::from)
            .to_vec();
            for a in args {
                cmd.extend(["--arg".to_string(), a.clone()]);
            }
            let mut paths = Vec::new();
            for name in saved {
                let path = dir.join(format!("{name}_{engine}.npy"));
                cmd.extend([
                    "--save".to_string(),
                    format!("{name}={}", path.to_str().unwrap()),
                ]);
                paths.push(path);
            }
            lanes(&cmd);
            paths
        })
    }

    #[test]
    fn transpose_through_lanes_run() {
        let dir = tempfile::tempdir().unwrap();
        let (rows, cols) = (33usize, 41usize);
        let mut rng = Rng::new(21);
        let inp: Vec<f32> = (0..rows * cols).map(|_| rng.f32_in(-1e3, 1e3)).collect();
        let args = [
            format!("inp=@{}", save(dir.path(), "inp.npy", &inp)),
            format!("out=zeros:f32:{}", rows * cols),
            format!("rows={rows}"),
            format!("cols={cols}"),
        ];
        let [jit, reference] = both_engines(
            dir.path(),
            "tests/data/ports/transpose.lasm",
            &format!("{},{}", cols.div_ceil(32), rows.div_ceil(32)),
            "32,8",
            &args,
            &["out"],
        );
        let (got, want_ref) = (load::<f32>(&jit[0]), load::<f32>(&reference[0]));
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<u32>>();
        assert_eq!(bits(&got), bits(&want_ref), "jit against reference");
        let mut want = vec![0f32; rows * cols];
        for r in 0..rows {
            for c in 0..cols {
                want[c * rows + r] = inp[r * cols + c];
            }
        }
        assert_eq!(bits(&want_ref), bits(&want), "reference against the model");
    }

    #[test]
    fn histogram_through_lanes_run() {
        let dir = tempfile::tempdir().unwrap();
        let n = 3000usize;
        let mut rng = Rng::new(22);
        let data: Vec<u8> = (0..n)
            .map(|_| (rng.below(40) * rng.below(7)) as u8)
            .collect();
        let args = [
            format!("data=@{}", save(dir.path(), "data.npy", &data)),
            "bins=zeros:u32:256".to_string(),
            format!("n={n}"),
        ];
        let [jit, reference] = both_engines(
            dir.path(),
            "tests/data/ports/histogram.lasm",
            "5",
            "60",
            &args,
            &["bins"],
        );
        let (got, want_ref) = (load::<u32>(&jit[0]), load::<u32>(&reference[0]));
        assert_eq!(got, want_ref, "jit against reference");
        let mut want = vec![0u32; 256];
        for &d in &data {
            want[d as usize] += 1;
        }
        assert_eq!(want_ref, want, "reference against the model");
    }

    #[test]
    fn black_scholes_through_lanes_run() {
        let dir = tempfile::tempdir().unwrap();
        let n = 1000usize;
        let (s, x, t) = options(n, 23);
        let args = [
            format!("call=zeros:f32:{n}"),
            format!("put=zeros:f32:{n}"),
            format!("s=@{}", save(dir.path(), "s.npy", &s)),
            format!("x=@{}", save(dir.path(), "x.npy", &x)),
            format!("t=@{}", save(dir.path(), "t.npy", &t)),
            "r=0.02".to_string(),
            "v=0.3".to_string(),
            format!("n={n}"),
        ];
        let [jit, reference] = both_engines(
            dir.path(),
            "tests/data/ports/black_scholes.lasm",
            "3",
            "100",
            &args,
            &["call", "put"],
        );
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<u32>>();
        let loaded = |p: &[std::path::PathBuf]| (load::<f32>(&p[0]), load::<f32>(&p[1]));
        let ((jc, jp), (rc, rp)) = (loaded(&jit), loaded(&reference));
        assert_eq!(bits(&jc), bits(&rc), "calls: jit against reference");
        assert_eq!(bits(&jp), bits(&rp), "puts: jit against reference");
        check_black_scholes(&rc, &rp, &s, &x, &t, 0.02, 0.3);
    }
}
