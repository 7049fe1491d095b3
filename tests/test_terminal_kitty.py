"""Kitty pictures: placeholder text that names its image, row and column; each thumbnail sent
to the terminal once per run; direct placements taken down when their picture changes."""

from __future__ import annotations

import asyncio
import io

import pytest
from PIL import Image
from textual.app import App, ComposeResult
from textual.screen import Screen

from panoptui.tui import kitty
from panoptui.tui.images import Drawing
from panoptui.tui.kitty import DIACRITICS, PLACEHOLDER, KittyImages
from panoptui.tui.widgets.picture import Picture


def jpeg(colour: tuple[int, int, int], size: tuple[int, int] = (256, 192)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, format="JPEG")
    return out.getvalue()


def decode_cell(cell: str) -> tuple[int, int, int]:
    """(row, column, high byte of the id) of one placeholder cell."""
    assert cell[0] == PLACEHOLDER and len(cell) == 4
    return tuple(DIACRITICS.index(c) for c in cell[1:])  # type: ignore[return-value]


def test_placeholder_strips_encode_the_id_and_every_row_and_column():
    image_id = 0x7A123456
    strips = kitty.placeholder_strips(image_id, width=12, height=5, columns=8, rows=3)
    assert [s.cell_length for s in strips] == [12] * 5
    assert strips[0].text == " " * 12 and strips[4].text == " " * 12  # centred: 1 row above/below
    for y, strip in enumerate(strips[1:4]):
        segments = list(strip)
        assert (
            segments[0].text == "  " and segments[-1].text == "  "
        )  # centred: 2 columns each side
        picture = segments[1]
        colour = picture.style.color.triplet
        assert (colour.red, colour.green, colour.blue) == (0x12, 0x34, 0x56)  # low 24 bits
        cells = [picture.text[i : i + 4] for i in range(0, len(picture.text), 4)]
        assert [decode_cell(c) for c in cells] == [(y, x, 0x7A) for x in range(8)]


def test_a_picture_too_large_for_the_diacritics_is_refused_plainly():
    with pytest.raises(ValueError, match="cells each way"):
        kitty.placeholder_strips(1, width=400, height=5, columns=400, rows=3)


def test_fit_keeps_the_aspect_in_cells_of_the_terminals_size():
    assert kitty.fit((256, 128), 20, 20, (10, 20)) == (20, 5)
    assert kitty.fit((100, 400), 20, 10, (10, 20)) == (5, 10)


def test_a_thumbnail_is_transmitted_once_and_reused_when_its_page_comes_back():
    images = KittyImages(placeholders=True, first_id=41)
    written: list[str] = []
    page_one = [jpeg((200, 10, 10)), jpeg((10, 200, 10))]
    page_two = [jpeg((10, 10, 200))]
    shown = []
    for page in (page_one, page_two, page_one):
        for thumbnail in page:
            img = Image.open(io.BytesIO(thumbnail))
            picture = images.picture(img, thumbnail, 20, 8)
            images.show(picture, written.append)
            shown.append(picture.image_id)
    escapes = "".join(written)
    assert escapes.count("a=t,") == 3  # three thumbnails, each sent once
    assert escapes.count("a=p,U=1,") == 3  # one virtual placement each
    assert shown == [41, 42, 43, 41, 42]  # page one's ids again, nothing new sent
    assert "q=2" in escapes and all(e.endswith("\x1b\\") for e in written)
    # The same thumbnail at another size is another image (sent scaled to its cells).
    img = Image.open(io.BytesIO(page_one[0]))
    bigger = images.picture(img, page_one[0], 40, 16)
    assert bigger.image_id == 44 and bigger.transmission is not None


def test_inside_tmux_every_escape_is_wrapped_for_passthrough():
    images = KittyImages(placeholders=True, tmux=True, first_id=7)
    thumbnail = jpeg((1, 2, 3), (600, 600))
    picture = images.picture(Image.open(io.BytesIO(thumbnail)), thumbnail, 40, 20)
    assert picture.transmission is not None
    parts = picture.transmission.split("\x1b\\\x1bPtmux;")
    assert picture.transmission.startswith("\x1bPtmux;\x1b\x1b_Ga=t,f=100,i=7,q=2,m=")
    assert len(parts) >= 2 and "\x1b\x1b_Ga=p,U=1,i=7," in parts[-1]


def test_ids_wrap_below_the_protocols_limit_and_are_never_zero():
    images = KittyImages(placeholders=True, first_id=0xFFFFFFFE)
    thumbs = [jpeg((i, i, i)) for i in (10, 60)]
    ids = [images.picture(Image.open(io.BytesIO(t)), t, 4, 2).image_id for t in thumbs]
    assert ids == [0xFFFFFFFE, 1]


class OnePicture(App[None]):
    CSS = "Picture { width: 20; height: 8; }"

    def __init__(self, drawing: Drawing) -> None:
        super().__init__()
        self.drawing = drawing

    def compose(self) -> ComposeResult:
        yield Picture(self.drawing)


