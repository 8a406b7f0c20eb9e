//! What the suite measures: a ready kernel at a size, its buffers on a
//! runtime, and the check of its output against the native loop.

use std::sync::Arc;

use serde::Serialize;

use super::BenchError;
use super::baseline::{Baseline, Expected, Inputs};
use crate::kernel::Kernel;
use crate::memory::BufferId;
use crate::ops::{self, Op, OpsError};
use crate::{Arg, Buffer, Dim3, Engine, LaunchError, LaunchOptions, LaunchStats, Runtime};

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
    /// `sum`: [`crate::ops::Ops::sum`], f32, a fixed tree over the whole
    /// vector in passes of one launch each (`reduce.lasm`).
    Sum,
    /// `softmax`: [`crate::ops::Ops::softmax`], f32 (max and sum passes,
    /// exponentials, division).
    Softmax,
    /// `matmul`: [`crate::ops::Ops::gemm`], f32, `n x n` by `n x n`, the
    /// naive kernel (one output per lane, 16 x 16 blocks).
    Matmul,
}

impl BenchKernel {
    /// Every kernel, in the order the suite runs them.
    pub const ALL: [BenchKernel; 13] = [
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
        BenchKernel::Sum,
        BenchKernel::Softmax,
        BenchKernel::Matmul,
    ];

    /// The fixed kernel it launches once per measurement, if it is one
    /// (`sum`, `softmax` and `matmul` run ops of the library).
    pub fn op(self) -> Option<Op> {
        Some(match self {
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
            BenchKernel::Sum | BenchKernel::Softmax | BenchKernel::Matmul => return None,
        })
    }

    /// The kernel's name (`vector_add`, `mandelbrot`, ...).
    pub fn name(self) -> &'static str {
        match self {
            BenchKernel::Sum => "sum",
            BenchKernel::Softmax => "softmax",
            BenchKernel::Matmul => "matmul",
            _ => self.op().map_or("", Op::name),
        }
    }

    /// Whether the kernel runs over `n` elements; `empty` is always one lane.
    pub fn is_sized(self) -> bool {
        self != BenchKernel::Empty
    }

    /// Whether `lanes bench --sizes` applies: every sized kernel but
    /// matmul, whose `n` is a matrix side (its own sizes: 64, 128, 256).
    ///
    /// ```
    /// use lanes::bench::BenchKernel;
    ///
    /// assert!(BenchKernel::Softmax.takes_sizes());
    /// assert!(!BenchKernel::Matmul.takes_sizes());
    /// ```
    pub fn takes_sizes(self) -> bool {
        !matches!(self, BenchKernel::Empty | BenchKernel::Matmul)
    }

    /// The sizes the suite runs by default (`quick`: the short run).
    pub fn default_sizes(self, quick: bool) -> Vec<u64> {
        const SMALL: [u64; 4] = [256, 1024, 4096, 16384];
        match (self, quick) {
            (BenchKernel::Empty, _) => vec![1],
            (BenchKernel::Mandelbrot, false) => vec![4096, 65536],
            (BenchKernel::Mandelbrot, true) => vec![1024],
            (BenchKernel::Matmul, false) => vec![64, 128, 256],
            (BenchKernel::Matmul, true) => vec![32],
            // The streaming goals' cases (vector_add and saxpy at 16M
            // too, against rayon).
            (BenchKernel::Add | BenchKernel::Saxpy, false) => {
                SMALL.iter().copied().chain([1 << 20, 1 << 24]).collect()
            }
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
            BenchKernel::BlockSum | BenchKernel::Sum => Some(4),
            // Read x twice (max, exponentials), write out, read it (sum),
            // read and write it (division).
            BenchKernel::Softmax => Some(24),
            BenchKernel::Mandelbrot | BenchKernel::Empty | BenchKernel::Matmul => None,
        }
    }
}

