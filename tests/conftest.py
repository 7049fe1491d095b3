from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from fixtures import write_good_corpus, write_hostile_files  # noqa: E402


@pytest.fixture(scope="session")
def good_corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("good")
    return root, write_good_corpus(root)


@pytest.fixture
def hostile_corpus(tmp_path: Path) -> tuple[Path, dict]:
    root = tmp_path / "hostile"
    return root, write_hostile_files(root)