@pytest.mark.parametrize("kind", ["kitty", "kitty-direct"])
def test_the_picture_widget_sends_each_thumbnail_once_per_run(monkeypatch, kind):
    written: list[str] = []
    monkeypatch.setattr(Picture, "write_to_terminal", lambda self, e: written.append(e))
    images = KittyImages(placeholders=kind == "kitty", first_id=100)
    drawing = Drawing(kind, kitty=images)
    a, b = jpeg((200, 0, 0)), jpeg((0, 0, 200))
    app = OnePicture(drawing)
    lines = []
    covered: list[int] = []

    async def flip_pages() -> None:
        async with app.run_test(size=(30, 12)) as pilot:
            picture = app.query_one(Picture)
            for thumbnail in (a, b, a, b, a):  # page flips back and forth
                picture.set_picture(drawing.picture(thumbnail, 20, 8))
                await pilot.pause()
            lines.extend(picture.render_line(y) for y in range(8))
            # Another screen on top: a picture placed directly would cover it.
            before = "".join(written).count("a=d,")
            await app.push_screen(Screen())
            await pilot.pause()
            covered.append("".join(written).count("a=d,") - before)

    asyncio.run(flip_pages())
    escapes = "".join(written)
    assert escapes.count("a=t,") == 2
    if kind == "kitty":
        assert covered == [0]  # placeholders are text: the screen on top simply covers them
        assert PLACEHOLDER in "".join(s.text for s in lines)
    else:
        # Each change took the previous placement down (4 after the first); so did the screen
        # on top, and the end of the app.
        assert covered == [1]
        assert escapes.count("a=d,d=i,") == 6
        first = list(lines[0])[0]
        assert first.control is not None and "a=p,i=100," in first.text  # placed with the frame


def test_any_size_is_drawn_larger_ones_capped_to_what_the_diacritics_number():
    images = KittyImages(placeholders=True, first_id=5)
    thumbnail = jpeg((9, 9, 9), (256, 64))
    img = Image.open(io.BytesIO(thumbnail))
    wide = images.picture(img, thumbnail, 400, 10)
    assert wide.columns <= kitty.MAX_CELLS and [s.cell_length for s in wide.strips] == [400] * 10
    empty = images.picture(img, thumbnail, 0, 10)
    assert empty.strips == [] and empty.transmission is None
    for width, height in [(1, 1), (3, 17), (33, 2)]:
        picture = images.picture(img, thumbnail, width, height)
        assert len(picture.strips) == height
        assert all(s.cell_length == width for s in picture.strips)


def test_a_sixel_picture_is_drawn_after_the_blank_cells_of_its_last_line_and_replaced_whole():
    from panoptui.tui.sixel import SixelPicture

    drawing = Drawing("sixel", cell_pixels=(10, 20))
    a, b = jpeg((200, 0, 0)), jpeg((0, 0, 200))
    app = OnePicture(drawing)
    frames: list[list[str]] = []

    async def flip_pages() -> None:
        async with app.run_test(size=(30, 12)) as pilot:
            picture = app.query_one(Picture)
            for thumbnail in (a, b, None):
                shown = drawing.picture(thumbnail, 20, 8) if thumbnail else None
                assert shown is None or isinstance(shown, SixelPicture)
                picture.set_picture(shown)
                await pilot.pause()
                frames.append([picture.render_line(y).text for y in range(8)])

    asyncio.run(flip_pages())
    for frame in frames[:2]:
        assert all(line.startswith(" " * 20) for line in frame)  # blank cells under the image
        assert all("\x1bP" not in line for line in frame[:7])
        last = frame[7]
        # cursor to the image's top-left cell (256x192 fills 20x8 cells of 10x20 pixels), the
        # image (200x150 pixels, no taller than its cells), the cursor back after the line
        assert '"1;1;200;150' in last
        assert last[20:].startswith("\x1b[1;1H\x1bP") and last.endswith("\x1b\\\x1b[8;21H")
    assert frames[0][7] != frames[1][7]  # the new page's image replaces the old one
    assert all("\x1bP" not in line for line in frames[2])  # no picture: blank cells only


def test_past_what_the_terminal_keeps_the_least_recently_shown_is_deleted_and_sent_again(
    monkeypatch,
):
    monkeypatch.setattr(kitty, "KEPT", 2)
    images = KittyImages(placeholders=True, first_id=1)
    written: list[str] = []
    thumbs = [jpeg((c, 0, 0)) for c in (50, 150, 250)]

    def show(thumbnail: bytes) -> int:
        picture = images.picture(Image.open(io.BytesIO(thumbnail)), thumbnail, 8, 4)
        images.show(picture, written.append)
        return picture.image_id

    assert [show(t) for t in thumbs] == [1, 2, 3]
    assert "".join(written).count("a=d,d=I,i=1,") == 1  # the oldest deleted, data and all
    assert show(thumbs[2]) == 3 and show(thumbs[0]) == 1  # 1 comes back: sent again, same id
    escapes = "".join(written)
    assert escapes.count("a=t,") == 4 and escapes.count("a=d,d=I,i=2,") == 1
