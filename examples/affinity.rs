//! An affinity experiment from Rust: run the same compute-bound kernel
//! (Mandelbrot) on pools of 1 and 2 pinned workers under each placement,
//! and print how long a launch took and where each worker was bound and
//! actually seen running. `lanes affinity` does the full sweep; this is the
//! few lines of API behind it.
//!
//! ```sh
//! cargo run --release --example affinity            # 256 x 256 pixels, 10 launches per setting
//! cargo run --release --example affinity -- 16384 3
//! ```
//!
//! Also run by `cargo test`, small.

use std::error::Error;
use std::time::Instant;

use lanes::bench::allowed_cpus;
use lanes::bench::case::MandelbrotImage;
use lanes::ops::{self, Op};
use lanes::{Dim3, Placement, PoolConfig, Runtime};

fn run(pixels: u32, launches: u32) -> Result<(), Box<dyn Error>> {
    let cpus = allowed_cpus();
    let rt = Runtime::new();
    let kernel = ops::kernel(Op::Mandelbrot); // out[i] = escape steps of pixel i
    let img = MandelbrotImage::of_pixels(pixels);
    let out = rt.buffer_zeroed::<u32>(pixels as usize)?;

    let mut settings = Vec::new();
    for threads in [1, 2].into_iter().filter(|&t| t <= cpus.len()) {
        for placement in [Placement::None, Placement::Close, Placement::Spread] {
            settings.push((threads, placement));
        }
        // An explicit list: the last CPUs this process may use.
        settings.push((
            threads,
            Placement::Cpus(cpus[cpus.len() - threads..].to_vec()),
        ));
    }
    let mut first: Option<Vec<u32>> = None;
    for (threads, placement) in settings {
        // The launching thread does not help here: then exactly `threads`
        // pinned workers compute, which is what the experiment varies.
        rt.reconfigure(PoolConfig {
            threads: Some(threads),
            placement: placement.clone(),
            submitter_helps: false,
            ..PoolConfig::default()
        })?;
        rt.reset_metrics();
        let start = Instant::now();
        for _ in 0..launches {
            kernel
                .launch(Dim3::x(pixels.div_ceil(256)), Dim3::x(256))
                .arg(&out)
                .arg(img.width)
                .arg(img.n)
                .arg(img.max_iter)
                .arg(img.x0)
                .arg(img.y0)
                .arg(img.dx)
                .arg(img.dy)
                .run(&rt)?;
        }
        let per_launch = start.elapsed() / launches;
        let report = rt.report();
        println!(
            "{threads} thread(s), {placement:?}: {per_launch:.1?} per launch, {} tasks, {} steals",
            report.total.tasks, report.total.steals
        );
        print!("{}", report.affinity);

        // Every setting computes the same image, and a pinned worker runs
        // only where it is bound.
        let image = out.read()?;
        assert_eq!(*first.get_or_insert_with(|| image.clone()), image);
        for w in &report.affinity.workers {
            if w.pinned {
                assert!(w.seen_on.iter().all(|c| w.bound_to.contains(c)), "{w}");
            }
        }
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let pixels = args.next().map_or(Ok(65536), |v| v.parse())?;
    let launches = args.next().map_or(Ok(10), |v| v.parse())?;
    run(pixels, launches)
}

#[cfg(test)]
mod tests {
    #[test]
    fn runs() {
        super::run(1024, 2).unwrap();
    }
}
