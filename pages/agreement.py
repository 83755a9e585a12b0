"""Agreement."""

from insight.ui import shell

shell.page("Agreement")
