"""Browse."""

from insight.ui import shell

shell.page("Browse")
