"""Markup in text, turned into the plain text a person would read: HTML in spreadsheet cells
(``&amp;``, ``&#8212;``, ``<br>``, ``<p>``, ``<i>``) and Markdown in ``.md`` notes (emphasis,
headings, links, lists).

Readers call these before they find turns, so the stored document text, which codings index, is
the plain text. Text that merely contains ``<`` or ``*`` is left alone: only tags of the HTML
elements that rich-text boxes and web exports write go (``<inaudible>`` and ``<5 minutes`` stay),
entities are decoded only when they end in ``;`` (``R&D`` and ``&notice`` stay), and a ``*``
between letters or digits (``2*3*4``, ``a*b and c*d``) is not emphasis.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from html.entities import html5

# Elements a rich-text box or web export writes; any other <word> is the text's own (<inaudible>).
_BLOCK = frozenset("p div li ul ol dl dt dd h1 h2 h3 h4 h5 h6 blockquote pre table thead tbody tfoot tr hr section "
                   "article header footer caption figure figcaption".split())
_INLINE = frozenset("a abbr b big center cite code del dfn em font i img ins kbd mark q s samp small span strike "
                    "strong sub sup td th tt u var wbr col colgroup label o:p".split())
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9]*(?::[A-Za-z]+)?)(?:\s+[^<>]*?)?\s*/?>")
_BR = re.compile(r"<br\s*/?>[ \t]*\n?", re.IGNORECASE)
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_ENTITY = re.compile(r"&(?:#\d{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
_LINE_ENDS = re.compile(r"[ \t]*\n[ \t]*")
_BLANKS = re.compile(r"\n{3,}")
_NBSP = "\xa0"


def decode_entities(text: str) -> str:
    """``&amp;``, ``&#8212;``, ``&nbsp;`` (as a plain space) and the like: HTML5's named entities
    and numeric ones, each ending in ``;``.

    >>> decode_entities("Arts &amp; crafts &#8212; R&D&nbsp;team, &notice; &bogus;")
    'Arts & crafts — R&D team, &notice; &bogus;'
    """
    if "&" not in text:
        return text
    return _ENTITY.sub(_entity, text)


def _entity(match: re.Match) -> str:
    name = match.group(0)[1:]
    if name.startswith("#"):
        value = html.unescape(match.group(0))
    else:
        value = html5.get(name, match.group(0))  # html.unescape would read "&notice;" as "¬ice;"
    return value.replace(_NBSP, " ")


def _tag(match: re.Match) -> str:
    closing, name = match.group(1), match.group(2).lower()
    if name not in _BLOCK and name not in _INLINE:
        return match.group(0)  # not HTML: <inaudible>, <name redacted>
    if name == "li":
        return "" if closing else "\n- "
    if name == "tr":
        return "\n"
    if name in ("td", "th"):
        return " " if closing else ""
    if name in _BLOCK:
        return "\n\n"
    return ""


def html_to_text(text: str) -> str:
    """A cell's HTML as plain text: ``<br>`` a line break, paragraphs and other blocks a blank
    line, list items ``- `` lines, inline tags gone, entities decoded. Text without tags or
    entities comes back unchanged.

    >>> html_to_text("<p>It&#39;s <i>always</i> the bins.</p><p>Fix them<br/>please &amp; soon</p>")
    "It's always the bins.\\n\\nFix them\\nplease & soon"
    >>> html_to_text("Waited <5 minutes <inaudible> then 5 * 3 = 15")
    'Waited <5 minutes <inaudible> then 5 * 3 = 15'
    """
    if "<" not in text and "&" not in text:
        return text
    return decode_entities(_tags(text, tidy=True))


def _tags(text: str, tidy: bool) -> str:
    """``text`` without HTML tags; with ``tidy``, the blank space they leave trimmed as a browser
    would (not for a fragment inside a line)."""
    stripped = _TAG.sub(_tag, _BR.sub("\n", _COMMENT.sub("", text) if "<!--" in text else text))
    if tidy and stripped != text:
        stripped = _BLANKS.sub("\n\n", _LINE_ENDS.sub("\n", stripped)).strip()
    return stripped


# ---------------------------------------------------------------------------------------------
# Markdown


@dataclass
class PlainText:
    """Markdown rendered as plain text: the text, its headings as spans into it, and the first
    top-level heading (the document's title, if it has one)."""

    text: str
    headings: set[tuple[int, int]] = field(default_factory=set)
    title: str | None = None


def markdown_to_text(source: str) -> PlainText:
    """Render Markdown to the plain text a reader of the rendered page sees.

    Emphasis marks, heading ``#``, link targets and block quote ``>`` go; list items keep a
    ``- `` or ``1. `` marker; line breaks inside a paragraph stay, so that speaker labels still open
    lines; blocks are separated by a blank line; code is kept verbatim. Reference definitions are
    not read (a transcript's ``[Guest 2]: Yes.`` is a turn, not a link target).

    >>> out = markdown_to_text("# Visit\\n\\n**Interviewer:** So *why* [the hub](http://x.org)?\\nA: 2*3*4 &amp; more")
    >>> out.text, out.title, sorted(out.headings)
    ('Visit\\n\\nInterviewer: So why the hub?\\nA: 2*3*4 & more\\n', 'Visit', [(0, 5)])
    """
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("commonmark").disable("reference").parse(source)
    out = _Builder()
    lists: list[tuple[bool, bool]] = []  # per open list: (ordered, tight)
    heading_start = 0
    for index, token in enumerate(tokens):
        kind = token.type
        tight = bool(lists) and lists[-1][1]
        if kind == "heading_open":
            out.block()
            heading_start = out.length
        elif kind == "heading_close":
            span = (heading_start, out.length)
            out.headings.add(span)
            if token.tag == "h1" and out.title is None:
                out.title = out.text()[span[0]:span[1]].strip() or None
            out.block()
        elif kind in ("bullet_list_open", "ordered_list_open"):
            out.block(tight)
            lists.append((kind == "ordered_list_open", _tight(tokens, index)))
        elif kind in ("bullet_list_close", "ordered_list_close"):
            lists.pop()
            out.block(bool(lists) and lists[-1][1])
        elif kind == "list_item_open":
            out.block(tight)
            out.add("  " * (len(lists) - 1) + (f"{token.info}{token.markup} " if lists[-1][0] else "- "))
        elif kind == "inline":
            out.add(_inline(token.children or []))
        elif kind == "paragraph_close":
            out.block(tight)
        elif kind in ("code_block", "fence", "html_block"):
            out.block()
            body = token.content.strip("\n")
            out.add(html_to_text(body.strip()) if kind == "html_block" else body)
            out.block()
        elif kind == "hr":
            out.block()
    text = out.text().rstrip()
    return PlainText(text + "\n" if text else "", out.headings, out.title)


def _tight(tokens, index: int) -> bool:
    """Whether the list opening at ``tokens[index]`` is tight (markdown-it hides its paragraphs)."""
    level = tokens[index].level
    for token in tokens[index + 1:]:
        if token.type == "paragraph_open" and token.level == level + 2:
            return token.hidden
        if token.level == level and token.type.endswith("_close"):
            break
    return True


class _Builder:
    """The plain text being written, and how many line breaks it ends with."""

    def __init__(self):
        self.parts: list[str] = []
        self.length = 0
        self.trailing = 0
        self.headings: set[tuple[int, int]] = set()
        self.title: str | None = None

    def add(self, piece: str) -> None:
        if not piece:
            return
        self.parts.append(piece)
        self.length += len(piece)
        body = piece.rstrip("\n")
        self.trailing = self.trailing + len(piece) if not body else len(piece) - len(body)

    def text(self) -> str:
        return "".join(self.parts)

    def block(self, tight: bool = False) -> None:
        """End the current block: a line break inside a tight list, else a blank line."""
        want = 1 if tight else 2
        if self.length and self.trailing < want:
            self.add("\n" * (want - self.trailing))


def _inline(children) -> str:
    """One paragraph's inline tokens as text (see :func:`markdown_to_text`)."""
    literal = _literal_stars(children)
    pieces = []
    for i, token in enumerate(children):
        kind = token.type
        if kind in ("text", "text_special", "code_inline"):
            pieces.append(token.content.replace(_NBSP, " ") if kind != "code_inline" else token.content)
        elif kind in ("softbreak", "hardbreak"):
            pieces.append("\n")
        elif kind in ("em_open", "em_close", "strong_open", "strong_close"):
            pieces.append(token.markup if i in literal else "")
        elif kind == "image":
            pieces.append(_inline(token.children or []))
        elif kind == "html_inline":  # markdown-it has decoded entities already
            pieces.append(_tags(token.content, tidy=False))
    return "".join(pieces)


def _literal_stars(children) -> set[int]:
    """Indices of ``*`` emphasis marks that sit between letters or digits (``2*3*4``): arithmetic
    or a footnote star, not emphasis, so they are kept as written."""
    literal: set[int] = set()
    stack: list[int] = []

    def char(index: int, last: bool) -> str:
        if 0 <= index < len(children) and children[index].type in ("text", "text_special") and children[index].content:
            return children[index].content[-1 if last else 0]
        return ""

    for i, token in enumerate(children):
        if token.type in ("em_open", "strong_open"):
            stack.append(i)
        elif token.type in ("em_close", "strong_close") and stack:
            j = stack.pop()
            if token.markup.startswith("*") and (char(j - 1, True).isalnum() or char(i + 1, False).isalnum()):
                literal |= {i, j}
    return literal
