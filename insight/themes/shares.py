"""Honest percentages: each share with its base (the n it is a share of), a flag on groups too
small to say much, and a 95% Wilson score interval where a share moves over time.

A share of a group of three people swings by a third when one person changes their mind; the
reader needs the base to know. So every percentage the app and the charts show comes with its n
(:func:`pct_n`: ``"42% (n=12)"``), groups with fewer than :data:`MIN_BASE` people (or, for groups
of segments without people, segments) are flagged ``small`` and left out of charts unless asked
for, with a note that says so; lines over time carry the 95% Wilson score interval.

>>> pct_n(5, 12)
'42% (n=12)'
>>> [round(v, 3) for v in wilson_interval([5], [10])[0]]
[0.237]
"""

from __future__ import annotations

from statistics import NormalDist

import numpy as np

MIN_BASE = 5
CONFIDENCE = 0.95


def pct_n(count, base, *, digits: int = 0) -> str:
    """``count`` of ``base`` as ``"42% (n=12)"`` (``"– (n=0)"`` when the base is empty)."""
    base = int(base)
    if base <= 0:
        return "– (n=0)"
    return f"{100.0 * float(count) / base:.{digits}f}% (n={base:,})"


def wilson_interval(counts, bases, confidence: float = CONFIDENCE) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper bounds (0-1) of the Wilson score interval of ``counts`` out of ``bases``
    (NaN where a base is 0).

    The closed form, vectorised: scipy's ``binomtest(k, n).proportion_ci(method="wilson")`` gives
    the same figures (``tests/test_percentages.py`` checks it) but costs seconds to import and
    milliseconds per interval, too slow for a page that draws hundreds of them.
    """
    k, n = np.asarray(counts, dtype=float), np.asarray(bases, dtype=float)
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = k / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z / (1 + z * z / n) * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
        low, high = np.clip(centre - half, 0.0, 1.0), np.clip(centre + half, 0.0, 1.0)
    low, high = np.where(k <= 0, 0.0, low), np.where(k >= n, 1.0, high)  # exact at the ends
    empty = n <= 0
    return np.where(empty, np.nan, low), np.where(empty, np.nan, high)


def is_small(segments, people=None, minimum: int = MIN_BASE) -> np.ndarray:
    """Which groups are too small to compare: fewer than ``minimum`` people, or, for a group
    without people (field notes, say), fewer than ``minimum`` segments."""
    segments = np.asarray(segments, dtype=float)
    if people is None:
        return segments < minimum
    people = np.asarray(people, dtype=float)
    return np.where(people > 0, people < minimum, segments < minimum)
