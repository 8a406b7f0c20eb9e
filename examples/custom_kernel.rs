//! A custom kernel with typed buffers: the README's "library in 20 lines",
//! complete. Compiles `docs/examples/vector_add.lasm`, launches it over
//! typed buffers with the launch builder, reads the result into a slice of
//! our own, then hands the sums to the op library's softmax.
//!
//! ```sh
//! cargo run --example custom_kernel
//! ```
//!
//! Also run by `cargo test` (the test at the bottom calls `main`), so it
//! cannot rot; a test in `tests/language_doc.rs` checks that the README's
//! lines are these.

use std::error::Error;

/// The kernel: `c[i] = a[i] + b[i]` for `i < n` (f32).
const SOURCE: &str = include_str!("../docs/examples/vector_add.lasm");

fn main() -> Result<(), Box<dyn Error>> {
    // -- the README's lines --
    use lanes::{Dim3, Runtime};

    let rt = Runtime::builder().threads(2).build()?; // 1 worker + the caller
    let program = rt.compile("vector_add.lasm", SOURCE)?; // cached by content
    let kernel = program.kernel("vector_add").ok_or("no vector_add")?;
    let n = 1000;
    let a = rt.buffer_from(&(0..n).map(|i| i as f32).collect::<Vec<_>>())?; // Buffer<f32>
    let b = rt.buffer_from(&vec![0.5f32; n])?;
    let c = rt.buffer_zeroed::<f32>(n)?;
    let launch = kernel.launch(Dim3::x(4), Dim3::x(256)); // grid, block
    let stats = launch.arg(&a).arg(&b).arg(&c).arg(n as u32).run(&rt)?; // checked
    let mut sums = vec![0.0f32; n];
    c.read_into(&mut sums)?; // straight into the caller's memory
    println!("{} blocks in {:?}", stats.blocks, stats.elapsed);
    let probabilities = rt.ops().softmax_vec(&sums)?; // the op library
    // -- end of the README's lines --

    // What the lines computed.
    assert_eq!(stats.blocks, 4);
    for (i, s) in sums.iter().enumerate() {
        assert_eq!(*s, i as f32 + 0.5);
    }
    let total: f32 = probabilities.iter().sum();
    assert!(
        (total - 1.0).abs() < 1e-5,
        "probabilities add up to {total}"
    );
    // Inputs one apart: the largest gets 1 / (1 + e^-1 + e^-2 + ...) = 1 - e^-1.
    assert!((probabilities[n - 1] - (1.0 - (-1.0f32).exp())).abs() < 1e-5);

    // A mistake is an error that names the parameter: here a buffer of i32
    // where the kernel reads f32.
    let ints = rt.buffer_zeroed::<i32>(n)?;
    let err = kernel
        .launch(Dim3::x(4), Dim3::x(256))
        .arg(&ints)
        .arg(&b)
        .arg(&c)
        .arg(n as u32)
        .run(&rt)
        .err()
        .ok_or("a buffer of i32 for an f32 parameter was accepted")?;
    println!("as expected: {err}");
    assert!(err.to_string().contains("parameter `a`"));
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn runs() {
        super::main().unwrap();
    }
}
