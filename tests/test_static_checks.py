"""Checks a machine runs on every test run: the type checker, the import contracts, and that
each module of the core imports without Textual (pyproject.toml configures the first two)."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import panoptui.core

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
CORE_MODULES = sorted(
    module.name for module in pkgutil.walk_packages(panoptui.core.__path__, prefix="panoptui.core.")
)


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_mypy_finds_no_error():
    done = run(str(BIN / "mypy"))
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]


def test_import_contracts_are_kept():
    done = run(str(BIN / "lint-imports"), "--no-cache")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]


def test_every_core_module_is_found():
    # The list below must not be empty or partial: a package without __init__.py hides its
    # modules from pkgutil and from import-linter alike.
    assert {"panoptui.core.store", "panoptui.core.scan", "panoptui.core.models.base"} <= set(
        CORE_MODULES
    )


@pytest.mark.parametrize("module", CORE_MODULES)
def test_a_core_module_imports_without_textual(module):
    code = (
        f"import sys, {module}\n"
        "ui = ('textual', 'textual_image')\n"
        "found = sorted(m for m in sys.modules if m.split('.')[0] in ui)\n"
        "assert not found, found"
    )
    done = run(sys.executable, "-c", code)
    assert done.returncode == 0, done.stderr[-2000:]
