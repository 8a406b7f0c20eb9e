//! The LASM kernels that only the peers benchmark (`benches/peers/`) uses,
//! checked here so that a wrong kernel fails `cargo test`, not just the
//! benchmark (which needs PoCL and Numba and is never run by CI).

use lanes::{Arg, Dim3, Engine, LaunchOptions, Runtime};

const MATMUL: &str = include_str!("../benches/peers/matmul.lasm");

fn bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// `acc = acc + a[row][k] * b[k][col]`, k ascending, each step rounded:
/// what the kernel's comment promises, bit for bit.
fn matmul_native(a: &[f32], b: &[f32], n: usize) -> Vec<f32> {
    let mut c = vec![0.0f32; n * n];
    for row in 0..n {
        for col in 0..n {
            let mut acc = 0.0f32;
            for k in 0..n {
                acc += a[row * n + k] * b[k * n + col];
            }
            c[row * n + col] = acc;
        }
    }
    c
}

/// Values whose products and sums round (no exact small integers), with a
/// NaN-free spread of signs and magnitudes, so a fused multiply-add or a
/// different order of the k loop changes bits.
fn values(n: usize, seed: u32) -> Vec<f32> {
    let mut state = seed;
    (0..n)
        .map(|_| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (state >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0
        })
        .collect()
}

#[test]
fn matmul_matches_the_native_triple_loop() {
    // 40 is not a multiple of the 16x16 block: the lanes of the last blocks
    // outside the square must exit without touching memory. The output
    // buffer holds a guard of 16 extra floats that must stay as they were.
    let n = 40usize;
    let (a, b) = (values(n * n, 1), values(n * n, 2));
    let expected = matmul_native(&a, &b, n);
    let guard = [7.5f32; 16];
    for (engine, threads) in [
        (Engine::Reference, 1),
        (Engine::Pool, 1),
        (Engine::Pool, 2),
        (Engine::Jit, 1),
        (Engine::Jit, 2),
    ] {
        let rt = Runtime::builder().threads(threads).build().unwrap();
        let program = rt.compile("matmul.lasm", MATMUL).unwrap();
        let kernel = program.kernel("matmul").unwrap();
        let ba = rt.alloc_from(&bytes(&a)).unwrap();
        let bb = rt.alloc_from(&bytes(&b)).unwrap();
        let mut c0 = vec![0.0f32; n * n];
        c0.extend_from_slice(&guard);
        let bc = rt.alloc_from(&bytes(&c0)).unwrap();
        let tiles = (n as u32).div_ceil(16);
        rt.launch(
            kernel,
            Dim3::new(tiles, tiles, 1),
            Dim3::new(16, 16, 1),
            &[
                Arg::Buffer(ba),
                Arg::Buffer(bb),
                Arg::Buffer(bc),
                Arg::from(n as u32),
            ],
            LaunchOptions {
                engine,
                jit_wait: std::time::Duration::MAX,
                ..LaunchOptions::default()
            },
        )
        .unwrap_or_else(|e| panic!("{engine:?} on {threads} threads: {e}"));
        let c: Vec<f32> = rt
            .read(bc)
            .unwrap()
            .chunks_exact(4)
            .map(|w| f32::from_le_bytes([w[0], w[1], w[2], w[3]]))
            .collect();
        for (i, (got, want)) in c[..n * n].iter().zip(&expected).enumerate() {
            assert_eq!(
                got.to_bits(),
                want.to_bits(),
                "{engine:?} on {threads} threads: c[{}][{}] = {got}, expected {want}",
                i / n,
                i % n
            );
        }
        assert_eq!(
            bytes(&c[n * n..]),
            bytes(&guard),
            "{engine:?}: wrote past the matrix"
        );
    }
}
