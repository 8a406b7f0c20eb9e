//! Compiled kernels: one Cranelift module per (kernel, block shape, step
//! counting), made on first use, kept beside the kernel (its derived-data
//! slot) and freed with it. The CPU's features are the process's, so they
//! need no key of their own.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use cranelift_codegen::isa::OwnedTargetIsa;
use cranelift_codegen::settings::{self, Configurable};
use cranelift_frontend::FunctionBuilderContext;
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{Linkage, Module, default_libcall_names};

use super::analysis::Analysis;
use super::codegen::{self, Features, Target, Variant, gang};
use super::frame::Frame;
use super::shape::{Facts, Shapes};
use crate::kernel::Kernel;
use crate::launch::Dim3;

/// Kernels longer than this run on the block engine: compile time grows
/// with the program, and such kernels are not what the JIT is for.
pub const MAX_INSTRUCTIONS: usize = 20_000;

/// The entry point of a compiled kernel.
pub(super) type Entry = unsafe extern "C" fn(*mut Frame) -> u32;

/// One compiled variant of a kernel.
pub(super) struct Compiled {
    pub entry: Entry,
    /// How the code runs lanes.
    pub tier: Tier,
    /// Words of spill area a block needs (what crosses its barriers).
    pub spill_words: usize,
    /// How long translation and code generation took.
    pub compile_time: Duration,
    /// The module owning the code; taken and freed on drop.
    module: Mutex<Option<JITModule>>,
}

impl Drop for Compiled {
    fn drop(&mut self) {
        let module = match self.module.get_mut() {
            Ok(m) => m.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        if let Some(m) = module {
            // SAFETY: `entry` is the only pointer into the module's code,
            // and it is only called through an `Arc<Compiled>` that a
            // launch holds for as long as it runs: being dropped, this
            // value has no such holder left, so no generated code runs or
            // will run.
            unsafe { m.free_memory() }
        }
    }
}

/// How compiled code runs a block's lanes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Tier {
    /// One lane at a time, from barrier to barrier.
    Lane,
    /// Four lanes at a time on vectors.
    Gang,
}

/// What makes two launches of one kernel need different code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) struct Key {
    pub block: Dim3,
    pub count_steps: bool,
    /// The launch has at most 2^32 lanes (`%gid` fits 32 bits).
    pub gid32: bool,
    /// The tier asked for (`None`: the better one for the kernel).
    pub tier: Option<Tier>,
}

/// A compiled variant, or why it could not be compiled.
type Made = Result<Arc<Compiled>, Arc<str>>;

/// The JIT's derived data of one kernel.
#[derive(Default)]
pub(super) struct KernelCache {
    /// The kernel the JIT compiles and runs: the user's with its registers
    /// renamed (`rename`).
    renamed: OnceLock<(Kernel, Analysis)>,
    variants: Mutex<Vec<(Key, Made)>>,
}

impl KernelCache {
    /// The renamed kernel of `kernel` and its analysis.
    fn renamed(&self, kernel: &Kernel) -> &(Kernel, Analysis) {
        self.renamed.get_or_init(|| {
            let k = super::rename::rename(kernel, &Analysis::new(kernel));
            let an = Analysis::new(&k);
            (k, an)
        })
    }

    /// The kernel the JIT runs in place of `kernel`: the same program with
    /// its registers renamed.
    pub fn kernel(&self, kernel: &Kernel) -> &Kernel {
        &self.renamed(kernel).0
    }

    /// The analysis of [`KernelCache::kernel`].
    pub fn analysis(&self, kernel: &Kernel) -> &Analysis {
        &self.renamed(kernel).1
    }

    /// The variant for `key`, compiled now if it is new (the launch that
    /// compiles it learns so through `fresh`). A variant that could not be
    /// compiled stays an error: the kernel then runs on the block engine.
    pub fn variant(&self, kernel: &Kernel, key: Key) -> (Result<Arc<Compiled>, Arc<str>>, bool) {
        let mut variants = match self.variants.lock() {
            Ok(v) => v,
            Err(p) => p.into_inner(),
        };
        if let Some((_, v)) = variants.iter().find(|(k, _)| *k == key) {
            return (v.clone(), false);
        }
        let made = compile(self.kernel(kernel), self.analysis(kernel), key)
            .map(Arc::new)
            .map_err(Arc::from);
        variants.push((key, made.clone()));
        (made, true)
    }
}

