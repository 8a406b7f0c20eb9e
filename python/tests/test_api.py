"""The public API: docstrings on everything, type stubs that match the
native module, the package installed (not the source tree), no panic."""

from __future__ import annotations

import ast
import inspect
import os
import pathlib
import sys

import pytest

import lanes
from lanes import _lanes

STUB = pathlib.Path(lanes.__file__).with_name("_lanes.pyi")


def public(obj) -> list[str]:
    return [n for n in dir(obj) if not n.startswith("_")]


def stub_names() -> dict[str, set[str]]:
    """Top-level names of the stub, and the members of each class."""
    tree = ast.parse(STUB.read_text())
    names: dict[str, set[str]] = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            names[node.name] = {
                n.name for n in node.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
            } | {n.target.id for n in node.body if isinstance(n, ast.AnnAssign)}
        elif isinstance(node, ast.AnnAssign):
            names[node.target.id] = set()
    return names


def test_the_installed_package_is_imported():
    path = pathlib.Path(lanes.__file__).resolve()
    if os.environ.get("LANES_EXPECT_INSTALLED"):  # set by test.sh
        assert pathlib.Path(sys.prefix).resolve() in path.parents, path
    assert (path.parent / "py.typed").exists()
    assert STUB.exists()
    assert lanes.__version__ == "0.1.0"


def test_every_public_class_and_member_has_a_docstring():
    for name in lanes.__all__:
        obj = getattr(lanes, name)
        if name in ("ENGINES", "__version__"):
            continue
        assert inspect.getdoc(obj), name
        if inspect.isclass(obj):
            for member in public(obj):
                if issubclass(obj, BaseException) and hasattr(Exception, member):
                    continue
                assert inspect.getdoc(getattr(obj, member)), f"{name}.{member}"
    for name in lanes.ops.__all__:
        assert inspect.getdoc(getattr(lanes.ops, name)), f"ops.{name}"
    assert inspect.getdoc(lanes.ops) and inspect.getdoc(lanes)


def test_stubs_match_the_native_module():
    stubs = stub_names()
    native = {n for n in public(_lanes)} | {"__version__"}
    aliases = {"Dims", "DTypeLike", "Operand", "OutOperand", "Number"}
    assert set(stubs) - aliases == native
    for name in native:
        obj = getattr(_lanes, name)
        if not inspect.isclass(obj) or issubclass(obj, BaseException):
            continue
        members = set(public(obj))
        assert members <= stubs[name], f"{name}: not in the stub: {members - stubs[name]}"
        assert stubs[name] - {"__init__", "__len__", "__getitem__", "__contains__", "__iter__", "__getattr__", "__array__"} <= members, name


def test_every_op_function_has_a_method():
    for name in lanes.ops.__all__:
        if name in ("default_runtime", "matmul"):
            continue
        assert hasattr(lanes.Ops, name), name


def test_a_panic_becomes_a_lanes_error():
    with pytest.raises(lanes.LanesError, match="internal error in lanes .*: planted"):
        _lanes._panic("planted")
