//! The assembler on arbitrary bytes: parsing and compiling never panic;
//! every failure is a list of `FILE:LINE:COL: message` errors; a module that
//! parses cleanly prints to text that parses to the same module and prints
//! the same again; a program that compiles compiles the same from its
//! printed text.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    lanes_fuzz::check_assembler(data);
});
