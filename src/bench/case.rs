//! What the suite measures: a ready kernel at a size, its buffers on a
//! runtime, and the check of its output against the native loop.

use std::sync::Arc;

use serde::Serialize;

use super::BenchError;
use super::baseline::{Baseline, Expected, Inputs};
use crate::kernel::Kernel;
use crate::memory::BufferId;
use crate::ops::{self, Op};
use crate::{Arg, Dim3, Engine, LaunchOptions, LaunchStats, Runtime};

/// Lanes per block of every sized case (as [`ops::BLOCK_LANES`]).
pub const BLOCK_LANES: u32 = ops::BLOCK_LANES;

/// Escape-time limit of the Mandelbrot cases.
pub const MANDELBROT_MAX_ITER: u32 = 256;

/// The largest `n` a case may have: three f32 buffers of it take 768 MiB.
pub const MAX_N: u64 = 1 << 26;

/// A kernel of the suite.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BenchKernel {
    /// `vector_add`, f32.
    Add,
    /// `vector_sub`, f32.
    Sub,
    /// `vector_mul`, f32.
    Mul,
    /// `vector_div`, f32.
    Div,
    /// `vector_min`, f32.
    Min,
    /// `vector_max`, f32.
    Max,
    /// `saxpy`, f32, fused.
    Saxpy,
    /// `block_sum`: shared-memory tree reduction and one atomic add per block.
    BlockSum,
    /// `mandelbrot`: divergent, compute-bound.
    Mandelbrot,
    /// `empty`: the cost of a launch (one lane).
    Empty,
}

impl BenchKernel {
    /// Every kernel, in the order the suite runs them.
    pub const ALL: [BenchKernel; 10] = [
        BenchKernel::Add,
        BenchKernel::Sub,
        BenchKernel::Mul,
        BenchKernel::Div,
        BenchKernel::Min,
        BenchKernel::Max,
        BenchKernel::Saxpy,
        BenchKernel::BlockSum,
        BenchKernel::Mandelbrot,
        BenchKernel::Empty,
    ];

    /// The ready kernel it launches.
    pub fn op(self) -> Op {
        match self {
            BenchKernel::Add => Op::Add,
            BenchKernel::Sub => Op::Sub,
            BenchKernel::Mul => Op::Mul,
            BenchKernel::Div => Op::Div,
            BenchKernel::Min => Op::Min,
            BenchKernel::Max => Op::Max,
            BenchKernel::Saxpy => Op::Saxpy,
            BenchKernel::BlockSum => Op::BlockSum,
            BenchKernel::Mandelbrot => Op::Mandelbrot,
            BenchKernel::Empty => Op::Empty,
        }
    }

    /// The kernel's name (`vector_add`, `mandelbrot`, ...).
    pub fn name(self) -> &'static str {
        self.op().name()
    }

    /// Whether the kernel runs over `n` elements; `empty` is always one lane.
    pub fn is_sized(self) -> bool {
        self != BenchKernel::Empty
    }

    /// The sizes the suite runs by default (`quick`: the short run).
    pub fn default_sizes(self, quick: bool) -> Vec<u64> {
        const SMALL: [u64; 4] = [256, 1024, 4096, 16384];
        match (self, quick) {
            (BenchKernel::Empty, _) => vec![1],
            (BenchKernel::Mandelbrot, false) => vec![4096, 65536],
            (BenchKernel::Mandelbrot, true) => vec![1024],
            (BenchKernel::Add, false) => SMALL.iter().copied().chain([1 << 20, 1 << 24]).collect(),
            (_, false) => SMALL.iter().copied().chain([1 << 20]).collect(),
            (_, true) => vec![256, 4096],
        }
    }

    /// Bytes read and written per element, where that measures the kernel
    /// (memory-bound kernels); `None` for compute-bound and empty ones.
    pub fn bytes_per_element(self) -> Option<u64> {
        match self {
            BenchKernel::Add
            | BenchKernel::Sub
            | BenchKernel::Mul
            | BenchKernel::Div
            | BenchKernel::Min
            | BenchKernel::Max
            | BenchKernel::Saxpy => Some(12),
            BenchKernel::BlockSum => Some(4),
            BenchKernel::Mandelbrot | BenchKernel::Empty => None,
        }
    }
}

/// One measurement: a kernel at a size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Case {
    /// The kernel.
    pub kernel: BenchKernel,
    /// Elements (pixels for Mandelbrot, lanes for `empty`).
    pub n: u64,
}

impl Case {
    /// `kernel` at `n` elements (`empty` always launches one lane).
    pub fn new(kernel: BenchKernel, n: u64) -> Case {
        let n = if kernel.is_sized() { n } else { 1 };
        Case { kernel, n }
    }

