#!/usr/bin/env bash
# Every test of the project: the Rust workspace, then the Python package.
#
#   bash test.sh
#
# The Python part makes a virtual environment under target/ (once), installs
# python/requirements-test.txt into it from the package registry, builds the
# `lanes` wheel through its PEP 517 backend (maturin) with cargo's dev
# profile (so it reuses what `cargo test` just built) and installs it, then
# runs pytest from the repository root: the package is imported from the
# virtual environment, never from the source tree.
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
