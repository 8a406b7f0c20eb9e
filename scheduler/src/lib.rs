//! lanes-scheduler: a pinned work-stealing pool with worker-owned state.
//!
//! Work in progress; see the crate README.