/// One measurement: a kernel at a size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Case {
    /// The kernel.
    pub kernel: BenchKernel,
    /// Elements (pixels for Mandelbrot, lanes for `empty`, the matrices'
    /// side for matmul).
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

    /// Blocks in the grid: `ceil(n / 256)`, at least one (`sum` and
    /// `softmax`: of their first launch, a reduction pass of 2048 elements
    /// per block; `matmul`: 16 x 16 tiles).
    pub fn grid(&self) -> Dim3 {
        let blocks = |per: u64| u32::try_from(self.n.div_ceil(per).max(1)).unwrap_or(u32::MAX);
        match self.kernel {
            BenchKernel::Empty => Dim3::x(1),
            BenchKernel::Sum | BenchKernel::Softmax => Dim3::x(blocks(2048)),
            BenchKernel::Matmul => {
                let side = blocks(u64::from(ops::GEMM_TILE));
                Dim3::new(side, side, 1)
            }
            _ => Dim3::x(blocks(u64::from(BLOCK_LANES))),
        }
    }

    /// Lanes per block.
    pub fn block(&self) -> Dim3 {
        match self.kernel {
            BenchKernel::Empty => Dim3::x(1),
            BenchKernel::Matmul => Dim3::new(ops::GEMM_TILE, ops::GEMM_TILE, 1),
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
    work: Work,
    buffers: Vec<BufferId>,
    options: LaunchOptions,
}

/// What one measured call does.
enum Work {
    /// One launch of a fixed kernel; `out` is checked.
    Launch {
        kernel: Arc<Kernel>,
        args: Vec<Arg>,
        out: Option<BufferId>,
    },
    /// `Ops::sum_with`.
    Sum {
        x: Buffer<f32>,
        scratch: Buffer<f32>,
    },
    /// `Ops::softmax_with`.
    Softmax {
        x: Buffer<f32>,
        out: Buffer<f32>,
        scratch: Buffer<f32>,
    },
    /// `Ops::gemm` of two `n x n` matrices.
    Matmul {
        n: usize,
        a: Buffer<f32>,
        b: Buffer<f32>,
        c: Buffer<f32>,
    },
}

impl<'rt> Prepared<'rt> {
    /// Uploads `baseline`'s inputs to `rt` and binds the launch arguments.
    pub fn new(rt: &'rt Runtime, baseline: &Baseline) -> Result<Prepared<'rt>, BenchError> {
        let case = baseline.case();
        let mut p = Prepared {
            rt,
            case,
            work: Work::Launch {
                kernel: ops::kernel(case.kernel.op().unwrap_or(Op::Empty)),
                args: Vec::new(),
                out: None,
            },
            buffers: Vec::new(),
            options: LaunchOptions {
                // Measure compiled code: the first launch (the warm-up's)
                // waits for it.
                jit_wait: std::time::Duration::MAX,
                ..LaunchOptions::default()
            },
        };
        let n = u32::try_from(case.n).unwrap_or(u32::MAX);
        let args = match baseline.inputs() {
            Inputs::Binary { a, b } => {
                let a = p.upload(a)?;
                let b = p.upload(b)?;
                let out = p.zeroed(case.n)?;
                vec![a.into(), b.into(), out.into(), Arg::from(n)]
            }
            Inputs::Saxpy { alpha, x, y } => {
                let x = p.upload(x)?;
                let y = p.upload(y)?;
                let out = p.zeroed(case.n)?;
                vec![
                    Arg::from(alpha),
                    x.into(),
                    y.into(),
                    out.into(),
                    Arg::from(n),
                ]
            }
            Inputs::Sum { x } if case.kernel == BenchKernel::Sum => {
                p.work = Work::Sum {
                    x: p.typed(x)?,
                    scratch: p.typed_zeroed(ops::scratch_len(x.len()))?,
                };
                return Ok(p);
            }
            Inputs::Sum { x } => {
                let x = p.upload(x)?;
                let out = p.zeroed(1)?;
                vec![x.into(), out.into(), Arg::from(n)]
            }
            Inputs::Mandelbrot(img) => {
                let out = p.zeroed(case.n)?;
                vec![
                    out.into(),
                    Arg::from(img.width),
                    Arg::from(img.n),
                    Arg::from(img.max_iter),
                    Arg::from(img.x0),
                    Arg::from(img.y0),
                    Arg::from(img.dx),
                    Arg::from(img.dy),
                ]
            }
            Inputs::Softmax { x } => {
                p.work = Work::Softmax {
                    x: p.typed(x)?,
                    out: p.typed_zeroed(x.len())?,
                    scratch: p.typed_zeroed(ops::scratch_len(x.len()))?,
                };
                return Ok(p);
            }
            Inputs::Matmul { n, a, b } => {
                p.work = Work::Matmul {
                    n,
                    a: p.typed(a)?,
                    b: p.typed(b)?,
                    c: p.typed_zeroed(n * n)?,
                };
                return Ok(p);
            }
            Inputs::Empty => Vec::new(),
        };
        if let Work::Launch { args: a, .. } = &mut p.work {
            *a = args;
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

    /// One measured call: one launch, or for `sum` and `softmax` the op's
    /// launches (and `sum` reading its result back).
    pub fn launch(&self) -> Result<(), BenchError> {
        self.run().map(|_| ())
    }

    /// Runs the work: what the launch did (a case that is one launch), and
    /// a sum's value.
    fn run(&self) -> Result<(Option<LaunchStats>, Option<f32>), BenchError> {
        let ops = self.rt.ops().with_options(self.options);
        let result = match &self.work {
            Work::Launch { kernel, args, .. } => self
                .rt
                .launch(
                    kernel,
                    self.case.grid(),
                    self.case.block(),
                    args,
                    self.options,
                )
                .map(|stats| (Some(stats), None))
                .map_err(OpsError::from),
            Work::Sum { x, scratch } => ops.sum_with(x, scratch).map(|s| (None, Some(s))),
            Work::Softmax { x, out, scratch } => {
                ops.softmax_with(x, out, scratch).map(|_| (None, None))
            }
            Work::Matmul { n, a, b, c } => ops.gemm(a, b, c, *n, *n, *n).map(|_| (None, None)),
        };
        result.map_err(|e| match e {
            OpsError::Memory(source) => self.memory(source),
            OpsError::Launch(source) => BenchError::Launch {
                case: self.case.name(),
                source,
            },
            other => BenchError::Launch {
                case: self.case.name(),
                source: LaunchError::Engine(other.to_string()),
            },
        })
    }

    /// Launches once on a zeroed output and compares the output with the
    /// native loop's: bit for bit, or within the tolerance of
    /// [`Expected::Close`].
    ///
    /// Returns what the launch did, for cases that are one launch (the
    /// first launch of a kernel includes its compilation on the JIT).
    pub fn verify(&self, baseline: &mut Baseline) -> Result<Option<LaunchStats>, BenchError> {
        let zero = |b: &Buffer<f32>| self.ops_memory(b.write(&vec![0.0; b.len()]));
        match &self.work {
            Work::Launch { out: Some(out), .. } => {
                let len = self.rt.len_of(*out).map_err(|e| self.memory(e))?;
                self.rt
                    .write(*out, 0, &vec![0; len])
                    .map_err(|e| self.memory(e))?;
            }
            Work::Launch { out: None, .. } => return self.run().map(|(stats, _)| stats),
            Work::Sum { .. } => {}
            Work::Softmax { out, .. } => zero(out)?,
            Work::Matmul { c, .. } => zero(c)?,
        }
        let (stats, sum) = self.run()?;
        let words: Vec<u32> = match &self.work {
            Work::Launch { out: Some(out), .. } => {
                let bytes = self.rt.read(*out).map_err(|e| self.memory(e))?;
                bytes
                    .chunks_exact(4)
                    .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect()
            }
            Work::Softmax { out: c, .. } | Work::Matmul { c, .. } => {
                let values = self.ops_memory(c.read())?;
                values.iter().map(|v| v.to_bits()).collect()
            }
            Work::Sum { .. } | Work::Launch { out: None, .. } => {
                sum.iter().map(|v| v.to_bits()).collect()
            }
        };
        let mismatch = |index: usize, got: String, expected: String| BenchError::Mismatch {
            case: self.case.name(),
            index,
            got,
            expected,
        };
        match baseline.expected() {
            Expected::F32(want) => {
                for (i, (&got, want)) in words.iter().zip(want.iter()).enumerate() {
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
                for (i, (&got, want)) in words.iter().zip(want.iter()).enumerate() {
                    if got != *want {
                        return Err(mismatch(i, got.to_string(), want.to_string()));
                    }
                }
            }
            Expected::Close { want, rel } => {
                for (i, (&got, &want)) in words.iter().zip(want.iter()).enumerate() {
                    let got = f64::from(f32::from_bits(got));
                    // NaN fails too: it is not within any tolerance.
                    let within = (got - want).abs() <= rel * want.abs();
                    if !within {
                        return Err(mismatch(
                            i,
                            got.to_string(),
                            format!("{want} (within {rel} relative)"),
                        ));
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

    fn ops_memory<T>(&self, r: Result<T, crate::memory::MemoryError>) -> Result<T, BenchError> {
        r.map_err(|e| self.memory(e))
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
        if let Work::Launch { out, .. } = &mut self.work {
            *out = Some(id);
        }
        Ok(id)
    }

    /// A typed buffer holding `values` (freed when the work is dropped).
    fn typed(&self, values: &[f32]) -> Result<Buffer<f32>, BenchError> {
        self.ops_memory(self.rt.buffer_from(values))
    }

    /// A typed buffer of `len` zeros.
    fn typed_zeroed(&self, len: usize) -> Result<Buffer<f32>, BenchError> {
        self.ops_memory(self.rt.buffer_zeroed(len))
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
    fn library_cases_verify_and_catch_wrong_results() {
        let rt = Runtime::builder().threads(2).build().unwrap();
        for (kernel, n) in [
            (BenchKernel::Sum, 5000),
            (BenchKernel::Softmax, 3000),
            (BenchKernel::Matmul, 33),
        ] {
            let mut baseline = Baseline::new(Case::new(kernel, n));
            let prepared = Prepared::new(&rt, &baseline).unwrap();
            prepared.verify(&mut baseline).unwrap();
            prepared.launch().unwrap();
            // Other inputs (the seed follows n): a mismatch, not a pass.
            let mut other = Baseline::new(Case::new(kernel, n + 1));
            let err = prepared.verify(&mut other).unwrap_err();
            assert!(
                matches!(err, BenchError::Mismatch { .. }),
                "{kernel:?}: {err}"
            );
        }
        assert_eq!(rt.buffer_count(), 0, "buffers are freed");
    }

    #[test]
    fn grids_cover_n() {
        assert_eq!(
            Case::new(BenchKernel::Matmul, 256).grid(),
            Dim3::new(16, 16, 1)
        );
        assert_eq!(
            Case::new(BenchKernel::Matmul, 257).block(),
            Dim3::new(16, 16, 1)
        );
        assert_eq!(Case::new(BenchKernel::Sum, 2049).grid(), Dim3::x(2));
        assert_eq!(Case::new(BenchKernel::Matmul, 256).name(), "matmul/256");
        assert_eq!(Case::new(BenchKernel::Add, 256).grid(), Dim3::x(1));
        assert_eq!(Case::new(BenchKernel::Add, 257).grid(), Dim3::x(2));
        assert_eq!(Case::new(BenchKernel::Empty, 4096).n, 1);
        assert_eq!(Case::new(BenchKernel::Saxpy, 1024).name(), "saxpy/1024");
    }
}
