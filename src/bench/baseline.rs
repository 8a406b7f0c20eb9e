//! The work of each case without lanes: a plain single-threaded Rust loop
//! (the baseline of the project's performance goals), and rayon on a pool of the same thread count.
//!
//! The native loops compute exactly what the kernels compute, so their
//! output is the expected output: element-wise ops with the same IEEE
//! operation (`f32::min`/`max` for min/max, `mul_add` for saxpy), the
//! Mandelbrot step unfused in the kernel's order, and sums of inputs that
//! are small integers (every partial sum exact, so any order gives the same
//! bits), and matmul as the textbook triple loop: for each output `(i, j)`
//! the dot product `acc += a[i][p] * b[p][j]` over `p` in order from 0, the
//! same work and order as a lane of the kernel (the order `i, p, j` gives
//! the same bits and lets the compiler vectorize along rows: about 10x
//! faster at n = 256, but no longer the kernel's loop). Softmax is
//! not bit-exact (`exp` is within 4 ulp and the sums add in different
//! orders): its output is checked against softmax computed in f64, within
//! a relative tolerance. Rayon uses `par_iter` up to [`PAR_CHUNKS_FROM`]
//! elements and `par_chunks` (a few chunks per thread) above, rows for
//! matmul, and `install(|| ())` for the empty kernel.

use std::hint::black_box;

use rayon::prelude::*;

use super::case::{BenchKernel, Case, MandelbrotImage};

/// Sizes from which the rayon baseline cuts the input into `par_chunks`
/// instead of a `par_iter` over elements.
pub const PAR_CHUNKS_FROM: u64 = 65536;

/// The element-wise binary operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Binary {
    /// `a + b`.
    Add,
    /// `a - b`.
    Sub,
    /// `a * b`.
    Mul,
    /// `a / b`.
    Div,
    /// `f32::min(a, b)`.
    Min,
    /// `f32::max(a, b)`.
    Max,
}

/// Runs `$body` with `$f` bound to the scalar function of `$op`, so each
/// loop is compiled (and vectorized) for one operation.
macro_rules! with_binary {
    ($op:expr, $f:ident => $body:expr) => {
        match $op {
            Binary::Add => {
                let $f = |x: f32, y: f32| x + y;
                $body
            }
            Binary::Sub => {
                let $f = |x: f32, y: f32| x - y;
                $body
            }
            Binary::Mul => {
                let $f = |x: f32, y: f32| x * y;
                $body
            }
            Binary::Div => {
                let $f = |x: f32, y: f32| x / y;
                $body
            }
            Binary::Min => {
                let $f = |x: f32, y: f32| x.min(y);
                $body
            }
            Binary::Max => {
                let $f = |x: f32, y: f32| x.max(y);
                $body
            }
        }
    };
}

impl Binary {
    /// Every operation.
    pub const ALL: [Binary; 6] = [
        Binary::Add,
        Binary::Sub,
        Binary::Mul,
        Binary::Div,
        Binary::Min,
        Binary::Max,
    ];

    /// The LASM opcode (`add`, ...).
    pub fn opcode(self) -> &'static str {
        match self {
            Binary::Add => "add",
            Binary::Sub => "sub",
            Binary::Mul => "mul",
            Binary::Div => "div",
            Binary::Min => "min",
            Binary::Max => "max",
        }
    }

    /// `out[i] = a[i] OP b[i]`: the native loop, compiled (and vectorized)
    /// for this one operation.
    pub fn apply(self, a: &[f32], b: &[f32], out: &mut [f32]) {
        with_binary!(self, f => binary_loop(a, b, out, f))
    }
}

/// The host inputs of a case.
#[derive(Debug)]
pub enum Inputs<'a> {
    /// `a`, `b` of an element-wise op.
    Binary {
        /// Left operands.
        a: &'a [f32],
        /// Right operands (never zero).
        b: &'a [f32],
    },
    /// `alpha`, `x`, `y` of saxpy.
    Saxpy {
        /// The scale.
        alpha: f32,
        /// Scaled operands.
        x: &'a [f32],
        /// Added operands.
        y: &'a [f32],
    },
    /// The values to sum (small integers).
    Sum {
        /// The values.
        x: &'a [f32],
    },
    /// The Mandelbrot image.
    Mandelbrot(MandelbrotImage),
    /// The vector of a softmax.
    Softmax {
        /// The values.
        x: &'a [f32],
    },
    /// Two square matrices, row-major.
    Matmul {
        /// Their side.
        n: usize,
        /// The left one.
        a: &'a [f32],
        /// The right one.
        b: &'a [f32],
    },
    /// Nothing.
    Empty,
}

