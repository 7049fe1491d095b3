from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from fixtures import write_good_corpus, write_hostile_files  # noqa: E402
from panoptic_env import PanopticEnvError, build_project, generate_images  # noqa: E402
from panoptic_env import panoptic_python as _panoptic_python  # noqa: E402


@pytest.fixture(scope="session")
def good_corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("good")
    return root, write_good_corpus(root)


@pytest.fixture
def hostile_corpus(tmp_path: Path) -> tuple[Path, dict]:
    root = tmp_path / "hostile"
    return root, write_hostile_files(root)


@dataclass(frozen=True)
class PanopticProject:
    images: Path  # the folder of images it was built from (tests/panoptic_scripts/gen_images.py)
    project: Path  # the Panoptic project folder


def _built_panoptic(factory: pytest.TempPathFactory, version: str) -> PanopticProject:
    """A project built by Panoptic's own code (tests/panoptic_env.py). Panoptic that cannot be
    installed or run FAILS the tests that need it, never skips them."""
    root = factory.mktemp(f"panoptic-{version}")
    built = PanopticProject(images=root / "images", project=root / "project")
    try:
        generate_images(built.images)
        build_project(version, built.images, built.project)
    except PanopticEnvError as exc:
        pytest.fail(str(exc), pytrace=False)
    return built


@pytest.fixture(scope="session")
def panoptic_v1(tmp_path_factory: pytest.TempPathFactory) -> PanopticProject:
    """A Panoptic 1.0.0 project (make_project_v1.py) of the 13 test images, built once per
    session and shared: a test that changes the project copies it first (shutil.copytree),
    and one that changes or moves the images copies them too (the project keeps their absolute
    paths: a copy of it still points at .images), or builds its own with build_project."""
    return _built_panoptic(tmp_path_factory, "1.0.0")


@pytest.fixture(scope="session")
def panoptic_v07(tmp_path_factory: pytest.TempPathFactory) -> PanopticProject:
    """A Panoptic 0.7.6 project (make_project_v07.py) of the 13 test images, built once per
    session and shared: a test that changes it copies it first (see panoptic_v1)."""
    return _built_panoptic(tmp_path_factory, "0.7.6")


@pytest.fixture(scope="session")
def panoptic_python_v1() -> Path:
    """The python of a venv holding panoptic==1.0.0, for tests that drive Panoptic themselves."""
    try:
        return _panoptic_python("1.0.0")
    except PanopticEnvError as exc:
        pytest.fail(str(exc), pytrace=False)
