"""The README's Python example runs as written (from the repository root)."""

from __future__ import annotations

import os
import re

from conftest import REPO


def test_readme_example_runs():
    readme = (REPO / "README.md").read_text()
    (example,) = re.findall(r"```python\n(.*?)```", readme, re.S)
    lines = [line for line in example.splitlines() if line.strip()]
    assert len(lines) == 10, "the README promises a 10-line example"
    cwd = os.getcwd()
    os.chdir(REPO)
    try:
        scope: dict = {}
        exec(compile(example, "README.md", "exec"), scope)
    finally:
        os.chdir(cwd)
    assert scope["probabilities"].sum() == __import__("pytest").approx(1.0, rel=1e-5)