/// What the kernel must write.
#[derive(Debug)]
pub enum Expected<'a> {
    /// f32 elements (one for a sum).
    F32(&'a [f32]),
    /// u32 elements.
    U32(&'a [u32]),
    /// f32 elements within `rel * |want|` of `want` (computed in f64).
    Close {
        /// The exact values, to f64 precision.
        want: &'a [f64],
        /// The relative tolerance.
        rel: f64,
    },
    /// Nothing to check.
    Nothing,
}

#[derive(Debug)]
enum Data {
    Binary {
        op: Binary,
        a: Vec<f32>,
        b: Vec<f32>,
        out: Vec<f32>,
    },
    Saxpy {
        alpha: f32,
        x: Vec<f32>,
        y: Vec<f32>,
        out: Vec<f32>,
    },
    Sum {
        x: Vec<f32>,
        out: [f32; 1],
    },
    Mandelbrot {
        image: MandelbrotImage,
        out: Vec<u32>,
    },
    Softmax {
        x: Vec<f32>,
        out: Vec<f32>,
        want: Vec<f64>,
    },
    Matmul {
        n: usize,
        a: Vec<f32>,
        b: Vec<f32>,
        out: Vec<f32>,
    },
    Empty,
}

/// The relative tolerance of the softmax cases. Inputs span 20, so the
/// rounding of `x - max` (amplified by exp, up to 20 u per exponential,
/// 40 u over a quotient), exp itself (4 ulp) and the kernels' tree sum
/// (15 u per pass: two passes up to 4M elements) add up to at most about
/// 115 u = 7e-6, below it.
///
/// ```
/// assert!(lanes::bench::baseline::SOFTMAX_TOLERANCE > 115.0 * f64::from(f32::EPSILON) / 2.0);
/// ```
pub const SOFTMAX_TOLERANCE: f64 = 1e-5;

/// A case's inputs and the native and rayon versions of its work.
#[derive(Debug)]
pub struct Baseline {
    case: Case,
    data: Data,
}

/// Deterministic pseudo-random numbers (xorshift64*), so every run
/// measures the same inputs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A float in `[lo, hi)` with 24 random bits.
    fn float(&mut self, lo: f32, hi: f32) -> f32 {
        let unit = (self.next() >> 40) as f32 / (1u64 << 24) as f32;
        lo + unit * (hi - lo)
    }

    fn floats(&mut self, n: usize, lo: f32, hi: f32) -> Vec<f32> {
        (0..n).map(|_| self.float(lo, hi)).collect()
    }

    /// Magnitudes in `[0.5, 50)` with a random sign: safe divisors.
    fn divisors(&mut self, n: usize) -> Vec<f32> {
        (0..n)
            .map(|_| {
                let v = self.float(0.5, 50.0);
                if self.next() & 1 == 0 { v } else { -v }
            })
            .collect()
    }
}