    /// `kernel/n`, what `--filter` matches.
    pub fn name(&self) -> String {
        format!("{}/{}", self.kernel.name(), self.n)
    }

    /// Blocks in the grid: `ceil(n / 256)`, at least one.
    pub fn grid(&self) -> Dim3 {
        match self.kernel {
            BenchKernel::Empty => Dim3::x(1),
            _ => Dim3::x(
                u32::try_from(self.n.div_ceil(u64::from(BLOCK_LANES)).max(1)).unwrap_or(u32::MAX),
            ),
        }
    }

    /// Lanes per block.
    pub fn block(&self) -> Dim3 {
        match self.kernel {
            BenchKernel::Empty => Dim3::x(1),
            _ => Dim3::x(BLOCK_LANES),
        }
    }
}

/// The image a Mandelbrot case of `n` pixels draws: the set's box
/// `[-2, 0.5] x [-1.25, 1.25]` at `width x height` pixels, pixel centres.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct MandelbrotImage {
    /// Pixels per row: the power of two at or above `sqrt(n)`.
    pub width: u32,
    /// Rows: `ceil(n / width)`.
    pub height: u32,
    /// Pixels computed (the last row may be partial).
    pub n: u32,
    /// Escape-time limit.
    pub max_iter: u32,
    /// Real part of pixel column 0.
    pub x0: f32,
    /// Imaginary part of pixel row 0.
    pub y0: f32,
    /// Real step per column.
    pub dx: f32,
    /// Imaginary step per row.
    pub dy: f32,
}

impl MandelbrotImage {
    /// The image of `n` pixels (`n` at least 1 and at most `u32::MAX`).
    pub fn of_pixels(n: u32) -> MandelbrotImage {
        let n = n.max(1);
        let side = (f64::from(n)).sqrt().ceil() as u32;
        let width = side.max(1).next_power_of_two();
        let height = n.div_ceil(width);
        let dx = 2.5 / width as f32;
        let dy = 2.5 / height as f32;
        MandelbrotImage {
            width,
            height,
            n,
            max_iter: MANDELBROT_MAX_ITER,
            x0: -2.0 + dx / 2.0,
            y0: -1.25 + dy / 2.0,
            dx,
            dy,
        }
    }
}

/// A case ready to launch: its buffers on the runtime, freed on drop.
pub struct Prepared<'rt> {
    rt: &'rt Runtime,
    case: Case,
    kernel: Arc<Kernel>,
    args: Vec<Arg>,
    buffers: Vec<BufferId>,
    out: Option<BufferId>,
    options: LaunchOptions,
}

impl<'rt> Prepared<'rt> {
    /// Uploads `baseline`'s inputs to `rt` and binds the launch arguments.
    pub fn new(rt: &'rt Runtime, baseline: &Baseline) -> Result<Prepared<'rt>, BenchError> {
        let case = baseline.case();
        let mut p = Prepared {
            rt,
            case,
            kernel: ops::kernel(case.kernel.op()),
            args: Vec::new(),
            buffers: Vec::new(),
            out: None,
            options: LaunchOptions::default(),
        };
        let n = u32::try_from(case.n).unwrap_or(u32::MAX);
        match baseline.inputs() {
            Inputs::Binary { a, b } => {
                let a = p.upload(a)?;
                let b = p.upload(b)?;
                let out = p.zeroed(case.n)?;
                p.args = vec![a.into(), b.into(), out.into(), Arg::from(n)];
            }
            Inputs::Saxpy { alpha, x, y } => {
                let x = p.upload(x)?;
                let y = p.upload(y)?;
                let out = p.zeroed(case.n)?;
                p.args = vec![
                    Arg::from(alpha),
                    x.into(),
                    y.into(),
                    out.into(),
                    Arg::from(n),
                ];
            }
            Inputs::Sum { x } => {
                let x = p.upload(x)?;
                let out = p.zeroed(1)?;
                p.args = vec![x.into(), out.into(), Arg::from(n)];
            }
            Inputs::Mandelbrot(img) => {
                let out = p.zeroed(case.n)?;
                p.args = vec![
                    out.into(),
                    Arg::from(img.width),
                    Arg::from(img.n),
                    Arg::from(img.max_iter),
                    Arg::from(img.x0),
                    Arg::from(img.y0),
                    Arg::from(img.dx),
                    Arg::from(img.dy),
                ];
            }
            Inputs::Empty => {}
        }
        Ok(p)
    }

    /// The case.
    pub fn case(&self) -> Case {
        self.case
    }

    /// Launches on `engine` from now on (the default engine until then).
    pub fn with_engine(mut self, engine: Engine) -> Prepared<'rt> {
        self.options.engine = engine;
        self
    }

    /// One launch.
    pub fn launch(&self) -> Result<(), BenchError> {
        self.launch_stats().map(|_| ())
    }

