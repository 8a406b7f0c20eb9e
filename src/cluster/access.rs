//! What a launch declares about each buffer argument, and the checks made
//! on the kernel's code before anything runs.

use std::fmt;
use std::str::FromStr;

use crate::kernel::{AtomOp, Kernel, Op, ParamKind, Space, flow};
use crate::launch::Dim3;
use crate::types::{AtomType, ScalarType};

/// How a reduced buffer's partial results are combined.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReduceOp {
    /// Sum (integers wrap, as `atom.add` does).
    Add,
    /// Minimum (floats: a NaN loses, as `atom.min` does).
    Min,
    /// Maximum (floats: a NaN loses, as `atom.max` does).
    Max,
}

impl ReduceOp {
    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            ReduceOp::Add => "add",
            ReduceOp::Min => "min",
            ReduceOp::Max => "max",
        }
    }

    fn atom_op(self) -> AtomOp {
        match self {
            ReduceOp::Add => AtomOp::Add,
            ReduceOp::Min => AtomOp::Min,
            ReduceOp::Max => AtomOp::Max,
        }
    }
}

/// What the blocks of a launch do with one buffer argument; this decides
/// what the ranks exchange before and after the launch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Access {
    /// Read by any block, written by none: every rank needs all of it.
    All,
    /// Partitioned: linear block `b` writes only elements
    /// `b*elements .. (b+1)*elements` and reads only those plus `halo`
    /// elements on each side (a stencil's neighbours).
    Blocks {
        /// Elements per block.
        elements: u64,
        /// Bytes per element.
        elem_bytes: u64,
        /// Elements read beyond each end of a rank's range.
        halo: u64,
    },
    /// Partitioned in two dimensions: the buffer is a row-major 2-D array
    /// of `row_elems` elements per row, cut into tiles of `width` x
    /// `height` elements; linear block `b` is tile `(b % tiles_per_row, b /
    /// tiles_per_row)` (`tiles_per_row = ceil(row_elems / width)`, which
    /// must be the grid's x) and writes only its tile (the right-most
    /// tiles are cut at the end of the row), reading `halo` more elements
    /// on each of its four sides.
    Tiles {
        /// Tile width in elements.
        width: u64,
        /// Tile height in rows.
        height: u64,
        /// Elements per row of the array.
        row_elems: u64,
        /// Bytes per element.
        elem_bytes: u64,
        /// Elements (and rows) read beyond each side of a tile.
        halo: u64,
    },
    /// Updated only by `atom.OP` whose returned value is unused: each rank
    /// starts from the identity of `OP`, and the partial results are
    /// combined in a fixed order of ranks (so floats are reproducible for a
    /// given number of ranks), then with the buffer's contents before the
    /// launch.
    Reduce(ReduceOp),
    /// Written only by linear block `block` (which may read it too); the
    /// rank that runs that block holds the result.
    One {
        /// The linear block index.
        block: u64,
    },
}

impl Access {
    /// `blocks:K` with elements of `elem_bytes` bytes and no halo.
    pub fn blocks(elements: u64, elem_bytes: u64) -> Access {
        Access::Blocks {
            elements,
            elem_bytes,
            halo: 0,
        }
    }

    /// `tiles:WxH:ROW` with elements of `elem_bytes` bytes and no halo.
    pub fn tiles(width: u64, height: u64, row_elems: u64, elem_bytes: u64) -> Access {
        Access::Tiles {
            width,
            height,
            row_elems,
            elem_bytes,
            halo: 0,
        }
    }

    /// This access with a halo of `halo` elements (for [`Access::Blocks`]
    /// and [`Access::Tiles`]; others are returned unchanged).
    pub fn with_halo(self, halo: u64) -> Access {
        match self {
            Access::Blocks {
                elements,
                elem_bytes,
                ..
            } => Access::Blocks {
                elements,
                elem_bytes,
                halo,
            },
            Access::Tiles {
                width,
                height,
                row_elems,
                elem_bytes,
                ..
            } => Access::Tiles {
                width,
                height,
                row_elems,
                elem_bytes,
                halo,
            },
            other => other,
        }
    }

    /// Whether the buffer is cut between the ranks by block ranges
    /// ([`Access::Blocks`] or [`Access::Tiles`]).
    pub fn is_partitioned(&self) -> bool {
        matches!(self, Access::Blocks { .. } | Access::Tiles { .. })
    }

