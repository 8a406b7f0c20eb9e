//! The per-byte check of a distributed launch ([`Verify::Words`]): each
//! rank runs its blocks on the reference interpreter, which reports every
//! global access to a recorder holding one bit per byte of each checked
//! buffer, written and read; the ranks then exchange the recorded byte
//! ranges and every rank judges all of them the same way ([`judge`]).
//!
//! Unlike the comparison of contents before and after ([`Verify::Changes`])
//! this sees a store of the value already there, and every read, not only
//! those inside a declared halo. It is a debugging aid: the reference
//! interpreter runs one lane at a time on one thread.

// The recorder and the exchange format serve the MPI runtime only; they
// are tested in every build.
#![cfg_attr(not(feature = "mpi"), allow(dead_code))]

use std::ops::Range;
use std::time::Duration;

use super::ranges::{complement, intersect};
use crate::engine::reference::{AccessKind, Trace, run_blocks_traced};
use crate::engine::{LaunchSpec, StopFlag, with_deadline};
use crate::kernel::Kernel;
use crate::launch::{BoundArgs, Dim3, LaunchError};

/// How much a distributed launch checks that the kernel keeps to its
/// declarations (beyond the checks of its code made before every launch).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Verify {
    /// Nothing more.
    #[default]
    Off,
    /// Compare each written buffer before and after the launch: a change
    /// outside the rank's range, or inside bytes another rank declared it
    /// reads as its halo, is an error. Costs a copy of those buffers; a
    /// store of the value already there is not seen.
    Changes,
    /// Record every byte each rank's blocks write and read (on the
    /// reference interpreter): writes outside the rank's range,
    /// overlapping writes of two ranks and a read of bytes another rank
    /// wrote in the same launch are errors, whatever the values.
    Words,
}

impl std::str::FromStr for Verify {
    type Err = String;
    fn from_str(s: &str) -> Result<Verify, String> {
        match s {
            "off" => Ok(Verify::Off),
            "changes" => Ok(Verify::Changes),
            "words" => Ok(Verify::Words),
            other => Err(format!(
                "unknown check `{other}` (expected changes, words or off)"
            )),
        }
    }
}

/// The bytes one rank's blocks wrote and read of one buffer, sorted and
/// disjoint.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Footprint {
    /// Bytes stored to or updated atomically.
    pub written: Vec<Range<u64>>,
    /// Bytes loaded or updated atomically.
    pub read: Vec<Range<u64>>,
}

/// One bit per byte of each recorded buffer.
struct Recorder {
    /// Buffer slot -> recorded buffer.
    slot_to: Vec<Option<usize>>,
    written: Vec<Vec<u64>>,
    read: Vec<Vec<u64>>,
}

fn set_bits(bits: &mut [u64], offset: usize, size: usize) {
    for b in offset..offset + size {
        if let Some(w) = bits.get_mut(b / 64) {
            *w |= 1 << (b % 64);
        }
    }
}

impl Trace for Recorder {
    fn global(&mut self, _: u64, _: u32, slot: u16, offset: usize, size: usize, kind: AccessKind) {
        let Some(Some(i)) = self.slot_to.get(slot as usize) else {
            return;
        };
        if kind != AccessKind::Load {
            set_bits(&mut self.written[*i], offset, size);
        }
        if kind != AccessKind::Store {
            set_bits(&mut self.read[*i], offset, size);
        }
    }
}

/// The runs of set bits of `bits`, as byte ranges.
fn runs(bits: &[u64]) -> Vec<Range<u64>> {
    let mut out: Vec<Range<u64>> = Vec::new();
    for (w, &word) in bits.iter().enumerate() {
        if word == 0 {
            continue;
        }
        let base = w as u64 * 64;
        let mut rest = word;
        while rest != 0 {
            let start = rest.trailing_zeros() as u64;
            let ones = (rest >> start).trailing_ones() as u64;
            let r = base + start..base + start + ones;
            match out.last_mut() {
                Some(last) if last.end == r.start => last.end = r.end,
                _ => out.push(r),
            }
            rest = if start + ones >= 64 {
                0
            } else {
                rest & !((1u64 << (start + ones)) - 1)
            };
        }
    }
    out
}

