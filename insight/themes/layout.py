"""Where things go on a theme map: colours, axis ranges and label positions (no plotly, no database).

- :func:`theme_colours`: a distinct colour for each top-level theme (colorcet's Glasbey palette,
  which starts with the ten Tableau colours) and shades of that colour for its sub-themes;
- :func:`robust_range`: an axis range from the 1st to the 99th percentile with a margin, so one
  far-off point (a lone greeting, a transcript header) cannot squeeze the rest into a corner;
- :func:`place_labels`: label boxes that do not overlap, placed greedily, largest theme first, in
  data units: a label that finds no free place near its theme is left off (it stays in the hover
  and the legend).

Label widths are estimated per character at no less than DejaVu Sans Bold's advance (the widest
common sans-serif bold), so that boxes placed here do not overlap when a browser or kaleido draws
them with whichever sans-serif font the machine has.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass

import numpy as np

LABEL_FONT_PX = 11
LABEL_PAD_PX = 3
LINE_HEIGHT = 1.35
MAX_LABEL_CHARS = 34
_WIDE = set("mwMW@%&#+<=>^~…")
_NARROW = set("iljtfr.,:;'!|· ()[]")


# -- colours --------------------------------------------------------------------------------------


def _distinct_colours() -> list[str]:
    """Glasbey colours (Tableau 10 first), without greys and very light or dark ones: grey is
    for unassigned segments, and light colours vanish on white."""
    import colorcet

    out = []
    for hex_colour in colorcet.palette["glasbey_category10"]:
        h, lightness, s = colorsys.rgb_to_hls(*_rgb(hex_colour))
        if s >= 0.3 and 0.2 <= lightness <= 0.75:
            out.append(hex_colour)
    return out


def _rgb(hex_colour: str) -> tuple[float, float, float]:
    value = hex_colour.lstrip("#")
    return tuple(int(value[i:i + 2], 16) / 255 for i in (0, 2, 4))


def _hex(rgb) -> str:
    return "#" + "".join(f"{round(min(1.0, max(0.0, c)) * 255):02x}" for c in rgb)


def shades(colour: str, n: int) -> list[str]:
    """``n`` shades of one colour keeping its hue: the colour itself first (the largest sub-theme),
    then lighter and darker by turns; the sub-themes of a theme."""
    h, lightness, s = colorsys.rgb_to_hls(*_rgb(colour))
    out = [colour]
    for i in range(1, n):
        step = 0.13 * ((i + 1) // 2) * (1 if i % 2 else -1)
        level = lightness + step
        if not 0.18 <= level <= 0.82:  # out of room on one side: go further on the other
            level = lightness - step
        out.append(_hex(colorsys.hls_to_rgb(h, float(min(0.82, max(0.18, level))), s)))
    return out


def top_level(themes: dict[int, int | None]) -> dict[int, int]:
    """Each theme's top-level ancestor, following ``parent_id`` (a theme without one is its own)."""
    out = {}
    for theme in themes:
        seen, node = {theme}, theme
        while themes.get(node) is not None and themes[node] in themes and themes[node] not in seen:
            node = themes[node]
            seen.add(node)
        out[theme] = node
    return out


def theme_colours(sizes: dict[int, int], parents: dict[int, int | None] | None = None) -> dict[int, str]:
    """A colour per theme drawn on the map (``sizes``: segments per theme, largest gets the first
    colour). With ``parents`` (theme -> parent theme or ``None``), themes under one top-level theme
    share its colour in shades; else every theme is top-level and gets its own colour."""
    parents = parents or {}
    roots = top_level({t: parents.get(t) for t in set(sizes) | set(parents)})
    families: dict[int, list[int]] = {}
    for theme in sorted(sizes, key=lambda t: (-sizes[t], t)):
        families.setdefault(roots[theme], []).append(theme)
    order = sorted(families, key=lambda r: (-sum(sizes[t] for t in families[r]), r))
    palette = _distinct_colours()
    colours = {}
    for rank, root in enumerate(order):
        members = families[root]
        for theme, colour in zip(members, shades(palette[rank % len(palette)], len(members))):
            colours[theme] = colour
    return colours


