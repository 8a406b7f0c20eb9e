//! The JIT against the reference engine: programs shaped for its gang and
//! one-lane tiers (and now and then a `differential` case) give the
//! reference engine's buffers bit for bit on both tiers, on the calling
//! thread and on 2- and 3-worker runtimes, or the same fault.
#![no_main]

use lanes_fuzz::{JitInput, check_jit};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: JitInput| {
    match &input {
        JitInput::Shaped(case) => check_jit(case),
        JitInput::Valid(case) => check_jit(case),
    };
});
