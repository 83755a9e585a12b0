"""Codebook."""

from insight.ui import shell

shell.page("Codebook")
