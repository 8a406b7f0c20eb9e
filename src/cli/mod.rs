//! The `lanes` command line.