    /// The halo of a partitioned access (0 for the others).
    pub fn halo(&self) -> u64 {
        match *self {
            Access::Blocks { halo, .. } | Access::Tiles { halo, .. } => halo,
            _ => 0,
        }
    }

    /// Parses the command-line form `all`, `blocks:K[:halo=H]`,
    /// `tiles:WxH:ROW[:halo=H]`, `reduce:add|min|max` or `one:BLOCK`;
    /// `elem_bytes` is the size of the buffer's elements (for `blocks` and
    /// `tiles`).
    pub fn parse(text: &str, elem_bytes: u64) -> Result<Access, String> {
        let spec: AccessSpec = text.parse()?;
        Ok(spec.with_elem_bytes(elem_bytes))
    }
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Access::All => f.write_str("all"),
            Access::Blocks {
                elements, halo: 0, ..
            } => write!(f, "blocks:{elements}"),
            Access::Blocks { elements, halo, .. } => write!(f, "blocks:{elements}:halo={halo}"),
            Access::Tiles {
                width,
                height,
                row_elems,
                halo,
                ..
            } => {
                write!(f, "tiles:{width}x{height}:{row_elems}")?;
                if halo > 0 {
                    write!(f, ":halo={halo}")?;
                }
                Ok(())
            }
            Access::Reduce(op) => write!(f, "reduce:{}", op.name()),
            Access::One { block } => write!(f, "one:{block}"),
        }
    }
}

/// An [`Access`] as written on the command line, before the buffer's
/// element size is known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccessSpec(Access);

impl AccessSpec {
    /// The access for a buffer of `elem_bytes`-byte elements.
    pub fn with_elem_bytes(self, elem_bytes: u64) -> Access {
        match self.0 {
            Access::Blocks { elements, halo, .. } => Access::Blocks {
                elements,
                elem_bytes,
                halo,
            },
            Access::Tiles {
                width,
                height,
                row_elems,
                halo,
                ..
            } => Access::Tiles {
                width,
                height,
                row_elems,
                elem_bytes,
                halo,
            },
            other => other,
        }
    }
}

impl FromStr for AccessSpec {
    type Err = String;
    fn from_str(text: &str) -> Result<AccessSpec, String> {
        let expected = "expected all, blocks:K[:halo=H], tiles:WxH:ROW[:halo=H], reduce:add|min|max or one:BLOCK";
        let number = |what: &str, s: &str| {
            s.parse::<u64>()
                .map_err(|_| format!("{what} `{s}` is not a whole number ({expected})"))
        };
        let parts: Vec<&str> = text.split(':').collect();
        let halo_at = |i: usize| match parts.get(i) {
            None => Ok(0),
            Some(h) => match h.strip_prefix("halo=") {
                Some(n) => number("halo", n),
                None => Err(format!("`{h}` is not halo=H ({expected})")),
            },
        };
        let access = match parts.as_slice() {
            ["all"] => Access::All,
            ["blocks", k] | ["blocks", k, _] => {
                let elements = number("elements per block", k)?;
                if elements == 0 {
                    return Err("blocks:0 gives no block any elements".to_string());
                }
                Access::Blocks {
                    elements,
                    elem_bytes: 1,
                    halo: halo_at(2)?,
                }
            }
            ["tiles", size, row] | ["tiles", size, row, _] => {
                let Some((w, h)) = size.split_once('x') else {
                    return Err(format!("tile size `{size}` is not WxH ({expected})"));
                };
                let (width, height) = (number("tile width", w)?, number("tile height", h)?);
                let row_elems = number("elements per row", row)?;
                if width == 0 || height == 0 || row_elems == 0 {
                    return Err(format!(
                        "`{text}`: tile width, tile height and row length must be at least 1"
                    ));
                }
                Access::Tiles {
                    width,
                    height,
                    row_elems,
                    elem_bytes: 1,
                    halo: halo_at(3)?,
                }
            }
            ["reduce", op] => Access::Reduce(match *op {
                "add" => ReduceOp::Add,
                "min" => ReduceOp::Min,
                "max" => ReduceOp::Max,
                other => {
                    return Err(format!(
                        "unknown reduction `{other}` (expected add, min or max)"
                    ));
                }
            }),
            ["one", b] => Access::One {
                block: number("block", b)?,
            },
            _ => return Err(format!("`{text}`: {expected}")),
        };
        Ok(AccessSpec(access))
    }
}

