"""Pictures that the terminal draws from escapes (sixel, kitty placed directly) under overlays.

A dialog, the palette or help over a screen of pictures: Textual draws the screen beneath as the
overlay's dimmed background, where an escape would come out as text (raw sixel data) or cut
short, and a picture placed directly would cover the overlay. So beneath an overlay the frames
carry no picture escape at all, and the pictures come back whole when the overlay closes.
The frames checked are what Textual gives the terminal (``frame``: the same update its display
writes), since a headless app writes nothing."""

from __future__ import annotations

import asyncio
import io
import re
from pathlib import Path

import pytest
import tui_helpers
from PIL import Image
from textual.app import App, ComposeResult
from textual.screen import ModalScreen
from textual.widgets import Button

from panoptui.tui.app import PanoptuiApp
from panoptui.tui.images import Drawing
from panoptui.tui.kitty import KittyImages
from panoptui.tui.screens.results import ResultsScreen
from panoptui.tui.sixel import placed
from panoptui.tui.widgets.grid import DetailPane
from panoptui.tui.widgets.picture import Picture

demo_base, project = tui_helpers.demo_base, tui_helpers.project

SIXEL = "\x1bP"  # a sixel image starts so
KITTY = "\x1b_G"  # and a kitty graphics command
SIZE = (150, 40)  # wide enough for the detail pane


def jpeg(colour: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (256, 192), colour).save(out, format="JPEG")
    return out.getvalue()


def frame(app: App) -> str:
    """The whole frame Textual would write to the terminal now (what App._display writes)."""
    update = app.screen._compositor.render_update(full=True, screen_stack=app._background_screens)
    return update.render_segments(app.console)


def drawing_for(kind: str) -> Drawing:
    if kind == "sixel":
        return Drawing("sixel", cell_pixels=(10, 20))
    return Drawing("kitty-direct", kitty=KittyImages(placeholders=False, first_id=100))


def expected_escape(picture: Picture) -> str:
    """The escape that draws ``picture`` where it is now, whole."""
    region = picture.content_region
    if picture.sixel is not None:
        return placed(picture.sixel, region.x, region.y)
    assert picture.drawing.kitty is not None and picture.kitty is not None
    return picture.drawing.kitty.placement(picture.kitty, picture._placement_id, region.x, region.y)


class Dialog(ModalScreen[None]):
    """A dialog like the app's: dimmed background, buttons in the middle."""

    DEFAULT_CSS = "Dialog { align: center middle; } Dialog Button { width: 12; }"

    def compose(self) -> ComposeResult:
        yield Button("Tag")


class FourPictures(App[None]):
    CSS = "Picture { width: 24; height: 8; }"

    def __init__(self, drawing: Drawing) -> None:
        super().__init__()
        self.drawing = drawing

    def compose(self) -> ComposeResult:
        for _ in range(4):
            yield Picture(self.drawing)


@pytest.mark.parametrize("kind", ["sixel", "kitty-direct"])
def test_beneath_a_dialog_no_picture_escape_goes_out_and_they_come_back_whole(monkeypatch, kind):
    written: list[str] = []
    monkeypatch.setattr(Picture, "write_to_terminal", lambda self, e: written.append(e))
    drawing = drawing_for(kind)
    app = FourPictures(drawing)
    frames: dict[str, str] = {}
    escapes: list[str] = []
    deleted: list[int] = []

    async def scenario() -> None:
        async with app.run_test(size=(60, 40)) as pilot:
            pictures = list(app.query(Picture))
            for n, picture in enumerate(pictures):
                picture.set_picture(drawing.picture(jpeg((60 * n, 90, 200 - 40 * n)), 24, 8))
            await pilot.pause()
            frames["before"] = frame(app)
            escapes.extend(expected_escape(p) for p in pictures)
            before = "".join(written).count("a=d,")
            await app.push_screen(Dialog())
            await pilot.pause()
            deleted.append("".join(written).count("a=d,") - before)
            frames["beneath"] = frame(app)
            app.pop_screen()
            await pilot.pause()
            frames["after"] = frame(app)

    asyncio.run(scenario())
    assert len(set(escapes)) == 4
    for name in ("before", "after"):
        for escape in escapes:  # every picture, its escape whole
            assert frames[name].count(escape) == 1, name
    beneath = frames["beneath"]
    assert SIXEL not in beneath and KITTY not in beneath
    assert "Tag" in beneath
    # Pictures placed directly are taken down when the dialog comes (sixel pixels are written
    # over by the dialog's frame, which redraws every cell).
    assert deleted == ([4] if kind == "kitty-direct" else [0])


def run_app(project: Path, drawing: Drawing, scenario) -> None:
    async def main() -> None:
        app = PanoptuiApp(project, drawing=drawing)
        async with app.run_test(size=SIZE) as pilot:
            await tui_helpers.settle(pilot)
            await scenario(app, pilot)

    asyncio.run(main())


def escapes_in(text: str) -> list[str]:
    return re.findall(r"\x1bP|\x1b_G", text)