impl Baseline {
    /// The inputs of `case` (deterministic), with outputs not computed yet.
    pub fn new(case: Case) -> Baseline {
        let n = usize::try_from(case.n).unwrap_or(usize::MAX);
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ case.n);
        let binary = |op: Binary, rng: &mut Rng| Data::Binary {
            op,
            a: rng.floats(n, -100.0, 100.0),
            b: rng.divisors(n),
            out: vec![0.0; n],
        };
        let data = match case.kernel {
            BenchKernel::Add => binary(Binary::Add, &mut rng),
            BenchKernel::Sub => binary(Binary::Sub, &mut rng),
            BenchKernel::Mul => binary(Binary::Mul, &mut rng),
            BenchKernel::Div => binary(Binary::Div, &mut rng),
            BenchKernel::Min => binary(Binary::Min, &mut rng),
            BenchKernel::Max => binary(Binary::Max, &mut rng),
            BenchKernel::Saxpy => Data::Saxpy {
                alpha: 1.75,
                x: rng.floats(n, -100.0, 100.0),
                y: rng.floats(n, -100.0, 100.0),
                out: vec![0.0; n],
            },
            // Integers in -5..=5: every partial sum of up to 2^26 of them is
            // exact in f32 only if it stays below 2^24 in magnitude, which
            // a period-11 pattern summing to 0 guarantees (each block's sum
            // and each sum of block sums is small).
            BenchKernel::BlockSum | BenchKernel::Sum => Data::Sum {
                x: (0..n).map(|i| ((i * 7) % 11) as f32 - 5.0).collect(),
                out: [0.0],
            },
            BenchKernel::Mandelbrot => {
                let image = MandelbrotImage::of_pixels(u32::try_from(case.n).unwrap_or(u32::MAX));
                Data::Mandelbrot {
                    image,
                    out: vec![0; n],
                }
            }
            BenchKernel::Softmax => {
                let x = rng.floats(n, -10.0, 10.0);
                let max = x
                    .iter()
                    .fold(f64::NEG_INFINITY, |m, &v| m.max(f64::from(v)));
                let e: Vec<f64> = x.iter().map(|&v| (f64::from(v) - max).exp()).collect();
                let sum: f64 = e.iter().sum();
                Data::Softmax {
                    want: e.iter().map(|v| v / sum).collect(),
                    out: vec![0.0; n],
                    x,
                }
            }
            BenchKernel::Matmul => Data::Matmul {
                n,
                a: rng.floats(n * n, -1.0, 1.0),
                b: rng.floats(n * n, -1.0, 1.0),
                out: vec![0.0; n * n],
            },
            BenchKernel::Empty => Data::Empty,
        };
        Baseline { case, data }
    }

    /// The case.
    pub fn case(&self) -> Case {
        self.case
    }

    /// The inputs, to upload.
    pub fn inputs(&self) -> Inputs<'_> {
        match &self.data {
            Data::Binary { a, b, .. } => Inputs::Binary { a, b },
            Data::Saxpy { alpha, x, y, .. } => Inputs::Saxpy {
                alpha: *alpha,
                x,
                y,
            },
            Data::Sum { x, .. } => Inputs::Sum { x },
            Data::Mandelbrot { image, .. } => Inputs::Mandelbrot(*image),
            Data::Softmax { x, .. } => Inputs::Softmax { x },
            Data::Matmul { n, a, b, .. } => Inputs::Matmul { n: *n, a, b },
            Data::Empty => Inputs::Empty,
        }
    }

    /// Whether there is a native loop to compare with (not for `empty`).
    pub fn has_native(&self) -> bool {
        !matches!(self.data, Data::Empty)
    }

    /// The output the kernel must write: runs the native loop once.
    pub fn expected(&mut self) -> Expected<'_> {
        self.run_native();
        match &self.data {
            Data::Binary { out, .. } | Data::Saxpy { out, .. } | Data::Matmul { out, .. } => {
                Expected::F32(out)
            }
            Data::Sum { out, .. } => Expected::F32(out),
            Data::Softmax { want, .. } => Expected::Close {
                want,
                rel: SOFTMAX_TOLERANCE,
            },
            Data::Mandelbrot { out, .. } => Expected::U32(out),
            Data::Empty => Expected::Nothing,
        }
    }

    /// The work as a plain loop on this thread.
    pub fn run_native(&mut self) {
        match &mut self.data {
            Data::Binary { op, a, b, out } => {
                let (a, b, out) = (
                    black_box(&a[..]),
                    black_box(&b[..]),
                    black_box(&mut out[..]),
                );
                op.apply(a, b, out);
            }
            Data::Saxpy { alpha, x, y, out } => {
                let (x, y, out) = (
                    black_box(&x[..]),
                    black_box(&y[..]),
                    black_box(&mut out[..]),
                );
                saxpy_loop(black_box(*alpha), x, y, out);
            }
            Data::Sum { x, out } => {
                out[0] = black_box(&x[..]).iter().sum();
            }
            Data::Mandelbrot { image, out } => {
                mandelbrot_rows(black_box(image), 0, black_box(&mut out[..]));
            }
            Data::Softmax { x, out, .. } => {
                softmax_loop(black_box(&x[..]), black_box(&mut out[..]));
            }
            Data::Matmul { n, a, b, out } => {
                let (a, b, out) = (
                    black_box(&a[..]),
                    black_box(&b[..]),
                    black_box(&mut out[..]),
                );
                matmul_rows(*n, a, b, out);
            }
            Data::Empty => {}
        }
        black_box(&self.data);
    }

    /// How the rayon baseline splits the work.
    pub fn rayon_method(&self) -> &'static str {
        match self.data {
            Data::Empty => "install",
            _ if self.case.n >= PAR_CHUNKS_FROM => "par_chunks",
            _ => "par_iter",
        }
    }

    /// The work on `pool` with rayon.
    pub fn run_rayon(&mut self, pool: &rayon::ThreadPool) {
        let chunks = self.case.n >= PAR_CHUNKS_FROM;
        let chunk = usize::try_from(self.case.n)
            .unwrap_or(usize::MAX)
            .div_ceil(pool.current_num_threads() * 4)
            .max(1);
        match &mut self.data {
            Data::Binary { op, a, b, out } => {
                let (a, b, out) = (
                    black_box(&a[..]),
                    black_box(&b[..]),
                    black_box(&mut out[..]),
                );
                pool.install(|| {
                    with_binary!(*op, f => {
                        if chunks {
                            out.par_chunks_mut(chunk)
                                .zip(a.par_chunks(chunk))
                                .zip(b.par_chunks(chunk))
                                .for_each(|((o, a), b)| binary_loop(a, b, o, f));
                        } else {
                            out.par_iter_mut()
                                .zip(a.par_iter())
                                .zip(b.par_iter())
                                .for_each(|((o, a), b)| *o = f(*a, *b));
                        }
                    })
                });
            }
            Data::Saxpy { alpha, x, y, out } => {
                let alpha = black_box(*alpha);
                let (x, y, out) = (
                    black_box(&x[..]),
                    black_box(&y[..]),
                    black_box(&mut out[..]),
                );
                pool.install(|| {
                    if chunks {
                        out.par_chunks_mut(chunk)
                            .zip(x.par_chunks(chunk))
                            .zip(y.par_chunks(chunk))
                            .for_each(|((o, x), y)| saxpy_loop(alpha, x, y, o));
                    } else {
                        out.par_iter_mut()
                            .zip(x.par_iter())
                            .zip(y.par_iter())
                            .for_each(|((o, x), y)| *o = alpha.mul_add(*x, *y));
                    }
                });
            }
            Data::Sum { x, out } => {
                let x = black_box(&x[..]);
                out[0] = pool.install(|| {
                    if chunks {
                        x.par_chunks(chunk).map(|c| c.iter().sum::<f32>()).sum()
                    } else {
                        x.par_iter().sum()
                    }
                });
            }
            Data::Mandelbrot { image, out } => {
                let image = black_box(*image);
                let width = image.width as usize;
                pool.install(|| {
                    out.par_chunks_mut(width)
                        .enumerate()
                        .for_each(|(row, o)| mandelbrot_rows(&image, row * width, o));
                });
            }
            Data::Softmax { x, out, .. } => {
                let x = black_box(&x[..]);
                pool.install(|| {
                    let max = x.par_iter().copied().reduce(|| f32::NEG_INFINITY, f32::max);
                    out.par_iter_mut()
                        .zip(x.par_iter())
                        .for_each(|(o, v)| *o = (v - max).exp());
                    let sum: f32 = out.par_iter().sum();
                    out.par_iter_mut().for_each(|o| *o /= sum);
                });
            }
            Data::Matmul { n, a, b, out } => {
                let (n, a, b) = (*n, black_box(&a[..]), black_box(&b[..]));
                pool.install(|| {
                    out.par_chunks_mut(n.max(1))
                        .enumerate()
                        .for_each(|(i, row)| matmul_row(n, &a[i * n..(i + 1) * n], b, row));
                });
            }
            Data::Empty => pool.install(|| ()),
        }
        black_box(&self.data);
    }
}

