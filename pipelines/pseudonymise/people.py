"""People's names by rules: titles, cue phrases, greetings and the shipped name lists."""

from __future__ import annotations

import re
import unicodedata

from pipelines.pseudonymise.lexicon import PLACE_WORDS, Mention, common_word, lexicon

# ---------------------------------------------------------------------------------------------
# People

_TOKEN = re.compile(r"[^\W\d_](?:[^\W\d_]|['’\-](?=[^\W\d_]))*\.?")
# People by their relation or role to the speaker: "my son Kayden", "our German neighbour, Wiebke"
_KIN = (r"(?:son|daughter|husband|wife|partner|boyfriend|girlfriend|fianc[ée]e?|mum|mom|mother|dad|father|brother|"
        r"sister|nan|gran|grandson|granddaughter|grandma|grandad|grandmother|grandfather|aunt|auntie|uncle|cousin|"
        r"niece|nephew|friend|mate|pal|bestie|neighbour|neighbor|carer|lad|girl|boy|eldest|youngest|housemate|"
        r"flatmate|roommate|classmate|landlord|landlady|ex|ex-wife|ex-husband|stepson|stepdaughter|stepmum|stepdad|"
        r"godmother|godfather|godson|goddaughter|colleague|boss|manager|supervisor|worker|caseworker|keyworker|"
        r"advisor|adviser|lodger|baby|child|kid|twin|in-law|mother-in-law|father-in-law|sister-in-law|"
        r"brother-in-law|son-in-law|daughter-in-law|student|tutor|teacher|coach|lady|woman|man|guy|bloke|chap|"
        r"fella|interpreter|translator|vicar|priest|pastor|coordinator|organiser|organizer|receptionist|secretary|"
        r"solicitor|lawyer|doctor|therapist|counsellor|counselor|physio|dentist|pharmacist|paramedic|cleaner|"
        r"childminder|nanny|babysitter|sponsor|rep|assessor|driver|caretaker|warden|plumber|electrician|volunteer|"
        r"consultant|nurse|midwife|officer|councillor|agent|mentor|head|headteacher)")
_CUE_STRONG = re.compile(
    r"(?:\b(?:my|his|her|their|our|your|the)\s+(?:first\s+|real\s+|sur|last\s+|full\s+)?name(?:'s|’s|\s+is|\s+was)?"
    r"|\b(?:called|named|known\s+as|calls?\s+(?:me|you|him|her|them)|introduced\s+(?:him|her)self\s+as"
    r"|goes\s+by|ask\s+for|asked\s+for|spoke\s+to|speak\s+to|talked\s+to|spoken\s+to|first\s+name|surname"
    r"|me\s+and|according\s+to|(?:signed|written|sent|referred)\s+by(?:\s+an?)?)"
    # a determiner, up to two words that describe ("eldest", "German", "next-door"), then the relation
    r"|(?:\b(?:my|his|her|their|our|your|the|a|an)|\b\w+['’]s|\b\w+s['’])\s+(?:[\w'’-]+[\s-]+){0,2}?" + _KIN +
    r"s?|\b(?:social|support|key|care|case|youth)\s+worker|\bhealth\s+visitor)"
    r"[\s,]*(?:is\s+|was\s+|are\s+|were\s+|,\s*)?$", re.IGNORECASE)
# ... and with where they are from between: "the guy from the energy company, Jovan,"
_CUE_ROLE_FROM = re.compile(r"(?:\b(?:my|his|her|their|our|your|the|a|an)|\b\w+['’]s)\s+"
                            r"(?:[\w'’-]+[\s-]+){0,2}?" + _KIN +
                            r"s?\s+(?:in|from|at|on|with|of|for)\s+(?:[\w'’&-]+\s+){0,3}[\w'’&-]+,\s*$", re.IGNORECASE)
# "It was Quentin who found us the flat"
_CLEFT = re.compile(r"\bit\s+(?:was|is)\s+$|\bit['’]s\s+$", re.IGNORECASE)
# A name spelled out after it: "Caoilfhionn. C-A-O-I-L-F-H-I-O-N-N."
_SPELLED = re.compile(r"[\s.,:;!?'\"“”]*((?:[^\W\d_][ .\-]){2,}[^\W\d_])(?![^\W\d_])")
# What follows a speaker's name: a colon (perhaps after a time), or a time at the end of the line (Teams)
_LABEL_AFTER = re.compile(r"[ \t]*(?:[(\[]?\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d+)?[)\]]?[ \t]*)?:"
                          r"|[ \t]+[(\[]?\d{1,2}:\d{2}(?::\d{2})?[)\]]?[ \t]*(?=\r?\n|\Z)")
