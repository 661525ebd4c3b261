"""The key under which the log files a question, so that the same question asked again finds its earlier turns.

Only case, punctuation (apostrophes dropped, other marks split words) and whitespace are normalised: words,
their order, numbers, negations and comparisons stay ("above 18" and "below 18" are different questions).

>>> question_key("  How many listeners per COUNTRY?? ")
'how many listeners per country'
>>> question_key("What's the user_id of 'Ann'?")
'whats the user id of ann'
"""

from __future__ import annotations

import re

_APOSTROPHE = re.compile(r"['’`]")
_WORD = re.compile(r"[^\W_]+")


def question_key(question: str) -> str:
    """``question`` lower-cased, with punctuation and runs of whitespace reduced to single spaces."""
    return " ".join(_WORD.findall(_APOSTROPHE.sub("", question.casefold())))
