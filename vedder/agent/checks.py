"""Checks on a model's answer, run after it answers and before vedder presents it.

A model's words read as confidently as a vetted pair's, so before they are shown vedder checks what it can check
without knowing the right answer: that every figure in the words is in the result shown (or in the question or the
SQL), that words about an empty result say it is empty, that no query in the words differs from the one whose rows
are shown, and that the query applies the filters the cluster's docs say always to apply. Each check is a ``Check``;
``caveats`` turns them into the lines every surface shows under the answer: who wrote it, what was and was not
checked, and each check that failed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Callable, Iterable

from vedder.errors import VedderError

if TYPE_CHECKING:
    from vedder.agent.tools import Toolbox
    from vedder.warehouse import QueryResult

NUMBERS_IN_RESULT = "numbers_in_result"
EMPTY_RESULT = "empty_result"
STATES_RESULT = "states_result"
SQL_SHOWN = "sql_shown"
DOCS_FILTERS = "docs_filters"

CHECKED = ("vedder checked that its figures are in the result, that the SQL shown is the one that ran, and the docs' "
           "always-apply filters; not that the query asks what the question means.")

# A figure as people write it: 6,458 · 6458 · 183.5 · 12.5% · $9.99 · 1.2 million; not part of a name (Q4, user_id_2).
_FIGURE = re.compile(r"(?<![\w.])(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?(?![\w])(\s?%)?(?:\s(thousand|million|billion)\b)?")
_SCALE = {"thousand": 3, "million": 6, "billion": 9}
# Words that say a result is empty ("no rows", "none", "there were 0 …", "did not find any").
_SAYS_EMPTY = re.compile(r"\b(no|none|nothing|zero|0|not|empty|never|neither)\b|n't", re.IGNORECASE)


@dataclass(frozen=True)
class Check:
    """One check of a model's answer: ``passed``, and ``detail`` saying what failed (empty when it passed)."""

    check: str
    passed: bool
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"check": self.check, "passed": self.passed, "detail": self.detail}


@dataclass(frozen=True)
class Figure:
    """A figure in words: its value, the decimals it was written with, and whether it was a percentage."""

    text: str
    value: Decimal
    decimals: int
    percent: bool


def figures(text: str) -> list[Figure]:
    """The figures written in ``text``, in order.

    >>> [(f.text, f.value) for f in figures("6,458 payments failed in 2025 (12.5% of 51,664); about 1.2 million streams.")]
    [('6,458', Decimal('6458')), ('2025', Decimal('2025')), ('12.5%', Decimal('12.5')), ('51,664', Decimal('51664')), ('1.2 million', Decimal('1.2E+6'))]
    >>> figures("user_id_2 in Q4")
    []
    """
    found = []
    for match in _FIGURE.finditer(text):
        whole, fraction, percent, scale = match.groups()
        value = Decimal(whole.replace(",", "") + (f".{fraction}" if fraction else ""))
        decimals = len(fraction or "")
        if scale:
            value, decimals = value.scaleb(_SCALE[scale]), decimals - _SCALE[scale]
        found.append(Figure(match.group(0).strip(), value, decimals, bool(percent)))
    return found


def _values(rows: Iterable[Iterable[Any]]) -> set[Decimal]:
    """Every number a result holds: its numbers, and the numbers written in its text and dates (2026-11-01)."""
    values: set[Decimal] = set()
    for row in rows:
        for value in row:
            if isinstance(value, bool) or value is None:
                continue
            if isinstance(value, (int, float, Decimal)):
                try:
                    number = Decimal(str(value))
                except ArithmeticError:
                    continue
                if number.is_finite():  # NaN (DuckDB's 0.0/0) and infinities compare with nothing
                    values.add(abs(number))
            elif isinstance(value, (str, date, datetime)):
                values.update(f.value for f in figures(str(value).replace("-", " ").replace(":", " ")))
    return values