# Names joined to a name just found: "Eldon and Marigold", "Aurora, Leocadia and Hyacinth"
_COORD = re.compile(r"\s*(?:,|and|&|,\s*and)\s*")
_CUE_GREETING = re.compile(r"(?:^|[\s,.!?\"“])(?:hi|hiya|hello|hey|thanks|thank\s+you|cheers|bye|goodbye|morning|"
                           r"evening|sorry|dear|welcome|congratulations|ta|night|love\s+you)[\s,]*$", re.IGNORECASE)
_CUE_SELF = re.compile(r"(?:\bI'?m|\bI\s+am|\bit'?s|\bit\s+is|\bthis\s+is|\bme\s+and|\bwith|\band|\bto|\bfrom|\bby|"
                       r"\bfor|\babout|\bfeeds?|\btold|\basked|\bmet|\bsaw|\bvisited|\bphoned|\brang|\btexted)\s+$",
                       re.IGNORECASE)
# Reported contact with someone: "I told Ottoline", "rang Jedidiah at the credit union"
_CUE_TALK = re.compile(r"\b(?:told|rang|phoned|texted|emailed|messaged|thanked|met)\s+$", re.IGNORECASE)
_AFTER_STRONG = re.compile(r"^(?:['’]s)?\s+(?:said|says|told|tells|asked|asks|rang|rings|phoned|phones|texted|texts|"
                           r"reckons|reckoned|replied|answered|explained|emailed|messaged|shouted|laughed|cried|"
                           r"smiled|died|passed|moved|lives|lived|works|worked|helped|helps|sorted|drives|drove|"
                           r"visits|visited|came\s+round|comes\s+round|and\s+(?:me|I)\b|and\s+his\b|and\s+her\b)\b"
                           # "..., she said": a name the speaker turns back to with he or she
                           r"|^,\s+(?:he|she)\b(?!\s+(?:and|or)\b)"
                           # "... is my neighbour's girl"
                           r"|^\s+(?:is|was|'s|’s)\s+(?:my|his|her|our|their)\s+(?:[\w'’-]+[\s-]+){0,2}?" + _KIN + r"\b"
                           # "Marit (volunteer, 60s)", "Eldon (7)", "as Florimond put it"
                           r"|^\s*\((?:aged?\s+)?\d{1,2}s?\b|^\s*\((?:[\w'’-]+\s+){0,2}?" + _KIN + r"\b|^\s+put\s+it\b",
                           re.IGNORECASE)
_AFTER_WEAK = re.compile(r"^(?:['’]s\b|\s+(?:is|was|has|had|does|did|will|would|can|could|came|comes|went|goes|"
                         r"gave|gives|brought|brings|runs|ran|got|gets|wants|wanted|knows|knew|thinks|thought|"
                         r"feels|felt|looks|looked|needs|needed|used|keeps|kept|still|never|always|just|"
                         r"from\s+the|at\s+the|who|who's)\b)", re.IGNORECASE)
_OPENERS = frozenset("and but so or if then when because like well oh yeah yes no okay ok right hi hiya hello hey "
                     "thanks cheers bye sorry dear morning evening help tell ask call ring see let get take meet "
                     "poor bless dear old young little big auntie uncle nan nana".split())


def _sentence_start(text: str, pos: int) -> bool:
    i = pos - 1
    opened = False
    while i >= 0 and text[i] in " \t\"'“‘([*":
        opened = opened or text[i] in "\"“‘(["
        i -= 1
    return opened or i < 0 or text[i] in ".!?:\n…]" or (text[i] in "-—–" and i > 0 and text[i - 1] in " -")


_CONTRACTION = re.compile(r"['’](?:re|d|ll|ve|m|t|s)$", re.IGNORECASE)
_PLACE_BEFORE = re.compile(r"\b(?:in|at|from|near|into|around|across|through|towards|round|on|the|a|an|our|my|your|"
                           r"their|this|that|of|via|outside|inside|behind)\s+$", re.IGNORECASE)


def _clean(token: str) -> str:
    token = token.rstrip(".").replace("’", "'")
    for suffix in ("'s", "’s"):
        if token.endswith(suffix) and len(token) > 3:
            return token[: -len(suffix)]
    return token


def _is_cap(token: str) -> bool:
    return token[:1].isupper() and not (len(token) > 1 and token.isupper())


def _is_upper(token: str) -> bool:
    return len(token) > 1 and token.isupper()