/// Softmax as a plain loop: max, exponentials and their sum, division.
fn softmax_loop(x: &[f32], out: &mut [f32]) {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0f32;
    for (o, v) in out.iter_mut().zip(x) {
        *o = (v - max).exp();
        sum += *o;
    }
    for o in out.iter_mut() {
        *o /= sum;
    }
}

/// `out = a b` for `n x n` row-major matrices, row by row.
fn matmul_rows(n: usize, a: &[f32], b: &[f32], out: &mut [f32]) {
    for (i, row) in out.chunks_exact_mut(n.max(1)).enumerate() {
        matmul_row(n, &a[i * n..(i + 1) * n], b, row);
    }
}

/// One row of `c = a b`: `row[j]` is the dot product of `a_row` with
/// column `j` of `b`, in order of `p` from 0 (the kernel's order).
fn matmul_row(n: usize, a_row: &[f32], b: &[f32], row: &mut [f32]) {
    for (j, c) in row.iter_mut().enumerate() {
        let mut acc = 0.0f32;
        for (p, &a) in a_row.iter().enumerate() {
            acc += a * b[p * n + j];
        }
        *c = acc;
    }
}

fn binary_loop(a: &[f32], b: &[f32], out: &mut [f32], f: impl Fn(f32, f32) -> f32) {
    for ((o, a), b) in out.iter_mut().zip(a).zip(b) {
        *o = f(*a, *b);
    }
}

