"""The codebook model: a codebook and its codes, as plain data (no store, no file format), and the
codes found in data that a codebook lacks, with the nearest names (:func:`unknown_codes`).

:mod:`insight.codebook` reads and writes them (YAML files and the store); :mod:`insight.refi` as
REFI-QDA XML. Touches no table.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from difflib import SequenceMatcher

from insight.errors import NotFound

CODE_FIELDS = ("name", "parent", "definition", "include", "exclude", "examples", "counter_examples", "keywords",
               "colour")
TEXT_FIELDS = ("definition", "include", "exclude")
LIST_FIELDS = ("examples", "counter_examples", "keywords")
TOP_FIELDS = ("name", "title", "description", "codes")
NEAR = 0.6  # a codebook name at least this similar to an unknown code is shown as a near name
TYPO = 0.8  # ...and the nearest, at least this similar and clearly the nearest, is suggested to fold into


@dataclass
class Code:
    """One code; ``parent`` is the parent code's name (``None`` at the top level)."""

    name: str
    parent: str | None = None
    definition: str = ""
    include: str = ""
    exclude: str = ""
    examples: list[str] = field(default_factory=list)
    counter_examples: list[str] = field(default_factory=list)
    keywords: list = field(default_factory=list)
    colour: str | None = None

    def as_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass
class Codebook:
    name: str
    title: str = ""
    description: str = ""
    codes: list[Code] = field(default_factory=list)
    version: int | None = None
    author: str | None = None
    created_at: object = None

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}" if self.version else self.name

    def code(self, name: str) -> Code:
        for code in self.codes:
            if code.name == name:
                return code
        raise NotFound("code", name, [c.name for c in self.codes])

    def names(self) -> list[str]:
        return [c.name for c in self.codes]

    def children(self, name: str | None) -> list[Code]:
        return [c for c in self.codes if c.parent == name]

    def to_dict(self) -> dict:
        def nest(code: Code) -> dict:
            out = {"name": code.name}
            for key in CODE_FIELDS[2:]:
                value = getattr(code, key)
                if value not in (None, "", []):
                    out[key] = value
            kids = self.children(code.name)
            if kids:
                out["children"] = [nest(k) for k in kids]
            return out

        top = {"name": self.name}
        if self.title:
            top["title"] = self.title
        if self.description:
            top["description"] = self.description
        top["codes"] = [nest(c) for c in self.codes if c.parent is None or c.parent not in self.names()]
        return top

    def to_yaml(self) -> str:
        import yaml

        class _Dumper(yaml.SafeDumper):
            pass

        def _str(dumper, value):
            style = ">" if len(value) > 90 and "\n" not in value else ("|" if "\n" in value else None)
            return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

        _Dumper.add_representer(str, _str)
        return yaml.dump(self.to_dict(), Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)


def nearest_names(name: str, names: list[str], n: int = 3) -> list[tuple[str, float]]:
    """Up to ``n`` of ``names`` most like ``name`` (ignoring case), with their similarity (difflib's
    ratio, 0 to 1), most similar first; only those at least :data:`NEAR` alike.

    >>> nearest_names("beween", ["between", "Bins and streets", "Betting shops"])
    [('between', 0.923)]
    """
    folded = name.casefold()
    scored = [(other, round(SequenceMatcher(None, folded, other.casefold()).ratio(), 3)) for other in names]
    return sorted([s for s in scored if s[1] >= NEAR], key=lambda s: -s[1])[:n]


def unknown_codes(book: Codebook, used: dict[str, int]) -> list[dict]:
    """The codes in ``used`` (code -> codings) that ``book`` does not have, each with its codings,
    the nearest codebook names and ``suggested``: the name to fold it into when one is clearly a
    typo of it (at least :data:`TYPO` alike and nearer than any other), else ``None``; most codings
    first.

    >>> book = Codebook("b", codes=[Code("between"), Code("highlight")])
    >>> [(u["code"], u["suggested"]) for u in unknown_codes(book, {"beween": 2, "between": 5, "Parking": 1})]
    [('beween', 'between'), ('Parking', None)]
    """
    names = book.names()
    out = []
    for code, codings in sorted(used.items(), key=lambda item: (-item[1], item[0].casefold())):
        if code in names:
            continue
        near = nearest_names(code, names)
        clear = near and near[0][1] >= TYPO and (len(near) == 1 or near[0][1] > near[1][1])
        out.append({"code": code, "codings": codings, "nearest": [n for n, _ in near],
                    "similarity": [s for _, s in near], "suggested": near[0][0] if clear else None})
    return out


def merge_unknown_codes(files: list[dict]) -> list[dict]:
    """Per-file unknown codes (an ingest's ``FileResult``s as dicts: ``path``, ``checked_against``,
    ``unknown_codes``) merged by codebook and code, with the codebook and the files."""
    merged: dict[tuple[str, str], dict] = {}
    for f in files:
        for item in f.get("unknown_codes") or []:
            key = (f["checked_against"], item["code"])
            if key not in merged:
                merged[key] = {**item, "codings": 0, "codebook": f["checked_against"], "files": []}
            merged[key]["codings"] += item["codings"]
            merged[key]["files"].append(f["path"])
    return sorted(merged.values(), key=lambda u: (-u["codings"], u["code"].casefold()))


def unknown_codes_note(unknown: list[dict], study: str, *, shown: int = 8) -> list[str]:
    """The ingest report's lines about codes not in the codebook, and how to fold typos in.

    >>> unknown_codes_note([{"code": "beween", "codings": 2, "nearest": ["between"], "suggested": "between",
    ...                      "codebook": "lived-experience@2"}], "panel")[0]
    "1 code is not in codebook lived-experience@2: 'beween' (nearest: 'between')."
    """
    def named(u: dict) -> str:
        near = "nearest: " + ", ".join(map(repr, u["nearest"][:2])) if u["nearest"] else "no close name"
        return f"{u['code']!r} ({near})"

    lines = []
    for ref in dict.fromkeys(u["codebook"] for u in unknown):
        codes = [u for u in unknown if u["codebook"] == ref]
        said = ", ".join(named(u) for u in codes[:shown])
        more = f" and {len(codes) - shown} more" if len(codes) > shown else ""
        lines.append(f"{len(codes)} code{'s are' if len(codes) != 1 else ' is'} not in codebook {ref}: {said}{more}.")
    typos = [u for u in unknown if u["suggested"]]
    lines.append(f"They are kept, with their codings, in codebook {study!r} (codes that arrived with the data)."
                 + (f" Fold a typo into the code it meant: insight codebook fold {typos[0]['code']!r} "
                    f"{typos[0]['suggested']!r}; every likely typo: insight codebook fold --all." if typos else
                    " See them all: insight codebook fold."))
    return lines