# -- axes -----------------------------------------------------------------------------------------


def robust_range(values, *, low: float = 0.01, high: float = 0.99, margin: float = 0.08) -> tuple[float, float]:
    """``[q_low - margin * span, q_high + margin * span]`` of ``values`` (span: the central part)."""
    data = np.asarray(values, dtype=float)
    data = data[np.isfinite(data)]
    if not len(data):
        return (0.0, 1.0)
    lo, hi = float(np.quantile(data, low)), float(np.quantile(data, high))
    span = (hi - lo) or max(abs(hi), 1.0)
    return (lo - margin * span, hi + margin * span)


# -- labels ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Label:
    """A placed label: its theme, text, centre (data units), box and whether it left its theme's centre."""

    key: int
    text: str
    x: float
    y: float
    box: tuple[float, float, float, float]
    moved: bool


def short_label(text: str, limit: int = MAX_LABEL_CHARS) -> str:
    """A label cut at a word boundary to ``limit`` characters (the full one is in the hover)."""
    text = " ".join(str(text).split())
    if len(text) <= limit:
        return text
    cut = text[:limit - 1].rsplit(" ", 1)[0].rstrip(" ·,;:")
    return cut + "…"


def text_width_px(text: str, font_px: float = LABEL_FONT_PX) -> float:
    """An upper bound of a bold sans-serif text's width in pixels: per character, at least the
    advance of DejaVu Sans Bold (the widest common sans-serif bold; Arial and Liberation Sans Bold
    are narrower), by class: narrow (``i l t f r`` space, punctuation), other lower case, upper
    case and digits, and the widest (``m w M W``)."""
    width = 0.0
    for char in text:
        if char in _WIDE:
            width += 1.12
        elif char in _NARROW:
            width += 0.5
        elif char.isupper():
            width += 0.88
        elif char.isdigit():
            width += 0.7
        else:
            width += 0.72
    return width * font_px


def label_size_px(text: str, font_px: float = LABEL_FONT_PX, pad_px: float = LABEL_PAD_PX) -> tuple[float, float]:
    """Width and height in pixels of a label's box (text, padding and a pixel of border)."""
    return text_width_px(text, font_px) + 2 * pad_px + 2, font_px * LINE_HEIGHT + 2 * pad_px + 2


def _offsets():
    yield 0.0, 0.0
    for ring in (0.6, 1.2, 1.9, 2.7, 3.6):
        for dx, dy in ((0, 1), (0, -1), (1, 0), (-1, 0), (1, 1), (-1, 1), (1, -1), (-1, -1)):
            yield dx * ring * 0.6, dy * ring


def place_labels(items, x_range, y_range, plot_px: tuple[float, float], *, font_px: float = LABEL_FONT_PX,
                 gap_px: float = 2.0) -> list[Label]:
    """Labels for ``items`` (``(key, text, x, y)``, most important first) that do not overlap.

    Each label tries its theme's centre, then places around it in widening rings (offsets in
    label widths and heights); the first place inside the axes that meets no label placed before
    wins. A label with no such place is left out of the result. ``plot_px`` is the plotting
    area's width and height in pixels: a box's size in data units follows from it.
    """
    (x0, x1), (y0, y1) = x_range, y_range
    per_x, per_y = (x1 - x0) / plot_px[0], (y1 - y0) / plot_px[1]
    placed: list[Label] = []
    for key, text, cx, cy in items:
        w_px, h_px = label_size_px(text, font_px)
        half_w, half_h = (w_px + gap_px) / 2 * per_x, (h_px + gap_px) / 2 * per_y
        for dx, dy in _offsets():
            x, y = cx + dx * 2 * half_w, cy + dy * 2 * half_h
            box = (x - half_w, y - half_h, x + half_w, y + half_h)
            if box[0] < x0 or box[2] > x1 or box[1] < y0 or box[3] > y1:
                continue
            if not any(overlaps(box, other.box) for other in placed):
                placed.append(Label(key, text, x, y, box, moved=(dx, dy) != (0.0, 0.0)))
                break
    return placed


def overlaps(a, b) -> bool:
    """Whether two boxes ``(x0, y0, x1, y1)`` share any area."""
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]
