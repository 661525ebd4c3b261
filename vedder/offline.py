"""Answering without a model, from what the cluster's experts vetted.

``answer_offline`` finds the pair (or paraphrase) that asks the same thing as the question. Similar wording is
not enough: before answering it checks that the question and the pair's SQL *agree* — the same domain words
(or words the SQL accounts for through its tables, columns and literals), the same aggregate, the same
direction (highest vs lowest), the same negation, and the same literal values. Where the question differs only
in a literal the profiles know (a country, a plan name, a year, "top 5"), the literal is rewritten with sqlglot
and the explanation says so. Precision over coverage: anything it cannot account for is "no match", with the
closest pairs. Never imports a model library.

>>> result = answer_offline(project, cluster, "top 5 countries by streams in 2024")  # doctest: +SKIP
>>> result.match.explanation  # doctest: +SKIP
"answered from vetted pair top-countries, adapted year 2023 → 2024, LIMIT 10 → 5"
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from functools import cached_property, lru_cache
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Sequence

import sqlglot
from sqlglot import exp

from vedder.context.index import ClusterIndex, cluster_index
from vedder.context.select import rank_pairs
from vedder.context.signature import SQLSignature, parsed, signature
from vedder.context.tokenize import STOP_WORDS, split_identifier, stem, tokenize, words
from vedder.context.qualifiers import qualifier_check, qualifiers_in, without_spans
from vedder.context.route import require_question
from vedder.definitions import acronyms, acronyms_spelled_out, coded_values
from vedder.periods import (Period, date_literals, dates_spelled, day_of, grains, last_periods_named, names_a_period, periods_from_shown, periods_in,
                            relative_periods, shift_dates, sql_period, without_so_far)

if TYPE_CHECKING:
    from vedder.project import Cluster, Pair, Project

MIN_SIMILARITY = 0.5
MIN_MARGIN = 0.2
CANDIDATES = 8

NUMBER_WORDS = {
    "two": "2", "three": "3", "four": "4", "five": "5", "six": "6", "seven": "7", "eight": "8",
    "nine": "9", "ten": "10", "twenty": "20", "hundred": "100",
}
COUNTRIES = {
    "united states": "US", "usa": "US", "america": "US", "united kingdom": "GB", "uk": "GB", "britain": "GB",
    "great britain": "GB", "england": "GB", "sweden": "SE", "germany": "DE", "france": "FR", "spain": "ES",
    "italy": "IT", "netherlands": "NL", "norway": "NO", "denmark": "DK", "finland": "FI", "japan": "JP",
    "brazil": "BR", "canada": "CA", "mexico": "MX", "india": "IN", "australia": "AU", "poland": "PL",
    "portugal": "PT", "ireland": "IE", "austria": "AT", "belgium": "BE", "switzerland": "CH", "china": "CN",
    "south korea": "KR", "korea": "KR", "argentina": "AR", "turkey": "TR", "indonesia": "ID",
}
# "Canadian accounts": a country column's code said as its people's adjective.
DEMONYMS = {
    "american": "US", "british": "GB", "swedish": "SE", "german": "DE", "french": "FR", "spanish": "ES", "italian": "IT",
    "dutch": "NL", "norwegian": "NO", "danish": "DK", "finnish": "FI", "japanese": "JP", "brazilian": "BR",
    "canadian": "CA", "mexican": "MX", "indian": "IN", "australian": "AU", "polish": "PL", "portuguese": "PT",
    "irish": "IE", "austrian": "AT", "belgian": "BE", "swiss": "CH", "chinese": "CN", "korean": "KR",
    "argentinian": "AR", "turkish": "TR", "indonesian": "ID",
}
COUNTRY_NAMES: dict[str, list[str]] = {}
for _name, _code in COUNTRIES.items():
    COUNTRY_NAMES.setdefault(_code, []).append(_name)
DEMONYMS_OF: dict[str, list[str]] = {}
for _name, _code in DEMONYMS.items():
    DEMONYMS_OF.setdefault(_code, []).append(_name)

_DESC = {stem(w) for w in """most highest largest biggest greatest maximum max oldest latest longest top best heaviest
    tallest more greater above over exceed exceeds larger higher older bigger descending newest richest decreasing longer
    taller heavier""".split()}
_ASC = {stem(w) for w in """least lowest smallest minimum min youngest earliest shortest fewest worst lightest less fewer
    below under lower younger smaller ascending cheapest poorest increasing shorter lighter""".split()}
_NEGATION = {"not", "no", "without", "never", "except", "neither", "nor", "none", "excluding", "exclude", "dont",
             "doesnt", "didnt", "havent", "hasnt", "isnt", "arent", "wasnt", "werent", "cannot", "non", "outside"}
# Statistics other than the average that no count, sum or average answers.
_OTHER_STATISTICS = {"median", "percentile", "quartile", "mode", "p50", "p90", "p95", "p99", "stddev", "variance"}
# Words that make a number a "top N" ("the 3 most streamed tracks"): it may replace the pair's LIMIT.
_RANK_WORDS = {stem(w) for w in "top most first best highest largest biggest bottom least lowest fewest worst".split()}
_AVERAGE = {"average", "mean", "avg"}
_COUNT = {"many", "number", "count", "counts"}
_DESC_PHRASES = ("at least", "or more", "or older", "or greater", "or higher", "or above", "or over", "no less")
_ASC_PHRASES = ("at most", "or less", "or fewer", "or younger", "or smaller", "or lower", "or below", "no more")
_GROUP = {"each", "per", "every"}
_CUE_WORDS = {stem(w) for w in _NEGATION | _AVERAGE | _COUNT | _GROUP} | _DESC | _ASC
# Words that frame a question rather than say what it asks about.
_FRAMING = {stem(w) for w in """total list show give find return tell display different distinct unique all also broken breakdown
    respectively including sorted order ordered sort please pls plz there exist exists available information much""".split()}
# "revenue that came from the UK" is revenue from the UK; "episodes that came out" were published.
_CAME_FROM = re.compile(r"\b(?:come|comes|came|coming)\s+from\b", re.IGNORECASE)


# Misspellings of the words a question opens with ("hw many"), and only of those, only where they open it: a
# typo of a domain word or a value ("Swedn") could be another word, and "hw" elsewhere may be hardware.
_QUESTION_WORD_TYPOS = {"hw": "how", "hwo": "how", "wat": "what", "wht": "what", "waht": "what", "whta": "what",
                        "wich": "which", "whcih": "which", "whihc": "which", "mny": "many", "mnay": "many", "manny": "many"}
_OPENING_TYPO = re.compile(r"^(\W*)(hw|hwo|how)(\s+)(many|much|mny|mnay|manny)\b|^(\W*)(wat|wht|waht|whta|wich|whcih|whihc)\b",
                           re.IGNORECASE)


def question_words_spelled(question: str) -> str:
    """``question`` with the misspelt question words it opens with written out ("hw many streams" → "how many
    streams"), in the case they were typed in.

    >>> question_words_spelled("Hw mny streams?"), question_words_spelled("hw sales per month")
    ('How many streams?', 'hw sales per month')
    """
    def spelled(word: str) -> str:
        right = _QUESTION_WORD_TYPOS.get(word.lower(), word.lower())
        return right.capitalize() if word[0].isupper() else right

    def opening(match: re.Match) -> str:
        if match.group(2):
            return match.group(1) + spelled(match.group(2)) + match.group(3) + spelled(match.group(4))
        return match.group(5) + spelled(match.group(6))

    return _OPENING_TYPO.sub(opening, question, count=1)


# A greeting or filler a question opens with ("Hi!", "Quick one:", "Hey team,", "Lovely, and …", "No, I meant …"): not
# what it asks about ("Hi" is also Hindi's code). Only when punctuation closes it: "quick listens" and "question marks" stay.
_OPENING_FILLER = re.compile(r"^\W*(?:(?:hi|hello|hey|hiya|good (?:morning|afternoon|evening))(?: (?:there|team|all|everyone|folks))?"
                             r"|quick (?:one|question|q)|question|one more|ok|okay|no|nope|sorry|oops|fine|lovely|great|perfect|cool"
                             r"|nice|thanks|thank you|alright|all right)\s*[!,.:;]+\s*", re.IGNORECASE)
# "U.S.", "U.K.", "U.S.A.": initials with dots are the code or name without them ("US", "UK", "USA").
_DOTTED_INITIALS = re.compile(r"(?<![\w.])((?:[A-Z]\.){2,})(?!\w)")


def question_said_plainly(question: str) -> str:
    """``question`` without an opening greeting or filler, with dotted initials closed up and months written in
    numbers or with a two-digit year spelled out (``periods.dates_spelled``).

    >>> question_said_plainly("Quick one: streams in the U.K. in Oct '26?")
    'streams in the UK in Oct 2026?'
    """
    question = _OPENING_FILLER.sub("", question, count=1) or question
    return dates_spelled(_DOTTED_INITIALS.sub(lambda m: m.group(1).replace(".", ""), question))


@dataclass
class Adaptation:
    """One literal rewritten: ``column`` (or "LIMIT", "month", "year"), old and new value; ``spoken`` is how the
    phrasing and the question said a period ("October 2026", "November 2026")."""

    column: str
    old: Any
    new: Any
    spoken: tuple[str, str] = ("", "")

    def __str__(self) -> str:
        if self.column in ("LIMIT", "month", "year"):
            return f"{self.column} {self.old} → {self.new}"
        if self.old is None:  # a filter added to a grouped column ("only for Sweden")
            return f"{self.column} → only '{self.new}'"
        old = f"'{self.old}'" if isinstance(self.old, str) and not _is_number(self.old) else str(self.old)
        new = f"'{self.new}'" if isinstance(self.new, str) and not _is_number(self.new) else str(self.new)
        if all(self.spoken):  # a code the docs name: "status_code 4 (delivered) → 9 (cancelled)"
            old, new = f"{old} ({self.spoken[0]})", f"{new} ({self.spoken[1]})"
        return f"{self.column} {old} → {new}"


@dataclass
class OfflineMatch:
    pair: "Pair"
    sql: str
    adaptations: list[Adaptation]
    score: float
    explanation: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "pair": self.pair.id,
            "sql": self.sql,
            "adaptations": [str(a) for a in self.adaptations],
            "score": round(self.score, 3),
            "explanation": self.explanation,
        }


@dataclass
class OfflineResult:
    match: OfflineMatch | None
    closest: list[tuple["Pair", float]] = field(default_factory=list)
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "match": self.match.to_dict() if self.match else None,
            "closest": [{"id": p.id, "question": p.question, "score": round(s, 3)} for p, s in self.closest],
            "reason": self.reason,
        }


@dataclass
class Candidate:
    pair: "Pair"
    phrasing: str
    similarity: float
    problems: list[str]
    adaptations: list[Adaptation]
    adapted: exp.Expression | None = None
    dialect: str = "duckdb"

    @cached_property
    def sql(self) -> str:
        """The pair's SQL, or its adapted tree rendered (only for the candidates that get this far)."""
        return self.adapted.sql(dialect=self.dialect) if self.adapted is not None else self.pair.sql


def _is_year(text: str) -> bool:
    return bool(re.fullmatch(r"(19|20)\d\d", text))


def _is_number(text: Any) -> bool:
    return bool(re.fullmatch(r"-?\d+(\.\d+)?", str(text)))


def numbers_in(text: str) -> list[str]:
    """Numbers a question states, digits or words ("top five" → 5)."""
    found = re.findall(r"(?<![\w.])(?<!\d-)-?\d+(?:\.\d+)?(?!\w|\.\d)", text.replace(",", ""))
    found += [NUMBER_WORDS[w] for w in re.findall(r"[a-z]+", text.lower()) if w in NUMBER_WORDS]
    return [_canonical_number(n) for n in found]


def _canonical_number(text: str) -> str:
    try:
        value = float(text)
    except ValueError:
        return text
    return str(int(value)) if value == int(value) else str(value)


def _number_context(text: str, number: str) -> set[str]:
    """The words right before and after ``number`` in ``text`` ("classroom 110" → {"classroom"})."""
    tokens = _plain(text)
    spelled = {w for w, n in NUMBER_WORDS.items() if n == number}
    out: set[str] = set()
    for i, token in enumerate(tokens):
        if _canonical_number(token) == number or token in spelled:
            out |= {stem(t) for t in tokens[max(0, i - 1) : i] + tokens[i + 1 : i + 2] if t not in ("than", "the", "of", "in", "a")}
    return out


def _plain(text: str) -> list[str]:
    """Lower-case words (no stemming, stop words kept) for value matching."""
    return [w.lower() for w in re.findall(r"[^\W_]+", text)]


def _cased(text: str) -> list[str]:
    """Words as written (no stemming, stop words kept): what ``mentions`` looks values up in."""
    return re.findall(r"[^\W_]+", text)


@lru_cache(maxsize=4096)
def _value_cased(value: str) -> list[str]:
    return _cased(value.strip("%"))


@lru_cache(maxsize=4096)
def _value_matchers(value: str) -> tuple[tuple[bool, str], ...]:
    """Per word of ``value``: whether it is a code (compared as written) and the form it is compared in."""
    return tuple((True, w) if _is_code(w) else (False, w.lower()) for w in _value_cased(value))


def _is_code(word: str) -> bool:
    """An upper-case code ('IN', 'US', 'SEK'): only the same code in capitals names it, not the word "in"."""
    return 2 <= len(word) <= 3 and word.isalpha() and word.isupper()


def holds_countries(column: str | None) -> bool:
    """Whether a column's two-letter values may be country codes ('DE' is Germany in ``country``, German in
    ``language``); unknown columns (None) may."""
    return column is None or bool(re.search(r"countr|nation|market", column, re.IGNORECASE))


def holds_languages(column: str | None) -> bool:
    """Whether a column's two-letter values may be language codes ('de' is German in ``language``): only a
    column named for languages ('language', 'lang', 'locale')."""
    return column is not None and bool(re.search(r"lang|locale", column, re.IGNORECASE))


@lru_cache(maxsize=1)
def language_names() -> dict[str, tuple[str, ...]]:
    """ISO 639-1 code → the English names of the language, from ``language_names.tsv``: 'de' → ("German",)."""
    table: dict[str, tuple[str, ...]] = {}
    for line in Path(__file__).with_name("language_names.tsv").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            code, names = line.split("\t", 1)
            table[code.strip().lower()] = tuple(name.strip() for name in names.split(","))
    return table


def value_names(value: str, column: str | None) -> list[str]:
    """What a person calls a coded value: the country's names for a country code of a country column
    ('DE' → "Germany"), the language's for an ISO 639-1 code of a language column ('de' → "German")."""
    if len(value) != 2:
        return []
    if holds_countries(column):
        return COUNTRY_NAMES.get(value.upper(), [])
    return list(language_names().get(value.lower(), ())) if holds_languages(column) else []


# A language's name says the language only in these phrases: "German shows" may be shows from Germany.
_LANGUAGE_PHRASES = ("in {}", "{} language", "{} speaking", "language is {}")


@lru_cache(maxsize=4096)
def spoken_names(value: str, column: str | None) -> tuple[str, ...]:
    """``value_names`` as a question must say them to name the value: a country as it is, a language as a
    language ("in German", "German-language", "German-speaking")."""
    names = value_names(value, column)
    if names and not holds_countries(column):
        return tuple(phrase.format(name) for name in names for phrase in _LANGUAGE_PHRASES)
    return tuple(names)


def mentions(text_words: Sequence[str], value: str, column: str | None = None) -> bool:
    """Whether the words of ``value`` (or, for a code, a name ``spoken_names`` gives it) occur in ``text_words``
    (words as written, see ``_cased``)."""
    return (_mentions(text_words, value) or any(_mentions(text_words, name) for name in spoken_names(value, column))
            or _initials(value) in text_words or _demonym_said(text_words, value, column))


def _demonym_said(text_words: Sequence[str], value: str, column: str | None) -> bool:
    """Whether a code of a country column is said as its people's adjective before what it describes ("Canadian
    accounts" is 'CA'); "in German" and "German-language" say a language.

    >>> _demonym_said(["Canadian", "accounts"], "CA", "country_code"), _demonym_said(["shows", "in", "German"], "DE", "country")
    (True, False)
    """
    names = DEMONYMS_OF.get(value.upper(), []) if len(value) == 2 and holds_countries(column) else []
    lowered = [w.lower() for w in text_words]
    return any(word in names and 0 < i + 1 < len(lowered) and lowered[i + 1] not in ("language", "speaking", "speakers")
               and (i == 0 or lowered[i - 1] not in ("in", "into", "speak", "speaks", "spoken"))
               for i, word in enumerate(lowered))


@lru_cache(maxsize=4096)
def _initials(value: str) -> str:
    """The capitals a name of two or three capitalised words is shortened to ("Los Angeles" → "LA"); "" else."""
    parts = _value_cased(value)
    if 2 <= len(parts) <= 3 and all(w[0].isupper() and w[1:].islower() for w in parts):
        return "".join(w[0] for w in parts)
    return ""


def _same_word(value_word: str, text_word: str) -> bool:
    return value_word == text_word if _is_code(value_word) else value_word.lower() == text_word.lower()


def _mentions(text_words: Sequence[str], value: str) -> bool:
    # What ``_same_word`` compares, word by word: a code as written, any other word lower-cased.
    matchers = _value_matchers(value)
    if not matchers:
        return False
    lowered = [t.lower() for t in text_words]
    last = len(matchers) - 1
    for i in range(len(text_words) - len(matchers) + 1):
        for j, (code, word) in enumerate(matchers):
            said = text_words[i + j] if code else lowered[i + j]
            # "no study rooms" names 'Study Room', "Boeing 737-800s" 'Boeing 737-800'.
            if said != word and not (j == last and not code and said in (word + "s", word + "es")):
                break
        else:
            return True
    return False


# "the number of", "total number of": a count; "the phone number of" is a column.
_COUNTING_NUMBER = re.compile(r"(?:^|\b(?:the|a|total|overall|and|or|what|whats|with|same|their|its|his|her|of|by|in|on|"
                              r"for|to|from|show|list|find|give|return|tell|get|average|mean|max|min|maximum|minimum|"
                              r"most|least|fewest|largest|smallest|highest|lowest|biggest|greatest|larger|smaller|"
                              r"higher|lower|greater|more|less|fewer|sum|count|combined|respective|corresponding|"
                              r"different|distinct|all) )number of\b")
# "25 or older", "3 or more albums": one comparison; "above 8000000 or below 5000000": two conditions.
_OR_COMPARISON = re.compile(r"\bor\b(?! (?:more|less|fewer|older|younger|greater|higher|lower|above|below|over|under|"
                            r"smaller|larger|bigger|longer|shorter|taller|heavier|lighter|after|before|later|earlier|"
                            r"equal)\b(?! (?:than |to )?[-$\d]))")


# "ordered from most to least", "from the highest to the lowest", "from large to small": one direction.
_HIGH = "most|highest|largest|biggest|greatest|large|high|big|more"
_LOW = "least|lowest|smallest|fewest|small|low|less|fewer"
_FROM_TO = re.compile(rf"\bfrom (?:the )?(?:({_HIGH})|({_LOW})) (?:\w+ )?to (?:the )?(?:{_HIGH}|{_LOW})\b")


def _said_order(lowered: str) -> str:
    """``lowered`` with an order said from one end to the other ("from most to least") as one word
    ("descending"), and "at least one" (there is one) without its "least"."""
    lowered = _FROM_TO.sub(lambda m: "descending" if m.group(1) else "ascending", lowered)
    return re.sub(r"\bat least (?:one|1|a|an)\b", "some", lowered)


_COMPARISON_PHRASE = re.compile(r"\b(?:at (?:least|most)|no (?:less|more))\b")


def _stems_outside_comparisons(lowered: str) -> set[str]:
    """Stems of ``lowered`` without "at least/at most/no less/no more": "at least 25" is a comparison (see the
    direction phrases), not the "least" of a ranking."""
    return {stem(w) for w in _COMPARISON_PHRASE.sub(" ", lowered).split()}


# "in NO", "for NO": Norway's code in capitals after a preposition, not the word "no".
_CODE_NO = re.compile(r"\b(in|for|from|to|vs|and|or) NO\b")


def cues(text: str) -> dict[str, bool]:
    raw = [w.lower().replace("'", "") for w in re.findall(r"[A-Za-z']+", _CODE_NO.sub(r"\1 Nocode", text))]
    lowered = _said_order(" ".join(raw))
    stems = _stems_outside_comparisons(lowered)
    alphabetical = bool({"alphabetical", "alphabetic", "alphabetically"} & set(raw)) and "reverse" not in raw
    return {
        "desc": bool(stems & _DESC) or any(p in lowered for p in _DESC_PHRASES) or ">" in text,
        "asc": bool(stems & _ASC) or any(p in lowered for p in _ASC_PHRASES) or alphabetical or "<" in text,
        "negation": bool(set(raw) & _NEGATION) and "no more" not in lowered and "no less" not in lowered or "n't" in text or "other than" in lowered,
        "average": bool(set(raw) & _AVERAGE),
        "statistic": bool(set(raw) & _OTHER_STATISTICS),
        "count": "how many" in lowered or bool(_COUNTING_NUMBER.search(lowered)) or "count" in raw,
        "group": bool(set(raw) & _GROUP),
        # "return both the city and the count" names two columns, not two conditions.
        "both": "both" in raw and not re.search(r"\b(?:return|show|give|list|display|find|tell me)(?: me)? both\b", lowered),
        "by": bool(re.search(r"\b(by|for each|for every|for (?:the )?(?:different|various))\b", re.sub(r"\b(order|ordered|sort|sorted|rank|ranked)( them| the results?)? by\b", "", lowered))),
        "either": "either" in raw or bool(_OR_COMPARISON.search(re.sub(
            r"\b(?:his or her|he or she|him or her)\b", " ", re.sub(r"[^a-z0-9$ -]+", " ", text.lower().replace("'", ""))))),
    }


_SUPERLATIVES = {stem(w) for w in """most least highest lowest largest smallest biggest greatest maximum minimum max min
    oldest youngest latest earliest longest shortest top best worst fewest heaviest lightest tallest newest richest
    poorest cheapest""".split()}


def _superlatives(text: str) -> set[str]:
    """The ranking words of ``text`` ("the most", "highest"), not its comparisons ("at least 25", "no more than")."""
    lowered = _said_order(" ".join(_plain(text)))
    return _stems_outside_comparisons(lowered) & _SUPERLATIVES


def _ranks_a_count(text: str, sig: SQLSignature) -> bool:
    """"the department with the most students": a superlative of rows of one of the query's tables is a count."""
    tables = {stem(w) for name in sig.tables for w in split_identifier(name.rsplit(".", 1)[-1])}
    return any(stem(m.group(1)) in tables for m in re.finditer(
        r"\b(?:most|fewest|least|greatest|largest|smallest|highest|lowest|biggest) (?:[a-z]+ ){0,2}?([a-z]+s)\b", text.lower()))


def _counts_a_column(text: str, sig: SQLSignature) -> bool:
    """"How many credits is the course", "the number of credits for QM-261": what is counted is a column the
    query returns as it is or sums (``credits``), not rows of one of its tables nor a rate of the column."""
    tables = {stem(w) for name in sig.tables for w in split_identifier(name.rsplit(".", 1)[-1])}
    columns = {stem(w) for name in sig.columns for w in split_identifier(name.rsplit(".", 1)[-1])}
    counted = [stem(m.group(1)) for m in re.finditer(r"\b(?:how many|number of) (?:total )?([a-z]+)", text.lower())]
    return bool(counted) and not sig.aggregates - {"sum"} and all(w in columns and w not in tables for w in counted)


def _each_words(question: str) -> set[str]:
    """Stems of the first word after each "each", "every" or "per" ("of each apartment booking" → apartment)."""
    return {stem(m.group(1)) for m in re.finditer(r"\b(?:each|every|per) (?:of (?:the|them|these|those) )?([a-z]+)", question.lower())
            if m.group(1) not in ("of", "one", "the", "them")}


def _domain(text: str) -> set[str]:
    # A set built from the remembered words in their order: the same set, iterated in the same order.
    return set(_domain_words(text))


@lru_cache(maxsize=16384)
def _domain_words(text: str) -> tuple[str, ...]:
    return tuple(t for t in tokenize(_CAME_FROM.sub("from", text)) if t not in _FRAMING and t not in _CUE_WORDS and not t[0].isdigit())


_SQL_WORDS: dict[int, tuple[SQLSignature, frozenset[str]]] = {}


def _sql_words(sig: SQLSignature) -> frozenset[str]:
    """Stemmed words of the query's table and column names and string literals (remembered per signature)."""
    cached = _SQL_WORDS.get(id(sig))
    if cached is not None and cached[0] is sig:
        return cached[1]
    if len(_SQL_WORDS) > 8192:
        _SQL_WORDS.clear()
    out: set[str] = set()
    for name in sig.tables + sig.columns:
        out |= {stem(w) for w in split_identifier(name.rsplit(".", 1)[-1])}
    for literal in sig.strings:
        out |= set(tokenize(literal.strip("%")))
    words_ = frozenset(out)
    _SQL_WORDS[id(sig)] = (sig, words_)
    return words_


def _weight(index: ClusterIndex, term: str) -> float:
    return index.pair_index.idf.get(term, index.pair_index.unknown_idf())


def similarity(
    index: ClusterIndex, question: str, phrasing: str, sig: SQLSignature, adapted: tuple[set[str], set[str]] = (set(), set())
) -> float:
    """How completely the question and the pair's phrasing account for each other's domain words (0–1).

    A question word the phrasing lacks still counts (for 0.7) when the pair's SQL uses it as a table,
    column or literal: "list the singers' countries" and "SELECT country FROM singer" agree. ``adapted`` holds
    the question's and the phrasing's words of adapted literals ("sweden", "us"), which account for each other.
    """
    q_terms, p_terms, sql_terms = _domain(question) - adapted[0], _domain(phrasing) - adapted[1], _sql_words(sig)
    if not q_terms and not p_terms:
        return 1.0 if tokenize(question) == tokenize(phrasing) else 0.5
    q_total = sum(_weight(index, t) for t in q_terms) or 1.0
    p_total = sum(_weight(index, t) for t in p_terms) or 1.0
    q_matched = sum(_weight(index, t) * (1.0 if t in p_terms else 0.7 if t in sql_terms else 0.0) for t in q_terms)
    p_matched = sum(_weight(index, t) * (1.0 if t in q_terms else 0.3 if t in sql_terms else 0.0) for t in p_terms)
    recall_q, recall_p = q_matched / q_total, p_matched / p_total
    return min(recall_q, recall_p)


_SAYS_ORDER = re.compile(r"\b(?:order|ordered|sort|sorted)\b")


# Words that make a question more than a headline ("Monthly active listeners in September 2026?"): it asks which,
# lists or names something, or asks yes or no.
_ASKING = {"which", "what", "whats", "who", "whom", "whose", "where", "when", "why", "list", "show", "name", "names",
           "give", "find", "display", "return", "tell", "is", "are", "was", "were", "did", "does", "do", "id", "ids"}


_LISTING = {"which", "who", "whom", "whose", "list", "ids", "names"}


def is_headline(text: str) -> bool:
    """Whether ``text`` only names what it is about, like a report's title: no question word, no "list" or
    "show", no ids or names asked for.

    >>> is_headline("Sweden. Monthly active listeners in September 2026?"), is_headline("Which listeners were active?")
    (True, False)
    """
    return not {w.lower().replace("'", "") for w in re.findall(r"[A-Za-z']+", text)} & _ASKING


def cue_problems(question: str, phrasing: str, sig: SQLSignature, headline_counts: bool = False) -> list[str]:
    """Disagreements of intent between the question and a vetted pair (its phrasing and SQL).

    Cue words that name the SQL's own columns ("max_temperature") are not cues. ``headline_counts``: the pair's
    experts vetted a headline ("MAU in SE for October 2026") for its count, so a headline question asks the
    count without saying "how many".
    """
    sql_words = _sql_words(sig)
    q, p = cues(_without(question, sql_words)), cues(_without(phrasing, sql_words))
    problems = []
    if q["average"] != ("avg" in sig.aggregates) and q["average"] != p["average"] or p["average"] and not q["average"]:
        problems.append("average")
    if q["count"] and "count" not in sig.aggregates and not p["count"] and not _counts_a_column(question, sig):
        problems.append("count")
    if ("count" in sig.aggregates and p["count"] and not q["count"] and not _ranks_a_count(question, sig)
            and not (headline_counts and is_headline(question))):
        problems.append("count")
    # One number answers no "which …" or "who …", nor a list of ids or names: "Which active premium subscribers are
    # in Germany?" of a pair vetted as "Active premium subscribers in SE" (a count).
    if ("count" in sig.aggregates and not sig.grouped and not q["count"]
            and {w.lower() for w in re.findall(r"[A-Za-z]+", question)} & _LISTING):
        problems.append("list")
    if q["statistic"] != p["statistic"]:
        problems.append("statistic")
    # An INTERSECT is "both" whether or not the words say it ("used by customers and staff").
    if q["both"] != p["both"] and "intersect" not in sig.set_operations or q["either"] != p["either"]:
        problems.append("both/either")
    if q["negation"] != p["negation"]:
        problems.append("negation")
    q_dir = {k for k in ("desc", "asc") if q[k]}
    p_dir = {k for k in ("desc", "asc") if p[k]}
    # Ascending is the order's default: "sorted by last name" of an ascending query is "alphabetically".
    if sig.order == {"asc"}:
        q_dir, p_dir = (q_dir | ({"asc"} & p_dir if _SAYS_ORDER.search(question.lower()) else set()),
                        p_dir | ({"asc"} & q_dir if _SAYS_ORDER.search(phrasing.lower()) else set()))
    # A ranked list without a LIMIT, that shows what it ranks by, answers "which … most" and "… per X" alike.
    ranked_list = (sig.order == {"desc"} and sig.limit is None and sig.grouped and sig.orders_by_output
                   and not (q_dir | p_dir) - {"desc"})
    if q_dir != p_dir and not ranked_list:
        problems.append("direction")
    # "the phone numbers of each employee" lists the employees the query reads; "the number of orders of each
    # customer" groups, and "the department of each physician" asks for physicians a query of departments lacks.
    # A ranking groups too; a comparison ("every pilot at least 25 years old") or an order does not.
    if q["group"] and not p["group"] and not sig.grouped and (
            q["count"] or q["average"] or q["statistic"] or _superlatives(question) or re.search(r"\b(total|sum)\b", question.lower())
            or not _each_words(question) <= sql_words | {stem(w) for w in _plain(phrasing)}):
        problems.append("grouping")
    if bool(_superlatives(question)) != bool(_superlatives(phrasing)) and not ranked_list:
        problems.append("ranking")
    # "Monthly GMV" splits as "GMV per month" does (that the grains agree is ``period_problems``'s to check).
    if p["group"] and not q["group"] and sig.grouped and not q["by"] and not grains(question):
        problems.append("grouping")
    # "minutes per listener" is a ratio: a question without "per", "each" or "average" asks for a total.
    if re.search(r"\bper\b", phrasing.lower()) and not q["group"] and not sig.grouped and not q["average"]:
        problems.append("ratio")
    return problems


def _without(text: str, terms: set[str]) -> str:
    """``text`` with the words whose stems are in ``terms`` blanked out ("xx": "the phone number of" must not
    become "the number of")."""
    return re.sub(r"[^\W\d_]+", lambda m: "xx" if _ABBREVIATED.get(stem(m.group(0).lower()), stem(m.group(0).lower())) in terms
                  else m.group(0), text)


# Column names shorten these words: "maximum wind speed" names ``max_wind_speed``.
_ABBREVIATED = {stem("maximum"): "max", stem("minimum"): "min", stem("average"): "avg"}


def _column_values(cluster: "Cluster", column: str, node: exp.Expression | None = None) -> list[str]:
    """The profiled common values of ``column``: when several tables have one so named, of the table of the column
    ``node`` is (or is compared with) if the query says it (a seller's country is no buyer's: 'DE' of
    ``buyers.country_code`` is no value of ``sellers.country_code``), else of every column so named."""
    datasets = [d for d in cluster.dataset_files.values() if d.column(column) is not None]
    table = _table_of(node) if node is not None and len(datasets) > 1 else None
    if table is not None:
        wanted = table.lower()
        datasets = [d for d in datasets if wanted in (d.table.lower(), d.table_name.lower())] or datasets
    values: list[str] = []
    for dataset in datasets:
        found = dataset.column(column)
        if found is not None:
            values += [str(e.get("value")) for e in found.common_values if isinstance(e, dict) and e.get("value") is not None]
    return values


def _literal_columns(tree: exp.Expression) -> dict[int, str]:
    """For each string/number literal compared with a column, that column's name (by literal node id)."""
    out: dict[int, str] = {}
    for node in tree.find_all(exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Like, exp.ILike, exp.In):
        columns = [c for c in node.find_all(exp.Column)]
        if not columns:
            continue
        for literal in node.find_all(exp.Literal):
            out.setdefault(id(literal), columns[0].name)
    return out


def _table_of(node: exp.Expression) -> str | None:
    """The table (``schema.table`` as written) of the column ``node`` is compared with, or is: its qualifier's
    table, or the query's only table; None when the query does not say."""
    column = node if isinstance(node, exp.Column) else None
    parent = node.parent
    while column is None and parent is not None and not isinstance(parent, exp.Select):
        if isinstance(parent, (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Like, exp.ILike, exp.In)):
            column = parent.find(exp.Column)
        parent = parent.parent
    select = column.find_ancestor(exp.Select) if column is not None else None
    if select is None:
        return None
    tables = [t for t in select.find_all(exp.Table) if t.find_ancestor(exp.Select) is select]
    if column.table:
        tables = [t for t in tables if t.alias_or_name.lower() == column.table.lower()]
    if len(tables) != 1:
        return None
    return ".".join(part for part in (tables[0].db, tables[0].name) if part)


def _question_value(cluster: "Cluster", column: str, question: str, phrasing: str, old: str,
                    node: exp.Expression | None = None) -> str | None:
    """A value of ``column`` (of the literal ``node``'s table, see ``_column_values``) that the question names and
    the pair's phrasing does not (for adapting ``old``)."""
    q_words, p_words = _cased(question), _cased(phrasing)
    # Only values the profiles know: a country they do not list ("Norway") is no answer to adapt to.
    candidates = [v for v in _column_values(cluster, column, node) if v.lower() != old.lower() and len(v) > 1]
    for value in sorted(candidates, key=len, reverse=True):
        if mentions(q_words, value, column) and not mentions(p_words, value, column):
            return value
    quoted = re.findall(r"[\"“']([^\"”']{1,60})[\"”']", question)
    fresh = [v for v in quoted if not mentions(p_words, v)]
    if len(fresh) == 1:
        return fresh[0]
    return None


def adapt_periods(tree: exp.Expression, question: str, phrasing: str, default_year: int | None = None) -> tuple[list[Adaptation], list[str]]:
    """Move the query's date range from the period the phrasing names to the one the question names, in place.

    A month the phrasing names and the question does not (or one the query does not show as a date range) is
    a problem; a year is left to the numeric literals when the query has no date range for it.
    """
    return _move_periods(tree, question, *_period_change(question, phrasing, sql_period(tree), default_year))


_A_YEAR = re.compile(r"(?<!\d)(?:19|20)\d\d(?!\d)")


def _period_change(question: str, phrasing: str, shown: "Period | None",
                   default_year: int | None = None) -> tuple[list["Period"], list["Period"]]:
    """The periods the question names and the phrasing (or, failing that, the query's ``shown`` period) does
    not, and the other way round."""
    asked = periods_in(question, default_year)
    # A phrasing that names no period ("and in Germany?" after "… in October 2026") stands for the query's own.
    vetted = periods_in(phrasing) or ([shown] if shown is not None and asked else [])
    new = [q for q in asked if not any(q.same_as(p) for p in vetted)]
    old = [p for p in vetted if not any(p.same_as(q) for q in asked)]
    return new, old


def _move_periods(tree: exp.Expression, question: str, new: list["Period"], old: list["Period"]) -> tuple[list[Adaptation], list[str]]:
    if not new and not old:
        return [], []
    if old and not new and not _A_YEAR.search(question):
        # A year the pair names and the question names nowhere ("What is the average revenue per paying user?" of
        # the 2025 pair): the answer would be that year's without saying so.
        return [], ["period " + ", ".join(str(p) for p in old)]
    # Distinct users over several months are no monthly figure: the MAU of September to November is not their sum.
    if len(new) == 1 and new[0].months > 1 and (old and old[0].months == 1 and tree.find(exp.Distinct) is not None):
        return [], [f"period {new[0]} of a distinct count"]
    if len(new) == 1 and len(old) == 1 and shift_dates(tree, old[0], new[0]):
        return [Adaptation(new[0].kind, str(old[0]), str(new[0]), (old[0].text, new[0].text))], []
    if any(p.month for p in new + old):
        return [], ["period " + ", ".join(str(p) for p in new + old)]
    return [], []


def _years(adaptations: list[Adaptation]) -> set[str]:
    """The years an adapted period accounts for (so they are not fresh numbers)."""
    return {str(value)[:4] for a in adaptations if a.column in ("month", "year") for value in (a.old, a.new)}


def _nothing_to_adapt(sig: SQLSignature, question: str, phrasing: str, q_words: list[str], p_words: list[str],
                      q_numbers: list[str], p_numbers: list[str]) -> bool:
    """Whether the question states every literal the phrasing does (the common case), so no copy of the
    query needs rewriting."""
    if any(n not in p_numbers for n in q_numbers):
        return False
    sql_numbers = [_canonical_number(n) for n in sig.numbers] + ([str(sig.limit)] if sig.limit is not None else [])
    if any(n in p_numbers and n not in q_numbers for n in sql_numbers):
        return False
    if any(mentions(p_words, v.strip("%")) and not mentions(q_words, v.strip("%")) for v in sig.strings if v.strip("%")):
        return False
    # A language code the phrasing may name by the language ("in Spanish"): only its column tells.
    if any(len(v) == 2 and v.lower() in language_names() for v in sig.strings):
        return False
    asked, vetted = periods_in(question), periods_in(phrasing)
    return {(p.year, p.month, p.months) for p in asked} == {(p.year, p.month, p.months) for p in vetted}


def adapt(
    cluster: "Cluster", pair_sql: str, question: str, phrasing: str, dialect: str
) -> tuple[exp.Expression | None, list[Adaptation], list[str]]:
    """Rewrite (a copy of) the pair's literals that the phrasing states and the question replaces; report what's
    unaccounted. The tree is None when nothing was adapted."""
    original = parsed(pair_sql, dialect)
    if original is None:
        return None, [], ["unparsable"]
    q_words, p_words = _cased(question), _cased(phrasing)
    q_numbers, p_numbers = numbers_in(question), numbers_in(phrasing)
    codes = _codes(cluster_index(cluster)).values()
    if (_nothing_to_adapt(signature(pair_sql, dialect), question, phrasing, q_words, p_words, q_numbers, p_numbers)
            and not any(_code_named(named, question) - _code_named(named, phrasing) for named in codes)):
        return None, [], []
    # Most phrasings rewrite nothing: first go through the literals of the shared tree without changing it,
    # and copy it only when something is to be rewritten (then all over again, on the copy).
    checked = _rewrite(cluster, _facts(original), question, phrasing, q_words, p_words, q_numbers, p_numbers, dry=True)
    if checked is not None:
        return checked
    return _rewrite(cluster, _facts(original).copied(), question, phrasing, q_words, p_words, q_numbers, p_numbers, dry=False)


class _TreeFacts:
    """What ``adapt`` and ``value_problems`` read from a tree, each walked for once; remembered per shared
    (parsed, never changed) tree by ``_facts``."""

    def __init__(self, tree: exp.Expression):
        self.tree = tree

    @cached_property
    def columns(self) -> dict[int, str]:
        return _literal_columns(self.tree)

    def copied(self) -> "_TreeFacts":
        """Facts of a copy of the tree: its literals (found in the same order) compare with the same columns,
        and its dates span the same period."""
        copy = _TreeFacts(self.tree.copy())
        originals = {id(literal): i for i, literal in enumerate(self.literals)}
        literals = copy.literals
        copy.columns = {id(literals[originals[key]]): column for key, column in self.columns.items()}
        copy.period = self.period
        return copy

    @cached_property
    def literals(self) -> list[exp.Literal]:
        return list(self.tree.find_all(exp.Literal))

    @cached_property
    def period(self) -> "Period | None":
        return sql_period(self.tree)

    @cached_property
    def strings(self) -> set[str]:
        return {str(l.this).strip("%").lower() for l in self.literals if l.is_string}

    @cached_property
    def grouped(self) -> set[str]:
        return {c.name.lower() for group in self.tree.find_all(exp.Group) for c in group.find_all(exp.Column)}


_FACTS: dict[int, _TreeFacts] = {}


def _facts(tree: exp.Expression) -> _TreeFacts:
    """The facts of a shared tree (one ``parsed`` returns), remembered while it lives."""
    facts = _FACTS.get(id(tree))
    if facts is not None and facts.tree is tree:
        return facts
    if len(_FACTS) > 8192:
        _FACTS.clear()
    facts = _FACTS[id(tree)] = _TreeFacts(tree)
    return facts


def _rewrite(
    cluster: "Cluster", facts: _TreeFacts, question: str, phrasing: str, q_words: list[str], p_words: list[str],
    q_numbers: list[str], p_numbers: list[str], dry: bool,
) -> tuple[exp.Expression | None, list[Adaptation], list[str]] | None:
    """``adapt`` on ``facts.tree``, rewritten in place; with ``dry`` nothing is changed and the answer is None
    as soon as something would be."""
    tree = facts.tree
    columns = facts.columns
    if dry:
        new_periods, old_periods = _period_change(question, phrasing, facts.period)
        if len(new_periods) == 1 and len(old_periods) == 1:
            return None
        adaptations, problems = _move_periods(tree, question, new_periods, old_periods)
    else:
        adaptations, problems = _move_periods(tree, question, *_period_change(question, phrasing, facts.period))
    limit_node = tree.args.get("limit") if isinstance(tree, exp.Query) else None
    limit_ids = {id(limit_node.expression)} if isinstance(limit_node, exp.Limit) else set()
    # "top 10 songs" asked of "most streamed songs … LIMIT 10": the number is the query's own limit.
    limit = _canonical_number(limit_node.expression.sql()) if limit_ids else None
    fresh_numbers = [n for n in q_numbers if n not in p_numbers and n not in _years(adaptations)
                     and not (n == limit and _number_context(question, n) & _RANK_WORDS)]
    p_numbers = [n for n in p_numbers if n not in _years(adaptations)]
    codes = _codes(cluster_index(cluster))
    for literal in facts.literals if dry else list(tree.find_all(exp.Literal)):
        value = str(literal.this)
        named = codes.get(str(columns.get(id(literal), "")).lower(), {})
        if value in named:  # a code the docs name: "delivered" (4) asked as "cancelled" (9)
            said, asked = _code_named(named, phrasing), _code_named(named, question)
            if value not in said or value in asked:
                continue
            if len(asked - said) != 1:
                problems.append(f"code {value} ({named[value]})")
                continue
            if dry:
                return None
            new = (asked - said).pop()
            literal.replace(exp.Literal.string(new) if literal.is_string else exp.Literal.number(new))
            adaptations.append(Adaptation(columns[id(literal)], value, new, (named[value], named[new])))
            continue
        if literal.is_string:
            bare = value.strip("%")
            column = columns.get(id(literal))
            if not bare or mentions(q_words, bare, column):
                continue
            if not mentions(p_words, bare, column):
                continue
            column = column or "value"
            new = _question_value(cluster, column, question, phrasing, bare, literal)
            if new is None and _glossed(phrasing, bare) & _glosses(question):
                continue
            if new is None:
                problems.append(f"literal '{bare}'")
                continue
            if dry:
                return None
            literal.replace(exp.Literal.string(value.replace(bare, new)))
            adaptations.append(Adaptation(column, bare, new))
        else:
            number = _canonical_number(value)
            is_limit = id(literal) in limit_ids
            # "Most streamed songs in the US", vetted with LIMIT 10, says no number: "the 20 most streamed songs"
            # sets the LIMIT the phrasing leaves unsaid (the number must rank, see below).
            unsaid_limit = (is_limit and bool(fresh_numbers) and not numbers_in(_without_periods(phrasing))
                            and bool(_superlatives(phrasing)))
            if number in q_numbers or number not in p_numbers and not unsaid_limit:
                continue
            new = fresh_numbers[0] if len(fresh_numbers) == 1 else None
            if new is None or not (_is_year(number) and _is_year(new) or _number_context(phrasing, number) & _number_context(question, new)
                                   or is_limit and _number_context(question, new) & _RANK_WORDS):
                problems.append(f"number {number}")
                continue
            if dry:
                return None
            fresh_numbers.pop()
            column = "LIMIT" if is_limit else columns.get(id(literal), "value")
            literal.replace(exp.Literal.number(new))
            adaptations.append(Adaptation(column, number, new))
    if fresh_numbers:
        problems.append("numbers " + ", ".join(fresh_numbers))
    if isinstance(tree, exp.Query) and not limit_ids and any(w in q_words for w in ("top", "first")) and fresh_numbers:
        problems.append("limit")
    return (tree if adaptations else None), adaptations, problems


# Words a gloss's word may be said with ("girl students" of "female (sex is F)").
_SAME_AS = {"girl": "female", "woman": "female", "women": "female", "lady": "female", "boy": "male", "man": "male",
            "men": "male", "gentleman": "male"}


def _glosses(text: str) -> set[str]:
    return {_SAME_AS.get(_singular(w), _singular(w)) for w in _plain(text)}


def _glossed(phrasing: str, value: str) -> set[str]:
    """The word a phrasing explains ``value`` by in parentheses: "female (sex is F)", "dorm (with gender M)" →
    {"female"}, {"dorm"}; a question that says the word names the value."""
    out: set[str] = set()
    for match in re.finditer(r"([A-Za-z]+)\s*\(([^()]{1,40})\)", phrasing):
        if mentions(_cased(match.group(2)), value):
            out |= _glosses(match.group(1))
    return out


def schema_words(index: ClusterIndex) -> set[str]:
    """Stemmed words of every table and column name of the cluster."""
    words_ = index.memo.get("schema_words")
    if words_ is None:
        words_ = set()
        for dataset in index.datasets:
            words_ |= {stem(w) for w in split_identifier(dataset.table_name)}
            for column in dataset.columns:
                words_ |= {stem(w) for w in split_identifier(column.name)}
        index.memo["schema_words"] = words_
    return words_


_DEFINED = re.compile(r"\*\*([^*]{1,80})\*\*|[\"“]([^\"”]{1,80})[\"”]")


def concept_words(index: ClusterIndex) -> set[str]:
    """What the cluster's experts name as its concepts: its keywords, the tags of its pairs ("streams",
    "signups", "MAU") and the terms its docs define: **bold** and "quoted" words ("Paying subscribers"
    means plans other than free)."""
    words_ = index.memo.get("concept_words")
    if words_ is None:
        texts = index.cluster.keywords + [tag for pair in index.pairs for tag in pair.tags]
        texts += [" ".join(terms) for section in index.sections for terms in _DEFINED.findall(section.text)]
        words_ = set(_domain(" ".join(texts)))
        index.memo["concept_words"] = words_
    return words_


def _codes(index: ClusterIndex) -> dict[str, dict[str, str]]:
    """The codes the cluster's docs name per column (``definitions.coded_values``), read once per loaded cluster."""
    if "codes" not in index.memo:
        index.memo["codes"] = coded_values(index.cluster)
    return index.memo["codes"]


def code_words(index: ClusterIndex) -> set[str]:
    """Stemmed words of what the docs call a column's codes ("delivered", "cancelled" of ``status_code``): a
    question that says one asks for those rows, like a value the profiles know."""
    if "code_words" not in index.memo:
        index.memo["code_words"] = {stem(w) for names in _codes(index).values() for name in names.values() for w in words(name)}
    return index.memo["code_words"]


def _codes_compared(index: ClusterIndex, pair_sql: str, dialect: str) -> set[str]:
    """Stemmed words of the codes the query keeps by equality (``status_code = 4`` says "delivered"); a code it
    excludes (``<> 9``) is not one it is about."""
    codes = _codes(index)
    if not codes:
        return set()
    memo = index.memo.setdefault("codes_compared", {})
    if pair_sql not in memo:
        tree, said = parsed(pair_sql, dialect), set()
        for node in tree.find_all(exp.EQ, exp.In) if tree is not None else ():
            column = node.find(exp.Column)
            names = codes.get(column.name.lower(), {}) if column is not None else {}
            said |= {stem(w) for literal in node.find_all(exp.Literal) if str(literal.this) in names
                     for w in words(names[str(literal.this)])}
        memo[pair_sql] = said
    return memo[pair_sql]


def _code_named(codes: dict[str, str], text: str) -> set[str]:
    """The codes of one column whose names ``text`` says."""
    lowered = " ".join(_plain(text))
    return {code for code, name in codes.items() if re.search(rf"\b{re.escape(name)}\b", lowered)}


def _outer_select(pair_sql: str, dialect: str) -> exp.Select | None:
    """The SELECT whose columns a pair's query returns (the first one, under a WITH or a UNION); None unparsed."""
    tree = parsed(pair_sql, dialect)
    return tree if isinstance(tree, exp.Select) or tree is None else tree.find(exp.Select)


@lru_cache(maxsize=8192)
def _projected_words(pair_sql: str, dialect: str) -> list[tuple[str, set[str]]]:
    select = _outer_select(pair_sql, dialect)
    if select is None:
        return []
    out = []
    for projection in select.expressions:
        if isinstance(projection, exp.Column) or (isinstance(projection, exp.Alias) and isinstance(projection.this, exp.Column)):
            column = projection if isinstance(projection, exp.Column) else projection.this
            out.append((column.name, {stem(w) for w in split_identifier(column.name)}))
    return out


def grounding_problems(
    index: ClusterIndex, question: str, pair: "Pair", phrasing: str, sig: SQLSignature, dialect: str,
    adapted: set[str] = frozenset(),
) -> list[str]:
    """Words of the cluster's schema or concepts that the question uses and the pair ignores ("streams" asked of
    a signups pair), and columns the pair returns that the question skips.

    Every phrasing of the pair was vetted for the same SQL, so a word any of them uses is accounted for.
    """
    q_terms, p_terms = _domain(_without_periods(question)), _pair_words(index, pair)
    sql_terms = _sql_words(sig) | _codes_compared(index, pair.sql, dialect)
    known = schema_words(index) | concept_words(index) | code_words(index)
    as_written = {stem(word): word for word in reversed(words(question))}  # named as the question says it
    problems = [f"mentions {as_written.get(t, t)}" for t in sorted(_unaccounted((q_terms - adapted) & known, p_terms | sql_terms))]
    # "Which 5 buyers …" of "Which 5 sellers …": the question lists, ranks or counts something no phrasing names
    # and never says what the phrasing does (that the query reads buyer_id accounts for the word, not for the rows).
    # A table the query does not read is no subject of it, and a term the docs define is said when it is meant
    # ("How many events" is not "how many sessions", which the docs define as distinct session ids); another word
    # for the same rows ("classrooms" of rooms) may be.
    asked_of, vetted_of = (_subjects(text) & known for text in (question, phrasing))
    said = lambda texts: {stem(w) for text in texts for w in _plain(text)}  # noqa: E731 - any word, framing too ("shows")
    others = _unaccounted(asked_of - adapted, said(_phrasings(index, pair)))
    if (others and vetted_of and _unaccounted(vetted_of, said([question])) == vetted_of
            and (others & _unread_table_words(index, sig) or vetted_of & _defined_terms(index))):
        problems.append(f"asks about {', '.join(sorted(asked_of))}, not {', '.join(sorted(vetted_of))}")
    for name, column_words in _projected_words(pair.sql, dialect):
        if column_words & _domain(phrasing) and not column_words & q_terms:
            problems.append(f"returns {name}")
    known |= {w for text in _phrasings(index, pair) for w in _domain(text)} | set(_profiled_words(index))
    # A country is a value the literals speak for ("UK accounts" of ``country_code = 'US'``, adapted to 'GB'); a
    # qualifier's words ("including test users") are the qualifier check's.
    countries = {code.lower() for code in sig.strings} | adapted
    problems += [f"says which {entity}: {word}" for word, entity in _entity_modifiers(without_spans(question, qualifiers_in(question)), sig)
                 if stem(word) not in known | adapted and COUNTRIES.get(word, DEMONYMS.get(word, "")).lower() not in countries]
    return problems


# Words said before a noun that point at it or frame it rather than name a kind of it.
_NOT_A_KIND = set("""new existing within respective related associated given certain specific particular various other
    same such both either each own""".split())


def _entity_modifiers(question: str, sig: SQLSignature) -> list[tuple[str, str]]:
    """(word, entity) for each word said just before an entity whose key the query reads ("enterprise accounts" of a
    query reading ``account_id``): a kind of that entity the question asks about, which the pair must account for.
    Words that frame, count, rank, negate or name a period are no kind, nor are "new" ("new users signed up"),
    "respective", a participle ("corresponding") or a number."""
    entities = {stem(name[:-3]) for name in (c.rsplit(".", 1)[-1].lower() for c in sig.columns) if name.endswith("_id") and len(name) > 3}
    pairs = re.findall(r"(?=\b([a-z]+) ([a-z]+)\b)", _without_periods(question).lower())  # next to each other, no comma
    return [(before, word) for before, word in pairs
            if stem(_singular(word)) in entities and (len(before) > 3 or before in COUNTRIES) and not before.endswith("ing")
            and before not in STOP_WORDS | _NEGATION | _NOT_A_KIND | NUMBER_WORDS.keys()
            and stem(before) not in _CUE_WORDS | _FRAMING | _RANK_WORDS]


def _profiled_words(index: ClusterIndex) -> set[str]:
    """Stemmed words of the cluster's profiled text values."""
    if "profiled_words" not in index.memo:
        index.memo["profiled_words"] = {w for _, value, _ in _profiled_values(index) for w in tokenize(value)}
    return index.memo["profiled_words"]


def _unread_columns(index: ClusterIndex, sig: SQLSignature) -> set[str]:
    """Stemmed whole names of the columns of the cluster's tables the query does not read (``tier`` of sellers,
    asked of a query of refunds), less the names of the columns it does."""
    read = {t.rsplit(".", 1)[-1].lower() for t in sig.tables}
    unread = {stem(c.name.lower()) for d in index.datasets if d.table_name.lower() not in read for c in d.columns}
    return unread - {stem(c.rsplit(".", 1)[-1].lower()) for c in sig.columns}


def _unread_table_words(index: ClusterIndex, sig: SQLSignature) -> set[str]:
    """Stemmed words of the cluster's tables the query does not read, less those of the tables it does."""
    read = {t.rsplit(".", 1)[-1].lower() for t in sig.tables}
    words_of = lambda names: {stem(w) for name in names for w in split_identifier(name)}  # noqa: E731
    tables = {d.table_name.lower() for d in index.datasets}
    return words_of(tables - read) - words_of(read)


def _defined_terms(index: ClusterIndex) -> set[str]:
    """Stemmed words of the terms the cluster's docs define in bold ("A **session** is a distinct session_id")."""
    if "defined_terms" not in index.memo:
        texts = [" ".join(terms) for section in index.sections for terms in _DEFINED.findall(section.text)]
        index.memo["defined_terms"] = _domain(" ".join(texts))
    return index.memo["defined_terms"]


_SUBJECT = re.compile(r"\b(?:which|how many|number of|top)\s+(?:\d+\s+)?(?:(?:different|distinct|unique|of the)\s+)?([a-z]+)")


@lru_cache(maxsize=8192)
def _subjects(text: str) -> frozenset[str]:
    """Stemmed words of what a question lists, ranks or counts: "which 5 sellers", "how many sessions", "top 10
    tracks" (the words after them, not what they are said of)."""
    return frozenset(stem(m.group(1)) for m in _SUBJECT.finditer(text.lower()))


def _unaccounted(terms: set[str], accounted: "set[str] | frozenset[str]") -> set[str]:
    """The stemmed ``terms`` that are not ``accounted`` for in either form: the stemmer leaves words of three
    letters alone, so "ads" is "ad" of ``ad_impressions`` and "per ad format"."""
    return {t for t in terms if t not in accounted and not (t.endswith("s") and t[:-1] in accounted)}


def _pair_words(index: ClusterIndex, pair: "Pair") -> frozenset[str]:
    """Domain words of every phrasing of ``pair`` (its question and paraphrases, acronyms also spelled out)."""
    return _phrasings_words(_phrasings(index, pair))


def _phrasings(index: ClusterIndex, pair: "Pair") -> tuple[str, ...]:
    """``pair``'s question and paraphrases, and each with the acronyms the docs spell out in their words, as a
    question is read: "What was GMV per month in 2026?" asked as written met only "gross merchandise value"."""
    spelled = _acronyms(index)
    if not spelled:
        return tuple(pair.questions)
    memo = index.memo.setdefault("phrasings", {})  # read by every check of every candidate: once per pair
    if pair.id not in memo:
        values = lambda: {v.lower() for _, v, _ in _profiled_values(index)}  # noqa: E731
        out = list(pair.questions)
        for phrasing in pair.questions:
            if (said := acronyms_spelled_out(phrasing, spelled, values)) not in out:
                out.append(said)
        memo[pair.id] = tuple(out)
    return memo[pair.id]


def _acronyms(index: ClusterIndex) -> dict[str, str]:
    """The acronyms the cluster's docs spell out, read once per loaded cluster."""
    if "acronyms" not in index.memo:
        index.memo["acronyms"] = acronyms(index.cluster)
    return index.memo["acronyms"]


@lru_cache(maxsize=8192)
def _phrasings_words(phrasings: tuple[str, ...]) -> frozenset[str]:
    return frozenset().union(*(_domain(_without_periods(p)) for p in phrasings))


def _without_periods(text: str) -> str:
    """``text`` without the calendar periods it names ("Nov 2026", "so far in Nov 2026"): periods are compared
    on their own."""
    text = without_so_far(text)
    for period in periods_in(text):
        if period.text:
            text = text.replace(period.text, " ")
    return text


_BY = re.compile(r"\b(\w+\s+)?(?:by|per|for each|for every)\s+((?:[a-z_]+\s+){0,3}[a-z_]+)", re.IGNORECASE)
_BY_STOP = {"in", "for", "on", "at", "from", "during", "and", "or", "with", "of", "over", "since", "before",
            "after", "between", "vs", "versus", "than", "the", "a", "an", "each", "every", "their", "its", "id",
            "without", "excluding", "including", "except"}
# Passive "by" names who did something ("taught by a teacher", "released by the artist"), not a split.
_PASSIVE = {"taught", "bought", "made", "written", "done", "given", "held", "sold", "won", "led", "run", "built",
            "owned", "known", "seen", "taken", "driven", "drawn", "chosen", "paid", "sent", "spent", "read", "kept"}
_SPLITTING = {"ordered", "sorted", "ranked", "grouped", "broken", "split", "listed", "arranged", "aggregated"}


def _by_terms(question: str) -> set[str]:
    """Words of what the question splits or ranks by ("top advertisers by impressions", "streams per
    platform"), up to the next preposition; not a passive "by" ("songs released by the artist")."""
    return set().union(*_by_phrases(question))


@lru_cache(maxsize=8192)
def _by_phrases(question: str) -> tuple[frozenset[str], ...]:
    """``_by_terms`` of each "by …" or "per …" of the question on its own: "per seller tier" → {seller, tier}."""
    out: list[frozenset[str]] = []
    for match in _BY.finditer(question):
        before = (match.group(1) or "").strip().lower()
        if before not in _SPLITTING and (before.endswith("ed") or before in _PASSIVE):
            continue
        kept: list[str] = []  # content words: "by number of listeners" splits by listeners
        for word in match.group(2).lower().split():
            if word in _BY_STOP and kept:
                break
            if word not in _BY_STOP and _domain(word):
                kept.append(word)
        if kept:
            out.append(frozenset(kept))
    return tuple(out)


@lru_cache(maxsize=8192)
def _computed_words(pair_sql: str, dialect: str) -> frozenset[str]:
    """Stemmed words of what the query returns, groups and orders by: columns and aliases outside WHERE."""
    tree = parsed(pair_sql, dialect)
    if tree is None:
        return frozenset()
    out: set[str] = set()
    # "per seller tier" of ``s.tier`` from market.sellers AS s: a column's table names it too
    tables = {t.alias_or_name.lower(): t.name for t in tree.find_all(exp.Table)}
    for select in tree.find_all(exp.Select):
        nodes = list(select.expressions) + [select.args[k] for k in ("group", "order") if select.args.get(k)]
        for node in nodes:
            names = [c.name for c in node.find_all(exp.Column)] + [a.alias for a in node.find_all(exp.Alias)]
            names += [tables.get(c.table.lower(), "") for c in node.find_all(exp.Column) if c.table]
            out |= {stem(w) for name in names if name for w in split_identifier(name)}
    return frozenset(out)


def split_problems(index: ClusterIndex, question: str, pair: "Pair", dialect: str, adapted: set[str] = frozenset()) -> list[str]:
    """Words of the cluster's schema or concepts that the question splits or ranks by and that neither a
    phrasing of the pair names nor its query returns, groups or orders by: "top 5 advertisers by impressions"
    of a pair that ranks by revenue and merely filters on ``impression_date``."""
    accounted = adapted | _pair_words(index, pair) | _computed_words(pair.sql, dialect)
    known = schema_words(index) | concept_words(index) | code_words(index)
    # The light stemmer reads "speed" and "speeds" differently: either form of the word may be the pair's.
    missing = {w for w in _by_terms(question) if not {stem(w), stem(w.rstrip("s"))} & accounted and stem(w) in known}
    return [f"by {', '.join(sorted(missing))}"] if missing else []


def self_problems(index: ClusterIndex, pair: "Pair", dialect: str) -> list[str]:
    """What the pair's own question splits by and its query neither reads nor returns, when its question names
    more of the cluster's schema that the query does not read: a pair vetted as "What was GMV per seller tier in
    October 2026?" over a query of refunds per buyer country answers neither its question nor one like it (a
    mined pair given another proposal's question). A query that does not group splits by nothing: its "per" is a
    ratio ("average revenue per paying user")."""
    memo = index.memo.setdefault("self_problems", {})
    if pair.id in memo:
        return memo[pair.id]
    sig, memo[pair.id] = signature(pair.sql, dialect), []
    if not sig.grouped:
        return []
    computed = _computed_words(pair.sql, dialect)
    # One word of a split it returns is enough: "per podcast category" of ``shows.category`` in schema podcasts.
    # And only a column of a table the query does not read is a split it lacks: "per department" of ``dept_name``
    # is not.
    unread = _unread_columns(index, sig)
    missing = [words_ for words_ in _by_phrases(pair.question) if {stem(w) for w in words_} & unread
               and not any({stem(w), stem(w.rstrip("s"))} & computed for w in words_)]
    # One word read another way ("each gender" of ``sex``) is the experts' to say; two are another query.
    unsaid = _unaccounted(_domain(_without_periods(pair.question)) & schema_words(index), _sql_words(sig) | computed)
    if missing and len(unsaid) >= 2:
        said = ", ".join(" ".join(sorted(words_)) for words_ in missing)
        memo[pair.id] = [f"its own question splits by {said}, its query does not"]
    return memo[pair.id]


# Ratio words are interchangeable with each other ("share", "rate", "percentage") but not with a count or sum.
_RATIO = {"rate", "rates", "ratio", "ratios", "share", "percentage", "percentages", "percent", "proportion",
          "fraction", "pct", "ctr"}
# Units a number is stated in, by kind and canonical name: "how many hours" is not answered by a pair that
# returns minutes, "in euros" not by one that returns dollars; "dollars" and "USD" are one unit.
_UNITS = {"millisecond": ("time", "ms"), "ms": ("time", "ms"), "second": ("time", "second"),
          "minute": ("time", "minute"), "hour": ("time", "hour"), "cent": ("money", "cent"),
          "dollar": ("money", "usd"), "usd": ("money", "usd"), "euro": ("money", "eur"), "eur": ("money", "eur"),
          "pound": ("money", "gbp"), "gbp": ("money", "gbp"), "krona": ("money", "sek"), "kronor": ("money", "sek"),
          "sek": ("money", "sek"), "yen": ("money", "jpy"), "jpy": ("money", "jpy")}


def _singular(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


@lru_cache(maxsize=8192)
def _output_words(pair_sql: str, dialect: str) -> frozenset[str]:
    """Lower-case words of the names of what the query returns (aliases, else columns): ``avg_minutes``."""
    select = _outer_select(pair_sql, dialect)
    if select is None:
        return frozenset()
    names = [p.alias or (p.name if isinstance(p, exp.Column) else "") for p in select.expressions]
    return frozenset(_singular(w) for name in names if name for w in split_identifier(name))


@lru_cache(maxsize=8192)
def _phrasings_raw_words(phrasings: tuple[str, ...]) -> frozenset[str]:
    return frozenset(_singular(w.lower()) for p in phrasings for w in re.findall(r"[A-Za-z]+", p))


def measure_problems(question: str, pair: "Pair", dialect: str, phrasings: tuple[str, ...] = ()) -> list[str]:
    """A ratio the question asks for ("refund rate") that no phrasing of the pair names and its query does not
    return, and a unit ("in hours", "in euros") the pair neither says nor returns while it says or returns
    another of the same kind (minutes, dollars). ``phrasings``: the pair's, acronyms spelled out (default: its own)."""
    asked = {_singular(w.lower()) for w in re.findall(r"[A-Za-z]+", question)}
    said = _phrasings_raw_words(phrasings or tuple(pair.questions)) | _output_words(pair.sql, dialect)
    problems = []
    if asked & {_singular(w) for w in _RATIO} and not said & {_singular(w) for w in _RATIO}:
        problems.append("ratio")
    given = {_UNITS[w] for w in said if w in _UNITS}
    for unit in sorted(asked & _UNITS.keys()):
        kind, name = _UNITS[unit]
        if (kind, name) not in given and any(k == kind for k, _ in given):
            problems.append(f"unit {unit}")
    return problems


def _value_words(value: Any, spoken: str = "", column: str | None = None) -> set[str]:
    text = str(value)
    return {stem(w) for part in [text, spoken, *value_names(text, column)] for w in words(part)}


def _adapted_words(adaptations: list[Adaptation]) -> tuple[set[str], set[str]]:
    new: set[str] = set()
    old: set[str] = set()
    for adaptation in adaptations:
        new |= _value_words(adaptation.new, adaptation.spoken[1], adaptation.column)
        old |= _value_words(adaptation.old, adaptation.spoken[0], adaptation.column)
    return new, old


def period_problems(question: str, phrasing: str, sig: SQLSignature) -> list[str]:
    """Relative periods ("last week", "yesterday") and time grains ("per day", "monthly") the question and the
    pair's phrasing do not share; a grain the SQL names as a column or literal ("year") is not one."""
    problems = []
    if relative_periods(question) != relative_periods(phrasing):
        problems.append("period " + ", ".join(sorted(relative_periods(question) ^ relative_periods(phrasing))))
    differ = (grains(question) ^ grains(phrasing)) - _sql_words(sig)
    if differ:
        problems.append("per " + ", ".join(sorted(differ)))
    return problems


def data_range_problems(index: ClusterIndex, sig: SQLSignature, tree: exp.Expression | None,
                        adaptations: list[Adaptation]) -> list[str]:
    """An adapted period the profiled data does not cover at all: it ends by the first or starts after the last
    value of the date column it filters ("March 2026" of a table that holds the last 90 days). A period the data
    cover in part is answered with ``partial_period_note``'s note. The pair's own period was vetted; only a moved
    one is checked."""
    if tree is None or not any(a.column in ("month", "year") for a in adaptations):
        return []
    return [f"no data for that period in {table}.{column} ({first} to {last})"
            for table, column, days, first, last in _profiled_ranges(index, sig, tree)
            if _missing_share(days, first, last) > MISSING_START]


MISSING_START = 0.1
"""The share of a period before the first profiled day up to which it is answered, with a note ("2025" of data
from 2025-01-06); more ("August 2026" of data from 2026-08-28) and there is no answer for that period."""


def _missing_share(days: list[date], first: date, last: date) -> float:
    """The share of the period ``days`` spans (its end exclusive, as "< 2026-01-01") that falls before ``first``;
    1.0 when it starts after ``last``."""
    start, end = min(days), max(days)
    if start > last or end <= first:
        return 1.0
    return max(0, (first - start).days) / max(1, (end - start).days)


def _profiled_ranges(index: ClusterIndex, sig: SQLSignature, tree: exp.Expression) -> list[tuple[str, str, list[date], date, date]]:
    """(table, column, the query's dates compared with it, first and last profiled value) per date column the
    query filters with literal dates."""
    columns = _literal_columns(tree)
    bounds: dict[str, list[date]] = {}
    for literal, day in date_literals(tree):
        if id(literal) in columns:
            bounds.setdefault(columns[id(literal)].lower(), []).append(day)
    tables = {t.rsplit(".", 1)[-1] for t in sig.tables}
    found = []
    for dataset in index.datasets:
        if dataset.table_name.lower() not in tables:
            continue
        for name, days in bounds.items():
            column = dataset.column(name)
            first, last = (day_of(column.min), day_of(column.max)) if column is not None else (None, None)
            if first is not None and last is not None:
                found.append((dataset.table, column.name, days, first, last))
    return found


def partial_period_note(index: ClusterIndex, sql: str, dialect: str) -> str:
    """"" or a note that the query's period runs past the last profiled day ("November 2026" when the data
    was profiled through 2026-11-25), or starts before the first ("2025" of data from 2025-01-06): the numbers may
    be for part of it."""
    tree = parsed(sql, dialect)
    if tree is None:
        return ""
    for table, column, days, first, last in _profiled_ranges(index, signature(sql, dialect), tree):
        # The period's end is usually exclusive ("< 2026-12-01"): partial when the data stops before its last day.
        if first <= min(days) <= last and max(days).toordinal() - 1 > last.toordinal():
            return f"{table}.{column} was profiled through {last}: the period may be incomplete"
        if 0 < _missing_share(days, first, last) <= MISSING_START:
            return f"{table}.{column} holds data from {first} on: the period may be incomplete"
    return ""


def _profiled_values(index: ClusterIndex) -> list[tuple[str, str, list[set[str]]]]:
    """(column, value, word sets that may name it) for every profiled common value a question could name."""
    values = index.memo.get("profiled_values")
    if values is None:
        values = []
        for dataset in index.datasets:
            for column in dataset.columns:
                for entry in column.common_values:
                    value = entry.get("value") if isinstance(entry, dict) else None
                    if isinstance(value, str) and len(value) > 1:
                        names = spoken_names(value, column.name)
                        values.append((column.name.lower(), value, [set(_plain(v)) for v in [value, *names] if _plain(v)]))
        index.memo["profiled_values"] = values
    return values


def _named_values(index: ClusterIndex, question: str) -> list[tuple[str, str]]:
    """The profiled values ``question`` names, as (column, value); remembered for the last question asked."""
    cached = index.memo.get("named_values")
    if cached is not None and cached[0] == question:
        return cached[1]
    said = _plain(question)
    # "smart speakers" names 'smart_speaker': the last word of a value may be said in the plural.
    lowered, cased = set(said) | {_singular(w) for w in said} | {w[:-2] for w in said if w.endswith("es")}, _cased(question)
    named = [(column, value) for column, value, alternatives in _profiled_values(index)
             if any(words_ <= lowered for words_ in alternatives) and mentions(cased, value, column)]
    index.memo["named_values"] = (question, named)
    return named


_PARTICLES = {"in", "out", "up", "on", "off"}


def _phrasal_nouns(said: Sequence[str]) -> set[str]:
    """The nouns a verb and its particle make ("logged in" → "login", "signed up" → "signup", "checks out" →
    "checkout"): how a value such as an event name is said as a verb.

    >>> sorted(_phrasal_nouns(["accounts", "logged", "in", "per", "day"]))
    ['loggedin', 'loggin', 'login']
    """
    out: set[str] = set()
    for verb, particle in zip(said, said[1:]):
        if particle not in _PARTICLES:
            continue
        for suffix in ("ed", "ing", "s"):
            if verb.endswith(suffix) and len(verb) > len(suffix) + 2:
                base = verb[: -len(suffix)]
                out |= {base + particle, base[:-1] + particle} if base[-1] == base[-2] else {base + particle}
        out.add(verb + particle)
    return out


def _excluded_strings(tree: exp.Expression) -> set[str]:
    """The text literals the query only ever leaves out (``event_name <> 'login'``, ``NOT IN (…)``)."""
    excluded: set[str] = set()
    kept: set[str] = set()
    for literal in tree.find_all(exp.Literal):
        if literal.is_string:
            negated = isinstance(literal.parent, exp.NEQ) or any(isinstance(a, exp.Not) for a in _ancestors(literal, 3))
            (excluded if negated else kept).add(str(literal.this))
    return excluded - kept


def _ancestors(node: exp.Expression, depth: int) -> list[exp.Expression]:
    out = []
    while node.parent is not None and len(out) < depth:
        node = node.parent
        out.append(node)
    return out


def value_problems(index: ClusterIndex, question: str, phrasing: str, tree: exp.Expression | None) -> list[str]:
    """Profiled values the question names ("… in Brazil per month") that the pair neither filters on nor
    groups by, and its phrasing does not name; and a value the pair leaves out that the question asks about
    without a negation ("How many accounts logged in …" of ``event_name <> 'login'``)."""
    if tree is None:
        return []
    p_words = _cased(phrasing)
    excluded = _excluded_strings(tree)
    if excluded and not cues(question)["negation"]:
        said = _cased(question) + sorted(_phrasal_nouns(_plain(question)))
        left_out = [f"value '{value}' the pair leaves out" for value in sorted(excluded)
                    if len(value) > 1 and mentions(said, value) and not mentions(p_words, value)]
        if left_out:
            return left_out
    named = _named_values(index, question)
    if not named:
        return []
    facts = _FACTS.get(id(tree))
    facts = facts if facts is not None and facts.tree is tree else _TreeFacts(tree)
    literals, grouped = facts.strings, facts.grouped
    # One problem per value, though several tables may profile the same column ('SE' in three of them).
    problems = [f"value '{value}'" for column, value in named
                if column not in grouped and value.lower() not in literals and not mentions(p_words, value, column)]
    # "How many video impressions …" of "Audio, display and video impressions …" grouped by format asks for one
    # of the groups the phrasing names, not for all of them.
    listed = {column for column, value in named if column in grouped and value.lower() not in literals and mentions(p_words, value, column)}
    if listed:
        asked = {(column, value) for column, value in named}
        problems += [f"only some of {column}" for column, value, _ in _profiled_values(index)
                     if column in listed and (column, value) not in asked and mentions(p_words, value, column)]
    return list(dict.fromkeys(problems))


def _shared_values(index: ClusterIndex, question: str, phrasing: str, adapted: tuple[set[str], set[str]]) -> tuple[set[str], set[str]]:
    """``adapted`` plus the words of profiled values the question and the phrasing both name, however each says
    it ("US" and "the United States"): they account for each other like an adapted literal."""
    p_words = _cased(phrasing)
    shared = set().union(*(_value_words(value, "", column) for column, value in _named_values(index, question)
                           if mentions(p_words, value, column)))
    # Only the words one side says and the other does not: "sweden" in both still counts as a match.
    return adapted[0] | (shared - _domain(phrasing)), adapted[1] | (shared - _domain(question))


@lru_cache(maxsize=8192)
def _count_aliases(pair_sql: str, dialect: str) -> frozenset[str]:
    """The names the query gives its counts (``COUNT(DISTINCT session_id) AS sessions`` → "session"), singular."""
    select = _outer_select(pair_sql, dialect)
    if select is None:
        return frozenset()
    return frozenset(_singular(w.lower()) for e in select.expressions if isinstance(e, exp.Alias) and e.find(exp.Count)
                     for w in split_identifier(e.alias))


def _candidate(index: ClusterIndex, pair: "Pair", question: str, dialect: str) -> Candidate:
    sig = signature(pair.sql, dialect)
    # A headline that names what the query counts ("Sessions by platform last month" of ``COUNT(…) AS sessions``)
    # asks for the count as one the experts vetted does.
    headline_counts = "count" in sig.aggregates and (
        any(is_headline(p) and not cues(p)["count"] for p in pair.questions)
        or is_headline(question) and bool({_singular(w) for w in _plain(question)} & _count_aliases(pair.sql, dialect)))
    best: Candidate | None = None
    for phrasing in _phrasings(index, pair):
        tree, adaptations, problems = adapt(index.cluster, pair.sql, question, phrasing, dialect)
        sql_tree = tree if tree is not None else parsed(pair.sql, dialect)
        if tree is None and sql_tree is not None:
            _facts(sql_tree)
        qualifier_problems, honoured = qualifier_check(index, question, phrasing, sql_tree, _sql_words(sig))
        # Qualifiers the SQL is shown to honour ("excluding test users") need no other accounting.
        rest = without_spans(question, honoured)
        adapted = _adapted_words(adaptations)
        problems = (qualifier_problems + value_problems(index, rest, phrasing, sql_tree)
                    + cue_problems(rest, phrasing, sig, headline_counts) + period_problems(rest, phrasing, sig)
                    + grounding_problems(index, rest, pair, phrasing, sig, dialect, adapted[0]) + problems
                    + split_problems(index, rest, pair, dialect, adapted[0])
                    + measure_problems(rest, pair, dialect, _phrasings(index, pair))
                    + data_range_problems(index, sig, tree, adaptations) + self_problems(index, pair, dialect))
        score = similarity(index, _without_periods(rest), _without_periods(phrasing), sig, _shared_values(index, rest, phrasing, adapted))
        candidate = Candidate(pair, phrasing, score, problems, adaptations, tree, dialect)
        if best is None or (not candidate.problems, candidate.similarity) > (not best.problems, best.similarity):
            best = candidate
    assert best is not None
    return best


def _renamed(tree: exp.Expression, adaptations: list[Adaptation], dialect: str) -> str:
    """The SQL of ``tree`` with result columns named after a swapped value renamed too: 'playlist' → 'search'
    makes ``playlist_share`` ``search_share``, so the number is not read as the old value's."""
    named = [(a.spoken if all(a.spoken) else (a.old, a.new)) for a in adaptations
             if a.old is not None and a.column not in ("LIMIT", "month", "year")]
    swaps = {str(old).lower(): str(new).lower() for old, new in named
             if re.fullmatch(r"[A-Za-z]+", str(old)) and re.fullmatch(r"[A-Za-z]+", str(new))}
    aliases = [e for e in (tree.expressions if isinstance(tree, exp.Select) else []) if isinstance(e, exp.Alias)]
    renamed = {}
    for alias in aliases:
        parts = alias.alias.split("_")
        new_parts = [swaps.get(part.lower(), part) for part in parts]
        if new_parts != parts:
            renamed[alias.alias] = "_".join(new_parts)
    if not renamed:
        return tree.sql(dialect=dialect)
    tree = tree.copy()
    for alias in tree.expressions:
        if isinstance(alias, exp.Alias) and alias.alias in renamed:
            alias.set("alias", exp.to_identifier(renamed[alias.alias]))
    for column in tree.find_all(exp.Column):  # ORDER BY playlist_share
        if not column.table and column.name in renamed:
            column.set("this", exp.to_identifier(renamed[column.name]))
    return tree.sql(dialect=dialect)


def _explain(candidate: Candidate, follow_up: bool = False) -> str:
    source = "the previous answer (vetted pair " + candidate.pair.id + ")" if follow_up else f"vetted pair {candidate.pair.id}"
    text = f"answered from {source}"
    if candidate.adaptations:
        text += ", adapted " + ", ".join(str(a) for a in candidate.adaptations)
    return text


def _previous_field(previous: Any, name: str) -> Any:
    if previous is None:
        return None
    return previous.get(name) if isinstance(previous, dict) else getattr(previous, name, None)


def _follow_up(project: "Project", cluster: "Cluster", question: str, previous: Any) -> OfflineMatch | None:
    """"and for Sweden?": adapt the previous answer's SQL when the question only swaps a literal."""
    previous_sql = _previous_field(previous, "sql")
    previous_question = _previous_field(previous, "question") or ""
    pair = _previous_field(previous, "pair")
    if isinstance(pair, str):
        pair = cluster.pair(pair)
    # "and excluding Sweden?", "compared with Sweden?", "what share did Sweden have?" ask something else.
    if not previous_sql or pair is None or NOT_ONLY.search(question):
        return None
    original = parsed(previous_sql, project.config.dialect)
    if original is None:
        return None
    tree = original.copy()
    columns = _literal_columns(tree)
    earlier = [p.year for p in periods_in(previous_question)] or [p.year for p in [sql_period(tree)] if p is not None]
    default_year = earlier[-1] if earlier else None
    # A follow-up that names no period ("and for Sweden?") keeps the previous one.
    adaptations, problems = adapt_periods(tree, question, previous_question, default_year) if periods_in(question, default_year) else ([], [])
    if problems:
        return None
    for literal in list(tree.find_all(exp.Literal)):
        if not literal.is_string or id(literal) not in columns:
            continue
        new = _question_value(cluster, columns[id(literal)], question, previous_question, str(literal.this), literal)
        if new is not None:
            literal.replace(exp.Literal.string(new))
            adaptations.append(Adaptation(columns[id(literal)], str(literal.this), new))
    if not any(a.column not in ("month", "year") for a in adaptations):
        adaptations += _narrow(cluster, tree, question, previous_question, set(columns.values()))
    limit = tree.args.get("limit") if isinstance(tree, exp.Query) else None
    fresh = [n for n in numbers_in(question) if n not in numbers_in(previous_question) and n not in _years(adaptations)]
    if isinstance(limit, exp.Limit) and len(fresh) == 1 and re.search(r"\btop\b", question.lower()):
        adaptations.append(Adaptation("LIMIT", limit.expression.sql(), fresh[0]))
        limit.set("expression", exp.Literal.number(fresh[0]))
    elif limit is None and len(fresh) == 1 and re.search(r"\btop\b", question.lower()) and _ranked_list(tree, project.config.dialect):
        # "just the top 3" of publishers ranked by hours, highest first: the first 3 rows of the same ranking.
        adaptations.append(Adaptation("LIMIT", "none", fresh[0]))
        tree.set("limit", exp.Limit(expression=exp.Literal.number(fresh[0])))
    if not adaptations:
        return None
    # "and in July?" of a table holding the last 90 days: no answer, as for a question asked on its own.
    if data_range_problems(cluster_index(cluster), signature(previous_sql, project.config.dialect), tree, adaptations):
        return None
    # "the family plan", "the ios platform": the column of a value adapted is said with it.
    said_columns = {stem(w) for a in adaptations if a.column not in ("LIMIT", "month", "year") for w in split_identifier(a.column)}
    leftover = _domain(question) - _adapted_words(adaptations)[0] - said_columns - _FOLLOW_UP_WORDS
    new_words, old_words = _adapted_words(adaptations)
    if leftover and not _restates(question, (previous_question, pair.question), new_words | said_columns, old_words):
        return None
    sql = _renamed(tree, adaptations, project.config.dialect)
    candidate = Candidate(pair, previous_question, 1.0, [], adaptations, tree, project.config.dialect)
    return OfflineMatch(pair, sql, adaptations, 1.0, _explain(candidate, follow_up=True))


def _ranked_list(tree: exp.Expression, dialect: str) -> bool:
    """Whether ``tree`` lists groups from the highest of what it measures down (ORDER BY an aggregate it returns,
    descending), with no LIMIT: its "top N" are its first N rows."""
    if not isinstance(tree, exp.Select) or not tree.args.get("group") or tree.args.get("limit") is not None:
        return False
    order = tree.args.get("order")
    if order is None or len(order.expressions) != 1 or not order.expressions[0].args.get("desc"):
        return False
    key = order.expressions[0].this
    measures = {e.alias for e in tree.expressions if isinstance(e, exp.Alias) and e.this.find(exp.AggFunc) is not None}
    return isinstance(key, exp.Column) and not key.table and key.name in measures or key.find(exp.AggFunc) is not None


# Words a follow-up says about itself, not about the data: "top 3 instead?", "ok just Germany then".
_FOLLOW_UP_WORDS = {stem(w) for w in "top instead ok okay rather".split()}
# Words that only join what a follow-up says again ("average minutes per listener", "the average one").
_JOINING = _FOLLOW_UP_WORDS | {stem(w) for w in "per one many".split()}


def _restates(question: str, before: Sequence[str], adapted: set[str], replaced: set[str]) -> bool:
    """Whether every word of ``question`` but the values it adapts, its periods and joining words is a word of
    ``before`` (the answer before's question and its pair's) other than the ``replaced`` values: "sorry, I meant
    average minutes per listener in Mexico" after the average listener's minutes in Brazil says its measure again;
    "and the total minutes?" does not (no "total" before), nor "and listeners in japan?" after "How many people
    listened to podcasts …", nor "and Sweden and Germany?" after "and for Germany?" (Germany is what it replaces)."""
    said = set(tokenize(_without_periods(question))) - adapted - _JOINING
    return bool(said) and said <= {w for text in before for w in tokenize(_without_periods(text))} - replaced

# Words that make "Sweden" in a follow-up something other than the one value to answer for: "except Sweden",
# "outside the US", "non-US", "compared with Sweden", "what share did Sweden have" ("same but for October" is October).
NOT_ONLY = re.compile(r"\b(not|no|non|except|excluding|exclude|without|outside|beyond|aside|minus|other|besides|apart|"
                      r"(?<!same )but|compared?|comparing|versus|vs|relative|than|share|percent|percentage|rank|ranked)\b",
                      re.IGNORECASE)


def _grouped_columns(select: exp.Select) -> list[exp.Column]:
    """The plain columns ``select`` groups by (``GROUP BY 1`` resolved to the first selected column)."""
    out = []
    for node in select.args["group"].expressions:
        if isinstance(node, exp.Literal) and node.is_int and 0 < int(node.this) <= len(select.expressions):
            node = select.expressions[int(node.this) - 1].unalias()
        if isinstance(node, exp.Column):
            out.append(node)
    return out


def _narrow(cluster: "Cluster", tree: exp.Expression, question: str, previous_question: str,
            filtered: set[str]) -> list[Adaptation]:
    """"only for Sweden?" after "streams per country": the previous query grouped by a column and the
    follow-up names one profiled value of it, so filter to that value — the same row the grouped answer had,
    with the same numbers. Only a single grouped column that no literal filters yet, and only one value."""
    # A share of the total or a rank over all groups would change under the filter: only plain aggregates.
    if not _narrowable(tree):
        return []
    q_words, p_words = _cased(question), _cased(previous_question)
    found = []
    for column in _grouped_columns(tree):
        if column.name in filtered:
            continue
        values = {v for v in _column_values(cluster, column.name, column) if len(v) > 1 and not _is_number(v)}
        named = [v for v in values if mentions(q_words, v, column.name) and not mentions(p_words, v, column.name)]
        # "Sweden" may name the code 'SE' and the text 'Sweden' of two columns: two readings, no answer.
        found += [(column, value) for value in sorted(named)]
    if len(found) != 1:
        return []
    column, value = found[0]
    _keep_only(tree, column, value)
    return [Adaptation(column.name, None, value)]


def _narrowable(tree: exp.Expression | None) -> bool:
    """A grouped query whose numbers per group do not depend on the other groups (no window, no subquery)."""
    return (isinstance(tree, exp.Select) and bool(tree.args.get("group")) and tree.find(exp.Window) is None
            and not any(isinstance(node, exp.Query) for node in tree.walk() if node is not tree))


def _keep_only(tree: exp.Select, column: exp.Column, value: str) -> None:
    """AND ``column = 'value'`` into the WHERE of ``tree`` (in place)."""
    condition = exp.EQ(this=column.copy(), expression=exp.Literal.string(value))
    where = tree.args.get("where")
    if where is None:
        tree.set("where", exp.Where(this=condition))
    else:  # AND-ed after the conditions already there: no parentheses needed around them
        where.set("this", exp.and_(where.this, condition, copy=False, wrap=not isinstance(where.this, (exp.And, exp.Predicate))))


def _as_each(question: str, column: str, value: str) -> str | None:
    """``question`` with its mention of ``value`` (or the country it codes) said as "each <column>": "streams
    in Sweden" → "streams in each country", to find the pair that splits by it."""
    for name in [value, *value_names(value, column)]:
        parts = _cased(name)
        if not parts:
            continue
        plural = "" if _is_code(parts[-1]) else "(?:e?s)?"
        pattern = r"(?<![\w'])" + r"\W+".join(re.escape(w) for w in parts) + plural + r"(?![\w'])"
        found = re.search(pattern, question, 0 if all(_is_code(w) for w in parts) else re.IGNORECASE)
        if found:
            quote = question[found.start() - 1 : found.start()] if found.start() else ""
            start, end = (found.start() - 1, found.end() + 1) if quote in "'\"" and quote and question[found.end():found.end() + 1] == quote else found.span()
            # "the family plan" → "each plan", not "each plan plan"; "Spanish-language shows" → "each language shows"
            said = re.match(r"[\s-]+(?:" + re.escape(column.split("_")[-1]) + r"s?|speaking)\b", question[end:], re.IGNORECASE)
            end += said.end() if said else 0
            return f"{question[:start]}each {column.replace('_', ' ')}{question[end:]}"
    return None


def _narrowed_match(index: ClusterIndex, question: str, dialect: str) -> OfflineMatch | None:
    """"How many streams did Sweden have?" answered by the vetted "How many streams did each country have?"
    filtered to 'SE': the question names one profiled value, asks it of no split of its own, and said with
    "each <column>" instead of the value it agrees with a pair that groups by that column. The grouped column
    leaves the result (the question asked for Sweden's numbers, not a table of one country)."""
    named = sorted(set(_named_values(index, question)))
    if not named or _by_terms(question) or NOT_ONLY.search(question):
        return None
    # 'ios' may be the platform and the signup platform: each column is tried; one answer, or none.
    found: dict[str, OfflineMatch] = {}
    for column_name, value in named:
        match = _narrowed_by(index, question, dialect, column_name, value, {v.lower() for _, v in named} - {value.lower()})
        if match is not None:
            found.setdefault(match.sql, match)
    return next(iter(found.values())) if len(found) == 1 else None


def _narrowed_by(index: ClusterIndex, question: str, dialect: str, column_name: str, value: str,
                 others: set[str]) -> OfflineMatch | None:
    """``_narrowed_match`` for one named value; the ``others`` the question names must be literals of the pair
    ("active subscribers on the family plan": status = 'active'), never a second value to keep ("family or
    student plan")."""
    rewritten = _as_each(question, column_name, value)
    if rewritten is None:
        return None
    ranked = rank_pairs(index, rewritten)[:CANDIDATES]
    candidates = sorted((_candidate(index, pair, rewritten, dialect) for pair, _ in ranked),
                        key=lambda c: -round(c.similarity, 9))
    agreeing = [c for c in candidates if not c.problems]
    if not agreeing or agreeing[0].similarity < MIN_SIMILARITY:
        return None
    best = agreeing[0]
    rival = next((c for c in agreeing[1:] if c.sql.strip() != best.sql.strip()), None)
    if rival is not None and best.similarity - rival.similarity < MIN_MARGIN:
        return None
    # Every word must be the pair's: "… premium subscribers in Canada" is not the premium row of a per-plan
    # query (Canada is no profiled country, so no literal stands for it).
    # Periods are compared on their own: "oct 2026" is the phrasing's "October 2026" (or an adapted month).
    spoken = (_domain(_without_periods(best.phrasing)) | _sql_words(signature(best.pair.sql, dialect))
              | _adapted_words(best.adaptations)[0])
    if _unaccounted(_domain(_without_periods(rewritten)), spoken):
        return None
    tree = (best.adapted if best.adapted is not None else parsed(best.pair.sql, dialect)).copy()
    if not _narrowable(tree) or not others <= {str(lit.this).lower() for lit in tree.find_all(exp.Literal) if lit.is_string}:
        return None
    grouped = [c for c in _grouped_columns(tree) if c.name.lower() == column_name]
    if len(grouped) != 1 or not _profiles_hold(index, signature(best.pair.sql, dialect), column_name, value):
        return None
    _keep_only(tree, grouped[0], value)
    kept = [e for e in tree.expressions if not (isinstance(e.unalias(), exp.Column) and e.unalias().name.lower() == column_name)]
    if not kept:
        return None
    tree.set("expressions", kept)
    order = tree.args.get("order")
    if order is not None:
        # "ORDER BY priority" of the one priority left orders nothing.
        rest = [o for o in order.expressions if not (isinstance(o.this, exp.Column) and o.this.name.lower() == column_name)]
        if rest:
            order.set("expressions", rest)
        else:
            tree.set("order", None)
    adaptations = [*best.adaptations, Adaptation(grouped[0].name, None, value)]
    candidate = Candidate(best.pair, best.phrasing, best.similarity, [], adaptations, tree, dialect)
    return OfflineMatch(best.pair, tree.sql(dialect=dialect), adaptations, best.similarity, _explain(candidate))


def _profiles_hold(index: ClusterIndex, sig: SQLSignature, column: str, value: str) -> bool:
    """Whether the profile of a table the query reads lists ``value`` for ``column``: 'IOS' is a platform of
    ``plays_legacy``, not of ``events``, whose platforms are lower case."""
    tables = {t.rsplit(".", 1)[-1].lower() for t in sig.tables}
    for dataset in index.datasets:
        found = dataset.column(column) if dataset.table_name.lower() in tables else None
        if found is not None and any(isinstance(e, dict) and str(e.get("value")) == value for e in found.common_values):
            return True
    return False


def answer_offline(project: "Project", cluster: "Cluster", question: str, *, previous: Any = None,
                   today: date | None = None, last_sql: str | None = None, unanswered: Sequence[str] = ()) -> OfflineResult:
    """The vetted pair that answers ``question`` (adapted if needed), or no match with the closest pairs.

    ``previous`` (dict or object with ``question``, ``sql`` and ``pair``) is the earlier turn of a
    conversation; a follow-up that only changes a literal adapts its SQL. "last month" and "last year" are
    the calendar periods before ``today`` (default: the clock's), said in the explanation, when the question
    as asked finds no pair (one may say "last month" itself). ``last_sql`` is the conversation's last answer's
    SQL, in whichever cluster (default: ``previous``'s): "that year" is read from its period, and so is the period
    of a follow-up that names none and finds no pair without one ("how many streams per day then?").
    ``unanswered`` are the conversation's questions not covered since that answer, in any cluster: once one of them
    named another period ("strems per day in september then" after October), "then" is no longer the answer's.
    With no answer before them, a follow-up that names only a country asks the last of them again for it ("ok, Sweden
    then" after Norway's premium subscribers), and one that names no subject ("Sweden in 2025?") is not guessed at.
    """
    asked = question
    question = question_words_spelled(question_said_plainly(require_question(question)))
    question, correcting = corrected(question)
    question, dropped_declined = without_never_mind(question)
    if dropped_declined and isinstance(previous, dict):  # "never mind the devices, same for student": let go of them
        previous = {**previous, "declined": []}
    index = cluster_index(cluster)
    question = acronyms_spelled_out(question, _acronyms(index), lambda: {v.lower() for _, v, _ in _profiled_values(index)})
    if previous is None and not last_sql and unanswered:
        if (again := another_country(unanswered[-1], asked)) is not None:
            result = answer_offline(project, cluster, again, today=today)
            if result.match is not None:
                result.match.explanation += f"; read as '{again}'"
            return result
        if leans_on_conversation(asked) and not _names_a_subject(index, question):
            return OfflineResult(None, [], f"a follow-up that names no subject of its own, and no answer before it "
                                           f"to take one from ('{unanswered[-1]}' was not covered)")
    shown_sql = last_sql or (_previous_field(previous, "sql") if previous is not None else None)
    shown = parsed(shown_sql, project.config.dialect) if shown_sql else None
    shown_period = sql_period(shown) if shown is not None else None
    if shown_period is not None and any(_names_another_period(asked_since, shown_period) for asked_since in unanswered):
        shown_period = None
    question, from_shown = periods_from_shown(question, shown_period)
    if correcting and (wrong := _corrects_something_else(index, question, previous)):
        return OfflineResult(None, [], wrong)
    result = _answer_offline(project, cluster, question, previous)
    if (result.match is None and shown_period is not None and not from_shown and leans_on_conversation(asked)
            and _names_a_subject(index, question) and not names_a_period(question)):
        carried = _answer_offline(project, cluster, f"{question.rstrip(' ?.!')} in {shown_period.said()}?", previous)
        lost = carried.match is not None and _grouping_lost(shown, carried.match, question, project.config.dialect)
        if lost:  # "and refunds?" after revenue per month in 2025 asks for refunds per month, not the year's total
            result.reason = f"a follow-up: {lost}"
        elif carried.match is not None:
            carried.match.explanation += f"; the period of the answer before, {shown_period.said()}"
            return carried
    if from_shown:  # "that year", "the previous month": said like "last month" is
        reading = ", ".join(f"'{said}' read as {period.text} (the answer before is for {shown_period.said()})"
                            for said, period in from_shown)
        if result.match is None:
            result.reason = f"{reading}: {result.reason}"
        else:
            result.match.explanation += "; " + reading
    named, read = last_periods_named(question, today or date.today())
    if result.match is not None or not read:
        return result
    dated = _answer_offline(project, cluster, named, previous)
    reading = ", ".join(f"'{said}' read as {period.text} (today is {(today or date.today()).isoformat()})" for said, period in read)
    if dated.match is None:
        dated.reason = f"{reading}: {dated.reason}"
    else:
        dated.match.explanation += "; " + reading
    return dated


def _names_another_period(text: str, shown: Period) -> bool:
    """Whether ``text`` names a period other than ``shown`` ("in september" after October 2026; "last year", which
    this does not read, counts as another)."""
    named = periods_in(text, shown.year)
    return any(not period.same_as(shown) for period in named) or not named and names_a_period(text)


def grouping(tree: exp.Expression | None) -> tuple[str, ...]:
    """What ``tree`` returns a row for: the time unit of a date it groups by ('month' for ``date_trunc('month', …)``,
    'day' for a plain date column) or the column's name; () when it is one row for the whole period.

    >>> grouping(parsed("SELECT date_trunc('month', d) AS m, COUNT(*) FROM t GROUP BY 1", "duckdb"))
    ('month',)
    """
    if not isinstance(tree, exp.Select) or not tree.args.get("group"):
        return ()
    keys = []
    for node in tree.args["group"].expressions:
        if isinstance(node, exp.Literal) and node.is_int and 0 < int(node.this) <= len(tree.expressions):
            node = tree.expressions[int(node.this) - 1].unalias()
        if isinstance(node, (exp.DateTrunc, exp.TimestampTrunc)):
            keys.append(str(node.args.get("unit").name if node.args.get("unit") is not None else node.sql()).lower())
        elif isinstance(node, exp.Column):
            keys.append("day" if re.search(r"(?:date|_on)$", node.name) else node.name)
        else:
            keys.append(node.sql())
    return tuple(sorted(keys))


def _grouping_lost(shown: exp.Expression | None, match: "OfflineMatch", question: str, dialect: str) -> str | None:
    """Why a follow-up that names neither a period nor a split of its own may not take another pair that splits
    differently from the answer before, or None: "and refunds?" after revenue per month asks for refunds per month;
    the refunds pair's one total for the year (or "and ad revenue?" with top advertisers) is another answer."""
    before, after = grouping(shown), grouping(parsed(match.sql, dialect))
    if before == after or _by_terms(question) or grains(question):
        return None
    said = f"per {', '.join(before)}" if before else "one total"
    return f"the answer before is {said}, and {match.pair.id} is " + (f"per {', '.join(after)}" if after else "one total")


# "no, I meant 2026", "sorry, I mean Sweden": the turn before said the wrong value (its opening "no," is filler).
_CORRECTION = re.compile(r"^\W*i\s+mean(?:t)?(?:\s+to\s+say)?\b[\s,:]*", re.IGNORECASE)


def corrected(question: str) -> tuple[str, bool]:
    """``question`` without an opening "I meant", and whether it had one: a correction of the turn before.

    >>> corrected("I meant 2026"), corrected("I mean the number of streams in Sweden?")
    (('2026', True), ('the number of streams in Sweden?', True))
    """
    rest = _CORRECTION.sub("", question, count=1)
    return (rest, True) if rest != question and rest.strip() else (question, False)


# "never mind the devices, …", "forget that.", "forget completion - …": the asker lets go of what was just declined.
_NEVER_MIND = re.compile(r"^\W*(?:(?:ok|okay|oh|alright|fine)\W+)?(?:never\s*mind|nevermind|forget|scratch|ignore)\b"
                         r"(?:[^,.;:!?—–-]|(?<=\w)-(?=\w))*(?:[,.;:!?—–]+|\s+-+\s)\s*", re.IGNORECASE)


def without_never_mind(question: str) -> tuple[str, bool]:
    """``question`` without an opening "never mind …," and whether it had one.

    >>> without_never_mind("never mind the devices, same count for the student plan?")
    ('same count for the student plan?', True)
    """
    rest = _NEVER_MIND.sub("", question, count=1)
    return (rest, True) if rest != question and rest.strip() else (question, False)


def _corrects_something_else(index: ClusterIndex, question: str, previous: Any) -> str | None:
    """Why a correction ("I meant 2026") is no change to the turn before it, or None. It replaces what that turn
    named — a year for its year: "and 2024?", then "I meant 2026" is the answer before with 2026. One that names
    another kind of value ("and 2024?", then "I meant Germany": Germany in 2024, or in the year before?) or
    corrects no earlier answer is not guessed at."""
    declined = _previous_field(previous, "declined") or []
    before = declined[-1] if declined else _previous_field(previous, "question")
    if before is None:
        return "a correction ('I meant …') with no answer before it to correct"
    said, now = _asked_for(index, before, None), _asked_for(index, question, None)
    if not now or now - said:
        return f"a correction ('I meant …') of '{before}' that names something else than it asked for"
    return None


def _countries_named(text: str) -> dict[str, str]:
    """The countries ``text`` names, by code, with the name it used ("south korea", not also "korea")."""
    lowered, found = text.lower(), {}
    for name in sorted(COUNTRIES, key=len, reverse=True):
        if re.search(rf"\b{re.escape(name)}\b", lowered) and not any(name in longer for longer in found.values()):
            found.setdefault(COUNTRIES[name], name)
    return found


def another_country(declined: str, follow_up: str) -> str | None:
    """``declined`` (a question not covered, with no answer before it) asked again for the one country that
    ``follow_up`` names instead and nothing else, or None: "How many monthly active listeners did Norway have in
    October 2026?" (Norway is no value of the data), then "sorry, I meant Sweden" or "ok, Sweden then".

    >>> another_country("How many premium subscribers are there in Norway?", "ok, Sweden then")
    'How many premium subscribers are there in Sweden?'
    >>> another_country("How many premium subscribers are there in Norway?", "and family in Sweden?") is None
    True
    """
    text, _ = corrected(question_said_plainly(follow_up))
    now, before = _countries_named(text), _countries_named(declined)
    if len(now) != 1 or len(before) != 1 or now.keys() == before.keys() or numbers_in(text) or names_a_period(text):
        return None
    (name,), (old,) = now.values(), before.values()
    if _domain(text) - {stem(w) for w in words(name)} - _FOLLOW_UP_WORDS - _CHAT_WORDS - {"then", "sorry", "meant"}:
        return None
    return re.sub(rf"\b{re.escape(old)}\b", name.title() if len(name) > 3 else name.upper(), declined, count=1, flags=re.IGNORECASE)


def _names_a_subject(index: ClusterIndex, question: str) -> bool:
    """Whether a follow-up says what it asks about in words of its own ("how many streams per day then?"), not
    only a value ("and in Japan?": Japan's what, is the answer before's to say).

    >>> _names_a_subject(index, "and in Japan?"), _names_a_subject(index, "and streams per day?")  # doctest: +SKIP
    (False, True)
    """
    values = {w for column, value in _named_values(index, question) for w in _value_words(value, column=column)}
    values |= {stem(w) for name in COUNTRIES for w in words(name) if re.search(rf"\b{re.escape(name)}\b", question.lower())}
    return bool(_domain(question) - values - _FOLLOW_UP_WORDS - _CHAT_WORDS)


def _unknown_country(cluster: "Cluster", question: str) -> str | None:
    """Why a question naming a country the cluster's country columns do not hold cannot be answered ("Norway ('NO')
    is not a value of listening.events.country: it holds US, GB, …"), or None: no country named, or one known."""
    lowered = question.lower()
    named = [(name, code) for name, code in COUNTRIES.items() if re.search(rf"\b{re.escape(name)}\b", lowered)]
    columns = [(dataset, column) for dataset in cluster.dataset_files.values() for column in dataset.columns
               if holds_countries(column.name) and column.common_values]
    if not named or not columns:
        return None
    for name, code in named:
        values = [[str(e.get("value")) for e in column.common_values if isinstance(e, dict)] for _, column in columns]
        if any(code in held or any(v.lower() == name for v in held) for held in values):
            continue
        held = list(dict.fromkeys(v for each in values for v in each))
        every = all(c.distinct_count is not None and c.distinct_count <= len(v) for (_, c), v in zip(columns, values))
        listing = ", ".join(held[:10]) + (", …" if len(held) > 10 else "")
        where = ", ".join(f"{d.table}.{c.name}" for d, c in columns[:3]) + (", …" if len(columns) > 3 else "")
        return (f"{name.title()} ('{code}') is in no country column ({where}): "
                + (f"they hold {listing}" if every else f"their most common values are {listing}"))
    return None


def _answer_offline(project: "Project", cluster: "Cluster", question: str, previous: Any) -> OfflineResult:
    result = _match_offline(project, cluster, question, previous)
    if result.match is None and (unknown := _unknown_country(cluster, question)):
        result.reason = unknown
    return result


# A question of its own opens with a question word or a command; "what about …" and "how about …" lean on the answer
# before them, and so does a question that points back at it ("behind them", "that year", "then").
_OWN_QUESTION = re.compile(r"^\W*(?!(?:what|how)\s+about\b)(?:how|what|which|who|whose|when|where|is|are|was|were|did|do|"
                           r"does|can|could|would|will|show|list|give|tell)\b", re.IGNORECASE)
_POINTS_BACK = re.compile(r"\b(?:them|those|these|that (?:year|month|day|week|period|time)|then|the same|same)\b", re.IGNORECASE)
# Words of a turn that asks nothing of the data ("thanks!", "why?", "great"): declined, it leaves nothing to hold.
_CHAT_WORDS = {stem(w) for w in "thanks thank thx cheers great cool ok okay nice good perfect awesome interesting really hmm wow".split()}


def leans_on_conversation(question: str) -> bool:
    """Whether a follow-up is said as part of the conversation ("and per month in 2026?", "top 3 instead?", "last
    year?") rather than as a question of its own ("How many podcast shows are there per language?")."""
    return not _OWN_QUESTION.match(question) or bool(_POINTS_BACK.search(question))


def _asked_for(index: ClusterIndex, text: str, default_year: int | None) -> set[str]:
    """What a follow-up asks to change: the columns of the values it names ('country' for a country no profile
    holds, like Norway), 'period', 'top' (a number that is no year)."""
    lowered = text.lower()
    slots = {column for column, _ in _named_values(index, text)}
    if any(re.search(rf"\b{re.escape(name)}\b", lowered) for name in COUNTRIES):
        slots.add("country")
    if periods_in(text, default_year) or relative_periods(text):
        slots.add("period")
    if any(not _is_year(n) for n in numbers_in(text)):
        slots.add("top")
    return slots


def _declined_still_asked(index: ClusterIndex, question: str, previous: Any) -> str | None:
    """The follow-up declined since the previous answer that ``question`` does not replace, or None. "same for the
    family plan" (not covered), then "and in Germany?" asks for the family plan in Germany: adapting the answer
    before would drop the plan. "and for Norway?" (not covered), then "and for Germany?" replaces the country."""
    declined = _previous_field(previous, "declined") or []
    if not declined:
        return None
    previous_question = _previous_field(previous, "question") or ""
    default_year = next((p.year for p in reversed(periods_in(previous_question))), None)
    now = _asked_for(index, question, default_year)
    pair = _previous_field(previous, "pair")
    answered = [previous_question, getattr(index.cluster.pair(pair) if isinstance(pair, str) else pair, "question", "")]
    # "ok, GMV per currency for October 2026 then" after "and in SEK only?": a split by the column lets go of its value.
    splits = {stem(w) for w in _by_terms(question)}
    now |= {column for column in _asked_for(index, " ".join(declined), default_year)
            if {stem(w) for w in split_identifier(column)} & splits}
    for earlier in declined:
        wanted = _asked_for(index, earlier, default_year)
        if ((wanted - now or not wanted and _domain(earlier) - _CHAT_WORDS) and not _asks_the_answer_again(question, earlier, answered)
                and not _asks_the_answer_again(question, earlier, answered, _table_words(index))
                and not _names_the_term_again(index, question, earlier, answered)):
            return f"the follow-up '{earlier}' was not answered, and this one does not say it no longer holds"
    return None


# The statistic a question asks for: a declined follow-up that asked for another one is let go by a follow-up that
# names the answer's again.
_STATISTICS = frozenset(tokenize("average mean avg median total sum count rate ratio share growth percentile maximum minimum"))


def _asks_the_answer_again(question: str, declined: str, answered: Sequence[str], kinds: "frozenset[str] | set[str]" = _STATISTICS) -> bool:
    """Whether ``question`` names again the statistic the answer before gave, which the declined follow-up had
    replaced with another, and nothing else that follow-up asked for: "and for 2026, the average one" after "and the
    median revenue per paying user?" of ARPU. Not "and in Mexico" nor "and minutes in Mexico?" after "and the total
    minutes?" of the average listener's minutes, nor anything after a declined filter ("including test accounts?").
    ``kinds``: the words that may be replaced so (default: statistics; the cluster's table words: "ok, and sellers in
    Finland then" after "what about buyers?" of the sellers answer)."""
    said = set(tokenize(_without_periods(question))) - _JOINING
    before = {w for text in answered for w in tokenize(_without_periods(text))}
    other = set(tokenize(_without_periods(declined))) - _JOINING - before
    return bool(other & kinds) and not said & other and bool(said & (before - other) & kinds)


def _names_the_term_again(index: ClusterIndex, question: str, declined: str, answered: Sequence[str]) -> bool:
    """Whether ``question`` names again the term the docs define that the answer before gave, after a declined
    follow-up asked for another ("and the MRR of US accounts per segment?" after "and ARR?" of MRR per plan). The
    question comes with its acronyms spelled out; so are the others here."""
    spelled = _acronyms(index)
    values = lambda: {v.lower() for _, v, _ in _profiled_values(index)}  # noqa: E731
    terms = _defined_terms(index) | {w for words_ in spelled.values() for w in tokenize(words_)}
    said = lambda text: acronyms_spelled_out(text, spelled, values) if spelled else text  # noqa: E731
    return _asks_the_answer_again(question, said(declined), [said(text) for text in answered], terms)


def _table_words(index: ClusterIndex) -> set[str]:
    """Stemmed words of the cluster's table names (``market.sellers`` → "seller")."""
    return {stem(w) for d in index.datasets for w in split_identifier(d.table_name)}


def _drops_what_was_asked(index: ClusterIndex, match: "OfflineMatch", question: str, previous: Any, dialect: str) -> str | None:
    """What a pair matched on its own would silently drop of the conversation, or None: "and per month in 2026?"
    after signups in India is no question about every country. The values the earlier answer was asked for (named
    in its question, or adapted into its pair) must stay, and its period unless the follow-up names another."""
    tree, new = parsed(_previous_field(previous, "sql") or "", dialect), parsed(match.sql, dialect)
    pair = _previous_field(previous, "pair")
    vetted = parsed(pair.sql if hasattr(pair, "sql") else "", dialect) if pair is not None else None
    if tree is None or new is None:
        return "the earlier answer's SQL does not parse"
    strings = {v for v in _facts(tree).strings if day_of(v) is None}  # dates are the period's, below
    named = {value.lower() for _, value in _named_values(index, _previous_field(previous, "question") or "")}
    asked = {v for v in strings if v in named or vetted is None or v not in _facts(vetted).strings}
    kept = _facts(new).strings
    lost = sorted(asked - kept)
    if lost:
        return f"it would drop {', '.join(repr(v) for v in lost)} of the answer before"
    if (measures := _measure_changed(tree, new, question)) is not None:
        return f"it would answer {measures[1]}, not {measures[0]} of the answer before, and the follow-up does not ask for it"
    earlier, now = sql_period(tree), sql_period(new)
    if earlier is not None and earlier != now and not (periods_in(question) or relative_periods(question)):
        return f"it would answer {now.text if now else 'no period'}, not {earlier.text} of the answer before"
    return None


def _measures(tree: exp.Expression) -> tuple[set[type], str]:
    """The aggregate functions a query's columns compute, and what it calls them ("mrr_usd")."""
    select = tree if isinstance(tree, exp.Select) else tree.find(exp.Select)
    if select is None:
        return set(), ""
    measured = [e for e in select.expressions if e.find(exp.AggFunc)]
    return {type(a) for e in measured for a in e.find_all(exp.AggFunc)}, ", ".join(e.alias_or_name for e in measured)


def _measure_changed(before: exp.Expression, after: exp.Expression, question: str) -> tuple[str, str] | None:
    """(the answer's measure, the new one) when a follow-up answered by another pair would compute something else
    (a count of paying accounts after MRR, a sum) without asking for it: a count asked for says "how many" or
    "number", any other measure its own words ("and the number of paying accounts?", "and refunds?")."""
    (old_kinds, old_name), (new_kinds, new_name) = _measures(before), _measures(after)
    if not old_kinds or not new_kinds or old_kinds & new_kinds:
        return None
    if exp.Count in new_kinds and cues(question)["count"]:
        return None
    said = {stem(_singular(w)) for w in _plain(question)}
    if {stem(_singular(w)) for w in split_identifier(new_name)} - {"usd", "cent", "total"} <= said:
        return None
    return old_name, new_name


def _already_honoured(index: ClusterIndex, question: str, previous: Any, dialect: str) -> OfflineMatch | None:
    """"and excluding test users?" of an answer whose SQL already filters them: the same answer, saying so. Only
    when the follow-up asks nothing else."""
    previous_sql, pair = _previous_field(previous, "sql"), _previous_field(previous, "pair")
    pair = index.cluster.pair(pair) if isinstance(pair, str) else pair
    tree = parsed(previous_sql or "", dialect)
    if tree is None or pair is None:
        return None
    problems, honoured = qualifier_check(index, question, _previous_field(previous, "question") or "", tree,
                                         _sql_words(signature(previous_sql, dialect)))
    rest = without_spans(question, honoured)
    if problems or not honoured or _domain(rest) - _FOLLOW_UP_WORDS or periods_in(rest) or numbers_in(rest):
        return None
    said = " and ".join(f"'{q.text}'" for q in honoured)
    return OfflineMatch(pair, previous_sql, [], 1.0, f"answered from the previous answer (vetted pair {pair.id}), "
                                                      f"whose SQL already honours {said}")


def _match_offline(project: "Project", cluster: "Cluster", question: str, previous: Any) -> OfflineResult:
    dialect = project.config.dialect
    index = cluster_index(cluster)
    if previous is None:
        return _match_on_its_own(index, question, dialect)
    held = _declined_still_asked(index, question, previous)
    if held is None:
        match = _already_honoured(index, question, previous, dialect) or _follow_up(project, cluster, question, previous)
        if match is not None:
            return OfflineResult(match, [(match.pair, 1.0)])
    result = _match_on_its_own(index, question, dialect)
    if result.match is None and held is not None and leans_on_conversation(question):
        result.reason = f"a follow-up: {held}"
    if result.match is None or not leans_on_conversation(question):
        return result
    pair = _previous_field(previous, "pair")
    previous = {"question": _previous_field(previous, "question"), "sql": _previous_field(previous, "sql"),
                "pair": cluster.pair(pair) if isinstance(pair, str) else pair}
    dropped = held or _drops_what_was_asked(index, result.match, question, previous, dialect)
    if dropped is None:
        return result
    return OfflineResult(None, result.closest, f"a follow-up: {result.match.pair.id} would answer it on its own, but {dropped}")


def _match_on_its_own(index: ClusterIndex, question: str, dialect: str) -> OfflineResult:
    """The pair that answers ``question`` asked on its own (not as a follow-up)."""
    ranked = rank_pairs(index, question)[:CANDIDATES]
    # Similarities are sums over sets, so equal ones may differ in the last bits from run to run (hash seeds):
    # rounded, ties keep the pairs' BM25 order and the answer does not depend on the seed.
    candidates = [c for _, c in sorted(enumerate(_candidate(index, pair, question, dialect) for pair, _ in ranked),
                                        key=lambda item: (-round(item[1].similarity, 9), item[0]))]
    closest = [(c.pair, c.similarity) for c in candidates[:3]]
    if not candidates:
        return OfflineResult(None, [], "no vetted pair is similar to the question")
    agreeing = [c for c in candidates if not c.problems]
    if not agreeing or agreeing[0].similarity < MIN_SIMILARITY:
        narrowed = _narrowed_match(index, question, dialect)
        if narrowed is not None:
            return OfflineResult(narrowed, closest)
    if not agreeing:
        best = candidates[0]
        return OfflineResult(None, closest, f"closest pair {best.pair.id} differs: {', '.join(best.problems)}")
    best = agreeing[0]
    if best.similarity < MIN_SIMILARITY:
        return OfflineResult(None, closest, f"closest pair {best.pair.id} is not close enough ({best.similarity:.2f})")
    rival = next((c for c in agreeing[1:] if c.sql.strip() != best.sql.strip()), None)
    if rival is not None and best.similarity - rival.similarity < MIN_MARGIN:
        return OfflineResult(None, closest, f"pairs {best.pair.id} and {rival.pair.id} match about equally well")
    sql = _renamed(best.adapted, best.adaptations, dialect) if best.adapted is not None else best.sql
    match = OfflineMatch(best.pair, sql, best.adaptations, best.similarity, _explain(best))
    return OfflineResult(match, closest)
