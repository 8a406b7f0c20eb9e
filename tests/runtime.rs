//! `Runtime` as a shared front door: concurrent launches, faults that leave
//! it usable, live reconfiguration under load.

use std::sync::Arc;

use lanes::{Arg, Dim3, LaunchError, LaunchOptions, PoolConfig, Runtime};

const SCALE: &str = "
.kernel scale
.param x buf
.param n u32
.param k u32
    mov.u32 r0, %gid
    setp.ge.u32 p0, r0, n
    @p0 exit
    shl.u64 r1, r0, 2
    ld.global.u32 r2, [x + r1]
    mul.u32 r2, r2, k
    st.global.u32 [x + r1], r2
";

const FAULTY: &str = "
.kernel faulty
.param x buf
    mov.u64 r0, %gid
    shl.u64 r0, r0, 2
    st.global.u32 [x + r0], 1
";

fn u32s(b: &[u8]) -> Vec<u32> {
    b.chunks_exact(4)
        .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

#[test]
fn many_host_threads_launch_at_once() {
    let rt = Arc::new(Runtime::builder().threads(3).build().unwrap());
    let scale = rt.compile("scale.lasm", SCALE).unwrap().kernels[0].clone();
    let faulty = rt.compile("faulty.lasm", FAULTY).unwrap().kernels[0].clone();
    let threads: Vec<_> = (0..4u32)
        .map(|t| {
            let (rt, scale, faulty) = (rt.clone(), scale.clone(), faulty.clone());
            std::thread::spawn(move || {
                let n = 1000 + 37 * t;
                let init: Vec<u8> = (0..n).flat_map(|i| (i + t).to_le_bytes()).collect();
                let x = rt.alloc_from(&init).unwrap();
                for round in 0..20u32 {
                    let args = [Arg::Buffer(x), Arg::from(n), Arg::from(3u32)];
                    rt.launch(
                        &scale,
                        Dim3::x(n.div_ceil(64)),
                        Dim3::x(64),
                        &args,
                        LaunchOptions::default(),
                    )
                    .unwrap();
                    // Every other round, a launch that faults: 64 lanes write
                    // 4 bytes each into a 100-byte buffer.
                    if round % 2 == 0 {
                        let small = rt.alloc(100).unwrap();
                        let err = rt
                            .launch(
                                &faulty,
                                Dim3::x(1),
                                Dim3::x(64),
                                &[Arg::Buffer(small)],
                                LaunchOptions::default(),
                            )
                            .unwrap_err();
                        assert!(matches!(err, LaunchError::Fault(_)), "{err}");
                        rt.free(small).unwrap();
                    }
                }
                let got = u32s(&rt.read(x).unwrap());
                for (i, g) in got.iter().enumerate() {
                    let want = (i as u32 + t).wrapping_mul(3u32.pow(20));
                    assert_eq!(*g, want, "thread {t} element {i}");
                }
                rt.free(x).unwrap();
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(rt.buffer_count(), 0);
}

#[test]
fn reconfiguring_while_others_launch_loses_nothing() {
    let rt = Arc::new(Runtime::builder().threads(2).build().unwrap());
    let scale = rt.compile("scale.lasm", SCALE).unwrap().kernels[0].clone();
    let n = 4096u32;
    let x = rt.alloc_from(&vec![0u8; n as usize * 4]).unwrap();
    rt.write(
        x,
        0,
        &(0..n).flat_map(|i| i.to_le_bytes()).collect::<Vec<u8>>(),
    )
    .unwrap();
    let launcher = {
        let (rt, scale) = (rt.clone(), scale.clone());
        std::thread::spawn(move || {
            for _ in 0..30 {
                let args = [Arg::Buffer(x), Arg::from(n), Arg::from(1u32)];
                rt.launch(
                    &scale,
                    Dim3::x(n / 128),
                    Dim3::x(128),
                    &args,
                    LaunchOptions::default(),
                )
                .unwrap();
            }
        })
    };
    for threads in [1usize, 4, 2, 3] {
        rt.reconfigure(PoolConfig {
            threads: Some(threads),
            ..PoolConfig::default()
        })
        .unwrap();
        assert_eq!(rt.threads(), threads);
    }
    launcher.join().unwrap();
    // Multiplying by 1 thirty times leaves the data as it was.
    let got = u32s(&rt.read(x).unwrap());
    assert!(got.iter().enumerate().all(|(i, &v)| v == i as u32));
}

/// Runs blocks 0..6 of a 10-block launch whose block 3 faults, then blocks
/// 6..10 as another task of the same launch; returns the fault's block and
/// how many blocks had run after each task.
fn fault_then_other_task(src: &str) -> (Dim3, u64, u64) {
    use lanes::engine::LaunchSpec;
    use lanes::engine::block::{BlockLaunch, BlockState};
    use lanes::launch::BoundArgs;
    use lanes::memory::Buffer;

    let kernel = lanes::compile("k.lasm", src).unwrap().kernels[0].clone();
    let counter = Arc::new(Buffer::zeroed(4).unwrap());
    let args = BoundArgs {
        buffers: vec![counter.clone()],
        scalars: vec![],
    };
    let spec = LaunchSpec {
        kernel: &kernel,
        grid: Dim3::x(10),
        block: Dim3::x(1),
        args: &args,
        max_steps: 100,
        stop: &lanes::engine::StopFlag::new(),
    };
    let launch = BlockLaunch::new(&spec);
    let mut state = BlockState::new();
    // A task that faults sets the launch's stop flag ...
    let fault = state.run_blocks(&launch, 0..6).unwrap_err();
    assert!(spec.stop.is_set());
    let after_first = counter.load(0, 4).unwrap();
    // ... and another task of the launch then runs none of its blocks.
    state.run_blocks(&launch, 6..10).unwrap();
    (fault.block, after_first, counter.load(0, 4).unwrap())
}

#[test]
fn a_fault_stops_the_other_tasks_of_its_launch() {
    // Every block counts itself; block 3 then faults. The barrier keeps
    // blocks from being fused, so they run one at a time.
    let src = ".kernel k\n.param c buf\n    atom.global.add.u32 r0, [c], 1\n    bar.sync\n\
               mov.u32 r1, %ctaid.x\n    setp.eq.u32 p0, r1, 3\n    @p0 ld.global.u32 r2, [c + 64]\n";
    let (block, first, total) = fault_then_other_task(src);
    assert_eq!(block, Dim3::new(3, 0, 0));
    assert_eq!(first, 4, "blocks 0..=3 ran, 4 and 5 did not");
    assert_eq!(total, 4);

    // Without the barrier, the task's six one-lane blocks run fused, in
    // lockstep: all six count themselves before block 3 faults, and the
    // fault still names block 3.
    let fused = src.replace("    bar.sync\n", "");
    let (block, first, total) = fault_then_other_task(&fused);
    assert_eq!(block, Dim3::new(3, 0, 0));
    assert_eq!(first, 6);
    assert_eq!(total, 6);
}

/// Copies `x` into `y`, element by element (reads `x` only).
const COPY: &str = "
.kernel copy
.param x buf
.param y buf
    mov.u32 r0, %gid
    shl.u64 r1, r0, 2
    ld.global.u32 r2, [x + r1]
    st.global.u32 [y + r1], r2
";

/// Writes 1000 into every element of `x`.
const FILL: &str = "
.kernel fill
.param x buf
    mov.u32 r0, %gid
    shl.u64 r1, r0, 2
    st.global.u32 [x + r1], 1000
";

#[test]
fn readers_writers_and_host_writes_of_one_buffer_interleave() {
    // Launches that only read `x` freeze it (plain loads); host writes and
    // launches that write `x` wait for them, and new freezes wait for no
    // one. Every mix must finish, and every value read must be one that was
    // written.
    let rt = Arc::new(Runtime::builder().threads(2).build().unwrap());
    let copy = rt.compile("copy.lasm", COPY).unwrap().kernels[0].clone();
    let fill = rt.compile("fill.lasm", FILL).unwrap().kernels[0].clone();
    let n = 4096u32;
    let x = rt.alloc(n as usize * 4).unwrap();
    let rounds = if cfg!(miri) { 2 } else { 40 };
    std::thread::scope(|s| {
        for _ in 0..2 {
            let (rt, copy) = (rt.clone(), copy.clone());
            s.spawn(move || {
                let y = rt.alloc(n as usize * 4).unwrap();
                for _ in 0..rounds {
                    rt.launch(
                        &copy,
                        Dim3::x(n / 256),
                        Dim3::x(256),
                        &[Arg::Buffer(x), Arg::Buffer(y)],
                        LaunchOptions::default(),
                    )
                    .unwrap();
                    for v in u32s(&rt.read(y).unwrap()) {
                        assert!(v <= rounds || v == 1000, "read {v}, never written");
                    }
                }
            });
        }
        let (rt2, fill) = (rt.clone(), fill.clone());
        s.spawn(move || {
            for _ in 0..rounds {
                rt2.launch(
                    &fill,
                    Dim3::x(n / 256),
                    Dim3::x(256),
                    &[Arg::Buffer(x)],
                    LaunchOptions::default(),
                )
                .unwrap();
            }
        });
        for v in 1..=rounds {
            let bytes: Vec<u8> = (0..n).flat_map(|_| v.to_le_bytes()).collect();
            rt.write(x, 0, &bytes).unwrap();
        }
    });
    let last = u32s(&rt.read(x).unwrap());
    assert!(last.iter().all(|&v| v == 1000 || v <= rounds));
}

#[test]
fn a_launch_may_run_a_range_of_its_blocks_on_every_engine() {
    // `launch_blocks` (what each rank of a cluster runs): only blocks
    // 3..7 of 10 scale their elements, on every engine, and a range past
    // the grid is refused.
    for engine in lanes::Engine::ALL {
        let rt = Runtime::builder().threads(2).build().unwrap();
        let p = rt.compile("scale.lasm", SCALE).unwrap();
        let k = p.kernel("scale").unwrap();
        let n = 10 * 32u32;
        let init: Vec<u8> = (1..=n).flat_map(|v| v.to_le_bytes()).collect();
        let x = rt.alloc_from(&init).unwrap();
        let args = [Arg::Buffer(x), Arg::from(n), Arg::from(3u32)];
        let opts = LaunchOptions {
            engine,
            jit_wait: std::time::Duration::MAX,
            ..LaunchOptions::default()
        };
        let stop = lanes::engine::StopFlag::new();
        let stats = rt
            .launch_blocks(k, Dim3::x(10), Dim3::x(32), &args, opts, &stop, Some(3..7))
            .unwrap();
        assert_eq!(stats.blocks, 4, "{engine}");
        let got = u32s(&rt.read(x).unwrap());
        for (i, v) in got.iter().enumerate() {
            let scaled = (3 * 32..7 * 32).contains(&i);
            let want = (i as u32 + 1) * if scaled { 3 } else { 1 };
            assert_eq!(*v, want, "{engine}: element {i}");
        }
        let stop = lanes::engine::StopFlag::new();
        let e = rt
            .launch_blocks(k, Dim3::x(10), Dim3::x(32), &args, opts, &stop, Some(8..11))
            .unwrap_err();
        assert!(matches!(e, LaunchError::Shape(_)), "{engine}: {e}");
    }
}
