"""One reader per format. Importing this package registers every module in it.

>>> from insight.readers import reader_for
>>> reader_for("notes.txt").name
'text'
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

from insight.errors import UnsupportedFormat
from insight.readers.base import REGISTRY, IngestOptions, ReadResult  # noqa: F401

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
