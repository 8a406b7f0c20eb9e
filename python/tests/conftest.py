"""Shared fixtures: runtimes, kernels of the repository's examples."""

from __future__ import annotations

import pathlib

import numpy as np
import pytest

import lanes

REPO = pathlib.Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "docs" / "examples"


def pytest_report_header(config):
    return f"lanes {lanes.__version__} from {pathlib.Path(lanes.__file__).parent}"


@pytest.fixture(scope="session")
def rt() -> lanes.Runtime:
    """Two threads: the calling thread and one worker."""
    return lanes.Runtime(threads=2)


@pytest.fixture(scope="session")
def vector_add(rt) -> lanes.Kernel:
    source = (EXAMPLES / "vector_add.lasm").read_text()
    return rt.compile(source, name="vector_add.lasm")["vector_add"]


@pytest.fixture(params=lanes.ENGINES)
def engine(request) -> str:
    return request.param


def f32(values) -> np.ndarray:
    return np.asarray(values, dtype=np.float32)
