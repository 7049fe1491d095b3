"""Panoptic itself, for the tests of issue 14: one virtual environment per Panoptic version
(1.0.0 and 0.7.6, installed from the package index), and real Panoptic projects built in them
by Panoptic's own code (the scripts in tests/panoptic_scripts/).

Where the environments live: $PANOPTUI_PANOPTIC_VENVS/VERSION when that variable is set, else
~/.cache/panoptui-tests/panoptic-venvs/VERSION. A missing or broken one (its python cannot
import panoptic at that version) is made again, under a file lock so that two pytest processes
never build the same one at once: `python -m venv` from the base interpreter of the running
Python, then `pip install -q panoptic==VERSION` (measured: about 25 s and 0.5 GB each; no torch,
the ML part of Panoptic is a separate plugin we never install).

Only the standard library at module level: .ci/run runs `python3.12 tests/panoptic_env.py
prepare` with the base interpreter, before the project's own venv exists.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from pathlib import Path

VERSIONS = ("1.0.0", "0.7.6")
SCRIPTS = Path(__file__).resolve().parent / "panoptic_scripts"
BUILDERS = {"1.0.0": "make_project_v1.py", "0.7.6": "make_project_v07.py"}
READY = "panoptui-ready"  # written last: an install cut short never counts as ready
INSTALL_TIMEOUT = 900  # seconds; 25 s measured, slow mirrors take longer
BUILD_TIMEOUT = 300  # seconds; the 13-image projects take 2.5 s (1.0) and 4 s (0.7)
_checked: dict[str, Path] = {}  # versions found working in this process


class PanopticEnvError(RuntimeError):
    """A Panoptic environment or project could not be made; the message says why, in a line
    or a few (the tail of the failing command's output)."""


def venvs_root() -> Path:
    configured = os.environ.get("PANOPTUI_PANOPTIC_VENVS")
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "panoptui-tests" / "panoptic-venvs"


def _check_version(version: str) -> None:
    if version not in VERSIONS:
        raise PanopticEnvError(f"no Panoptic {version!r} here; one of {', '.join(VERSIONS)}")


def _works(python: Path, version: str) -> bool:
    """The venv's python imports panoptic, at that version."""
    if not python.exists():
        return False
    code = "import panoptic, importlib.metadata as m; print(m.version('panoptic'))"
    try:
        done = subprocess.run(
            [str(python), "-c", code], capture_output=True, text=True, timeout=120
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0 and done.stdout.strip() == version


def _tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def _base_python() -> str:
    # Inside a venv (pytest runs in .venv) a venv is made from the interpreter it came from.
    return getattr(sys, "_base_executable", None) or sys.executable


def _create(venv: Path, version: str) -> None:
    if venv.exists():
        shutil.rmtree(venv)
    steps = (
        [_base_python(), "-m", "venv", str(venv)],
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", f"panoptic=={version}"],
    )
    for step in steps:
        try:
            done = subprocess.run(step, capture_output=True, text=True, timeout=INSTALL_TIMEOUT)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise PanopticEnvError(
                f"cannot make the Panoptic {version} environment in {venv}: {exc}"
            ) from None
        if done.returncode != 0:
            raise PanopticEnvError(
                f"cannot make the Panoptic {version} environment in {venv}: "
                f"`{' '.join(step)}` failed:\n{_tail(done.stdout + done.stderr)}"
            )
    (venv / READY).write_text(version + "\n")


def panoptic_python(version: str) -> Path:
    """The python of a venv holding panoptic==version, made first when missing or broken."""
    _check_version(version)
    if version in _checked:
        return _checked[version]
    venv = venvs_root() / version
    python = venv / "bin" / "python"
    if not ((venv / READY).exists() and _works(python, version)):
        venv.parent.mkdir(parents=True, exist_ok=True)
        with open(venv.parent / f"{version}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be making it: wait
            if not ((venv / READY).exists() and _works(python, version)):
                _create(venv, version)
            if not _works(python, version):
                raise PanopticEnvError(
                    f"the Panoptic {version} environment in {venv} was made but its python "
                    "cannot import panoptic"
                )
    _checked[version] = python
    return python


def _run_script(python: Path, args: list[str], what: str) -> str:
    try:
        done = subprocess.run(
            [str(python), *args], capture_output=True, text=True, timeout=BUILD_TIMEOUT
        )
    except subprocess.TimeoutExpired:
        raise PanopticEnvError(f"{what}: no answer in {BUILD_TIMEOUT} s") from None
    if done.returncode != 0:
        raise PanopticEnvError(f"{what} failed:\n{_tail(done.stderr or done.stdout)}")
    return done.stdout


def generate_images(images_dir: Path, count: int | None = None) -> None:
    """The 13 test images (4 folders, one byte-identical copy) or, with count, that many small
    images of one size (for a benchmark). Pillow comes from the Panoptic 1.0 venv, so this
    module needs nothing outside the standard library."""
    args = [str(SCRIPTS / "gen_images.py"), str(images_dir)]
    if count is not None:
        args += ["--count", str(count)]
    _run_script(panoptic_python("1.0.0"), args, f"generating images in {images_dir}")


def build_project(version: str, images_dir: Path, project_dir: Path) -> None:
    """A real Panoptic project of that version in project_dir (which must not exist or be
    empty), holding the images of images_dir, made by Panoptic's own code (see the scripts)."""
    _check_version(version)
    script = SCRIPTS / BUILDERS[version]
    _run_script(
        panoptic_python(version),
        [str(script), str(images_dir), str(project_dir)],
        f"building a Panoptic {version} project in {project_dir}",
    )


def run_panoptic(version: str, script: str, *args: str) -> str:
    """Run one of tests/panoptic_scripts/ with that Panoptic's python; its stdout."""
    return _run_script(
        panoptic_python(version), [str(SCRIPTS / script), *args], f"{script} {' '.join(args)}"
    )


def main(argv: list[str]) -> int:
    if argv != ["prepare"]:
        print("usage: python tests/panoptic_env.py prepare", file=sys.stderr)
        return 2
    for version in VERSIONS:
        try:
            python = panoptic_python(version)
        except PanopticEnvError as exc:
            print(exc, file=sys.stderr)
            return 1
        print(f"Panoptic {version}: {python}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
