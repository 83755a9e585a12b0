"""Theme names: phrases from the theme's own text, never a person's name, a filler or small talk;
small talk set aside as theme 0; a readable top level. Synthetic vectors (no model loads)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from pipelines.themes import (
    SMALL_TALK_ID, SMALL_TALK_LABEL, fit_themes, name_themes, preprocess, proper_nouns, top_level_count,
)

# Four topics as people say them in interviews: names of people, fillers and greetings mixed in.
TOPICS = {
    "damp": ["Yeah, um, Steve came round about the damp and mould in the back bedroom, you know.",
             "The mould on the ceiling, Steve said the landlord would sort the damp. He never did.",
             "Honestly the damp and mould is making the kids poorly, Kev from the council saw it.",
             "Um, I mean, the landlord just paints over the mould, and the damp comes back."],
    "bus": ["The 42 bus route was cut, yeah, so I walk to the hospital now. Thanks Steve.",
            "Erm, the bus route changed again and the timetable at the stop is wrong.",
            "You know, the bus fares went up and the route doesn't reach the estate any more.",
            "Kev drives me because the bus route stops at six, like, it's hopeless."],
    "bins": ["Bin collection was missed three weeks running, um, recycling everywhere.",
             "Yeah, the bin collection never comes on time and the recycling blows down the street.",
             "I rang about the missed bin collection, you know, and the recycling bags too. Cheers.",
             "The bin collection lorry skipped our road again, recycling piled up, like."],
    "library": ["The library opening hours got cut, um, the library was the only warm place.",
                "Yeah, library opening hours are shorter now, no computers after four.",
                "My kids loved storytime, you know, but the library opening hours changed.",
                "The library is shut on Mondays now, opening hours are a joke, sorry."],
}
SMALL_TALK = ["Hello, thanks for having me.", "Yeah, fine, thanks.", "Sorry, bye!", "Um, yes.", "Cheers, bye then.",
              "Thank you so much for your time.", "Okay, lovely.", "No problem at all, thanks."]
BANNED = {"steve", "kev", "yeah", "um", "erm", "know", "mean", "like", "hello", "thanks", "cheers", "sorry", "bye",
          "honestly", "just", "okay"}


def _corpus(rng, per_topic: int = 30, dim: int = 24):
    docs, topic_of, vectors = [], [], []
    centres = {t: rng.normal(size=dim) * 3 for t in [*TOPICS, "small"]}
    for topic, texts in [*TOPICS.items(), ("small", SMALL_TALK)]:
        for i in range(per_topic if topic != "small" else 16):
            docs.append(texts[i % len(texts)] + ("" if i < len(texts) else f" ({i})"))
            topic_of.append(topic)
            vectors.append(centres[topic] + rng.normal(size=dim) * 0.5)
    return docs, np.array(topic_of), np.asarray(vectors, dtype=np.float32)


@pytest.fixture(scope="module")
def fitted():
    docs, topics, vectors = _corpus(np.random.default_rng(3))
    return docs, topics, fit_themes(docs, vectors, min_size=8, layout=False)


def _words(label: str) -> set[str]:
    return set(re.findall(r"[a-z']+", label.lower()))


def test_names_hold_no_person_filler_or_greeting(fitted):
    docs, topics, fit = fitted
    for theme in fit.themes:
        if theme["kind"] == "small_talk":
            continue
        assert not _words(theme["label"]) & BANNED, theme["label"]
        for phrase in theme["phrases"]:
            assert not _words(phrase) & BANNED, phrase


def test_a_name_is_a_phrase_of_the_themes_own_text(fitted):
    docs, topics, fit = fitted
    for theme in (t for t in fit.themes if t["kind"] == "theme"):
        members = [preprocess(docs[i]) for i in np.where(fit.labels == theme["theme_id"])[0]]
        for phrase in theme["label"].lower().split(" and "):
            assert any(re.search(rf"\b{re.escape(phrase)}\b", text) for text in members), (phrase, theme["label"])


def test_each_topic_is_named_by_its_own_words(fitted):
    docs, topics, fit = fitted
    expected = {"damp": {"damp", "mould", "landlord"}, "bus": {"bus", "route", "timetable", "fares"},
                "bins": {"bin", "collection", "recycling"}, "library": {"library", "opening", "hours"}}
    for theme in (t for t in fit.themes if t["kind"] == "theme"):
        members = topics[fit.labels == theme["theme_id"]]
        dominant = max(set(members), key=list(members).count)
        assert _words(theme["label"]) & expected[dominant], (dominant, theme["label"])


def test_the_quote_is_a_member_of_its_theme(fitted):
    docs, topics, fit = fitted
    for theme in (t for t in fit.themes if not t["group"]):
        assert theme["quote_idx"], theme["label"]
        assert all(fit.labels[i] == theme["theme_id"] for i in theme["quote_idx"])


def test_small_talk_is_set_aside_as_theme_zero(fitted):
    docs, topics, fit = fitted
    quiet = [t for t in fit.themes if t["kind"] == "small_talk"]
    assert len(quiet) == 1 and quiet[0]["theme_id"] == SMALL_TALK_ID and quiet[0]["label"] == SMALL_TALK_LABEL
    assert set(topics[fit.labels == SMALL_TALK_ID]) == {"small"}
    assert (fit.labels[topics == "small"] == SMALL_TALK_ID).all()
    assert fit.summary["small_talk"] == int((topics == "small").sum())
    assert fit.summary["unassigned"] <= 0.05 * len(docs)


def test_people_found_by_their_capitals_and_the_name_lists():
    docs = ["I told Shaz about it.", "Then Shaz rang the council.", "My neighbour Margaret helps."]
    found = proper_nouns(docs)
    assert {"shaz", "margaret"} <= found
    assert not {"council", "neighbour", "rang", "then"} & found


def test_name_themes_names_only_from_members():
    docs = ["council tax bill went up", "the council tax letter", "bus route cut", "the bus route"] * 3
    X = np.eye(4, dtype=np.float32)[[0, 0, 1, 1] * 3]
    labels = np.array([1, 1, 2, 2] * 3)
    names = name_themes(docs, X, labels, [1, 2])
    assert names[1].label.startswith("Council tax") and "bus" not in names[1].label.lower()
    assert names[2].label.startswith("Bus route") and "council" not in names[2].label.lower()


@pytest.mark.parametrize("k, expected", [(3, 3), (15, 15), (16, 8), (30, 11), (91, 15), (400, 15)])
def test_top_level_is_8_to_15_themes(k, expected):
    assert top_level_count(k) == expected


def test_many_themes_are_gathered_under_a_readable_top_level():
    rng = np.random.default_rng(11)
    words = [f"topic{chr(97 + i)}word{chr(97 + j)}" for i in range(26) for j in range(3)]
    docs, vectors = [], []
    for i in range(26):
        centre = rng.normal(size=32) * 4
        for j in range(12):
            docs.append(f"{words[3 * i]} {words[3 * i + 1]} and {words[3 * i + 2]} number {j}")
            vectors.append(centre + rng.normal(size=32) * 0.3)
    fit = fit_themes(docs, np.asarray(vectors, dtype=np.float32), min_size=6, layout=False)
    leaves = [t for t in fit.themes if t["kind"] == "theme"]
    top = [t for t in fit.themes if t["parent_id"] is None and t["kind"] != "small_talk"]
    assert len(leaves) > 15
    assert 8 <= len(top) <= 15
    for group in (t for t in fit.themes if t["group"]):
        children = [t for t in leaves if t["parent_id"] == group["theme_id"]]
        assert len(children) >= 2 and group["size"] == sum(c["size"] for c in children)


# A theme where the most distinctive words are verbs and feelings ("reported", "rang", "love"): the
# name must still be its topic, as a researcher would write it.
EVENTS = ["I reported the leak and rang them twice, the leak came back.", "Reported it, rang again, the leak is still there.",
          "We love the flat but the leak, I reported it in March.", "I rang and reported the leak, nobody came.",
          "I love it here, honestly, but the leak. Reported it again."]
PARK = ["The park is lovely, the playground is quiet.", "The park is quiet, playground swings are broken.",
        "Our park playground, it's very quiet in the week.", "Took the kids to the park, the playground is quiet."]


def _two_themes(first: list[str], second: list[str], copies: int = 3):
    docs = (first + second) * copies
    labels = np.array(([1] * len(first) + [2] * len(second)) * copies)
    X = np.eye(2, dtype=np.float32)[labels - 1]
    return docs, X, labels


def test_a_name_is_a_topic_not_an_event():
    docs, X, labels = _two_themes(EVENTS, PARK)
    names = name_themes(docs, X, labels, [1, 2])
    words = _words(names[1].label)
    assert "leak" in words, names[1]  # "Leak", or "Reported the leak": an event with its object reads well
    assert not words & {"rang", "came", "love"} and " and " not in names[1].label, names[1]
    assert {"park", "playground"} & _words(names[2].label), names[2]


def test_without_the_word_lists_names_come_from_the_words_alone(monkeypatch):
    """Without spacy-lookups-data every word counts as a noun: a bare verb may join the name again
    ("... and rang"), so the lexicon is what keeps it out (this test fails if it is not consulted)."""
    from pipelines.themes import wordclass

    docs, X, labels = _two_themes(EVENTS, PARK)
    monkeypatch.setattr(wordclass, "lexicon", lambda: {"noun": frozenset(), "verb": frozenset(),
                                                       "adj": frozenset(), "lemma": {}})
    names = name_themes(docs, X, labels, [1, 2])
    assert names[1].label.split(" and ")[-1] in {"reported", "rang", "came", "love"}, names[1]


def test_word_classes_follow_the_study_use():
    from pipelines.themes.wordclass import WordClasses

    classes = WordClasses(["I love it here.", "We love the park.", "The stay was short.", "A short stay.",
                           "It's quiet.", "Very quiet now.", "They rang us.", "Fixed in a week."])
    assert [classes.of(w) for w in ("love", "stay", "quiet", "rang", "fixed", "kingsmead", "repairs")] == \
        ["verb", "noun", "adj", "verb", "verb", "noun", "noun"]


def test_places_may_name_a_theme_people_may_not():
    docs = ["I live in Millbrook, near the library.", "Millbrook Road is busy.", "Kev said Millbrook is quiet.",
            "Then Kev rang me.", "I asked Kev again."]
    found = proper_nouns(docs)
    assert "kev" in found and "millbrook" not in found


# A theme of "keep the library open": "library open" is part of a clause (the verb "keep ... open"
# around it), not a topic, so it does not name the theme, though it is the most distinctive phrase.
LIBRARY = ["Keep the library open.", "Please keep Millbrook library open, they'd open it less.",
           "Keep the library open longer.", "We keep asking, keep the library open!",
           "Will they open the library on Sundays? Keep the library open."]


def test_a_name_does_not_stop_mid_clause():
    from pipelines.themes.wordclass import WordClasses

    docs, X, labels = _two_themes(LIBRARY, PARK)
    names = name_themes(docs, X, labels, [1, 2])
    assert "library" in _words(names[1].label) and "open" not in _words(names[1].label), names[1]
    classes = WordClasses(docs)
    assert [classes.ends_unfinished(p) for p in ("library open", "transfer failed", "card stolen", "library")] == \
        [True, False, False, False]
