"""One module per screen; dialogs shared by several screens live in dialogs.py."""
