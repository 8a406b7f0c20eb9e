//! The hooks an embedding program (the Python package) uses: memory it
//! lends to a launch ([`Runtime::buffer_external`]) and a stop flag of its
//! own ([`Runtime::launch_with_stop`]), on every engine.

use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use lanes::engine::StopFlag;
use lanes::memory::MemoryError;
use lanes::{Dim3, Engine, LaunchError, LaunchOptions, Runtime};

const SCALE: &str = ".kernel scale\n.param x buf\n.param y buf\n.param n u32\n\
    mov.u32 r0, %gid\n setp.ge.u32 p0, r0, n\n @p0 exit\n shl.u64 r1, r0, 2\n\
    ld.global.f32 r2, [x + r1]\n add.f32 r2, r2, r2\n st.global.f32 [y + r1], r2\n";

/// Sets its flag when dropped: tells when lanes lets go of lent memory.
struct Lender(Arc<AtomicBool>);

impl Drop for Lender {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[test]
fn launches_read_and_write_lent_memory_in_place() {
    let rt = Runtime::builder().threads(2).build().unwrap();
    let program = rt.compile("scale.lasm", SCALE).unwrap();
    let kernel = program.kernel("scale").unwrap();
    for engine in Engine::ALL {
        let n = 3000;
        let mut x: Vec<f32> = (0..n).map(|i| i as f32).collect();
        let mut y = vec![0.0f32; n];
        let (x_back, y_back) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicBool::new(false)),
        );
        {
            // SAFETY: `x` and `y` outlive the buffers and are not touched
            // until they are dropped (end of this block).
            let bx = unsafe {
                rt.buffer_external(
                    NonNull::new(x.as_mut_ptr()).unwrap(),
                    n,
                    Box::new(Lender(x_back.clone())),
                )
            }
            .unwrap();
            let by = unsafe {
                rt.buffer_external(
                    NonNull::new(y.as_mut_ptr()).unwrap(),
                    n,
                    Box::new(Lender(y_back.clone())),
                )
            }
            .unwrap();
            kernel
                .launch(Dim3::x(12), Dim3::x(256))
                .arg(&bx)
                .arg(&by)
                .arg(n as u32)
                .engine(engine)
                .run(&rt)
                .unwrap();
            // Reads through the buffer see the same memory.
            assert_eq!(by.read().unwrap()[n - 1], 2.0 * (n - 1) as f32);
            assert!(
                !y_back.load(Ordering::SeqCst),
                "held while the buffer lives"
            );
        }
        assert!(x_back.load(Ordering::SeqCst) && y_back.load(Ordering::SeqCst));
        assert_eq!(rt.buffer_count(), 0);
        let want: Vec<f32> = (0..n).map(|i| 2.0 * i as f32).collect();
        assert_eq!(y, want, "{engine}");
    }
}

#[test]
fn lent_memory_must_hold_whole_aligned_words() {
    let rt = Runtime::new();
    let mut words = vec![0u64; 4];
    let base = words.as_mut_ptr().cast::<u32>();
    for (offset, len) in [(1, 2), (0, 3)] {
        // SAFETY: refused before any access.
        let ptr = unsafe { NonNull::new(base.add(offset)).unwrap() };
        let err = unsafe { rt.buffer_external(ptr, len, Box::new(())) }.unwrap_err();
        assert!(matches!(err, MemoryError::ExternalLayout { .. }), "{err}");
        assert!(err.to_string().contains("whole number of 8-byte words"));
    }
    assert_eq!(rt.buffer_count(), 0);
}

#[test]
fn a_stop_flag_of_the_callers_cancels_running_blocks() {
    // Blocks 0..4 finish at once; the others loop until stopped.
    let src = ".kernel k\n.param out buf\n mov.u32 r0, %ctaid.x\n shl.u64 r1, r0, 2\n\
        st.global.u32 [out + r1], 1\n setp.lt.u32 p0, r0, 4\n @p0 exit\nloop:\n bra loop\n";
    let rt = Runtime::builder().threads(2).build().unwrap();
    let program = rt.compile("k.lasm", src).unwrap();
    let kernel = program.kernel("k").unwrap();
    for engine in Engine::ALL {
        let out = rt.buffer_zeroed::<u32>(8).unwrap();
        let stop = StopFlag::new();
        let result = std::thread::scope(|s| {
            s.spawn(|| {
                std::thread::sleep(Duration::from_millis(50));
                stop.set();
            });
            // A deadline far away: the cancel is not a timeout.
            let options = LaunchOptions {
                engine,
                jit_wait: std::time::Duration::MAX,
                timeout: Some(Duration::from_secs(600)),
                ..LaunchOptions::default()
            };
            kernel
                .launch(Dim3::x(8), Dim3::x(1))
                .arg(&out)
                .options(options)
                .stop_flag(&stop)
                .run(&rt)
        });
        let Err(LaunchError::Cancelled {
            kernel: name,
            blocks,
            unfinished,
            ..
        }) = result
        else {
            panic!("{engine}: {result:?}");
        };
        assert_eq!((name.as_str(), blocks), ("k", 8));
        // Blocks 4.. never end; engines that run blocks together (fused
        // units) may count the first four with them.
        assert!((4..=8).contains(&unfinished), "{engine}: {unfinished}");
        let written = out.read().unwrap();
        assert_eq!(
            &written[..4],
            &[1; 4],
            "{engine}: finished blocks keep their writes"
        );
        // The runtime goes on.
        let fresh = StopFlag::new();
        let e = kernel
            .launch(Dim3::x(4), Dim3::x(1))
            .arg(&out)
            .engine(engine)
            .stop_flag(&fresh)
            .run(&rt);
        assert!(e.is_ok(), "{engine}: {e:?}");
    }
}
