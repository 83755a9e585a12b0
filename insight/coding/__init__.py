"""Coding: humans code passages (ranges of a document's text), recode, remove and annotate them and
review suggestions; auto-coders write suggestions on segments.

Every coding records coder, method, codebook version, score, status and time; every change is kept
in ``coding_history`` (who, what, when) and the last one can be undone. Auto-coding never changes
a human coding: a re-run replaces only that auto-coder's open suggestions, and keeps the ones a
human has already accepted or rejected.

- :mod:`insight.coding.human`: coding, uncoding, accepting, rejecting, relabelling, history, undo
- :mod:`insight.coding.units`: the units auto-coders score, read from a study
- :mod:`insight.coding.auto`: running the auto-coders and writing their suggestions
- :mod:`insight.coding.memos`: memos
"""

from insight.coding.auto import review_queue, run_autocoders
from insight.coding.human import (accept, check_passage, code_passage, code_segment, coding_codebook, history, recode,
                                  reject, relabel, remove_coding, set_memo, uncode_segment, undo)
from insight.coding.memos import MEMO_TARGETS, add_memo, memos
from insight.statuses import AUTO

__all__ = ["AUTO", "MEMO_TARGETS", "accept", "add_memo", "check_passage", "code_passage", "code_segment",
           "coding_codebook", "history", "memos", "recode", "reject", "relabel", "remove_coding", "review_queue",
           "run_autocoders", "set_memo", "uncode_segment", "undo"]
