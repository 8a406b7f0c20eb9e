//! `Runtime`: the library's front door. It owns the buffers and runs
//! launches on an engine.
//!
//! The buffer table sits behind one lock. A launch takes it once, resolves
//! and checks its arguments, and releases it before any lane runs: lanes then
//! reach the buffers through `Arc`s without any lock (see [`crate::memory`]
//! for why that is sound).

use std::sync::Arc;

use parking_lot::RwLock;

use crate::engine::{LaunchSpec, reference};
use crate::kernel::{Kernel, Program, compile};
use crate::launch::{Arg, DEFAULT_MAX_STEPS, Dim3, LaunchError, bind_args, check_shape};
use crate::memory::{BufferId, BufferTable, MemoryError};

/// Which engine runs a launch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Engine {
    /// The reference interpreter (single thread, one lane at a time).
    #[default]
    Reference,
    /// The parallel lane-block engine on the worker pool.
    Pool,
}

/// Per-launch options.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LaunchOptions {
    /// The engine.
    pub engine: Engine,
    /// Per-lane step budget.
    pub max_steps: u64,
}

impl Default for LaunchOptions {
    fn default() -> Self {
        LaunchOptions {
            engine: Engine::default(),
            max_steps: DEFAULT_MAX_STEPS,
        }
    }
}

/// Buffers plus engines.
#[derive(Debug, Default)]
pub struct Runtime {
    buffers: RwLock<BufferTable>,
}

impl Runtime {
    /// A runtime with no buffers.
    pub fn new() -> Runtime {
        Runtime::default()
    }

    /// Compiles LASM source; `file` names it in error messages.
    pub fn compile(&self, file: &str, source: &str) -> Result<Program, crate::asm::Diagnostics> {
        compile(file, source)
    }

    /// A zeroed buffer of `len` bytes.
    pub fn alloc(&self, len: usize) -> Result<BufferId, MemoryError> {
        self.buffers.write().create(len)
    }

    /// A buffer holding a copy of `bytes`.
    pub fn alloc_from(&self, bytes: &[u8]) -> Result<BufferId, MemoryError> {
        self.buffers.write().create_from(bytes)
    }

    /// Writes `bytes` at `offset` of buffer `id`.
    pub fn write(&self, id: BufferId, offset: usize, bytes: &[u8]) -> Result<(), MemoryError> {
        self.buffers.read().write(id, offset, bytes)
    }

    /// Reads all bytes of buffer `id`.
    pub fn read(&self, id: BufferId) -> Result<Vec<u8>, MemoryError> {
        self.buffers.read().read(id)
    }

    /// Frees buffer `id`.
    pub fn free(&self, id: BufferId) -> Result<(), MemoryError> {
        self.buffers.write().free(id)
    }

    /// Runs `kernel` over `grid` blocks of `block` lanes with `args`.
    pub fn launch(
        &self,
        kernel: &Arc<Kernel>,
        grid: Dim3,
        block: Dim3,
        args: &[Arg],
        options: LaunchOptions,
    ) -> Result<(), LaunchError> {
        check_shape(grid, block)?;
        let bound = {
            let table = self.buffers.read();
            bind_args(kernel, args, |id| table.get(id).cloned())?
        };
        let spec = LaunchSpec {
            kernel,
            grid,
            block,
            args: &bound,
            max_steps: options.max_steps,
        };
        match options.engine {
            Engine::Reference => reference::run(&spec).map_err(LaunchError::Fault),
            Engine::Pool => Err(LaunchError::Engine(
                "the pool engine is not built yet; use the reference engine".to_string(),
            )),
        }
    }
}
