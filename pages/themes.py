"""Themes."""

from insight.ui import shell

shell.page("Themes")
