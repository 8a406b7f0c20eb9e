#!/usr/bin/env bash
# Installs the peers of benches/peers: PoCL's CPU OpenCL driver and PyOpenCL
# from Debian (apt-get), Numba from PyPI into a virtual environment that also
# sees Debian's Python packages (PyOpenCL and the NumPy it was built for).
# Idempotent: what is there already is kept. Needs root (or sudo) for apt-get.
#
#   bash benches/peers/install.sh        # venv at target/peers-venv
#   PEERS_VENV=/some/dir bash benches/peers/install.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="${PEERS_VENV:-$root/target/peers-venv}"

packages=(pocl-opencl-icd python3-pyopencl python3-numpy python3-venv python3-pip)
missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
if ((${#missing[@]})); then
    sudo=()
    if [ "$(id -u)" -ne 0 ]; then sudo=(sudo); fi
    echo "install.sh: apt-get install ${missing[*]}"
    "${sudo[@]}" apt-get update
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
fi

# Debian's interpreter, not whatever `python3` is first on PATH: PyOpenCL is
# built for it.
python=/usr/bin/python3
if [ ! -x "$venv/bin/python" ]; then
    echo "install.sh: making the virtual environment $venv"
    "$python" -m venv --system-site-packages "$venv"
fi
# Keep Debian's NumPy (PyOpenCL is compiled against it): pin the version it
# has, so that pip does not bring in another one over it.
numpy_version="$("$python" -c 'import numpy; print(numpy.__version__)')"
if ! "$venv/bin/python" -c 'import numba' 2>/dev/null; then
    echo "install.sh: pip install numba (with NumPy $numpy_version)"
    "$venv/bin/pip" install --disable-pip-version-check "numba" "numpy==$numpy_version"
fi
"$venv/bin/python" -c 'import numba, numpy, pyopencl; print("install.sh: numba", numba.__version__, "numpy", numpy.__version__, "pyopencl", pyopencl.VERSION_TEXT)'
