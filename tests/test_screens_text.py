"""Counts and sizes in words (core/text.py count_text and size_text), as every screen and the CLI
show them: "1 image", never "1 images"; a small file in bytes, never "0 KiB"."""

from __future__ import annotations

import pytest

from panoptui.core.text import count_text, size_text


@pytest.mark.parametrize(
    ("n", "word", "plural", "expected"),
    [
        (0, "error", None, "0 errors"),
        (1, "error", None, "1 error"),
        (2, "image", None, "2 images"),
        (1, "image", None, "1 image"),
        (12500, "image", None, "12,500 images"),
        (1, "match", "matches", "1 match"),
        (3, "match", "matches", "3 matches"),
        (1000000, "file", None, "1,000,000 files"),
    ],
)
def test_count_text(n: int, word: str, plural: str | None, expected: str) -> None:
    assert count_text(n, word, plural) == expected


@pytest.mark.parametrize(
    ("n_bytes", "expected"),
    [
        (0, "0 B"),
        (1, "1 B"),
        (512, "512 B"),
        (1023, "1,023 B"),
        (1024, "1.0 KiB"),
        (1536, "1.5 KiB"),
        (10 * 1024, "10 KiB"),
        (12 * 1024 * 1024, "12 MiB"),
        (1024 * 1024 - 1, "1.0 MiB"),
        (3 * 1024**3 // 2, "1.5 GiB"),
        (2 * 1024**5, "2.0 PiB"),
        (5000 * 1024**5, "5000 PiB"),
    ],
)
def test_size_text(n_bytes: int, expected: str) -> None:
    assert size_text(n_bytes) == expected


def test_size_text_never_zero_kib() -> None:
    for n_bytes in range(0, 4096, 7):
        assert not size_text(n_bytes).startswith("0 ") or n_bytes == 0
        assert size_text(n_bytes) != "0 KiB"
