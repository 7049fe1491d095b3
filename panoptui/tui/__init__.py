"""The terminal application (Textual). Everything it does, it asks of ``panoptui.core``."""
