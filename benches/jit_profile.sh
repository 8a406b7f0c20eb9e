#!/usr/bin/env bash
# Where a compiled kernel spends its time, instruction by instruction.
#
#   bash benches/jit_profile.sh FILE.lasm [lanes run arguments...]
#
# Runs `lanes run FILE --engine jit ARGS` (release build) under `perf record`
# with LANES_JIT_DUMP=bin, which writes each compiled kernel's machine code
# to $TMPDIR/lanes-jit-KERNEL-LANES.bin; perf names JIT code from the
# /tmp/perf-PID.map Cranelift's JIT module writes under perf (it sees perf's
# PERF_BUILDID_DIR). Prints the hottest instructions (share of
# the kernel's samples, offset, disassembly) and writes the whole annotated
# disassembly to $TMPDIR/lanes-jit-annotated.txt. Needs perf and objdump.
set -euo pipefail
[ $# -ge 1 ] || { sed -n '2,11p' "$0"; exit 2; }
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=${TMPDIR:-/tmp}
cargo build --release --quiet --manifest-path "$root/Cargo.toml"
rm -f "$tmp"/lanes-jit-*.bin
data=$(mktemp "$tmp/lanes-perf.XXXXXX")
LANES_JIT_DUMP=bin perf record -q -o "$data" "$root/target/release/lanes" run "$@" --engine jit
perf script -i "$data" -F pid,ip,sym 2>/dev/null | awk '$3=="kernel"{print $1, $2}' > "$data.ips"
python3 - "$data.ips" "$tmp" <<'PY'
import collections, glob, os, subprocess, sys
ips_file, tmp = sys.argv[1:3]
samples = [l.split() for l in open(ips_file)]
if not samples:
    sys.exit("no samples in compiled code")
pid = samples[0][0].rstrip(':')
ips = [int(ip, 16) for _, ip in samples]
# The compiled kernels (`kernel` in the perf map): pick the one with most samples.
entries = []
for line in open(f"/tmp/perf-{pid}.map"):
    start, size, *name = line.split()
    if name and name[0] == "kernel":
        entries.append((int(start, 16), int(size, 16)))
def hits(e):
    return sum(e[0] <= ip < e[0] + e[1] for ip in ips)
start, size = max(entries, key=hits)
bins = [b for b in glob.glob(os.path.join(tmp, "lanes-jit-*.bin")) if os.path.getsize(b) == size]
if not bins:
    sys.exit(f"no dumped code of {size} bytes")
counts = collections.Counter(ip - start for ip in ips if start <= ip < start + size)
total = sum(counts.values())
out = []
dis = subprocess.run(["objdump", "-D", "-b", "binary", "-mi386:x86-64", bins[0]],
                     capture_output=True, text=True, check=True).stdout
for line in dis.splitlines():
    head = line.split(":")[0].strip()
    try:
        off = int(head, 16)
    except ValueError:
        continue
    out.append((100 * counts.get(off, 0) / total, line))
path = os.path.join(tmp, "lanes-jit-annotated.txt")
with open(path, "w") as f:
    f.writelines(f"{p:5.1f} {l}\n" for p, l in out)
print(f"{total} samples in {os.path.basename(bins[0])} ({size} bytes); annotated: {path}")
for p, l in sorted(out, key=lambda x: -x[0])[:25]:
    print(f"{p:5.1f} {l}")
PY
rm -f "$data" "$data.ips"