def _matches(figure: Figure, values: set[Decimal]) -> bool:
    """Whether ``figure`` is one of ``values`` as written (rounded or cut to its decimals; a percentage may be a share).
    Figures are read without their sign ("-4.5", "fell by 4.5") and ``values`` hold magnitudes."""
    tolerance = Decimal(1).scaleb(-figure.decimals)
    candidates = values | ({v * 100 for v in values} if figure.percent else set())
    return any(abs(v - figure.value) < tolerance for v in candidates)


def check_figures(words: str, result: "QueryResult", *, question: str, sql: str) -> Check:
    """Every figure in ``words`` is in the result's rows (or its row count), the question or the SQL."""
    # The row count, unless the rows were cut at query.row_limit ("contains 1000 rows" of a table cut at 1,000).
    allowed = _values(result.rows) | (set() if result.truncated else {Decimal(len(result.rows))})
    allowed |= {f.value for f in figures(question)} | _values([[sql.replace("-", " ")]])
    missing = [f.text for f in figures(words) if not _matches(f, allowed)]
    if not missing:
        return Check(NUMBERS_IN_RESULT, True)
    shown = ", ".join(dict.fromkeys(missing))
    where = "the query returned no rows" if not result.rows else "the result shown does not hold"
    return Check(NUMBERS_IN_RESULT, False,
                 f"The words state {shown}, but {where}{' it' * bool(result.rows)} (nor does the question or the SQL): "
                 "the figure may be made up, or come from another query.")


def check_empty(words: str, result: "QueryResult") -> Check:
    """Words about a query that returned no rows say so ('no rows', 'none', '0', 'not')."""
    if result.rows or _SAYS_EMPTY.search(words):
        return Check(EMPTY_RESULT, True)
    return Check(EMPTY_RESULT, False, "The query returned no rows, but the words do not say so.")


def check_answer(words: str, toolbox: "Toolbox", *, answered: bool) -> tuple[str, list[Check]]:
    """The checks of an answer resting on the toolbox's last query (none without one), and its words without the
    queries in them that did not run. Only ``answered`` words are checked: a stopped run's words are vedder's."""
    last = toolbox.last_run
    if last is None:
        return words, []
    checks = []
    if answered:
        dialect = toolbox.project.config.dialect
        words, shown = check_queries_in_words(words, last.guarded.sql, lambda sql: toolbox.guard(sql).sql, dialect)
        stated = check_figures(words, last.result, question=toolbox.question, sql=last.guarded.sql)
        checks += [shown, stated]
        if not last.result.rows:
            checks.append(check_empty(words, last.result))
        elif stated.passed:  # a figure not in the result already says the words do not state it
            checks.append(check_states_result(words, last.result))
    skipped = toolbox.skipped_filters(last.guarded)
    checks.append(Check(DOCS_FILTERS, not skipped, " ".join(skip.caveat() for skip in skipped)))
    return words, checks


def check_states_result(words: str, result: "QueryResult") -> Check:
    """Words about a result state at least one of its values (a figure or a text value): a reply explaining how
    the query should be changed, above the rows of the query that ran, answers nothing."""
    numbers = _values(result.rows)
    texts = {value.strip() for row in result.rows for value in row if isinstance(value, str) and len(value.strip()) > 1}
    if not result.rows or (not numbers and not texts):
        return Check(STATES_RESULT, True)
    # As a whole word, and a code (three letters or fewer) in its own case: neither "users" nor "stored in the" states
    # the countries 'US' and 'IN' (Qwen2.5-Coder-1.5B: "The email address and password of every user are stored in
    # the `listening.users` table.", above rows of countries, dates and platforms).
    if any(_matches(f, numbers) for f in figures(words)) or any(
            re.search(rf"(?<!\w){re.escape(text)}(?!\w)", words, 0 if len(text) <= 3 else re.IGNORECASE) for text in texts):
        return Check(STATES_RESULT, True)
    return Check(STATES_RESULT, False, "The words state none of the values in the result shown: read the result, not "
                                       "the words.")


