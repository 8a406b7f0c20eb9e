//! The `jit` target's own cases: programs shaped to reach both tiers of the
//! JIT (see the crate docs), with the launch they run in and the rules
//! their outcomes are compared by. No dependency but `lanes` and
//! [`crate::checks`], so `tests/fuzz_regressions.rs` includes this file too.

use std::fmt;

use lanes::engine::jit::Tier;
use lanes::types::ScalarType;
use lanes::{Dim3, FaultKind, Scalar};

use crate::checks::{Case, Outcome};

/// Bytes of `out` per lane: 32 u64 slots (registers r0..r19, a copy of the
/// lane's shared slot, its predicates, a lockstep program's invariant
/// registers, the shared counter, a free slot).
pub const OUT_SLOT: u64 = 256;
/// Bytes of shared memory per lane; the shared counters follow the slots.
pub const SHARED_SLOT: u64 = 16;

/// Which faults a case may raise: one source per case, so that engines
/// meeting faults in different lanes first still agree on the kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Faults {
    /// None: every engine must run to the end.
    None,
    /// Out-of-bounds and misaligned accesses in any lane (compared as one
    /// kind: a lane may meet either first).
    Memory,
    /// Any fault, but in one lane only (`%gid` [`JitCase::lane`]): the very
    /// same fault from every engine.
    OneLane,
    /// Integer division by zero in any lane.
    Division,
    /// A step budget that may run out, in any lane.
    Steps,
}

/// A generated program and its launch (the `jit` target's input).
///
/// Buffers, in parameter order: `inp` (read-only words, `inp_len` bytes),
/// `out` ([`OUT_SLOT`] bytes per lane, each lane writes only its own),
/// `vout` (one element per lane and size, [`vout_regions`]: contiguous
/// vector accesses), `edge` (a u64 per lane, read and written at
/// `%gid * 8`; shorter by up to 8 bytes when the last lane is the one that
/// may fault), `junk` (wild stores; not compared), `counter` (16 bytes of
/// order-independent atomics). Scalars: `k u32`, `s i64`, `x f64`.
#[derive(Clone)]
pub struct JitCase {
    /// LASM source with the kernel `gen`.
    pub source: String,
    /// Grid shape.
    pub grid: Dim3,
    /// Block shape.
    pub block: Dim3,
    /// The words `inp` and `edge` are made of (see [`words`]).
    pub pattern: Vec<u64>,
    /// Bytes of `inp`.
    pub inp_len: usize,
    /// Bytes of `edge`.
    pub edge_len: usize,
    /// Bytes of `junk`.
    pub junk_len: usize,
    /// The `k` argument.
    pub k: u32,
    /// The `s` argument.
    pub s: i64,
    /// The `x` argument's bits.
    pub x: u64,
    /// Per-lane step budget.
    pub max_steps: u64,
    /// The faults the program may raise.
    pub faults: Faults,
    /// With [`Faults::OneLane`], the lane (`%gid`) that may fault.
    pub lane: u64,
    /// For a lockstep program (barriers met by every lane of a block
    /// together, halving loops only: `fuzz/src/jit_gen.rs`), the JIT's
    /// bound on the steps a lane takes (`src/engine/jit/loops.rs`): with a
    /// budget of at least that and blocks of a gang (4 lanes) or more, the
    /// JIT must pick its gang tier ([`Case::jit_tier`]).
    pub lockstep: Option<u64>,
}

impl JitCase {
    /// Lanes in the launch.
    pub fn total(&self) -> u64 {
        (self.grid.count() * self.block.count()) as u64
    }
}

/// Where the elements of each size start in `vout`, and its length, for
/// `total` lanes: region `2 * log2(size) + d` for sizes 1, 2, 4, 8; lane
/// `g` owns element `g` of the regions with `d = 0` and element
/// `total - 1 - g` of those with `d = 1` (stores in reverse lane order).
pub fn vout_regions(total: u64) -> ([u64; 8], u64) {
    let mut at = 0;
    let mut starts = [0; 8];
    for (i, start) in starts.iter_mut().enumerate() {
        *start = at;
        at = (at + (1u64 << (i / 2)) * total).next_multiple_of(8);
    }
    (starts, at)
}

