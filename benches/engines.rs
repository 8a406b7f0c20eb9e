//! Engine benchmarks (issue 5): the predecessor's table and beyond.
//!
//! - `vector/OP/n`: f32 vector add/sub/mul/div/min/max through the pool
//!   engine (2 threads), the reference engine (n <= 65536), a native Rust loop
//!   on one thread, the same native loop split over a lanes-scheduler pool,
//!   and rayon `par_chunks` on 2 threads.
//! - `latency/*`: an empty kernel (one lane) against
//!   `rayon::ThreadPool::install(|| ())`, and vector_add n=256 against a rayon
//!   `par_iter` over the same 256 elements.
//! - `mandelbrot/threads`: a divergent, compute-bound kernel on 1 and 2
//!   threads.
//!
//! Run a subset with a filter, e.g. `cargo bench --bench engines -- vector/add`.
//! `cargo run --release --example criterion_table` prints the README's tables
//! (medians and ratios, the predecessor beside vector add) from the results.
//! Ratios are meaningful only within one run: the machine is shared.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use lanes::bench::baseline::Binary;
use lanes::{Arg, BufferId, Dim3, Engine, Kernel, LaunchOptions, Runtime};
use parking_lot::Mutex;
use rayon::prelude::*;

const THREADS: usize = 2;