# A model saying the data cannot answer: words about what can be done, not claims about the data ("there are no
# explicit tracks" without a query is a made-up fact, not a decline).
_DECLINES = re.compile(r"\b(cannot|can ?not|can't|unable to|not able to|not possible|impossible|no way to)\b", re.IGNORECASE)


def declines(words: str, *, question: str, told: Iterable[str]) -> bool:
    """Whether ``words`` (a final answer resting on no query) are the model's own reasoned decline: they say the
    question cannot be answered, state no figure the question does not, hold no code, and are not an echo of what
    vedder ``told`` it (Qwen2.5-Coder-1.5B replied with a guard refusal it was sent, "…If they cannot answer…").

    >>> declines("The question cannot be answered because the table `revenue.payments` is not part of this cluster.",
    ...          question="How much revenue did each show bring in?", told=[])
    True
    >>> declines("I cannot be sure, but there are about 40 orders.", question="How many orders?", told=[])
    False
    >>> declines("There are no explicit tracks.", question="How many explicit tracks?", told=[])
    False
    """
    said = " ".join(words.split())
    if not _DECLINES.search(said) or "```" in said or said.lower().startswith("observation"):
        return False
    if any(echo and echo in said for echo in (" ".join(text.split())[:60] for text in told)):
        return False
    asked = {f.value for f in figures(question)}
    return all(f.value in asked for f in figures(said))


def caveats(model: str, checks: list[Check]) -> list[str]:
    """The lines shown under a model's answer: who wrote it and what vedder checked, then each failed check.

    >>> caveats("openai/qwen", [Check(NUMBERS_IN_RESULT, False, "The words state 7.")])[1]
    'The words state 7.'
    >>> caveats("openai/qwen", [])
    ['Written by model openai/qwen, not vetted by an expert.']
    """
    if not checks:
        return [f"Written by model {model}, not vetted by an expert."]
    return [f"Written by model {model}, not vetted by an expert. {CHECKED}",
            *(check.detail for check in checks if not check.passed)]


def failed_first(caveats_shown: list[str], checks: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    """An answer's caveats split into the failed checks, which every surface shows before the answer's words (a reader
    stops at a confident sentence), and the rest (who wrote it, what was checked), shown after them.

    >>> failed_first(["Written by model m.", "The words state 7."], [{"check": "x", "passed": False, "detail": "The words state 7."}])
    (['The words state 7.'], ['Written by model m.'])
    """
    failed = [check["detail"] for check in checks if not check.get("passed") and check.get("detail")]
    return [c for c in caveats_shown if c in failed], [c for c in caveats_shown if c not in failed]


def check_queries_in_words(words: str, shown: str, guard: "Callable[[str], str]", dialect: str) -> tuple[str, Check]:
    """``words`` without the fenced queries in them that are not the one shown (``shown``, as the guard wrote it;
    ``guard`` writes a query the same way or raises), and whether there were any: a model's words ending "the right
    query is:" and a query it never ran must not sit above the rows of another."""
    from vedder.agent.loop import FENCE, lone_query

    removed = 0

    def unless_shown(match: "re.Match[str]") -> str:
        nonlocal removed
        query = lone_query(match.group(1), dialect)
        if query is None:
            return match.group(0)
        try:
            if guard(query) == shown:
                return match.group(0)
        except VedderError:
            pass
        removed += 1
        return ""

    kept = FENCE.sub(unless_shown, words)
    if not removed:
        return words, Check(SQL_SHOWN, True)
    kept = re.sub(r"\n{3,}", "\n\n", kept).strip()
    return kept, Check(SQL_SHOWN, False, f"The words held {'a query' if removed == 1 else f'{removed} queries'} other than "
                                         "the one shown, which vedder did not run; removed from the words.")