    /// One launch, and what it did.
    pub fn launch_stats(&self) -> Result<LaunchStats, BenchError> {
        self.rt
            .launch(
                &self.kernel,
                self.case.grid(),
                self.case.block(),
                &self.args,
                self.options,
            )
            .map_err(|source| BenchError::Launch {
                case: self.case.name(),
                source,
            })
    }

    /// Launches once on a zeroed output and compares the output with the
    /// native loop's, bit for bit. Returns what the launch did (the first
    /// launch of a kernel includes its compilation on the JIT).
    pub fn verify(&self, baseline: &mut Baseline) -> Result<LaunchStats, BenchError> {
        let Some(out) = self.out else {
            return self.launch_stats();
        };
        let len = self.rt.len_of(out).map_err(|e| self.memory(e))?;
        self.rt
            .write(out, 0, &vec![0; len])
            .map_err(|e| self.memory(e))?;
        let stats = self.launch_stats()?;
        let bytes = self.rt.read(out).map_err(|e| self.memory(e))?;
        let words = bytes
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]));
        let mismatch = |index: usize, got: String, expected: String| BenchError::Mismatch {
            case: self.case.name(),
            index,
            got,
            expected,
        };
        match baseline.expected() {
            Expected::F32(want) => {
                for (i, (got, want)) in words.zip(want.iter()).enumerate() {
                    if got != want.to_bits() {
                        return Err(mismatch(
                            i,
                            f32::from_bits(got).to_string(),
                            want.to_string(),
                        ));
                    }
                }
            }
            Expected::U32(want) => {
                for (i, (got, want)) in words.zip(want.iter()).enumerate() {
                    if got != *want {
                        return Err(mismatch(i, got.to_string(), want.to_string()));
                    }
                }
            }
            Expected::Nothing => {}
        }
        Ok(stats)
    }

    fn memory(&self, source: crate::memory::MemoryError) -> BenchError {
        BenchError::Memory {
            case: self.case.name(),
            source,
        }
    }

    fn upload(&mut self, values: &[f32]) -> Result<BufferId, BenchError> {
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let id = self.rt.alloc_from(&bytes).map_err(|e| self.memory(e))?;
        self.buffers.push(id);
        Ok(id)
    }

    /// A zeroed output of `elements` 4-byte elements.
    fn zeroed(&mut self, elements: u64) -> Result<BufferId, BenchError> {
        let bytes = usize::try_from(elements.max(1) * 4).unwrap_or(usize::MAX);
        let id = self.rt.alloc(bytes).map_err(|e| self.memory(e))?;
        self.buffers.push(id);
        self.out = Some(id);
        Ok(id)
    }
}

impl Drop for Prepared<'_> {
    fn drop(&mut self) {
        for id in self.buffers.drain(..) {
            // Buffers this case made; freeing them cannot fail, and a
            // destructor has nothing better to do if it somehow did.
            let _ = self.rt.free(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mandelbrot_images_cover_n() {
        for n in [1, 256, 1000, 4096, 65536] {
            let img = MandelbrotImage::of_pixels(n);
            assert!(img.width.is_power_of_two());
            assert!(u64::from(img.width) * u64::from(img.height) >= u64::from(n));
            assert!(u64::from(img.width) * u64::from(img.height - 1) < u64::from(n));
        }
        assert_eq!(MandelbrotImage::of_pixels(4096).width, 64);
        assert_eq!(MandelbrotImage::of_pixels(65536).height, 256);
    }

    #[test]
    fn a_wrong_result_is_an_error() {
        let rt = Runtime::builder().threads(1).build().unwrap();
        // Same n, so the same inputs: vector_sub checked against vector_add.
        let sub = Baseline::new(Case::new(BenchKernel::Sub, 300));
        let mut add = Baseline::new(Case::new(BenchKernel::Add, 300));
        let prepared = Prepared::new(&rt, &sub).unwrap();
        match prepared.verify(&mut add) {
            Err(BenchError::Mismatch { case, index, .. }) => {
                assert_eq!(case, "vector_sub/300");
                assert_eq!(index, 0);
            }
            other => panic!("expected a mismatch, got {other:?}"),
        }
        let mut sub = sub;
        prepared.verify(&mut sub).unwrap();
        drop(prepared);
        assert_eq!(rt.buffer_count(), 0, "buffers are freed");
    }

    #[test]
    fn grids_cover_n() {
        assert_eq!(Case::new(BenchKernel::Add, 256).grid(), Dim3::x(1));
        assert_eq!(Case::new(BenchKernel::Add, 257).grid(), Dim3::x(2));
        assert_eq!(Case::new(BenchKernel::Empty, 4096).n, 1);
        assert_eq!(Case::new(BenchKernel::Saxpy, 1024).name(), "saxpy/1024");
    }
}
