"""The base of the app's screens: a user's error raised by a screen's handler (a database
refusal, a project damaged under the app) is a notification, and the screen stays alive and
drawn.

Textual ends the message loop of a widget whose handler raises: a screen would then hear no key
again (nor would the keys reach the App's bindings, which they reach by bubbling through it).
And a handler that raises skips the ones of its base classes, Textual's own among them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

import duckdb
from textual.message import Message
from textual.screen import Screen

from panoptui.core import store
from panoptui.core.models.base import ModelError

if TYPE_CHECKING:  # the App imports the screens: at run time, this import would be a circle
    from panoptui.tui.app import PanoptuiApp

# Errors a user can cause (as opposed to bugs): said in a notification, the app goes on.
USER_ERRORS = (store.ProjectError, ModelError, duckdb.Error)


class AppScreen(Screen[None]):
    @property
    def panoptui(self) -> PanoptuiApp:
        """The App, with its type (Textual's ``self.app`` is any App): what screens share (the
        project's connection, the jobs, the selection) is reached through it, checked by mypy.
        Posting's ``cast("Posting", self.app)``, written once."""
        return cast("PanoptuiApp", self.app)

    def on_screen_resume(self) -> None:
        # Textual's own handler of this event (layout, focus, drawing) runs after this one, and
        # not at all if this one raises: the screen's data is read just after it, where an error
        # cannot keep the screen from being drawn.
        self.call_next(self.resumed)

    def resumed(self) -> None:
        """Show what the project holds now (each screen its own), whenever the screen shows."""

    async def _on_message(self, message: Message) -> None:
        # Every event and message of the screen (resume, callbacks, submitted inputs...) is
        # handled through here (Textual's MessagePump._on_message).
        try:
            await super()._on_message(message)
        except USER_ERRORS as exc:
            self.panoptui.report(exc)