/// Runs the linear blocks `blocks` of a launch on the reference
/// interpreter on this thread, recording the bytes written and read of the
/// buffers `slot_to` maps (buffer slot -> index into `lens`, the recorded
/// buffers' lengths). The launch's writes happen as in any run.
#[allow(clippy::too_many_arguments)]
pub(crate) fn trace_blocks(
    kernel: &Kernel,
    grid: Dim3,
    block: Dim3,
    bound: &BoundArgs,
    slot_to: Vec<Option<usize>>,
    lens: &[u64],
    blocks: Range<u64>,
    max_steps: u64,
    timeout: Duration,
) -> Result<Vec<Footprint>, LaunchError> {
    let words = |len: u64| vec![0u64; len.div_ceil(64) as usize];
    let mut rec = Recorder {
        slot_to,
        written: lens.iter().map(|&l| words(l)).collect(),
        read: lens.iter().map(|&l| words(l)).collect(),
    };
    let stop = StopFlag::new();
    let spec = LaunchSpec {
        kernel,
        grid,
        block,
        args: bound,
        max_steps,
        stop: &stop,
    };
    let count = blocks.end - blocks.start;
    with_deadline(&stop, Some(timeout), || {
        run_blocks_traced(&spec, blocks, &mut rec)
    })
    .map_err(|e| LaunchError::Engine(format!("cannot start the launch's deadline watchdog: {e}")))?
    .map_err(LaunchError::Fault)?;
    let unfinished = stop.unfinished();
    if unfinished.blocks > 0 {
        return Err(LaunchError::Timeout {
            kernel: kernel.name.clone(),
            timeout,
            grid,
            blocks: count,
            unfinished: unfinished.blocks,
            ranges: unfinished.ranges,
        });
    }
    Ok(rec
        .written
        .iter()
        .zip(&rec.read)
        .map(|(w, r)| Footprint {
            written: runs(w),
            read: runs(r),
        })
        .collect())
}

/// What [`judge`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Finding {
    /// Two ranks wrote the same bytes.
    Overlap {
        /// The recorded buffer.
        buffer: usize,
        /// The lower rank.
        first: u32,
        /// The other.
        second: u32,
        /// The first run of bytes both wrote.
        bytes: Range<u64>,
    },
    /// A rank wrote outside its declared range.
    Outside {
        /// The recorded buffer.
        buffer: usize,
        /// The rank.
        rank: u32,
        /// The first run of such bytes.
        bytes: Range<u64>,
        /// The rank whose declared range holds them, if any.
        owner: Option<u32>,
    },
    /// A rank read bytes another rank wrote in the same launch.
    ForeignRead {
        /// The recorded buffer.
        buffer: usize,
        /// The reader.
        reader: u32,
        /// The writer.
        writer: u32,
        /// The first run of such bytes.
        bytes: Range<u64>,
    },
}

/// The first violation in the footprints `prints[rank][buffer]`, given
/// each buffer's declared ranges `owned[buffer][rank]` and length: for
/// each buffer in turn, overlapping writes, then writes outside the
/// writer's range, then reads of another rank's writes. Every rank judges
/// the same footprints, so every rank finds the same.
pub fn judge(
    owned: &[Vec<Vec<Range<u64>>>],
    lens: &[u64],
    prints: &[Vec<Footprint>],
) -> Option<Finding> {
    let ranks = prints.len();
    let empty = Footprint::default();
    let print = |r: usize, b: usize| prints[r].get(b).unwrap_or(&empty);
    for (b, owners) in owned.iter().enumerate() {
        let len = lens.get(b).copied().unwrap_or(0);
        for r in 0..ranks {
            for s in r + 1..ranks {
                if let Some(bytes) = intersect(&print(r, b).written, &print(s, b).written).first() {
                    return Some(Finding::Overlap {
                        buffer: b,
                        first: r as u32,
                        second: s as u32,
                        bytes: bytes.clone(),
                    });
                }
            }
        }
        for r in 0..ranks {
            let own = owners.get(r).map_or(&[][..], Vec::as_slice);
            let outside = intersect(&print(r, b).written, &complement(own, len));
            if let Some(bytes) = outside.first() {
                let owner = owners
                    .iter()
                    .position(|o| o.iter().any(|x| x.contains(&bytes.start)))
                    .map(|o| o as u32);
                return Some(Finding::Outside {
                    buffer: b,
                    rank: r as u32,
                    bytes: bytes.clone(),
                    owner,
                });
            }
        }
        for r in 0..ranks {
            for s in 0..ranks {
                if r == s {
                    continue;
                }
                if let Some(bytes) = intersect(&print(r, b).read, &print(s, b).written).first() {
                    return Some(Finding::ForeignRead {
                        buffer: b,
                        reader: r as u32,
                        writer: s as u32,
                        bytes: bytes.clone(),
                    });
                }
            }
        }
    }
    None
}

/// Footprints as words for the exchange: per buffer the number of written
/// ranges, their bounds, the number of read ranges, their bounds.
pub(crate) fn encode(prints: &[Footprint]) -> Vec<u64> {
    let mut out = Vec::new();
    for p in prints {
        for list in [&p.written, &p.read] {
            out.push(list.len() as u64);
            for r in list {
                out.extend([r.start, r.end]);
            }
        }
    }
    out
}

