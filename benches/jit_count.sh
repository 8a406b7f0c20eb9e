#!/usr/bin/env bash
# Instructions a compiled kernel runs per launch, counted by callgrind:
# repeatable where wall times on a shared machine are not.
#
#   bash benches/jit_count.sh FILE.lasm [lanes run arguments...]
#
# Builds lanes for x86-64-v3 in target/count (valgrind does not decode
# AVX-512, which a native build on such a machine uses; under valgrind the
# JIT sees the CPU valgrind presents, without AVX-512, and generates code
# for it), runs `lanes run FILE --engine jit ARGS --threads 1` under
# callgrind with 10 and with 30 launches and prints the difference per
# launch: the launches' own instructions (compilation, set-up and the
# first launch cancel out). With COUNT_PROFILE=1 it also writes the
# kernel's machine code (LANES_JIT_DUMP=bin) annotated with how many times
# each instruction ran over the 30 launches to
# $TMPDIR/lanes-jit-counted.txt, hottest first on stdout (the code last
# compiled for the kernel: give launches big enough for the tier you want
# to see, a few hundred blocks for the gang tier). Needs valgrind and
# objdump. Compare two builds by running it on each (a worktree per
# commit).
set -euo pipefail
[ $# -ge 1 ] || { sed -n '2,20p' "$0"; exit 2; }
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=${TMPDIR:-/tmp}
RUSTFLAGS="-C target-cpu=x86-64-v3" cargo build --release --quiet \
    --manifest-path "$root/Cargo.toml" --target-dir "$root/target/count"
bin="$root/target/count/release/lanes"
out=$(mktemp "$tmp/lanes-count.XXXXXX")
refs() {
    valgrind --tool=callgrind --callgrind-out-file="$out" "$@" 2>&1 |
        sed -n 's/.*refs: *//p' | tr -d ,
}
rm -f "$tmp"/lanes-jit-*.bin
a=$(refs "$bin" run "$@" --engine jit --threads 1 --repeat 10)
if [ "${COUNT_PROFILE:-0}" = 1 ]; then
    b=$(LANES_JIT_DUMP=bin refs --dump-instr=yes "$bin" run "$@" --engine jit --threads 1 --repeat 30)
else
    b=$(refs "$bin" run "$@" --engine jit --threads 1 --repeat 30)
fi
[ -n "$a" ] && [ -n "$b" ] || { echo "valgrind did not finish" >&2; exit 1; }
echo "$(( (b - a) / 20 )) instructions a launch"
if [ "${COUNT_PROFILE:-0}" = 1 ]; then
    python3 - "$out" "$tmp" <<'PY'
import collections, glob, os, re, subprocess, sys
cg, tmp = sys.argv[1:3]
# Self cost per instruction address, per function (callgrind's compressed
# format: absolute or relative addresses; a `calls=` line is followed by
# the call's inclusive cost, which is not the instruction's own).
# Function names are compressed: `fn=(id) name` the first time, `fn=(id)`
# after; an unnamed function's name is its address.
per_fn = collections.defaultdict(collections.Counter)
names = {}
fn, addr, skip = None, 0, False
for line in open(cg):
    if line.startswith("cfn="):
        # (A name may first appear as a call's target.)
        m = re.match(r"cfn=\((\d+)\) (.*)", line.strip())
        if m:
            names[m.group(1)] = m.group(2)
        continue
    if line.startswith("fn="):
        m = re.match(r"fn=\((\d+)\)(?: (.*))?", line.strip())
        if m.group(2) is not None:
            names[m.group(1)] = m.group(2)
        name = names.get(m.group(1), "")
        fn = int(name, 16) if re.fullmatch(r"0x[0-9a-f]+", name) else None
        continue
    if line.startswith("calls="):
        skip = True
        continue
    m = re.match(r"^(0x[0-9a-f]+|[+-]\d+|\*)\s+\S+\s+(\d+)", line)
    if not m:
        continue
    a = m.group(1)
    addr = int(a, 16) if a.startswith("0x") else addr if a == "*" else addr + int(a)
    if skip:
        skip = False
        continue
    if fn is not None:
        per_fn[fn][addr] += int(m.group(2))
# The compiled kernel: every unnamed function's counts by address, and
# the dumped code placed at the unnamed function's address (an entry that
# callgrind saw) where it covers the most of them.
everywhere = collections.Counter()
for counts in per_fn.values():
    everywhere.update(counts)
bins = glob.glob(os.path.join(tmp, "lanes-jit-*.bin"))
if not bins or not per_fn:
    sys.exit("no compiled code found")
best = None
for b in bins:
    size = os.path.getsize(b)
    for start in per_fn:
        covered = sum(c for a, c in everywhere.items() if start <= a < start + size)
        if best is None or covered > best[0]:
            best = (covered, start, b)
total, start, path = best
counts = everywhere
dis = subprocess.run(["objdump", "-D", "-b", "binary", "-mi386:x86-64", path],
                     capture_output=True, text=True, check=True).stdout
rows = []
for line in dis.splitlines():
    head = line.split(":")[0].strip()
    try:
        off = int(head, 16)
    except ValueError:
        continue
    rows.append((counts.get(start + off, 0), line))
dest = os.path.join(tmp, "lanes-jit-counted.txt")
with open(dest, "w") as f:
    f.writelines(f"{c:12d} {l}\n" for c, l in rows)
print(f"{total} instructions in {os.path.basename(path)} over the 30 launches; annotated: {dest}")
for c, l in sorted(rows, key=lambda r: -r[0])[:25]:
    print(f"{c:12d} {l}")
PY
fi
rm -f "$out"
