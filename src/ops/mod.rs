//! Ready kernels with Rust helpers.
