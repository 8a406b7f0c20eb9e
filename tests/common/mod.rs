//! Helpers shared by the language test suites.
//!
//! Expectations in the suites are computed in plain Rust here and in the test
//! files, never with `lanes::exec`, so the implementation is checked against
//! an independent model of docs/LANGUAGE.md.
#![allow(dead_code, clippy::unnecessary_cast)]

use std::cell::Cell;
use std::fmt::Debug;
use std::sync::Arc;

use lanes::{Arg, Dim3, Engine, Kernel, LaunchError, LaunchOptions, Runtime};

/// Compiles `src` (which must hold exactly one kernel) or panics with the
/// diagnostics and the source.
pub fn kernel(src: &str) -> Arc<Kernel> {
    let p = lanes::compile("test.lasm", src)
        .unwrap_or_else(|e| panic!("compile failed:\n{e}\n--- source ---\n{src}"));
    assert_eq!(p.kernels.len(), 1, "expected one kernel");
    p.kernels[0].clone()
}

/// Reference-engine launch options with a step limit.
pub fn opts(max_steps: u64) -> LaunchOptions {
    LaunchOptions {
        engine: Engine::Reference,
        max_steps,
        ..LaunchOptions::default()
    }
}

/// Reference-engine launch options with the default step limit.
pub fn reference() -> LaunchOptions {
    LaunchOptions {
        engine: Engine::Reference,
        ..LaunchOptions::default()
    }
}

thread_local! {
    /// The engine [`launch`] uses on this thread.
    static ENGINE: Cell<Engine> = const { Cell::new(Engine::Reference) };
}

/// Runs `body` once per engine (the reference engine first), with
/// [`launch`] on that engine; a failure names the engine.
pub fn on_every_engine(body: impl Fn()) {
    struct Names(Engine);
    impl Drop for Names {
        fn drop(&mut self) {
            ENGINE.set(Engine::Reference);
            if std::thread::panicking() {
                eprintln!("(on the {} engine)", self.0);
            }
        }
    }
    for engine in Engine::ALL {
        ENGINE.set(engine);
        let _names = Names(engine);
        body();
    }
}

/// Launches `k` on the reference engine, or on the engine
/// [`on_every_engine`] runs.
pub fn launch(
    rt: &Runtime,
    k: &Arc<Kernel>,
    grid: Dim3,
    block: Dim3,
    args: &[Arg],
) -> Result<(), LaunchError> {
    let engine = ENGINE.get();
    let options = LaunchOptions {
        engine,
        // Every block on compiled code.
        jit_wait: std::time::Duration::MAX,
        ..LaunchOptions::default()
    };
    let stats = rt.launch(k, grid, block, args, options)?;
    // No engine may quietly hand the launch to another.
    assert_eq!(stats.engine, engine);
    Ok(())
}