/// `len` bytes of words taken from `pattern` in a scrambled order (so that
/// neighbouring lanes see different values, and some see equal ones).
pub fn words(pattern: &[u64], len: usize, seed: usize) -> Vec<u8> {
    let n = pattern.len().max(1);
    (0..len.div_ceil(8))
        .flat_map(|i| {
            let j = i + seed;
            pattern
                .get((j * 7 + j / n) % n)
                .copied()
                .unwrap_or(0)
                .to_le_bytes()
        })
        .take(len)
        .collect()
}

impl fmt::Debug for JitCase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "// grid {} block {} max_steps {} faults {:?} lane {}",
            self.grid, self.block, self.max_steps, self.faults, self.lane
        )?;
        writeln!(
            f,
            "// k {} s {} x {:#x} inp_len {} edge_len {} junk_len {}",
            self.k, self.s, self.x, self.inp_len, self.edge_len, self.junk_len
        )?;
        writeln!(f, "// pattern {:#x?}", self.pattern)?;
        if let Some(bound) = self.lockstep {
            writeln!(f, "// lockstep_bound {bound}")?;
        }
        f.write_str(&self.source)
    }
}

/// Fault kinds by name.
pub fn kind_of(k: &FaultKind) -> &'static str {
    match k {
        FaultKind::OutOfBounds { .. } => "out of bounds",
        FaultKind::Misaligned { .. } => "misaligned",
        FaultKind::DivisionByZero => "division",
        FaultKind::StepLimit { .. } => "steps",
    }
}

impl Case for JitCase {
    fn source(&self) -> &str {
        &self.source
    }
    fn grid(&self) -> Dim3 {
        self.grid
    }
    fn block(&self) -> Dim3 {
        self.block
    }
    fn max_steps(&self) -> u64 {
        self.max_steps
    }
    fn buffers(&self) -> Vec<Vec<u8>> {
        let total = self.total() as usize;
        vec![
            words(&self.pattern, self.inp_len, 0),
            vec![0; total * OUT_SLOT as usize],
            vec![0; vout_regions(self.total()).1 as usize],
            words(&self.pattern, self.edge_len, 3),
            vec![0; self.junk_len],
            vec![0; 16],
        ]
    }
    fn scalars(&self) -> Vec<Scalar> {
        vec![
            Scalar {
                ty: ScalarType::U32,
                bits: u64::from(self.k),
            },
            Scalar {
                ty: ScalarType::I64,
                bits: self.s as u64,
            },
            Scalar {
                ty: ScalarType::F64,
                bits: self.x,
            },
        ]
    }
    fn compared(&self, i: usize) -> bool {
        i != 4 // junk
    }
    fn fault_kind(&self, kind: &FaultKind) -> Option<&'static str> {
        Some(match (self.faults, kind) {
            (Faults::Memory, FaultKind::OutOfBounds { .. } | FaultKind::Misaligned { .. }) => {
                "memory"
            }
            _ => kind_of(kind),
        })
    }
    fn single_lane_fault(&self) -> bool {
        self.faults == Faults::OneLane
    }
    fn jit_tier(&self, want: &Outcome) -> Option<Tier> {
        let bound = self.lockstep?;
        if self.block.count() < 4 {
            return Some(Tier::Lane);
        }
        if self.max_steps >= bound {
            return Some(Tier::Gang);
        }
        // A lane ran out of steps: any sound bound is above the budget, so
        // the JIT counts steps, which its lockstep scheme does not do.
        let out_of_steps = matches!(want, Err(f) if matches!(f.kind, FaultKind::StepLimit { .. }));
        out_of_steps.then_some(Tier::Lane)
    }
    fn check_oracle(&self, want: &Outcome) {
        let Err(f) = want else { return };
        let gid = {
            let (g, b) = (self.grid, self.block);
            let block = u64::from(f.block.x)
                + u64::from(g.x) * (u64::from(f.block.y) + u64::from(g.y) * u64::from(f.block.z));
            let lane = u64::from(f.lane.x)
                + u64::from(b.x) * (u64::from(f.lane.y) + u64::from(b.y) * u64::from(f.lane.z));
            block * b.count() as u64 + lane
        };
        let fits = match (self.faults, &f.kind) {
            (Faults::None, _) => false,
            (Faults::Memory, k) => self.fault_kind(k) == Some("memory"),
            (Faults::OneLane, k) => gid == self.lane && !matches!(k, FaultKind::StepLimit { .. }),
            (Faults::Division, k) => *k == FaultKind::DivisionByZero,
            (Faults::Steps, k) => matches!(k, FaultKind::StepLimit { .. }),
        };
        assert!(
            fits,
            "the generator allowed {:?} faults, the reference engine gave: {f}\n{self:?}",
            self.faults
        );
    }
}

