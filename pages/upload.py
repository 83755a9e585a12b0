"""Upload."""

from insight.ui import shell

shell.page("Upload")