@pytest.mark.parametrize("kind", ["sixel", "kitty-direct"])
def test_results_under_the_tag_dialog_help_and_palette_draw_no_picture_escape(
    monkeypatch, project, kind
):
    monkeypatch.setattr(Picture, "write_to_terminal", lambda self, e: None)
    seen: dict[str, list[str]] = {}

    async def scenario(app, pilot) -> None:
        screen = app.screen
        assert isinstance(screen, ResultsScreen)
        shown = [p for p in screen.query(Picture) if p.sixel or p.kitty]
        assert len(shown) > 4  # the page's tiles and the detail pane's preview
        seen["results"] = escapes_in(frame(app))
        for key in ("t", "question_mark", "ctrl+p"):  # tag dialog, help, palette
            await pilot.press(key)
            await tui_helpers.settle(pilot)
            assert app.screen is not screen, key
            seen[key] = escapes_in(frame(app))
            await pilot.press("escape")
            await tui_helpers.settle(pilot)
            assert app.screen is screen
            seen[key + " closed"] = escapes_in(frame(app))
        seen["count"] = [""] * len(shown)

    run_app(project, drawing_for(kind), scenario)
    pictures = len(seen["count"])
    assert len(seen["results"]) == pictures  # one escape a picture on top
    for keys in ("t", "question_mark", "ctrl+p"):
        assert seen[keys] == [], keys
        assert len(seen[keys + " closed"]) == pictures, keys


def test_closing_the_detail_pane_deletes_its_picture_placed_directly(monkeypatch, project):
    written: list[tuple[int, str]] = []
    monkeypatch.setattr(
        Picture, "write_to_terminal", lambda self, e: written.append((self._placement_id, e))
    )
    result: dict[str, object] = {}

    async def scenario(app, pilot) -> None:
        pane = app.screen.query_one(DetailPane)
        assert pane.display
        preview = pane.query_one(Picture)
        assert preview.kitty is not None
        start = len(written)
        await pilot.press("i")  # the pane closed
        await tui_helpers.settle(pilot)
        assert not pane.display
        result["closed"] = [e for pid, e in written[start:] if pid == preview._placement_id]
        result["placement"] = (preview.kitty.image_id, preview._placement_id)
        result["frame"] = frame(app)
        await pilot.press("i")  # open again: placed again
        await tui_helpers.settle(pilot)
        result["reopened"] = frame(app)
        result["escape"] = expected_escape(preview)

    run_app(project, drawing_for("kitty-direct"), scenario)
    image_id, placement_id = result["placement"]  # type: ignore[misc]
    deletion = f"a=d,d=i,i={image_id},p={placement_id},"
    assert any(deletion in e for e in result["closed"])  # type: ignore[attr-defined]
    assert f"p={placement_id}," not in str(result["frame"])  # not placed while closed
    assert str(result["escape"]) in str(result["reopened"])


@pytest.mark.parametrize("kind", ["sixel", "kitty-direct"])
def test_a_picture_made_for_another_size_is_not_drawn_over_its_neighbours(monkeypatch, kind):
    written: list[str] = []
    monkeypatch.setattr(Picture, "write_to_terminal", lambda self, e: written.append(e))
    drawing = drawing_for(kind)
    app = FourPictures(drawing)
    counts: list[int] = []
    deleted: list[int] = []

    async def scenario() -> None:
        async with app.run_test(size=(60, 40)) as pilot:
            picture = app.query_one(Picture)
            picture.set_picture(drawing.picture(jpeg((200, 90, 0)), 24, 8))
            await pilot.pause()
            counts.append(len(escapes_in(frame(app))))
            before = "".join(written).count("a=d,")
            picture.styles.width = 16  # the tile shrank; its new picture is not made yet
            # Until the resize is drawn (a loaded machine may take several frames).
            for _ in range(100):
                await pilot.pause(0.02)
                if picture.size.width == 16 and not escapes_in(frame(app)):
                    break
            await pilot.pause()
            deleted.append("".join(written).count("a=d,") - before)
            counts.append(len(escapes_in(frame(app))))
            picture.set_picture(drawing.picture(jpeg((200, 90, 0)), 16, 8))
            await pilot.pause()
            counts.append(len(escapes_in(frame(app))))

    asyncio.run(scenario())
    assert counts == [1, 0, 1]  # drawn, not drawn at the wrong size, drawn at the new one
    assert deleted == ([1] if kind == "kitty-direct" else [0])


def test_a_page_flip_deletes_the_old_placement_after_the_frame_that_places_the_new(monkeypatch):
    written: list[str] = []
    monkeypatch.setattr(Picture, "write_to_terminal", lambda self, e: written.append(e))
    drawing = drawing_for("kitty-direct")
    app = FourPictures(drawing)
    seen: dict[str, object] = {}

    async def scenario() -> None:
        async with app.run_test(size=(60, 40)) as pilot:
            picture = app.query_one(Picture)
            a = drawing.picture(jpeg((200, 0, 0)), 24, 8)
            b = drawing.picture(jpeg((0, 0, 200)), 24, 8)
            picture.set_picture(a)
            await pilot.pause()
            start = len(written)
            picture.set_picture(b)  # the flip: nothing deleted before the frame
            seen["before frame"] = [e for e in written[start:] if "a=d," in e]
            seen["frame"] = frame(app)
            seen["b"] = expected_escape(picture)
            await pilot.pause()
            seen["after frame"] = [e for e in written[start:] if "a=d," in e]
            start = len(written)
            picture.set_picture(drawing.picture(jpeg((0, 0, 200)), 24, 8))  # b again
            await pilot.pause()
            seen["same again"] = [e for e in written[start:] if "a=d," in e]
            seen["ids"] = (a.image_id, picture._placement_id)

    asyncio.run(scenario())
    a_id, placement_id = seen["ids"]  # type: ignore[misc]
    assert seen["before frame"] == []
    assert str(seen["b"]) in str(seen["frame"])
    assert seen["after frame"] == [f"\x1b_Ga=d,d=i,i={a_id},p={placement_id},q=2\x1b\\"]
    assert seen["same again"] == []  # its placement was made again, not deleted
