"""Code passages by selecting text: a Streamlit custom component (components API v1, plain JS).

:func:`passage_view` shows a document as speaker turns with its codings highlighted. Selecting text
opens a searchable codebook beside the selection and one click (or Enter) codes it; clicking a coded
passage lists the codings there with Remove, Change code and Memo (Accept and Reject for
suggestions). Each action comes back as one event dict; the caller makes the change and re-renders.

Every offset, in and out, is a Python code-point offset into ``text`` (0-based, end exclusive);
the frontend (``frontend/main.js``) converts to and from the browser's UTF-16 offsets itself.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path

from streamlit.components.v1 import declare_component

CODE_TEXT_FIELDS = ("definition", "include", "exclude", "example")


@functools.cache
def _component():
    """The component, declared on first use: inside a script run, where Streamlit registers it."""
    return declare_component("insight_passages", path=str(Path(__file__).parent / "frontend"))


def passage_view(text: str, *, turns: list[dict], passages: list[dict], codes: list[dict], recent: list[str] = (),
                 coder: str = "", height: int = 600, key: str | None = None) -> dict | None:
    """Draw ``text`` for coding and return the last event the user triggered (``None`` before any).

    ``turns`` are the blocks to show (``start``, ``end``, ``speaker``, ``label``); text outside
    them is not shown, and with no turns the whole text is one block. ``passages`` are the codings
    (``id``, ``start``, ``end``, ``code``, ``coder``, ``status`` "accepted" or "suggested",
    ``score``, ``reason``, ``memo``, ``created_at``, ``colour``). ``codes`` is the codebook
    (``name``, ``definition``, ``include``, ``exclude``, ``example``, ``colour``, ``parent``;
    ``examples`` and ``keywords`` lists are read too); ``recent`` names codes to list first.

    Events carry a unique ``nonce``, because Streamlit returns the last one again on every rerun:
    ``{"action": "code", "start", "end", "code", "text"}``, ``{"action": "remove", "id"}``,
    ``{"action": "recode", "id", "code"}``, ``{"action": "memo", "id", "memo"}``,
    ``{"action": "accept", "id"}`` and ``{"action": "reject", "id"}``.

    Without a ``key`` the component's identity comes from the text, so new passages re-render the
    same frame (scroll position and all) instead of starting a fresh one.
    """
    code_list = normalise_codes(codes)
    names = {c["name"] for c in code_list}
    return _component()(
        text=text,
        turns=normalise_turns(turns, len(text)),
        passages=normalise_passages(passages, len(text), {c["name"]: c["colour"] for c in code_list}),
        codes=code_list,
        recent=list(dict.fromkeys(r for r in recent if r in names)),
        coder=coder or "",
        height=int(height),
        key=key or default_key(text),
        default=None,
    )


def default_key(text: str) -> str:
    """A widget key that stays the same while the document does (see :func:`passage_view`)."""
    digest = hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return f"insight_passages-{digest}"


def normalise_turns(turns: Iterable[Mapping], length: int) -> list[dict]:
    """Turns as JSON-ready dicts in text order; an overlap is cut off the later turn.

    Raises ``ValueError`` for a range outside the text.
    """
    out = []
    for turn in sorted((_span(t, length, "turn") for t in turns), key=lambda t: (t["start"], t["end"])):
        if out and turn["start"] < out[-1]["end"]:
            turn["start"] = out[-1]["end"]
        if turn["start"] < turn["end"]:
            out.append(turn)
    return out


def normalise_passages(passages: Iterable[Mapping], length: int,
                       colours: Mapping[str, str] | None = None) -> list[dict]:
    """Passages as JSON-ready dicts sorted by start (longest first): numpy numbers become Python
    ones, NaN and pandas' missing values ``None``, timestamps ISO text; a passage without a colour
    takes its code's from ``colours``.

    Raises ``ValueError`` for a range outside the text or an empty one.
    """
    colours = colours or {}
    out = []
    for p in passages:
        span = _span(p, length, "passage")
        if span["start"] == span["end"]:
            raise ValueError(f"passage {p.get('id')!r} is empty ({span['start']}..{span['end']})")
        status = _text(p.get("status")) or "accepted"
        if status not in ("accepted", "suggested"):
            raise ValueError(f"passage {p.get('id')!r} has status {status!r}; expected 'accepted' or 'suggested'")
        score = _missing_to_none(p.get("score"))
        created = _missing_to_none(p.get("created_at"))
        out.append({
            "id": int(p["id"]), "start": span["start"], "end": span["end"], "code": str(p["code"]),
            "coder": _text(p.get("coder")) or "", "status": status,
            "score": None if score is None else float(score),
            "reason": _text(p.get("reason")), "memo": _text(p.get("memo")),
            "created_at": created.isoformat(sep=" ") if isinstance(created, datetime) else _text(created),
            "colour": _text(p.get("colour")) or colours.get(str(p["code"]), "#888888"),
        })
    return sorted(out, key=lambda p: (p["start"], -p["end"], p["id"]))


def normalise_codes(codes: Iterable[Mapping]) -> list[dict]:
    """The codebook in tree order (each code after its parent, siblings as given) with its ``depth``.

    A parent that is not in the codebook, or a cycle of parents, puts the code at the top level.
    """
    items = []
    for c in codes:
        item = {"name": str(c["name"]), "parent": _text(c.get("parent")), "colour": _text(c.get("colour")) or "#888888"}
        for field in CODE_TEXT_FIELDS:
            item[field] = _text(c.get(field))
        examples, keywords = _missing_to_none(c.get("examples")), _missing_to_none(c.get("keywords"))
        if not item["example"] and examples is not None and len(examples):
            item["example"] = _text(examples[0])
        item["keywords"] = ([] if keywords is None else [keywords] if isinstance(keywords, str)
                            else [str(k) for k in keywords])
        items.append(item)

    by_name = {c["name"]: c for c in items}
    children: dict[str | None, list[dict]] = {}
    for c in items:
        parent = c["parent"] if c["parent"] in by_name and c["parent"] != c["name"] else None
        children.setdefault(parent, []).append(c)

    out: list[dict] = []
    placed: set[str] = set()

    def place(code: dict, depth: int) -> None:
        if code["name"] in placed:
            return
        placed.add(code["name"])
        out.append(dict(code, depth=depth))
        for child in children.get(code["name"], ()):
            place(child, depth + 1)

    for code in children.get(None, ()):
        place(code, 0)
    for code in items:  # codes caught in a cycle of parents never hang below a root
        if code["name"] not in placed:
            place(code, 0)
    return out


def _span(item: Mapping, length: int, what: str) -> dict:
    start, end = int(item["start"]), int(item["end"])
    if not 0 <= start <= end <= length:
        raise ValueError(f"{what} range {start}..{end} is outside the text (0..{length})")
    if what == "turn":
        return {"start": start, "end": end, "speaker": _text(item.get("speaker")), "label": _text(item.get("label"))}
    return {"start": start, "end": end}


def _missing_to_none(value):
    """``None`` for None, NaN, NaT and pandas.NA; the value otherwise."""
    if value is None:
        return None
    try:
        return None if value != value else value  # NaN and NaT differ from themselves
    except (TypeError, ValueError):  # pandas.NA cannot be truth-tested; an array cannot be compared as one
        return None if type(value).__name__ == "NAType" else value


def _text(value) -> str | None:
    value = _missing_to_none(value)
    return None if value is None else str(value)