fn vector_kernel(rt: &Runtime, op: &str) -> Arc<Kernel> {
    let src = format!(
        ".kernel v\n.param a buf\n.param b buf\n.param c buf\n.param n u32\n\
         mov.u32 r0, %gid\nsetp.ge.u32 p0, r0, n\n@p0 exit\nshl.u64 r1, r0, 2\n\
         ld.global.f32 r2, [a + r1]\nld.global.f32 r3, [b + r1]\n{op}.f32 r4, r2, r3\n\
         st.global.f32 [c + r1], r4\n"
    );
    rt.compile("v.lasm", &src)
        .unwrap()
        .kernel("v")
        .unwrap()
        .clone()
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

struct Vectors {
    a: Vec<f32>,
    b: Vec<f32>,
    ids: [BufferId; 3],
}

fn vectors(rt: &Runtime, n: usize) -> Vectors {
    let a: Vec<f32> = (0..n).map(|i| i as f32 * 0.25 + 1.0).collect();
    let b: Vec<f32> = (0..n).map(|i| (n - i) as f32 * 0.5 + 2.0).collect();
    let ids = [
        rt.alloc_from(&f32_bytes(&a)).unwrap(),
        rt.alloc_from(&f32_bytes(&b)).unwrap(),
        rt.alloc(n * 4).unwrap(),
    ];
    Vectors { a, b, ids }
}

fn launch_vector(rt: &Runtime, k: &Arc<Kernel>, v: &Vectors, n: usize, engine: Engine) {
    let args = [
        Arg::Buffer(v.ids[0]),
        Arg::Buffer(v.ids[1]),
        Arg::Buffer(v.ids[2]),
        Arg::from(n as u32),
    ];
    let options = LaunchOptions {
        engine,
        jit_wait: std::time::Duration::MAX,
        ..LaunchOptions::default()
    };
    rt.launch(
        k,
        Dim3::x((n as u32).div_ceil(256)),
        Dim3::x(256),
        &args,
        options,
    )
    .unwrap();
}

fn bench_vectors(c: &mut Criterion) {
    let rt = Runtime::builder().threads(THREADS).build().unwrap();
    let rayon_pool = rayon::ThreadPoolBuilder::new()
        .num_threads(THREADS)
        .build()
        .unwrap();
    let native_pool: lanes_scheduler::Pool<()> = lanes_scheduler::Pool::builder()
        .threads(THREADS)
        .build(|_| ())
        .unwrap();
    let sizes = [256usize, 1024, 4096, 16384, 65536, 1 << 20, 1 << 24];
    for op in Binary::ALL {
        let name = op.opcode();
        let k = vector_kernel(&rt, name);
        let mut group = c.benchmark_group(format!("vector/{name}"));
        group.sample_size(20);
        for n in sizes {
            let v = vectors(&rt, n);
            // Check once that the engine computes what the native loop does.
            launch_vector(&rt, &k, &v, n, Engine::Pool);
            let got = rt.read(v.ids[2]).unwrap();
            let mut want = vec![0f32; n];
            op.apply(&v.a, &v.b, &mut want);
            assert_eq!(got, f32_bytes(&want), "{name} n={n}");

            group.bench_with_input(BenchmarkId::new("pool", n), &n, |bch, &n| {
                bch.iter(|| launch_vector(&rt, &k, &v, n, Engine::Pool))
            });
            if n <= 65536 {
                group.bench_with_input(BenchmarkId::new("reference", n), &n, |bch, &n| {
                    bch.iter(|| launch_vector(&rt, &k, &v, n, Engine::Reference))
                });
            }
            let mut out = vec![0f32; n];
            group.bench_with_input(BenchmarkId::new("native", n), &n, |bch, _| {
                bch.iter(|| {
                    op.apply(&v.a, &v.b, &mut out);
                    black_box(&mut out);
                })
            });
            let chunk = n.div_ceil(THREADS * 4).max(64);
            group.bench_with_input(BenchmarkId::new("native_on_pool", n), &n, |bch, _| {
                let mut out = vec![0f32; n];
                // Each task owns one chunk of the output; the locks are
                // never contended (one per task per launch).
                let chunks: Vec<Mutex<&mut [f32]>> =
                    out.chunks_mut(chunk).map(Mutex::new).collect();
                bch.iter(|| {
                    native_pool
                        .run(chunks.len(), |_, t| {
                            let r = t * chunk..((t + 1) * chunk).min(n);
                            op.apply(&v.a[r.clone()], &v.b[r], &mut chunks[t].lock());
                            Ok::<(), ()>(())
                        })
                        .unwrap();
                })
            });
            group.bench_with_input(BenchmarkId::new("rayon_par_chunks", n), &n, |bch, _| {
                let mut out = vec![0f32; n];
                bch.iter(|| {
                    rayon_pool.install(|| {
                        out.par_chunks_mut(chunk)
                            .zip(v.a.par_chunks(chunk))
                            .zip(v.b.par_chunks(chunk))
                            .for_each(|((o, a), b)| op.apply(a, b, o))
                    });
                    black_box(&mut out);
                })
            });
            for id in v.ids {
                rt.free(id).unwrap();
            }
        }
        group.finish();
    }
}

fn bench_latency(c: &mut Criterion) {
    let rt = Runtime::builder().threads(THREADS).build().unwrap();
    let rayon_pool = rayon::ThreadPoolBuilder::new()
        .num_threads(THREADS)
        .build()
        .unwrap();
    let empty = rt
        .compile("empty.lasm", ".kernel empty\n    exit\n")
        .unwrap()
        .kernel("empty")
        .unwrap()
        .clone();
    let mut group = c.benchmark_group("latency");
    group.bench_function("empty_kernel/pool", |b| {
        b.iter(|| {
            rt.launch(
                &empty,
                Dim3::x(1),
                Dim3::x(1),
                &[],
                LaunchOptions::default(),
            )
            .unwrap()
        })
    });
    group.bench_function("empty_kernel/rayon_install", |b| {
        b.iter(|| rayon_pool.install(|| black_box(())))
    });
    let k = vector_kernel(&rt, "add");
    let v = vectors(&rt, 256);
    group.bench_function("vector_add_256/pool", |b| {
        b.iter(|| launch_vector(&rt, &k, &v, 256, Engine::Pool))
    });
    let mut out = vec![0f32; 256];
    group.bench_function("vector_add_256/rayon_par_iter", |b| {
        b.iter(|| {
            rayon_pool.install(|| {
                out.par_iter_mut()
                    .zip(v.a.par_iter())
                    .zip(v.b.par_iter())
                    .for_each(|((o, &x), &y)| *o = x + y)
            });
            black_box(&mut out);
        })
    });
    group.finish();
}

const MANDELBROT: &str = "
.kernel mandelbrot
.param out buf
.param width u32
.param n u32
.param max_iter u32
    mov.u32        r0, %gid
    setp.ge.u32    p0, r0, n
    @p0 exit
    rem.u32        r1, r0, width
    div.u32        r2, r0, width
    cvt.f32.u32    r3, r1
    mul.f32        r3, r3, 0.01171875
    add.f32        r3, r3, -2.25
    cvt.f32.u32    r4, r2
    mul.f32        r4, r4, 0.01171875
    add.f32        r4, r4, -1.5
    mov.f32        r5, 0.0
    mov.f32        r6, 0.0
    mov.u32        r7, 0
step:
    setp.ge.u32    p1, r7, max_iter
    @p1 bra done
    mul.f32        r8, r5, r5
    mul.f32        r9, r6, r6
    add.f32        r10, r8, r9
    setp.gt.f32    p2, r10, 4.0
    @p2 bra done
    mul.f32        r11, r5, r6
    sub.f32        r5, r8, r9
    add.f32        r5, r5, r3
    add.f32        r11, r11, r11
    add.f32        r6, r11, r4
    add.u32        r7, r7, 1
    bra step
done:
    shl.u64        r12, r0, 2
    st.global.u32  [out + r12], r7
";

fn bench_mandelbrot(c: &mut Criterion) {
    let (width, height, max_iter) = (256u32, 256u32, 256u32);
    let n = width * height;
    let mut group = c.benchmark_group("mandelbrot");
    group.sample_size(10);
    for threads in [1usize, 2] {
        let rt = Runtime::builder().threads(threads).build().unwrap();
        let k = rt
            .compile("m.lasm", MANDELBROT)
            .unwrap()
            .kernel("mandelbrot")
            .unwrap()
            .clone();
        let out = rt.alloc(n as usize * 4).unwrap();
        let args = [
            Arg::Buffer(out),
            Arg::from(width),
            Arg::from(n),
            Arg::from(max_iter),
        ];
        group.bench_with_input(BenchmarkId::new("threads", threads), &threads, |b, _| {
            b.iter(|| {
                rt.launch(
                    &k,
                    Dim3::x(n.div_ceil(256)),
                    Dim3::x(256),
                    &args,
                    LaunchOptions::default(),
                )
                .unwrap()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_latency, bench_vectors, bench_mandelbrot);
criterion_main!(benches);
