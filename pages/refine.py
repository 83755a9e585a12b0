"""Test & refine."""

from insight.ui import shell

shell.page("Test & refine")
