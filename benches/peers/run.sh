#!/usr/bin/env bash
# Installs the peers if needed (install.sh), builds the lanes side and runs
# the comparison; every argument goes to peers.py (see --help).
#
#   bash benches/peers/run.sh --json peers.json --markdown peers.md
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="${PEERS_VENV:-$root/target/peers-venv}"
bash "$here/install.sh"
exec "$venv/bin/python" "$here/peers.py" "$@"
