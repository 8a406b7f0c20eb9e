//! Arbitrary valid, race-free programs: the block engine and the pool
//! engine (2 and 3 workers) give the reference engine's buffers bit for bit,
//! or all fault.
#![no_main]

use lanes_fuzz::{Valid, check_differential};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|case: Valid| {
    check_differential(&case);
});