fn saxpy_loop(alpha: f32, x: &[f32], y: &[f32], out: &mut [f32]) {
    for ((o, x), y) in out.iter_mut().zip(x).zip(y) {
        *o = alpha.mul_add(*x, *y);
    }
}

/// Escape times of pixels `first..first + out.len()`.
fn mandelbrot_rows(image: &MandelbrotImage, first: usize, out: &mut [u32]) {
    let width = image.width as usize;
    for (i, o) in out.iter_mut().enumerate() {
        let pixel = first + i;
        let cx = (pixel % width) as f32 * image.dx + image.x0;
        let cy = (pixel / width) as f32 * image.dy + image.y0;
        *o = escape_time(cx, cy, image.max_iter);
    }
}

/// Steps of `z -> z*z + c` from 0 before `|z|^2 > 4`, at most `max_iter`,
/// computed exactly as `mandelbrot.lasm` does.
pub fn escape_time(cx: f32, cy: f32, max_iter: u32) -> u32 {
    let (mut x, mut y) = (0.0f32, 0.0f32);
    let mut steps = 0;
    while steps < max_iter {
        let xx = x * x;
        let yy = y * y;
        if xx + yy > 4.0 {
            break;
        }
        let xy = x * y;
        x = (xx - yy) + cx;
        y = (xy + xy) + cy;
        steps += 1;
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_times_are_plausible() {
        assert_eq!(escape_time(0.0, 0.0, 256), 256, "the origin is in the set");
        assert_eq!(escape_time(2.0, 2.0, 256), 1);
        assert!(escape_time(-0.75, 0.1, 256) > 10);
    }

    #[test]
    fn rayon_matches_native() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        for kernel in BenchKernel::ALL {
            let sizes = match kernel {
                BenchKernel::Matmul => [1, 37],
                _ => [300, PAR_CHUNKS_FROM + 5],
            };
            for n in sizes {
                let mut b = Baseline::new(Case::new(kernel, n));
                b.run_native();
                let native = format!("{:?}", b.data);
                b.run_rayon(&pool);
                if let Data::Softmax { out, want, .. } = &b.data {
                    // rayon's f32 sum adds long runs in sequence, so it is
                    // close (1e-3), neither equal to the native loop nor as
                    // accurate as the kernels' tree.
                    for (o, w) in out.iter().zip(want) {
                        assert!((f64::from(*o) - w).abs() <= 1e-3 * w, "{n}");
                    }
                    continue;
                }
                // Sums too: the inputs make every order exact.
                assert_eq!(format!("{:?}", b.data), native, "{kernel:?} {n}");
            }
        }
    }
}
