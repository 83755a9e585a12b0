"""Text from the data made inert before the app draws it.

Streamlit renders markdown almost everywhere: ``st.markdown`` and ``st.caption``, the message boxes
(``st.info``, ``st.error`` ...), expander, tab and widget labels, help texts. A transcript line, a
file name, a code, coder or theme name, a codebook's definition or a memo can hold markdown or HTML
(``![x](http://host/x.png)`` makes every reader's browser fetch that address; ``[x](http://...)`` is
a live link; a blank line ends an HTML block and what follows is read as markdown). So every piece of
data text goes through :func:`text` before it reaches one of those calls:

- every ASCII punctuation character becomes a numeric character reference (``[`` is ``&#91;``):
  markdown reads a reference as the character itself, never as syntax, and so does HTML, so the
  same string is inert inside ``st.markdown(..., unsafe_allow_html=True)`` blocks and outside them;
- whitespace runs (newlines included) become one space, so no blank line can end an HTML block;
- the link finder of GitHub markdown (``http://``, ``www.``, ``name@host.org``) works on the decoded
  text, so a word joiner (U+2060, invisible) is put after ``http:``, ``www`` and ``@`` where they
  would start a link (``lived-experience@2`` stays as it is).

Plotly draws its own small HTML subset in labels and hover texts (``<a href>`` is a live link), so
chart text goes through :func:`plot` instead. Widgets that draw plain text (select box options,
data frames, text inputs) need neither.

>>> text("![b](http://host/x.png)")
'&#33;&#91;b&#93;&#40;http&#58;\u2060&#47;&#47;host&#47;x&#46;png&#41;'
>>> plain(text("Hi  <b>Sam</b>\\n\\nwrite to sam@example.org"))
'Hi <b>Sam</b> write to sam@example.org'
>>> plot("<a href='http://x'>Damp</a> & mould")
"&lt;a href='http://x'&gt;Damp&lt;/a&gt; &amp; mould"
"""

from __future__ import annotations

import html
import re
import string

JOINER = "\u2060"  # WORD JOINER: invisible, and breaks the link finder's patterns
_REFS = {ord(c): f"&#{ord(c)};" for c in string.punctuation}
_LINKISH = re.compile(r"(?i)(https?:(?=//)|www(?=\.)|@(?=[-\w]+\.[-\w]))")  # the link finder's three starts
_BREAK = re.compile(r"\s*[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]\s*")  # the line breaks of str.splitlines
_SPACE = re.compile(r"\s+")


def text(value, *, breaks: bool = False) -> str:
    """``value`` (any object; ``None`` is empty) as inert markdown and HTML text, on one line.
    ``breaks``: keep line breaks as ``<br>`` (only inside ``unsafe_allow_html`` markdown)."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    shown = _LINKISH.sub(lambda m: m.group(1) + JOINER, str(value)).translate(_REFS)
    if breaks:
        shown = _BREAK.sub("<br>", shown)
    return _SPACE.sub(" ", shown)


def plain(shown: str) -> str:
    """What a reader sees of :func:`text`'s output (for tests and messages compared as text)."""
    return html.unescape(shown.replace("<br>", " ")).replace(JOINER, "")


def plot(value) -> str:
    """``value`` as text for a Plotly label or hover: its tags shown as text, not drawn."""
    return html.escape("" if value is None else str(value), quote=False)
