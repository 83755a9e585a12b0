"""Export."""

from insight.ui import shell

shell.page("Export")
