#!/usr/bin/env bash
# Every test of the project: the Rust workspace, the Python package, then
# the distributed runtime on MPI.
#
#   bash test.sh
#
# The Python part makes a virtual environment under target/ (once), installs
# python/requirements-test.txt into it from the package registry, builds the
# `lanes` wheel through its PEP 517 backend (maturin) with cargo's dev
# profile (so it reuses what `cargo test` just built) and installs it, then
# runs pytest from the repository root: the package is imported from the
# virtual environment, never from the source tree.
#
# The MPI part needs an MPI library, `mpirun` and libclang (rsmpi's
# bindings are generated at build time); where `mpicc` is missing it
# installs Debian's `libopenmpi-dev openmpi-bin libclang-dev` with apt-get
# (as root, or through sudo). It then runs the tests of the cargo feature
# `mpi`: `mpirun` with 2 and 4 ranks on this machine.
set -euo pipefail
cd "$(dirname "$0")"

echo "== cargo test --workspace"
cargo test --workspace

echo "== python tests"
venv=target/python-venv
python=${PYTHON:-python3}
if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
# The build backend runs the `maturin` program it installed there.
export PATH="$PWD/$venv/bin:$PATH"
pip=(python -m pip --disable-pip-version-check --quiet)
"${pip[@]}" install -r python/requirements-test.txt
rm -rf target/python-wheels
MATURIN_PEP517_ARGS="--profile dev" "${pip[@]}" wheel --no-build-isolation --no-deps \
    --wheel-dir target/python-wheels ./python
"${pip[@]}" install --force-reinstall --no-deps target/python-wheels/lanes-*.whl
LANES_EXPECT_INSTALLED=1 python -m pytest python/tests

echo "== MPI tests (cargo feature mpi)"
if ! command -v mpicc >/dev/null 2>&1 || ! command -v mpirun >/dev/null 2>&1; then
    sudo=()
    if [ "$(id -u)" != 0 ]; then sudo=(sudo); fi
    "${sudo[@]}" apt-get update -qq
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends libopenmpi-dev openmpi-bin libclang-dev >/dev/null
fi
# OpenMPI refuses to start as root without these; the tests set them for
# their own mpirun too.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
cargo test --features mpi --test cluster
