"""Insight: a local-first workbench for qualitative and ethnographic research.

>>> from insight import Workspace
>>> ws = Workspace(":memory:")

Importing ``insight`` loads neither torch, spaCy nor BERTopic; they load when a step needs them.
"""

from insight.config import __version__

__all__ = ["Workspace", "__version__"]


def __getattr__(name):
    if name == "Workspace":
        from insight.workspace import Workspace

        return Workspace
    raise AttributeError(name)
