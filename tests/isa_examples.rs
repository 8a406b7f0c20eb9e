//! The two examples of the original language contract (docs/LANGUAGE.md
//! sections 1 and 6 have their like), run through the library.

use lanes::{Arg, Dim3, Engine, LaunchOptions, Runtime};

const ENGINES: [Engine; 3] = Engine::ALL;

const VECTOR_ADD: &str = include_str!("data/vector_add.lasm");
const BLOCK_SUM: &str = include_str!("data/block_sum.lasm");

fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

fn bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

#[test]
fn vector_add_adds() {
    for engine in ENGINES {
        vector_add_on(engine);
    }
}

fn vector_add_on(engine: Engine) {
    let rt = Runtime::new();
    let prog = rt.compile("vector_add.lasm", VECTOR_ADD).unwrap();
    let k = prog.kernel("vector_add").unwrap();
    let n = 1000u32;
    let a: Vec<f32> = (0..n).map(|i| i as f32 * 0.5).collect();
    let b: Vec<f32> = (0..n).map(|i| 3.0 - i as f32).collect();
    let (ba, bb) = (
        rt.alloc_from(&bytes(&a)).unwrap(),
        rt.alloc_from(&bytes(&b)).unwrap(),
    );
    let bc = rt.alloc(n as usize * 4).unwrap();
    let args = [
        Arg::Buffer(ba),
        Arg::Buffer(bb),
        Arg::Buffer(bc),
        Arg::from(n),
    ];
    rt.launch(
        k,
        Dim3::x(n.div_ceil(256)),
        Dim3::x(256),
        &args,
        LaunchOptions {
            engine,
            jit_wait: std::time::Duration::MAX,
            ..LaunchOptions::default()
        },
    )
    .unwrap();
    let c = f32s(&rt.read(bc).unwrap());
    for i in 0..n as usize {
        assert_eq!(c[i].to_bits(), (a[i] + b[i]).to_bits(), "element {i}");
    }
}

#[test]
fn block_sum_sums() {
    for engine in ENGINES {
        block_sum_on(engine);
    }
}

fn block_sum_on(engine: Engine) {
    let rt = Runtime::new();
    let prog = rt.compile("block_sum.lasm", BLOCK_SUM).unwrap();
    let k = prog.kernel("block_sum").unwrap();
    let n = 1000u32;
    // Small integers: every order of summation gives the same f32.
    let x: Vec<f32> = (0..n).map(|i| (i % 7) as f32).collect();
    let bx = rt.alloc_from(&bytes(&x)).unwrap();
    let out = rt.alloc(4).unwrap();
    let args = [Arg::Buffer(bx), Arg::Buffer(out), Arg::from(n)];
    rt.launch(
        k,
        Dim3::x(n.div_ceil(256)),
        Dim3::x(256),
        &args,
        LaunchOptions {
            engine,
            jit_wait: std::time::Duration::MAX,
            ..LaunchOptions::default()
        },
    )
    .unwrap();
    let total: f32 = x.iter().sum();
    assert_eq!(f32s(&rt.read(out).unwrap()), vec![total]);
}