/// The inverse of [`encode`] for `buffers` buffers (`None`: malformed).
pub(crate) fn decode(words: &[u64], buffers: usize) -> Option<Vec<Footprint>> {
    let mut at = 0usize;
    let mut list = |words: &[u64]| -> Option<Vec<Range<u64>>> {
        let n = usize::try_from(*words.get(at)?).ok()?;
        let end = n.checked_mul(2)?.checked_add(at + 1)?;
        let body = words.get(at + 1..end)?;
        at = end;
        Some(body.chunks_exact(2).map(|c| c[0]..c[1]).collect())
    };
    let mut out = Vec::with_capacity(buffers);
    for _ in 0..buffers {
        let written = list(words)?;
        let read = list(words)?;
        out.push(Footprint { written, read });
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::{Access, block_bytes, partition};

    #[test]
    fn runs_of_bits_are_byte_ranges() {
        let mut bits = vec![0u64; 3];
        set_bits(&mut bits, 3, 4);
        set_bits(&mut bits, 60, 8);
        set_bits(&mut bits, 68, 2);
        set_bits(&mut bits, 128, 64);
        assert_eq!(runs(&bits), vec![3..7, 60..70, 128..192]);
        assert!(runs(&[0, 0]).is_empty());
        assert_eq!(runs(&[u64::MAX, 1]), vec![0..65]);
    }

    #[test]
    fn footprints_survive_the_exchange_format() {
        let p = vec![
            Footprint {
                written: vec![0..4, 8..12],
                read: vec![],
            },
            Footprint {
                written: vec![],
                read: vec![1..2],
            },
        ];
        assert_eq!(decode(&encode(&p), 2), Some(p.clone()));
        assert_eq!(decode(&encode(&p)[..5], 2), None);
        assert_eq!(decode(&[u64::MAX], 1), None);
    }

    fn kernel(src: &str) -> std::sync::Arc<Kernel> {
        crate::compile("t.lasm", src).unwrap().kernels[0].clone()
    }

    /// Traces `src` on each of `ranks` ranks' blocks (one buffer `x` of
    /// `n` u32 at slot 0, declared `blocks:64`) and judges the result.
    fn traced(src: &str, n: u32, ranks: u32) -> Option<Finding> {
        let k = kernel(src);
        let len = n as u64 * 4;
        let grid = Dim3::x(n / 64);
        let parts = partition(grid.x as u64, ranks);
        let access = Access::blocks(64, 4);
        let owned = vec![
            parts
                .iter()
                .map(|p| block_bytes(&access, p, len, false))
                .collect::<Vec<_>>(),
        ];
        let prints: Vec<Vec<Footprint>> = parts
            .iter()
            .map(|p| {
                let bound = BoundArgs {
                    buffers: vec![std::sync::Arc::new(
                        crate::memory::Buffer::zeroed(len as usize).unwrap(),
                    )],
                    scalars: vec![n as u64],
                };
                trace_blocks(
                    &k,
                    grid,
                    Dim3::x(64),
                    &bound,
                    vec![Some(0)],
                    &[len],
                    p.clone(),
                    1 << 20,
                    Duration::from_secs(60),
                )
                .unwrap()
            })
            .collect();
        judge(&owned, &[len], &prints)
    }

    const HEAD: &str = ".kernel k\n.param x buf\n.param n u32\n\
        mov.u32 r0, %gid\n shl.u64 r1, r0, 2\n";

    #[test]
    fn in_range_writes_and_own_reads_pass() {
        let src = format!("{HEAD} ld.global.u32 r2, [x + r1]\n st.global.u32 [x + r1], r0\n");
        assert_eq!(traced(&src, 256, 2), None);
    }

    #[test]
    fn a_store_of_the_value_already_there_into_another_ranks_range_is_seen() {
        // Lane 0 of every block stores 0 (what is there) to element 128,
        // which rank 1 owns: two ranks write it, a change check sees nothing.
        let src = format!(
            "{HEAD} setp.ne.u32 p0, %tid.x, 0\n @p0 exit\n mov.u32 r3, 0\n \
             st.global.u32 [x + 512], r3\n"
        );
        match traced(&src, 256, 2) {
            Some(Finding::Overlap {
                first: 0,
                second: 1,
                bytes,
                ..
            }) => assert_eq!(bytes, 512..516),
            other => panic!("{other:?}"),
        }
        // On 4 ranks (one block each) all of them write it; the first pair
        // is named.
        match traced(&src, 256, 4) {
            Some(Finding::Overlap {
                first: 0,
                second: 1,
                ..
            }) => {}
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_write_outside_the_range_names_the_owner() {
        // Every lane writes the element 64 further on: block b writes
        // block b+1's elements (the last block's lanes fault-free: n is
        // one block short of the buffer).
        let src = format!(
            "{HEAD} add.u32 r2, r0, 64\n setp.ge.u32 p0, r2, n\n @p0 exit\n \
             shl.u64 r3, r2, 2\n st.global.u32 [x + r3], r2\n"
        );
        match traced(&src, 256, 2) {
            Some(Finding::Outside {
                rank: 0,
                owner: Some(1),
                bytes,
                ..
            }) => assert_eq!(bytes, 512..768),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_read_of_another_ranks_writes_is_seen() {
        // Each lane reads its right neighbour and writes itself (in place):
        // the last lane of rank 0 reads rank 1's first element.
        let src = format!(
            "{HEAD} add.u32 r2, r0, 1\n setp.ge.u32 p0, r2, n\n @p0 bra skip\n \
             ld.global.u32 r3, [x + r1 + 4]\n skip:\n st.global.u32 [x + r1], r0\n"
        );
        match traced(&src, 256, 2) {
            Some(Finding::ForeignRead {
                reader: 0,
                writer: 1,
                bytes,
                ..
            }) => assert_eq!(bytes, 512..516),
            other => panic!("{other:?}"),
        }
    }
}