/// Why a launch's declarations do not fit its kernel.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("kernel `{kernel}`, buffer `{buffer}` ({access}): {reason}")]
pub struct AccessError {
    /// The kernel.
    pub kernel: String,
    /// The buffer parameter.
    pub buffer: String,
    /// Its declaration (`undeclared` when it has none).
    pub access: String,
    /// What is wrong.
    pub reason: String,
}

/// A buffer parameter's declaration after the checks: what the ranks need
/// to exchange for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resolved {
    /// The declaration.
    pub access: Access,
    /// For [`Access::Reduce`]: the type of the kernel's atomics on it
    /// (`None` when the kernel has none: nothing to combine).
    pub reduce_type: Option<AtomType>,
    /// Whether the kernel loads from it (for the halo check).
    pub loaded: bool,
    /// Whether the kernel stores to it or updates it atomically.
    pub written: bool,
}

/// How a kernel's code uses one buffer slot.
#[derive(Debug, Default)]
struct SlotUse {
    loads: bool,
    /// First store's source line.
    store_line: Option<u32>,
    /// `(op or None for cas, type, instruction index)`.
    atomics: Vec<(Option<AtomOp>, AtomType, usize)>,
}

fn slot_uses(kernel: &Kernel) -> Vec<SlotUse> {
    let mut uses: Vec<SlotUse> = (0..kernel.buffer_slots)
        .map(|_| SlotUse::default())
        .collect();
    for (pc, instr) in kernel.instrs.iter().enumerate() {
        let line = kernel.lines.get(pc).map_or(0, |l| l.line);
        match instr.op {
            Op::Load {
                space: Space::Global,
                addr,
                ..
            } => {
                if let Some(u) = uses.get_mut(addr.buffer as usize) {
                    u.loads = true;
                }
            }
            Op::Store {
                space: Space::Global,
                addr,
                ..
            } => {
                if let Some(u) = uses.get_mut(addr.buffer as usize) {
                    u.store_line.get_or_insert(line);
                }
            }
            Op::Atom {
                space: Space::Global,
                op,
                ty,
                addr,
                ..
            } => {
                if let Some(u) = uses.get_mut(addr.buffer as usize) {
                    u.atomics.push((Some(op), ty, pc));
                }
            }
            Op::Cas {
                space: Space::Global,
                ty,
                addr,
                ..
            } => {
                if let Some(u) = uses.get_mut(addr.buffer as usize) {
                    let ty = match ty.scalar() {
                        ScalarType::U32 => AtomType::U32,
                        ScalarType::I32 => AtomType::I32,
                        ScalarType::U64 => AtomType::U64,
                        _ => AtomType::I64,
                    };
                    u.atomics.push((None, ty, pc));
                }
            }
            _ => {}
        }
    }
    uses
}

/// Whether the register written at `pc` may be read before it is written
/// again on some path: a forward search over the control flow, where an
/// unguarded write of the register ends a path.
fn result_used(kernel: &Kernel, pc: usize) -> bool {
    let Some((reg, _)) = flow::written_reg(&kernel.instrs[pc].op) else {
        return false;
    };
    let n = kernel.instrs.len();
    let mut seen = vec![false; n + 1];
    let mut todo: Vec<usize> = flow::successors(&kernel.instrs[pc], pc)
        .into_iter()
        .flatten()
        .collect();
    while let Some(at) = todo.pop() {
        if at >= n || seen[at] {
            continue;
        }
        seen[at] = true;
        let instr = &kernel.instrs[at];
        let mut reads = false;
        let mut kills = false;
        flow::for_each_use(instr, &mut |id, written| {
            if id == reg as u16 {
                if written {
                    kills = instr.guard.is_none();
                } else {
                    reads = true;
                }
            }
        });
        if reads {
            return true;
        }
        if !kills {
            todo.extend(flow::successors(instr, at).into_iter().flatten());
        }
    }
    false
}

