//! Which bytes of a buffer a rank's blocks own (and read, with their
//! halo), as sorted lists of disjoint byte ranges.
//!
//! A rank runs a contiguous range of linear blocks. For `blocks:K` its
//! bytes are one range; for `tiles:WxH:ROW` they are the rows of the tiles
//! it runs: a partial tile row, full tile rows (contiguous in memory) and
//! another partial tile row, so at most `2 * (H + 2 * halo) + 1` ranges
//! whatever the number of blocks.

use std::ops::Range;

use super::access::Access;

/// Sorts `ranges`, drops empty ones and merges overlapping or touching
/// ones.
pub fn merge(mut ranges: Vec<Range<u64>>) -> Vec<Range<u64>> {
    ranges.retain(|r| r.start < r.end);
    ranges.sort_by_key(|r| r.start);
    let mut out: Vec<Range<u64>> = Vec::with_capacity(ranges.len());
    for r in ranges {
        match out.last_mut() {
            Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
            _ => out.push(r),
        }
    }
    out
}

/// The bytes in both `a` and `b` (each sorted and disjoint, as [`merge`]
/// makes them).
pub fn intersect(a: &[Range<u64>], b: &[Range<u64>]) -> Vec<Range<u64>> {
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    while i < a.len() && j < b.len() {
        let start = a[i].start.max(b[j].start);
        let end = a[i].end.min(b[j].end);
        if start < end {
            out.push(start..end);
        }
        if a[i].end < b[j].end {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

/// The bytes of `0..len` not in `a` (sorted and disjoint).
pub fn complement(a: &[Range<u64>], len: u64) -> Vec<Range<u64>> {
    let mut out = Vec::new();
    let mut at = 0;
    for r in a {
        if r.start > at {
            out.push(at..r.start.min(len));
        }
        at = at.max(r.end);
    }
    if at < len {
        out.push(at..len);
    }
    out.retain(|r| r.start < r.end);
    out
}

/// The bytes of `r` outside `set` (sorted and disjoint): the first run of
/// them, if any.
pub fn first_outside(set: &[Range<u64>], r: Range<u64>) -> Option<Range<u64>> {
    complement(set, r.end)
        .into_iter()
        .map(|c| c.start.max(r.start)..c.end)
        .find(|c| c.start < c.end)
}

/// The number of bytes in `a`.
pub fn total(a: &[Range<u64>]) -> u64 {
    a.iter().map(|r| r.end - r.start).sum()
}

/// `a` as `s..e` joined by commas, the first `shown` ranges and a count of
/// the others.
pub fn show(a: &[Range<u64>], shown: usize) -> String {
    let mut text: Vec<String> = a
        .iter()
        .take(shown)
        .map(|r| format!("{}..{}", r.start, r.end))
        .collect();
    if a.len() > shown {
        text.push(format!("... ({} ranges, {} bytes)", a.len(), total(a)));
    }
    if text.is_empty() {
        "none".to_string()
    } else {
        text.join(", ")
    }
}

/// The bytes the linear blocks `blocks` own of a partitioned buffer of
/// `len` bytes (with the declared halo when `halo` is true), within
/// `0..len`, sorted and disjoint. For the other declarations: all of it.
pub fn block_bytes(access: &Access, blocks: &Range<u64>, len: u64, halo: bool) -> Vec<Range<u64>> {
    if blocks.is_empty() {
        return Vec::new();
    }
    let clamp = |v: u128| v.min(len as u128) as u64;
    match *access {
        Access::Blocks {
            elements,
            elem_bytes,
            halo: h,
        } => {
            let h = if halo { h as u128 } else { 0 };
            let el = elements as u128;
            let eb = elem_bytes as u128;
            let start = (blocks.start as u128 * el).saturating_sub(h) * eb;
            let end = (blocks.end as u128 * el + h) * eb;
            merge(vec![clamp(start)..clamp(end)])
        }
        Access::Tiles {
            width,
            height,
            row_elems,
            elem_bytes,
            halo: h,
        } => {
            let h = if halo { h as u128 } else { 0 };
            let (w, th, row, eb) = (
                width.max(1) as u128,
                height.max(1) as u128,
                row_elems.max(1) as u128,
                elem_bytes.max(1) as u128,
            );
            let per_row = row.div_ceil(w);
            let rows = (len as u128 / eb).div_ceil(row);
            let (b0, b1) = (blocks.start as u128, blocks.end as u128 - 1);
            let (ty0, tx0, ty1, tx1) = (b0 / per_row, b0 % per_row, b1 / per_row, b1 % per_row);
            // Rectangles of tiles: (tile rows, tile columns), end exclusive.
            let mut rects = Vec::with_capacity(3);
            if ty0 == ty1 {
                rects.push((ty0..ty0 + 1, tx0..tx1 + 1));
            } else {
                rects.push((ty0..ty0 + 1, tx0..per_row));
                if ty1 > ty0 + 1 {
                    rects.push((ty0 + 1..ty1, 0..per_row));
                }
                rects.push((ty1..ty1 + 1, 0..tx1 + 1));
            }
            let mut out = Vec::new();
            for (ty, tx) in rects {
                let r0 = (ty.start * th).saturating_sub(h);
                let r1 = (ty.end * th + h).min(rows);
                let c0 = (tx.start * w).saturating_sub(h);
                let c1 = (tx.end * w + h).min(row);
                if r0 >= r1 || c0 >= c1 {
                    continue;
                }
                if c0 == 0 && c1 == row {
                    out.push(clamp(r0 * row * eb)..clamp(r1 * row * eb));
                } else {
                    for r in r0..r1 {
                        let at = r * row;
                        out.push(clamp((at + c0) * eb)..clamp((at + c1) * eb));
                    }
                }
            }
            merge(out)
        }
        Access::All | Access::Reduce(_) | Access::One { .. } => merge(vec![0..len]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merging_intersecting_and_complementing() {
        assert_eq!(merge(vec![5..7, 0..2, 2..3, 6..9, 4..4]), vec![0..3, 5..9]);
        assert_eq!(
            intersect(&[0..3, 5..9], &[2..6, 8..20]),
            vec![2..3, 5..6, 8..9]
        );
        assert_eq!(complement(&[0..3, 5..9], 12), vec![3..5, 9..12]);
        assert_eq!(complement(&[], 4), vec![0..4]);
        assert_eq!(first_outside(&[0..3, 5..9], 1..7), Some(3..5));
        assert_eq!(first_outside(&[0..3, 5..9], 5..9), None);
        assert_eq!(first_outside(&[0..3], 2..6), Some(3..6));
        assert_eq!(total(&[0..3, 5..9]), 7);
        assert_eq!(
            show(&[0..3, 5..9, 10..11], 2),
            "0..3, 5..9, ... (3 ranges, 8 bytes)"
        );
    }

    /// Every element each block of a tiled 2-D array owns, by brute force.
    fn tile_owner(w: u64, h: u64, row: u64, rows: u64) -> Vec<u64> {
        let per_row = row.div_ceil(w);
        (0..rows * row)
            .map(|e| {
                let (y, x) = (e / row, e % row);
                (y / h) * per_row + x / w
            })
            .collect()
    }

    #[test]
    fn tiles_own_exactly_their_elements() {
        // 10 x 7 tiles of 3 x 2 elements (the last column and row cut).
        let (w, h, row, rows, eb) = (3u64, 2u64, 10u64, 7u64, 4u64);
        let len = row * rows * eb;
        let access = Access::tiles(w, h, row, eb);
        let owner = tile_owner(w, h, row, rows);
        let blocks = row.div_ceil(w) * rows.div_ceil(h);
        for start in 0..blocks {
            for end in start..=blocks {
                let got = block_bytes(&access, &(start..end), len, false);
                let want: Vec<Range<u64>> = merge(
                    (0..row * rows)
                        .filter(|&e| (start..end).contains(&owner[e as usize]))
                        .map(|e| e * eb..(e + 1) * eb)
                        .collect(),
                );
                assert_eq!(got, want, "blocks {start}..{end}");
            }
        }
    }

    #[test]
    fn a_tile_halo_reaches_its_neighbours_rows_and_columns() {
        let (w, h, row, rows) = (4u64, 4u64, 12u64, 8u64);
        let len = row * rows;
        let access = Access::tiles(w, h, row, 1).with_halo(1);
        let per_row = row.div_ceil(w);
        for start in 0..6 {
            for end in start + 1..=6 {
                let got = block_bytes(&access, &(start..end), len, true);
                // Element (x, y) is read when some block of the range has
                // it within one row and column of its tile.
                let want = merge(
                    (0..len)
                        .filter(|&e| {
                            let (y, x) = ((e / row) as i64, (e % row) as i64);
                            (start..end).any(|b| {
                                let (bx, by) = ((b % per_row) as i64, (b / per_row) as i64);
                                let (x0, y0) = (bx * w as i64, by * h as i64);
                                x >= x0 - 1
                                    && x < x0 + w as i64 + 1
                                    && y >= y0 - 1
                                    && y < y0 + h as i64 + 1
                            })
                        })
                        .map(|e| e..e + 1)
                        .collect(),
                );
                assert_eq!(got, want, "blocks {start}..{end}");
            }
        }
        // Full tile rows are one range.
        assert_eq!(block_bytes(&access, &(3..6), len, false), vec![48..96]);
    }
}
