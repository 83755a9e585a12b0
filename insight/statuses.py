"""The statuses of a coding and the name prefix that marks an auto-coder, named once.

The bottom of the layering beside :mod:`insight.errors`: it imports nothing. The ``codings`` table's
``CHECK`` constraint (``insight/store.py``) lists the same three statuses.
"""

SUGGESTED = "suggested"  # an auto-coder's open suggestion
ACCEPTED = "accepted"  # a human's coding, or a suggestion a human accepted
REJECTED = "rejected"  # a suggestion a human rejected
STATUSES = (SUGGESTED, ACCEPTED, REJECTED)

AUTO = "auto:"  # auto-coders are coders named auto:<method>; humans may not take such names


def auto_coder(method: str) -> str:
    """The coder name an auto-coding method writes as: ``auto:rules``."""
    return AUTO + method