/// Checks `decls` (one per buffer slot, `None`: undeclared) against the
/// kernel's code and the grid's block count.
pub fn resolve(
    kernel: &Kernel,
    decls: &[Option<Access>],
    grid: Dim3,
) -> Result<Vec<Resolved>, AccessError> {
    let grid_blocks = grid.count() as u64;
    let uses = slot_uses(kernel);
    let mut out = Vec::with_capacity(uses.len());
    for (slot, u) in uses.iter().enumerate() {
        let name = kernel
            .buffer_param(slot as u16)
            .map_or_else(|| format!("#{slot}"), |p| p.name.clone());
        let decl = decls.get(slot).copied().flatten();
        let err = |access: String, reason: String| AccessError {
            kernel: kernel.name.clone(),
            buffer: name.clone(),
            access,
            reason,
        };
        let written = u.store_line.is_some() || !u.atomics.is_empty();
        let Some(access) = decl else {
            if written {
                return Err(err(
                    "undeclared".to_string(),
                    "the kernel writes it, so its access must be declared \
                     (blocks:K[:halo=H], tiles:WxH:ROW[:halo=H], reduce:OP or one:BLOCK)"
                        .to_string(),
                ));
            }
            out.push(Resolved {
                access: Access::All,
                reduce_type: None,
                loaded: u.loads,
                written: false,
            });
            continue;
        };
        let shown = access.to_string();
        let mut reduce_type = None;
        match access {
            Access::All if written => {
                let what = match u.store_line {
                    Some(line) => format!("stores to it (line {line})"),
                    None => "updates it atomically".to_string(),
                };
                return Err(err(
                    shown,
                    format!("declared read-only on every rank, but the kernel {what}"),
                ));
            }
            Access::All => {}
            Access::Blocks {
                elements,
                elem_bytes,
                ..
            } => {
                if elements == 0 || elem_bytes == 0 {
                    return Err(err(
                        shown,
                        "a block must own at least one element of at least one byte".to_string(),
                    ));
                }
            }
            Access::Tiles {
                width,
                height,
                row_elems,
                elem_bytes,
                ..
            } => {
                if width == 0 || height == 0 || row_elems == 0 || elem_bytes == 0 {
                    return Err(err(
                        shown,
                        "a tile must have at least one element of at least one byte".to_string(),
                    ));
                }
                let per_row = row_elems.div_ceil(width);
                if grid.x as u64 != per_row {
                    return Err(err(
                        shown,
                        format!(
                            "a row of {row_elems} elements holds {per_row} tiles of width \
                             {width}, so the grid's x must be {per_row}, not {}",
                            grid.x
                        ),
                    ));
                }
            }
            Access::One { block } => {
                if block >= grid_blocks {
                    return Err(err(
                        shown,
                        format!("the grid has only {grid_blocks} blocks"),
                    ));
                }
            }
            Access::Reduce(op) => {
                if u.loads {
                    return Err(err(
                        shown,
                        "the kernel loads from it: a reduced buffer holds only a rank's \
                         partial result while the launch runs"
                            .to_string(),
                    ));
                }
                if let Some(line) = u.store_line {
                    return Err(err(
                        shown,
                        format!(
                            "the kernel stores to it (line {line}); a reduced buffer may only \
                             be updated by atom.{}",
                            op.name()
                        ),
                    ));
                }
                for &(aop, ty, pc) in &u.atomics {
                    let line = kernel.lines.get(pc).map_or(0, |l| l.line);
                    if aop != Some(op.atom_op()) {
                        return Err(err(
                            shown,
                            format!(
                                "line {line} updates it with another atomic operation \
                                 than atom.{}",
                                op.name()
                            ),
                        ));
                    }
                    if *reduce_type.get_or_insert(ty) != ty {
                        return Err(err(
                            shown,
                            format!("line {line} updates it with atomics of another type"),
                        ));
                    }
                    if result_used(kernel, pc) {
                        return Err(err(
                            shown,
                            format!(
                                "the value returned by the atomic at line {line} is used: \
                                 on a reduced buffer it is a rank's partial value, not the \
                                 value a single process would see"
                            ),
                        ));
                    }
                }
            }
        }
        out.push(Resolved {
            access,
            reduce_type,
            loaded: u.loads,
            written,
        });
    }
    Ok(out)
}