impl std::str::FromStr for JitCase {
    type Err = String;

    /// Reads a case back from its `Debug` text (what `cargo fuzz fmt jit`
    /// and a failing check print), to replay or minimize it.
    fn from_str(text: &str) -> Result<JitCase, String> {
        let field = |name: &str| -> Result<&str, String> {
            let at = text
                .find(&format!(" {name} "))
                .ok_or(format!("no `{name}`"))?;
            let rest = &text[at + name.len() + 2..];
            let end = rest.find([' ', '\n']).unwrap_or(rest.len());
            Ok(&rest[..end])
        };
        let dim = |name: &str| -> Result<Dim3, String> {
            let at = text
                .find(&format!(" {name} ("))
                .ok_or(format!("no `{name}`"))?;
            let rest = &text[at + name.len() + 3..];
            let v: Vec<u32> = rest[..rest.find(')').ok_or("no `)`")?]
                .split(',')
                .map(|x| x.trim().parse().map_err(|e| format!("{name}: {e}")))
                .collect::<Result<_, _>>()?;
            match v[..] {
                [x, y, z] => Ok(Dim3::new(x, y, z)),
                _ => Err(format!("{name}: three numbers")),
            }
        };
        let num = |name: &str| -> Result<u64, String> {
            let v = field(name)?;
            let parsed = match v.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16),
                None => v
                    .parse::<u64>()
                    .or_else(|_| v.parse::<i64>().map(|x| x as u64)),
            };
            parsed.map_err(|e| format!("{name}: {e}"))
        };
        let faults = match field("faults")? {
            "None" => Faults::None,
            "Memory" => Faults::Memory,
            "OneLane" => Faults::OneLane,
            "Division" => Faults::Division,
            "Steps" => Faults::Steps,
            other => return Err(format!("faults {other}")),
        };
        let pattern_at = text.find("// pattern [").ok_or("no pattern")?;
        let pattern_text = &text[pattern_at + 12..];
        let pattern_end = pattern_text.find(']').ok_or("no `]`")?;
        let pattern = pattern_text[..pattern_end]
            .split([',', '\n', ' '])
            .filter(|w| !w.is_empty())
            .map(|w| {
                let w = w.trim_start_matches("0x");
                u64::from_str_radix(w, 16).map_err(|e| format!("pattern: {e}"))
            })
            .collect::<Result<_, _>>()?;
        let lockstep = match text.find("// lockstep_bound ") {
            Some(_) => Some(num("lockstep_bound")?),
            None => None,
        };
        let source_at = text.find(".kernel").ok_or("no `.kernel`")?;
        Ok(JitCase {
            source: text[source_at..].to_string(),
            grid: dim("grid")?,
            block: dim("block")?,
            pattern,
            inp_len: num("inp_len")? as usize,
            edge_len: num("edge_len")? as usize,
            junk_len: num("junk_len")? as usize,
            k: num("k")? as u32,
            s: num("s")? as i64,
            x: num("x")?,
            max_steps: num("max_steps")?,
            faults,
            lane: num("lane")?,
            lockstep,
        })
    }
}