/// Little-endian bytes of `v`.
pub fn u64_bytes(v: &[u64]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// `u64`s from little-endian bytes.
pub fn bytes_u64(b: &[u8]) -> Vec<u64> {
    b.chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

/// `u32`s from little-endian bytes.
pub fn bytes_u32(b: &[u8]) -> Vec<u32> {
    b.chunks_exact(4)
        .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

/// Little-endian bytes of `v`.
pub fn u32_bytes(v: &[u32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Runs `body` once per input row, one lane per row.
///
/// Each lane finds its row's inputs in `r1`, `r2`, `r3` (full 64-bit register
/// values, exactly as given), runs `body`, and the harness stores registers
/// `r10 .. r10 + nout` with `st.global.u64`; the result is one `Vec` of `nout`
/// register values per row. `body` may use `r4..r9`, `r10..r199` and
/// `p0..p14`, and must not exit.
pub fn run_rows(body: &str, rows: &[[u64; 3]], nout: usize) -> Vec<Vec<u64>> {
    assert!((1..=150).contains(&nout));
    let mut src = String::from(
        ".kernel rows\n.param inp buf\n.param out buf\n.param n u64\n\
         mov.u64 r200, %gid\n\
         setp.ge.u64 p15, r200, n\n\
         @p15 exit\n\
         mul.u64 r201, r200, 24\n\
         ld.global.u64 r1, [inp + r201]\n\
         ld.global.u64 r2, [inp + r201 + 8]\n\
         ld.global.u64 r3, [inp + r201 + 16]\n",
    );
    src.push_str(&format!("mul.u64 r202, r200, {}\n", nout * 8));
    src.push_str(body);
    src.push('\n');
    for j in 0..nout {
        src.push_str(&format!(
            "st.global.u64 [out + r202 + {}], r{}\n",
            j * 8,
            10 + j
        ));
    }
    let k = kernel(&src);
    let rt = Runtime::builder().threads(2).build().unwrap();
    let flat: Vec<u64> = rows.iter().flatten().copied().collect();
    let n = rows.len() as u64;
    let blocks = (rows.len() as u32).div_ceil(256).max(1);
    // The reference engine gives the answer the test checks; the pool
    // engine and the JIT must give exactly the same registers, bit for bit.
    let mut results = Vec::new();
    for engine in Engine::ALL {
        let inp = rt.alloc_from(&u64_bytes(&flat)).unwrap();
        let out = rt.alloc(rows.len() * nout * 8).unwrap();
        let options = LaunchOptions {
            engine,
            jit_wait: std::time::Duration::MAX,
            ..LaunchOptions::default()
        };
        let stats = rt
            .launch(
                &k,
                Dim3::x(blocks),
                Dim3::x(256),
                &[Arg::Buffer(inp), Arg::Buffer(out), Arg::from(n)],
                options,
            )
            .unwrap_or_else(|e| panic!("{engine:?} launch failed: {e}\n--- source ---\n{src}"));
        // No engine may quietly hand the launch to another.
        assert_eq!(stats.engine, engine, "--- source ---\n{src}");
        results.push(bytes_u64(&rt.read(out).unwrap()));
    }
    for (r, engine) in results.iter().zip(Engine::ALL).skip(1) {
        assert_eq!(
            &results[0], r,
            "the {engine} engine differs from the reference\n--- source ---\n{src}"
        );
    }
    results[0].chunks(nout).map(|c| c.to_vec()).collect()
}

/// A LASM scalar type modelled in plain Rust.
pub trait Ty: Copy + PartialEq + PartialOrd + Debug + 'static {
    /// LASM name.
    const NAME: &'static str;
    /// Size in bytes.
    const SIZE: usize;
    /// Whether the type is a float.
    const FLOAT: bool;
    /// The register contents holding this value (docs/LANGUAGE.md section 3: u* and
    /// f32 zero-extend, i* sign-extend).
    fn reg(self) -> u64;
    /// The value held in the low bits of a register.
    fn from_reg(r: u64) -> Self;
    /// Interesting values of the type.
    fn edges() -> Vec<Self>;
    /// Equality for checks: bitwise, except that any NaN equals any NaN.
    fn same(self, other: Self) -> bool;
    /// Literal text for an immediate of this value (not for NaN/inf).
    fn lit(self) -> String;
}

macro_rules! int_ty {
    ($($t:ident $name:literal),*) => {$(
        impl Ty for $t {
            const NAME: &'static str = $name;
            const SIZE: usize = std::mem::size_of::<$t>();
            const FLOAT: bool = false;
            fn reg(self) -> u64 {
                // `as u64` sign-extends signed and zero-extends unsigned.
                self as u64
            }
            fn from_reg(r: u64) -> Self {
                r as $t
            }
            fn edges() -> Vec<Self> {
                vec![
                    0,
                    1,
                    2,
                    3,
                    7,
                    (100u8) as $t,
                    $t::MAX,
                    $t::MIN,
                    $t::MAX - 1,
                    $t::MIN + 1,
                    (0u8 as $t).wrapping_sub(1),
                    (0u8 as $t).wrapping_sub(3),
                    $t::MAX / 3,
                    (0x5Au8 as $t).wrapping_mul(0x0101_0101_0101_0101u64 as $t),
                ]
            }
            fn same(self, other: Self) -> bool {
                self == other
            }
            fn lit(self) -> String {
                format!("{self}")
            }
        }
    )*};
}
int_ty!(u8 "u8", u16 "u16", u32 "u32", u64 "u64", i8 "i8", i16 "i16", i32 "i32", i64 "i64");

impl Ty for f32 {
    const NAME: &'static str = "f32";
    const SIZE: usize = 4;
    const FLOAT: bool = true;
    fn reg(self) -> u64 {
        self.to_bits() as u64
    }
    fn from_reg(r: u64) -> Self {
        f32::from_bits(r as u32)
    }
    fn edges() -> Vec<Self> {
        vec![
            0.0,
            -0.0,
            1.0,
            -1.0,
            1.5,
            -2.5,
            0.1,
            3.0,
            7.0,
            1e30,
            -1e-30,
            f32::MIN_POSITIVE,
            f32::from_bits(1),
            f32::MAX,
            f32::MIN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            16777217.0,
            -123456.79,
        ]
    }
    fn same(self, other: Self) -> bool {
        (self.is_nan() && other.is_nan()) || self.to_bits() == other.to_bits()
    }
    fn lit(self) -> String {
        format!("{self:e}")
    }
}

impl Ty for f64 {
    const NAME: &'static str = "f64";
    const SIZE: usize = 8;
    const FLOAT: bool = true;
    fn reg(self) -> u64 {
        self.to_bits()
    }
    fn from_reg(r: u64) -> Self {
        f64::from_bits(r)
    }
    fn edges() -> Vec<Self> {
        vec![
            0.0,
            -0.0,
            1.0,
            -1.0,
            1.5,
            -2.5,
            0.1,
            3.0,
            7.0,
            1e300,
            -1e-300,
            f64::MIN_POSITIVE,
            f64::from_bits(1),
            f64::MAX,
            f64::MIN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            9007199254740993.0,
            -123456.789,
            4294967296.5,
        ]
    }
    fn same(self, other: Self) -> bool {
        (self.is_nan() && other.is_nan()) || self.to_bits() == other.to_bits()
    }
    fn lit(self) -> String {
        format!("{self:e}")
    }
}

/// Garbage for the register bits above a `size`-byte type (none for 8 bytes).
pub fn garbage(size: usize) -> u64 {
    if size >= 8 {
        0
    } else {
        0xA5C3_5A3C_F00D_BEEFu64 & !((1u64 << (size * 8)) - 1)
    }
}

/// Distance in units in the last place between two finite f64s of the same
/// sign class (ordered-integer difference).
pub fn ulps64(a: f64, b: f64) -> u64 {
    fn ord(x: f64) -> i128 {
        let b = x.to_bits() as i64;
        if b < 0 {
            i64::MIN as i128 - b as i128
        } else {
            b as i128
        }
    }
    (ord(a) - ord(b)).unsigned_abs() as u64
}

/// Same as [`ulps64`] for f32.
pub fn ulps32(a: f32, b: f32) -> u64 {
    fn ord(x: f32) -> i64 {
        let b = x.to_bits() as i32;
        if b < 0 {
            i32::MIN as i64 - b as i64
        } else {
            b as i64
        }
    }
    (ord(a) - ord(b)).unsigned_abs()
}
