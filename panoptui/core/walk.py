"""Walking import folders: every image file below a folder, in a fixed order.

The walk decides what the import considers: image files by extension (others are counted as
skipped, not errors), hidden entries left out, symbolic links followed only inside the folder
unless asked, and names that are not UTF-8 kept exact for the operating system while stored as
escaped text. It reads no file: ``read_worker`` does that.
"""

from __future__ import annotations

import os
import stat
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from panoptui.core import store
from panoptui.core.decode import HEIF_AVAILABLE
from panoptui.core.text import storable

# Extensions a user expects to be imported, in any case. Files with other extensions are ignored
# (they are not counted as errors): an archive holds .txt, .xmp and .json side-cars too.
IMAGE_EXTENSIONS = frozenset(
    [
        ".jpg",
        ".jpeg",
        ".jpe",
        ".jfif",
        ".mpo",
        ".png",
        ".apng",
        ".gif",
        ".webp",
        ".tif",
        ".tiff",
        ".bmp",
        ".dib",
        ".ppm",
        ".pgm",
        ".pbm",
        ".pnm",
        ".tga",
        ".ico",
        ".pcx",
        ".avif",
        ".jp2",
        ".j2k",
        ".jpx",
        ".qoi",
    ]
)

# Extensions pillow-heif reads (iPhone photos), when it is installed.
HEIF_EXTENSIONS = frozenset([".heic", ".heif", ".hif"])
if HEIF_AVAILABLE:
    IMAGE_EXTENSIONS = IMAGE_EXTENSIONS | HEIF_EXTENSIONS
NO_EXTENSION = "(none)"  # the key of files without an extension in ImportSummary.skipped


@dataclass(frozen=True)
class Found:
    """A file the walk found: either readable (size/mtime known) or an error already.

    ``path`` is the path as stored (text: bytes that are not UTF-8 shown as \\xNN escapes),
    ``os_path`` the path the operating system knows (the same unless the name is not UTF-8)."""

    path: str
    folder_id: int
    rel_path: str
    size: int = 0
    mtime_ns: int = 0
    error: str | None = None
    os_path: str = ""

    @property
    def real_path(self) -> str:
        return self.os_path or self.path


def _display_path(path: str) -> str:
    """A path as the store keeps it (see store.stored_path: escaped when not plain UTF-8)."""
    return store.stored_path(path)[0]


@dataclass
class WalkStats:
    """What a walk passed over without importing it (see ImportSummary)."""

    skipped: Counter[str] = field(default_factory=Counter)
    links_not_followed: int = 0


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def walk_folder(
    root: str, folder_id: int, *, follow_links: bool = False, stats: WalkStats | None = None
) -> Iterator[Found]:
    """Yield every image file below ``root``, in a fixed order.

    Real folders are walked first; folders reached through symbolic links come after, and only
    if not seen already, so a link never claims files from their real path and link loops end.
    A symbolic link (to a folder or a file) is followed only when it leads to a place inside
    ``root``, unless ``follow_links``: an archive holding ``pics -> /home/user`` must not pull
    private images in. Hidden entries (names starting with a dot) are skipped. Names that are
    not UTF-8 are imported: ``path`` shows them escaped, ``os_path`` keeps them exact.
    """
    stats = stats if stats is not None else WalkStats()
    real_root = os.path.realpath(root)
    visited: set[tuple[int, int]] = set()
    linked: list[str] = []  # symlinked folders, walked after all real ones

    def found(path: str, size: int = 0, mtime_ns: int = 0, error: str | None = None) -> Found:
        rel = _display_path(os.path.relpath(path, root))
        return Found(_display_path(path), folder_id, rel, size, mtime_ns, error, os_path=path)

    def followed(path: str) -> bool:
        if follow_links or _inside(os.path.realpath(path), real_root):
            return True
        stats.links_not_followed += 1
        return False

    def visit(directory: str) -> Iterator[Found]:
        try:
            st = os.stat(directory)
            if (st.st_dev, st.st_ino) in visited:
                return
            visited.add((st.st_dev, st.st_ino))
            with os.scandir(directory) as it:
                entries = sorted(it, key=lambda e: os.fsencode(e.name))
        except OSError as exc:
            yield found(directory, error=f"cannot list folder: {exc.strerror}")
            return
        for entry in entries:
            name = entry.name
            if name.startswith("."):  # hidden files and folders: .git, .thumbnails, ._AppleDouble
                continue
            path = entry.path
            try:
                is_dir = entry.is_dir()  # follows symlinks
            except OSError:
                is_dir = False
            if is_dir:
                if entry.is_symlink():
                    if followed(path):
                        linked.append(path)
                else:
                    yield from visit(path)
                continue
            extension = os.path.splitext(name)[1].lower()
            if extension not in IMAGE_EXTENSIONS:
                stats.skipped[storable(extension) or NO_EXTENSION] += 1
                continue
            if entry.is_symlink() and not followed(path):
                continue
            try:
                st = entry.stat()  # follows symlinks
            except FileNotFoundError:
                if entry.is_symlink():
                    target = _display_path(os.readlink(path))
                    reason = f"broken symbolic link: it points to {target}, which does not exist"
                else:
                    reason = "file disappeared while the folder was being scanned"
                yield found(path, error=reason)
                continue
            except OSError as exc:
                yield found(path, error=f"cannot stat file: {exc.strerror}")
                continue
            if not stat.S_ISREG(st.st_mode):
                yield found(path, error="not a regular file")
                continue
            yield found(path, size=st.st_size, mtime_ns=st.st_mtime_ns)

    yield from visit(root)
    while linked:
        yield from visit(linked.pop(0))
