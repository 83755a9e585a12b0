"""The spaCy pipeline: a trained English pipeline when one is installed, else a blank English
pipeline with a rule-based sentencizer and lookup lemmas from ``spacy-lookups-data``.

Nothing is downloaded. ``INSIGHT_SPACY_MODEL`` names a pipeline to prefer; ``INSIGHT_SPACY_MODEL=blank``
forces the rule path (the tests run both).
"""

from __future__ import annotations

from functools import lru_cache

from insight.config import env

TRAINED = ("en_core_web_sm", "en_core_web_md", "en_core_web_lg", "en_core_web_trf")


def get_nlp(preferred: str | None = None):
    """The shared spaCy ``Language``; ``nlp.meta['insight_path']`` says which path was taken.

    >>> nlp = get_nlp("blank")
    >>> [s.text for s in nlp("It rained. We went in.").sents]
    ['It rained.', 'We went in.']
    """
    return _load_nlp(preferred or env("SPACY_MODEL"))


@lru_cache(maxsize=4)
def _load_nlp(choice: str | None):
    import spacy

    candidates = [] if choice == "blank" else ([choice] if choice else list(TRAINED))
    for name in candidates:
        try:
            nlp = spacy.load(name, exclude=["ner"] if name != choice else [])
        except OSError:
            continue
        nlp.meta["insight_path"] = f"trained:{name}"
        return nlp
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    try:
        nlp.add_pipe("lemmatizer", config={"mode": "lookup"})
        nlp.initialize()
    except Exception:  # spacy-lookups-data missing: lemmas fall back to lower-case forms
        if "lemmatizer" in nlp.pipe_names:
            nlp.remove_pipe("lemmatizer")
    nlp.meta["insight_path"] = "blank:en+sentencizer+lookup-lemmatizer"
    return nlp


get_nlp.cache_clear = _load_nlp.cache_clear  # type: ignore[attr-defined]
