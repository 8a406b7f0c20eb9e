//! Validation plus the engines on arbitrary programs: never a panic; always
//! a compile error, a launch error, a fault or a result; unbound buffers
//! unchanged. Launches run on the reference engine and then the pool engine.
#![no_main]

use lanes_fuzz::{Hostile, check_hostile};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|case: Hostile| {
    check_hostile(&case);
});