/// The host's code generator and its features, made once per process.
fn isa() -> Result<&'static (OwnedTargetIsa, Features), String> {
    static ISA: OnceLock<Result<(OwnedTargetIsa, Features), String>> = OnceLock::new();
    ISA.get_or_init(|| {
        let mut flags = settings::builder();
        for (name, value) in [
            ("opt_level", "speed"),
            ("is_pic", "false"),
            ("use_colocated_libcalls", "false"),
            (
                "enable_verifier",
                if cfg!(debug_assertions) {
                    "true"
                } else {
                    "false"
                },
            ),
        ] {
            flags
                .set(name, value)
                .map_err(|e| format!("Cranelift setting {name}={value}: {e}"))?;
        }
        let builder = cranelift_native::builder()
            .map_err(|e| format!("this CPU is not supported by Cranelift: {e}"))?;
        let isa = builder
            .finish(settings::Flags::new(flags))
            .map_err(|e| format!("cannot configure Cranelift for this CPU: {e}"))?;
        let flag = |name: &str| {
            isa.isa_flags()
                .iter()
                .any(|v| v.name == name && v.as_bool() == Some(true))
        };
        let features = Features {
            fma: flag("has_fma"),
            sse41: flag("has_sse41"),
        };
        Ok((isa, features))
    })
    .as_ref()
    .map_err(Clone::clone)
}

/// Compiles one variant.
fn compile(kernel: &Kernel, an: &Analysis, key: Key) -> Result<Compiled, String> {
    if kernel.instrs.len() > MAX_INSTRUCTIONS {
        return Err(format!(
            "{} instructions (the JIT compiles at most {MAX_INSTRUCTIONS})",
            kernel.instrs.len()
        ));
    }
    let start = Instant::now();
    let (isa, features) = isa()?;
    let mut module = JITModule::new(JITBuilder::with_isa(isa.clone(), default_libcall_names()));
    let target = Target {
        features: *features,
        call_conv: isa.default_call_conv(),
        frontend: isa.frontend_config(),
    };
    let sig = codegen::kernel_signature(target.call_conv);
    let id = module
        .declare_function("kernel", Linkage::Local, &sig)
        .map_err(|e| format!("declare: {e}"))?;
    let mut ctx = module.make_context();
    ctx.func.signature = sig;
    let mut fctx = FunctionBuilderContext::new();
    let facts = Facts::new(kernel, an, key.block, key.gid32);
    let shapes = Shapes::new(kernel, an, &facts).and_then(|sh| {
        let forced = key.tier == Some(Tier::Gang);
        gang::eligible(kernel, an, &sh, key.count_steps, forced).map(|()| sh)
    });
    let one_lane = key.tier == Some(Tier::Lane);
    let variant = Variant {
        kernel,
        an,
        facts: &facts,
        shape: key.block,
        count_steps: key.count_steps,
    };
    let (tier, spill_bytes) = match shapes {
        Ok(sh) if !one_lane => {
            let bytes = gang::translate(&mut ctx.func, &mut fctx, &variant, &sh, &target);
            (Tier::Gang, bytes)
        }
        _ => {
            codegen::translate(&mut ctx.func, &mut fctx, &variant, &target);
            // One word per lane per spilled register, and one for the
            // predicates.
            let slots = an.spilled.len() + usize::from(!an.spilled_preds.is_empty());
            (Tier::Lane, 8 * slots * key.block.count() as usize)
        }
    };
    // LANES_JIT_DUMP=ir prints the Cranelift IR, =asm the machine code
    // (docs/DEVELOPMENT.md).
    let dump = std::env::var("LANES_JIT_DUMP").unwrap_or_default();
    if dump == "ir" {
        eprintln!(
            "; kernel `{}`, block {}\n{}",
            kernel.name,
            key.block,
            ctx.func.display()
        );
    }
    ctx.set_disasm(dump == "asm");
    module
        .define_function(id, &mut ctx)
        .map_err(|e| format!("code generation failed: {e:?}"))?;
    if let Some(text) = ctx.compiled_code().and_then(|c| c.vcode.as_ref()) {
        eprintln!("; kernel `{}`, block {}\n{text}", kernel.name, key.block);
    }
    module
        .finalize_definitions()
        .map_err(|e| format!("cannot make the code executable: {e}"))?;
    let code = module.get_finalized_function(id);
    // SAFETY: `code` is the finalized function `translate` built with
    // `kernel_signature`: one pointer argument, one `u32` result, in the
    // platform's C calling convention (`default_call_conv`).
    let entry = unsafe { std::mem::transmute::<*const u8, Entry>(code) };
    Ok(Compiled {
        entry,
        tier,
        spill_words: spill_bytes.div_ceil(8),
        compile_time: start.elapsed(),
        module: Mutex::new(Some(module)),
    })
}
