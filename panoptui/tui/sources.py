"""What the Results screen shows: every image (or a tag's, or a folder's) paged from DuckDB, or
a ranked list of images that a query returned."""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb
import numpy as np

from panoptui.core import browse


@dataclass(frozen=True)
class Item:
    image_id: int
    path: str
    score: float | None = None


@dataclass
class AllImages:
    """Images in import order, paged straight from the store."""

    flt: browse.ImageFilter = field(default_factory=browse.ImageFilter)

    @property
    def title(self) -> str:
        return self.flt.describe()

    def count(self, con: duckdb.DuckDBPyConnection) -> int:
        return browse.count_images(con, self.flt)

    def page(self, con: duckdb.DuckDBPyConnection, offset: int, limit: int) -> list[Item]:
        return [Item(i, p) for i, p in browse.page_images(con, offset, limit, self.flt)]

    def ids(self, con: duckdb.DuckDBPyConnection) -> np.ndarray:
        """Every image shown, on all pages, in one query (to select them all)."""
        return browse.filter_ids(con, self.flt)


@dataclass
class RankedImages:
    """A query's answer: image ids with scores (or without: a cluster, a duplicate group).
    ``accept_tag``: recommendations for this tag, accepted into it (or refused) with a key.
    ``min_score``: only the images scored at least this are shown (None: all)."""

    title: str
    ranked: list[tuple[int, float | None]]
    accept_tag: str | None = None
    min_score: float | None = None

    @property
    def shown(self) -> list[tuple[int, float | None]]:
        """The images shown: those at or above the minimum score (unscored ones always)."""
        low = self.min_score
        if low is None:
            return self.ranked
        return [(i, s) for i, s in self.ranked if s is None or s >= low]

    @property
    def scored(self) -> bool:
        return any(s is not None for _, s in self.ranked)

    def count(self, con: duckdb.DuckDBPyConnection) -> int:
        return len(self.shown)

    def page(self, con: duckdb.DuckDBPyConnection, offset: int, limit: int) -> list[Item]:
        chunk = self.shown[offset : offset + limit]
        paths = browse.paths_of(con, [i for i, _ in chunk])
        return [Item(i, paths.get(i, ""), s) for i, s in chunk]

    def ids(self, con: duckdb.DuckDBPyConnection) -> np.ndarray:
        return np.array([i for i, _ in self.shown], np.int64)


Source = AllImages | RankedImages