/// Declarations by parameter name, in buffer-slot order, with the element
/// size of each buffer for `blocks` (`elem_bytes(slot)`).
pub fn by_slot(
    kernel: &Kernel,
    named: &[(String, AccessSpec)],
    elem_bytes: impl Fn(u16) -> u64,
) -> Result<Vec<Option<Access>>, String> {
    let mut decls = vec![None; kernel.buffer_slots];
    for (name, spec) in named {
        match kernel.param(name).map(|p| p.kind) {
            Some(ParamKind::Buffer { slot }) => {
                let d = &mut decls[slot as usize];
                if d.is_some() {
                    return Err(format!("buffer `{name}` has more than one --access"));
                }
                *d = Some(spec.with_elem_bytes(elem_bytes(slot)));
            }
            Some(ParamKind::Scalar { .. }) => {
                return Err(format!(
                    "--access {name}: `{name}` is not a buffer parameter"
                ));
            }
            None => {
                return Err(format!(
                    "--access {name}: kernel `{}` has no parameter `{name}`",
                    kernel.name
                ));
            }
        }
    }
    Ok(decls)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kernel(src: &str) -> std::sync::Arc<Kernel> {
        crate::compile("t.lasm", src).unwrap().kernels[0].clone()
    }

    #[test]
    fn parses_every_form() {
        let p = |s: &str| Access::parse(s, 4);
        assert_eq!(p("all"), Ok(Access::All));
        assert_eq!(p("blocks:256"), Ok(Access::blocks(256, 4)));
        assert_eq!(
            p("blocks:256:halo=1"),
            Ok(Access::blocks(256, 4).with_halo(1))
        );
        assert_eq!(p("reduce:min"), Ok(Access::Reduce(ReduceOp::Min)));
        assert_eq!(p("one:3"), Ok(Access::One { block: 3 }));
        for bad in [
            "",
            "blocks",
            "blocks:0",
            "blocks:x",
            "blocks:4:h=1",
            "reduce:mul",
            "one",
        ] {
            assert!(p(bad).is_err(), "{bad}");
        }
        for s in ["all", "blocks:7", "blocks:7:halo=2", "reduce:add", "one:0"] {
            assert_eq!(p(s).unwrap().to_string(), s);
        }
    }

    const HIST: &str = ".kernel hist\n.param x buf\n.param h buf\n\
        mov.u32 r0, %gid\n shl.u64 r1, r0, 2\n ld.global.u32 r2, [x + r1]\n\
        shl.u64 r3, r2, 2\n atom.global.add.u32 r4, [h + r3], 1\n";

    #[test]
    fn reduced_buffers_take_only_atomics_whose_result_is_unused() {
        let k = kernel(HIST);
        let ok = resolve(&k, &[None, Some(Access::Reduce(ReduceOp::Add))], Dim3::x(4)).unwrap();
        assert_eq!(ok[1].reduce_type, Some(AtomType::U32));
        assert!(ok[0].loaded);
        let e = resolve(&k, &[None, Some(Access::Reduce(ReduceOp::Max))], Dim3::x(4)).unwrap_err();
        assert!(e.reason.contains("another atomic operation"), "{e}");
        // The returned value feeds a store: refused.
        let used = format!("{HIST} st.global.u32 [x + r1], r4\n");
        let k = kernel(&used);
        let e = resolve(
            &k,
            &[
                Some(Access::blocks(1, 4)),
                Some(Access::Reduce(ReduceOp::Add)),
            ],
            Dim3::x(4),
        )
        .unwrap_err();
        assert!(e.reason.contains("returned by the atomic"), "{e}");
        // Overwritten before any read: fine.
        let dead = format!("{HIST} mov.u32 r4, 0\n st.global.u32 [x + r1], r4\n");
        let k = kernel(&dead);
        resolve(
            &k,
            &[
                Some(Access::blocks(1, 4)),
                Some(Access::Reduce(ReduceOp::Add)),
            ],
            Dim3::x(4),
        )
        .unwrap();
    }

    #[test]
    fn written_buffers_need_a_declaration_that_allows_writes() {
        let k = kernel(HIST);
        let e = resolve(&k, &[None, None], Dim3::x(4)).unwrap_err();
        assert_eq!(e.access, "undeclared");
        let e = resolve(&k, &[None, Some(Access::All)], Dim3::x(4)).unwrap_err();
        assert!(e.reason.contains("atomically"), "{e}");
        let e = resolve(&k, &[None, Some(Access::One { block: 4 })], Dim3::x(4)).unwrap_err();
        assert!(e.reason.contains("only 4 blocks"), "{e}");
        resolve(&k, &[None, Some(Access::One { block: 3 })], Dim3::x(4)).unwrap();
    }
}
