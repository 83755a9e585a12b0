"""One reader per format. Importing this package registers every module in it.

>>> from insight.readers import reader_for
>>> reader_for("notes.txt").name
'text'

:func:`preview` says what a file will become before anything is stored: the reader, the kind of
each document (guessed unless ``kind`` is given), the speakers found, or the problem that would stop it.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from insight.errors import InsightError, ReaderError, UnsupportedFormat
from insight.readers.base import REGISTRY, IngestOptions, Reader, ReadResult  # noqa: F401

for _module in pkgutil.iter_modules(__path__):
    if _module.name != "base":
        importlib.import_module(f"{__name__}.{_module.name}")


def supported_suffixes() -> list[str]:
    return sorted(REGISTRY)


def reader_for(path: str | Path):
    """The reader for ``path``'s extension, or :class:`UnsupportedFormat` naming the ones known."""
    suffix = Path(path).suffix.lower()
    try:
        return REGISTRY[suffix]
    except KeyError:
        raise UnsupportedFormat(
            path,
            f"no reader for {suffix or 'files without an extension'!r} files.",
            fix="Supported: " + ", ".join(supported_suffixes()) + ".",
        ) from None


def read_file(path: Path, data: bytes, options: IngestOptions) -> tuple[Reader, ReadResult]:
    """Read ``data`` (the bytes of ``path``) with the reader for its extension. A reader's own bug
    comes out as a :class:`ReaderError` that says so, so that one file never sinks a batch."""
    reader = reader_for(path)
    try:
        return reader, reader.read(path, data, options)
    except InsightError:
        raise
    except Exception as exc:
        raise ReaderError(path, f"unexpected {exc.__class__.__name__} while reading ({exc}).",
                          fix="This is a bug in Insight; please report it with the file if you can.") from exc


@dataclass
class FilePreview:
    """What ingesting a file with some options would make of it, read but not stored."""

    reader: str  # the reader's name ("text", "tabular", ...); empty when no reader knows the file
    kinds: dict[str, int] = field(default_factory=dict)  # documents by kind, the commonest first
    speakers: list[str] = field(default_factory=list)  # speaker labels found, in order of appearance
    notes: list[str] = field(default_factory=list)  # the reader's warnings, e.g. the columns it guessed
    problem: str | None = None  # why the file would fail

    @property
    def kind(self) -> str | None:
        """The kind of the file's documents (the commonest when they differ)."""
        return next(iter(self.kinds), None)

    @property
    def documents(self) -> int:
        return sum(self.kinds.values())


def preview(path: str | Path, options: IngestOptions) -> FilePreview:
    """Read ``path`` as :func:`insight.ingest.ingest` would with ``options``, and say what it found.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "n.txt"; _ = p.write_text("Interviewer: Hi.\\nP1: Hello.\\n")
    >>> found = preview(p, IngestOptions()); (found.reader, found.kind, found.speakers)
    ('text', 'interview', ['Interviewer', 'P1'])
    >>> preview(p, IngestOptions(kind="fieldnotes")).speakers
    []
    """
    path = Path(path)
    try:
        reader, result = read_file(path, path.read_bytes(), options)
    except UnsupportedFormat as exc:
        return FilePreview("", problem=str(exc))
    except InsightError as exc:
        return FilePreview(reader_for(path).name, problem=str(exc))
    except OSError as exc:
        return FilePreview("", problem=f"{path}: cannot be read ({exc.strerror}).")
    kinds = Counter(doc.kind or "fieldnotes" for doc in result.documents)
    speakers = dict.fromkeys(t.speaker for doc in result.documents for t in doc.turns if t.speaker)
    return FilePreview(reader.name, dict(kinds.most_common()), list(speakers), list(result.warnings))
