"""Which files an ingest reads, and with which options: the paths given, folders walked (hidden
files, workspace databases and the manifest itself left out) and each folder's ``ingest.yaml``
manifest (defaults, a participant roster, excluded patterns, per-file options); see
:mod:`insight.ingest` for the manifest's form.

Reads files only; writes nothing.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path

from insight.errors import ReaderError
from insight.readers.base import IngestOptions, ParticipantRecord

MANIFEST = "ingest.yaml"
_WORKSPACE_FILES = {".duckdb", ".wal", ".tmp"}  # a workspace database kept beside the data is not data


def _load_manifest(folder: Path) -> dict:
    path = folder / MANIFEST
    if not path.exists():
        return {}
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        raise ReaderError(path, f"the manifest is not valid YAML ({getattr(exc, 'problem', exc)}).",
                          line=line + 1 if line is not None else None,
                          fix="Check indentation and quoting.") from None
    if not isinstance(data, dict):
        raise ReaderError(path, "the manifest must be a mapping.", fix="See `insight ingest --help`.")
    unknown = set(data) - {"defaults", "participants", "exclude", "files", "study"}
    if unknown:
        raise ReaderError(path, f"unknown manifest key(s): {', '.join(sorted(unknown))}.",
                          fix="Known keys: defaults, participants, exclude, files.")
    return data


def _load_roster(folder: Path, spec) -> dict[str, ParticipantRecord]:
    """A participants table (id, name, attributes) from a manifest, keyed by lower-case id and name."""
    from insight.readers.tabular import load_frame

    if isinstance(spec, str):
        spec = {"file": spec}
    path = folder / spec["file"]
    frame, _, _ = load_frame(path, path.read_bytes(), IngestOptions())
    id_col = spec.get("id_col", frame.columns[0])
    name_col = spec.get("name_col", "name" if "name" in frame.columns else None)
    roster: dict[str, ParticipantRecord] = {}
    for row in frame.to_dict("records"):
        pid = str(row[id_col]).strip()
        if not pid:
            continue
        attrs = {k: v for k, v in row.items() if k not in (id_col, name_col) and str(v).strip()}
        record = ParticipantRecord(pid, str(row[name_col]).strip() if name_col else None, attrs)
        roster[pid.lower()] = record
        if record.name:
            roster[record.name.lower()] = record
            roster.setdefault(record.name.split()[0].lower(), record)
    return roster


def plan(paths: list[str | Path], options: IngestOptions) -> list[tuple[Path, IngestOptions | ReaderError]]:
    """Every file to read with its resolved options (or the error that stops it)."""
    planned: list[tuple[Path, IngestOptions | ReaderError]] = []
    for raw in paths:
        root = Path(raw)
        if not root.exists():
            planned.append((root, ReaderError(root, "no such file or folder.", fix="Check the path.")))
            continue
        if root.is_file():
            planned.append((root, options))
            continue
        planned.extend(_plan_folder(root, options))
    return planned


def _plan_folder(folder: Path, options: IngestOptions):
    try:
        manifest = _load_manifest(folder)
        opts = options.merged(manifest.get("defaults", {}))
        if "participants" in manifest:
            roster = dict(options.participants)
            roster.update(_load_roster(folder, manifest["participants"]))
            opts.participants = roster
    except (ReaderError, KeyError) as exc:
        err = exc if isinstance(exc, ReaderError) else ReaderError(folder / MANIFEST, f"unknown option {exc}.")
        return [(folder / MANIFEST, err)]
    skip = set(manifest.get("exclude", []))
    roster_file = manifest.get("participants")
    if roster_file:
        skip.add(roster_file if isinstance(roster_file, str) else roster_file["file"])
    out = []
    for child in sorted(folder.iterdir()):
        if child.name.startswith(".") or child.name == MANIFEST or child.suffix in _WORKSPACE_FILES or any(fnmatch.fnmatch(child.name, s) for s in skip):
            continue
        if child.is_dir():
            out.extend(_plan_folder(child, opts))
            continue
        file_opts = opts
        for pattern, overrides in (manifest.get("files") or {}).items():
            if fnmatch.fnmatch(child.name, pattern):
                try:
                    file_opts = file_opts.merged(overrides or {})
                except KeyError as exc:
                    file_opts = ReaderError(folder / MANIFEST, f"unknown option {exc} for {pattern!r}.")
                    break
        out.append((child, file_opts))
    return out


# ---------------------------------------------------------------------------------------------
# Writing
