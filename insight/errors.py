"""Every error Insight raises on purpose, in one place.

Each message says what was expected, what arrived and how to fix it. The CLI prints
``str(error)`` on one line and exits non-zero; the app shows it with ``st.error``.
"""

from __future__ import annotations

import re
from pathlib import Path


def without_flags(message: str) -> str:
    """A message as the app says it. Messages name an option in words with its command-line flag in
    brackets after it; the app has no flags, so the brackets go.

    >>> without_flags("Choose the open-ended text column(s) (--text-col, repeatable). Columns: a, b.")
    'Choose the open-ended text column(s). Columns: a, b.'
    """
    return re.sub(r" ?\(--[^()]*\)", "", message)


class InsightError(Exception):
    """Base class: a problem the user can fix, with a message that says how."""

    def __init__(self, message: str, *, hint: str | None = None):
        self.message = message
        self.hint = hint
        super().__init__(message if not hint else f"{message} {hint}")


class ReaderError(InsightError):
    """A file could not be read: names the file, the place in it, the reason and the fix."""

    def __init__(
        self,
        path: str | Path,
        reason: str,
        *,
        fix: str | None = None,
        line: int | None = None,
        row: int | None = None,
    ):
        self.path = str(path)
        self.reason = reason
        self.fix = fix
        self.line = line
        self.row = row
        where = self.path
        if line is not None:
            where += f", line {line}"
        if row is not None:
            where += f", row {row}"
        super().__init__(f"{where}: {reason}", hint=fix)


class UnsupportedFormat(ReaderError):
    """No reader knows this file's extension."""


class ColumnNotFound(InsightError):
    """A column named on the command line is not in the table."""

    def __init__(self, path: str | Path, column: str, available: list[str]):
        self.column = column
        self.available = available
        super().__init__(
            f"{path}: no column named {column!r}.",
            hint="Columns in this file: " + ", ".join(repr(c) for c in available) + ".",
        )


class DatabaseLocked(InsightError):
    """Another process is writing to the database file."""

    def __init__(self, path: str | Path, detail: str = ""):
        self.path = str(path)
        super().__init__(
            f"The database {path} is in use by another Insight process (the app or a CLI command).",
            hint="Wait for it to finish or close it, then try again; nothing was changed."
            + (f" ({detail})" if detail else ""),
        )


class NotFound(InsightError):
    """A study, document, codebook, code or coder that was named does not exist."""

    def __init__(self, kind: str, name: str, available: list[str] | None = None):
        self.kind = kind
        self.name = name
        hint = None
        kinds = kind[:-1] + "ies" if kind.endswith("y") else kind + "s"  # study: studies
        if available is not None:
            hint = (
                f"Known {kinds}: " + ", ".join(repr(a) for a in available[:30]) + "."
                if available
                else f"There are no {kinds} yet."
            )
        super().__init__(f"No {kind} named {name!r}.", hint=hint)


class CodebookError(InsightError):
    """A codebook file or edit is invalid: names the file, the line (or spreadsheet row) and the fix."""

    def __init__(self, source: str, reason: str, *, line: int | None = None, fix: str | None = None,
                 row: int | None = None):
        self.source = source
        self.line = line
        self.row = row
        where = source + (f", line {line}" if line is not None else "") + (f", row {row}" if row is not None else "")
        super().__init__(f"{where}: {reason}", hint=fix)


class MissingDependency(InsightError):
    """An optional package is needed for this step; says the exact install command."""

    def __init__(self, package: str, purpose: str):
        super().__init__(
            f"{purpose} needs the package {package!r}, which is not installed.",
            hint=f"Install it with: pip install {package}",
        )


class SchemaTooNew(InsightError):
    """The database was written by a newer Insight."""