def _runs(text: str):
    """Runs of capitalised (or ALL CAPS) words: ``[(start, end), ...]`` token spans per run."""
    tokens = []
    for m in _TOKEN.finditer(text):
        word = m.group()
        end = m.end()
        if word.endswith(".") and word[:-1].lower() not in lexicon()["title"] | {"st", "rev", "revd", "fr", "dr"}:
            end -= 1
            word = word[:-1]
        tokens.append((m.start(), end, word))
    run: list[tuple[int, int, str]] = []
    for token in tokens:
        word = token[2]
        cap = _is_cap(word) or _is_upper(word)
        joined = run and text[run[-1][1]:token[0]] in (" ", "\t") and (_is_upper(word) == _is_upper(run[-1][2]))
        if cap and (joined or not run) and len(run) < 4:
            run.append(token)
            continue
        if run:
            yield run
        run = [token] if cap else []
    if run:
        yield run


def _is_label(text: str, start: int, end: int) -> bool:
    """Whether the words at ``start:end`` name a speaker: first on their line, then a colon or a time."""
    return _sentence_start(text, start) and bool(_LABEL_AFTER.match(text, end))


def _spelled_out(text: str, end: int, word: str) -> bool:
    """Whether ``word`` is spelled out letter by letter just after ``end`` ("Siobhan. S-I-O-B-H-A-N")."""
    m = _SPELLED.match(text, end)
    if not m:
        return False
    return len(word) > 2 and _letters(m.group(1)) == _letters(word)


def _letters(text: str) -> str:
    """The letters of ``text``, lower case, without accents: "Zsófia" -> "zsofia"."""
    return "".join(c for c in unicodedata.normalize("NFKD", text) if c.isalpha()).lower()


