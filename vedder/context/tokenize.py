"""Words for matching questions against clusters: identifier splitting, stop words, light stemming.

>>> tokenize("How many ActiveUsers signed_up in 2024?")
['many', 'activ', 'user', 'sign', '2024']
>>> split_identifier("userCountryCode")
['user', 'country', 'code']
"""

from __future__ import annotations

import re
from functools import lru_cache

_WORD = re.compile(r"[A-Za-z]+|\d+(?:\.\d+)?")
_PLURAL_ACRONYM = re.compile(r"[A-Z]{2,}s")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")

STOP_WORDS = frozenset(
    """
    a about above after again against all also am an and any are as at be because been before being below
    between both but by can could did do does doing down during each either few for from further get gets
    got had has have having he her here hers herself him himself his how i if in into is it its itself just
    let me might more most my myself no nor not now of off on once only or other our ours ourselves out over
    own please same shall she should show so some such tell than that the their theirs them themselves then
    there these they this those through to too under until up upon us very was we were what when where
    which while who whom whose why will with would you your yours yourself yourselves give find list
    return display whats s t d ll m re ve y
    """.split()
)


def split_identifier(name: str) -> list[str]:
    """Split snake_case, kebab-case and camelCase identifiers into lower-case words."""
    words = []
    for chunk in re.split(r"[^A-Za-z0-9]+", name):
        if _PLURAL_ACRONYM.fullmatch(chunk):
            words.append(chunk.lower())
            continue
        words += [w.lower() for w in _CAMEL.sub(" ", chunk).split() if w]
    return words


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """A light suffix stripper (plurals, -ing, -ed, final e): consistent rather than linguistic.

    >>> [stem(w) for w in ("names", "named", "countries", "signing", "status")]
    ['nam', 'nam', 'country', 'sign', 'status']
    """
    if len(word) <= 3 or not word.isalpha():
        return word
    if word.endswith("ies") and len(word) > 4:
        word = word[:-3] + "y"
    elif word.endswith(("sses", "ches", "shes", "xes")):
        word = word[:-2]
    elif word.endswith(("ss", "us", "is")):
        return word
    elif word.endswith("ing") and len(word) >= 6:
        word = _undouble(word[:-3])
    elif word.endswith("ed") and len(word) >= 5:
        word = _undouble(word[:-2])
    elif word.endswith("s"):
        word = word[:-1]
    if word.endswith("e") and len(word) > 3:
        word = word[:-1]
    return word


def _undouble(word: str) -> str:
    return word[:-1] if len(word) >= 3 and word[-1] == word[-2] and word[-1] not in "lsz" else word


@lru_cache(maxsize=65536)
def _token_words(token: str) -> tuple[str, ...]:
    return tuple(split_identifier(token))


def words(text: str) -> list[str]:
    """Lower-case words of ``text`` with identifiers split, before stop words and stemming."""
    out: list[str] = []
    for token in _WORD.findall(text):
        # Most tokens are plain lower-case words; the rest repeat (a 2-MB doc has a few thousand distinct ones).
        if token.islower() or token[0].isdigit():
            out.append(token)
        else:
            out += _token_words(token)
    return out


def tokenize(text: str, *, keep_stop_words: bool = False) -> list[str]:
    """Stemmed content words of ``text`` (identifiers split, stop words dropped)."""
    return [stem(w) for w in words(text) if keep_stop_words or w not in STOP_WORDS]
