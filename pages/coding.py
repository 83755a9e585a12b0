"""Code."""

from insight.ui import shell

shell.page("Code")