def _person_rules(text: str) -> list[Mention]:
    lex = lexicon()
    given, surname, ambiguous, never, titles = lex["given"], lex["surname"], lex["ambiguous"], lex["not"], lex["title"]
    out: list[Mention] = []
    for run in _runs(text):
        words = [_clean(w) for _, _, w in run]
        low = [w.lower() for w in words]
        start_idx = 0
        title = False
        greeting = False
        # leading titles and sentence openers ("Mrs", "And", "Hi") are not part of the name
        if any(w.rstrip(".") in ("st", "saint") for w in low[:-1]):
            continue  # St Anne's: a place
        # a speaker label ("[00:12:03] Xiadani Ruiz:"): its first word is part of the name, not an opener
        label = _is_label(text, run[0][0], run[-1][1])
        while start_idx < len(run):
            w = low[start_idx]
            bare = w.rstrip(".")
            if bare in titles and start_idx + 1 < len(run):
                title = True
                start_idx += 1
                continue
            if start_idx + 1 < len(run) and not title and (
                    bare in _OPENERS or bare in never or (common_word(bare) and bare not in given)
                    or (start_idx == 0 and _sentence_start(text, run[0][0]) and bare not in given
                        and bare not in surname and not (label and not common_word(bare)))):
                end = run[start_idx][1]
                greeting = greeting or bool(_CUE_GREETING.search(text[max(0, end - 60):end]))
                start_idx += 1
                continue
            break
        toks = run[start_idx:]
        names = words[start_idx:]
        lows = low[start_idx:]
        if not toks:
            continue
        first_start = toks[0][0]
        before = text[max(0, first_start - 60):first_start]
        if run[0][0] == first_start and re.search(r"\b(?:St\.?|Saint)\s+$", before):
            continue
        if lows[-1] in PLACE_WORDS or (len(lows) > 1 and lows[-1] in never):
            continue
        if any(w in {"i", "i'm", "i've", "i'd", "i'll"} for w in lows):
            continue
        upper = _is_upper(toks[0][2])
        start_of_sentence = start_idx == 0 and _sentence_start(text, first_start)
        if not title and start_idx == 0:
            prev = re.search(r"(\S+)\s+$", before)
            if prev and prev.group(1).rstrip(".").lower() in titles and _is_cap(prev.group(1)):
                title = True
        label_after = _is_label(text, run[0][0], toks[-1][1])
        after = text[toks[-1][1]:toks[-1][1] + 40]
        spelled = _spelled_out(text, toks[-1][1], names[-1])
        coordinated = bool(out) and out[-1].score >= 0.55 and bool(_COORD.fullmatch(text[out[-1].end:first_start]))
        strong_cue = title or greeting or coordinated or any(
            rx.search(before) for rx in (_CUE_STRONG, _CUE_GREETING, _CUE_ROLE_FROM))
        self_cue = bool(_CUE_SELF.search(before))
        vocative = bool(re.search(r",\s*$", before)) and bool(re.match(r"^['’]?s?\s*[.?!]", after)) \
            and not start_of_sentence
        cleft = bool(_CLEFT.search(before)) and bool(re.match(r"\s+who\b", after))
        strong_after = bool(_AFTER_STRONG.match(after)) or cleft
        weak_after = bool(_AFTER_WEAK.match(after))
        end_tok = len(toks)
        if upper:
            # ALL CAPS: only a speaker label made of listed names ("DAVE OKAFOR:")
            if label_after and all(w in given or w in surname for w in lows) and not any(w in never for w in lows):
                out.append(Mention(toks[0][0], toks[-1][1], "PERSON", text[toks[0][0]:toks[-1][1]], "label", 0.7))
            continue
        if len(toks) > 1:
            # a surname-like tail after an unknown word ("Help Tony") only counts when the head is a name
            head, tail = lows[0], lows[1:]
            if head in never and not title:
                continue
            head_name = head in given or head in surname
            tail_name = all(w in surname or w in given for w in tail)
            tail_ok = all(w not in never for w in tail)
            if title and tail_ok:
                score = 0.9
            elif head_name and tail_name:
                score = 0.9 if not (head in ambiguous and all(w in ambiguous for w in tail)) else 0.6
            elif head_name and tail_ok and head not in ambiguous:
                score = 0.7
            elif tail_name and tail_ok and not start_of_sentence:
                score = 0.6
            elif strong_cue or label_after:
                score = 0.7
            else:
                score = 0.3 if not start_of_sentence else 0.0
            if score:
                span = (toks[0][0], toks[end_tok - 1][0] + len(names[end_tok - 1]))
                out.append(Mention(span[0], span[1], "PERSON", text[span[0]:span[1]],
                                   "title" if title else "names", score))
            continue
        w = lows[0]
        name = names[0]
        span = (toks[0][0], toks[0][0] + len(name))
        if len(name) < 2 or (w in never and not (title or (strong_cue and w in given))):
            continue
        if _CONTRACTION.search(toks[0][2]) and not (w in given or w in surname):
            continue  # We're, I'd, Don't
        is_given, is_surname = w in given, w in surname
        is_word = common_word(w)
        is_ambiguous = w in ambiguous or is_word
        if is_word and not (is_given or is_surname) and not (title or spelled):
            # an everyday word: a name only when a cue says so, mid-sentence ("a man called Will")
            if strong_cue and not start_of_sentence:
                out.append(Mention(span[0], span[1], "PERSON", name, "cue", 0.55))
            continue
        if title or spelled:
            score, source = 0.9, "title" if title else "spelled out"
        elif label_after and (is_given or is_surname or not start_of_sentence or w not in never):
            score, source = (0.8 if (is_given or is_surname) and not is_ambiguous else 0.65), "speaker label"
        elif strong_cue:
            score, source = 0.85, "cue"
        elif is_ambiguous:
            if strong_after or vocative or (self_cue and not start_of_sentence and weak_after):
                score, source = 0.6, "context"
            else:
                continue
        elif is_given:
            if start_of_sentence and not (strong_after or weak_after or text[span[1]:span[1] + 1] in ",."):
                score, source = 0.5, "given names"
            else:
                score, source = 0.8, "given names"
        elif is_surname:
            score, source = (0.5 if start_of_sentence else 0.6), "surnames"
        elif start_of_sentence:
            if strong_after:
                score, source = 0.55, "context"
            else:
                continue
        elif strong_after or vocative or _CUE_TALK.search(before):
            score, source = 0.55, "context"
        elif _PLACE_BEFORE.search(before):
            continue  # "in Kingsmead", "the Anchor": a place more often than a person
        elif self_cue and weak_after:
            score, source = 0.4, "capitalised"
        else:
            score, source = 0.3, "capitalised"
        out.append(Mention(span[0], span[1], "PERSON", name, source, score))
    # a possible name joined to a sure one that follows ("Leocadia and Hyacinth") is a name too
    for i in range(len(out) - 2, -1, -1):
        m, nxt = out[i], out[i + 1]
        if m.score < 0.55 <= nxt.score and m.source == "capitalised" and _COORD.fullmatch(text[m.end:nxt.start]):
            out[i] = Mention(m.start, m.end, m.kind, m.text, "with a name", 0.55)
    return [Mention(m.start, m.end, m.kind, text[m.start:m.end], m.source, m.score) for m in out]
