"""Calendar periods a question names ("November 2026", "in 2025") and shifting a query's date literals from
one period to another with sqlglot — what lets the offline answerer turn a vetted "October 2026" pair into
the November answer.

>>> [str(p) for p in periods_in("streams in Nov 2026 vs 2025")]
['2026-11', '2025']
>>> import sqlglot
>>> tree = sqlglot.parse_one("SELECT 1 FROM t WHERE d >= DATE '2026-10-01' AND d < DATE '2026-11-01'")
>>> shift_dates(tree, Period(2026, 10), Period(2026, 11))
2
>>> tree.sql()
"SELECT 1 FROM t WHERE d >= CAST('2026-11-01' AS DATE) AND d < CAST('2026-12-01' AS DATE)"
>>> str(sql_period(tree))
'2026-11'
>>> sorted(relative_periods("streams last week vs the past 7 days")), sorted(grains("daily streams per month, 18 years"))
(['last 7 day', 'last week'], ['day', 'month'])
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from sqlglot import exp

_MONTHS = {name.lower(): number for number, name in enumerate(calendar.month_name) if name}
_MONTHS.update({name.lower(): number for number, name in enumerate(calendar.month_abbr) if name})
_MONTHS["sept"] = 9
_MONTH_NAME = "|".join(sorted(_MONTHS, key=len, reverse=True))
# "May" alone is a verb as often as a month: a month name counts only with a year next to it.
_MONTH_YEAR = re.compile(rf"\b({_MONTH_NAME})\.?,?\s+(?:of\s+)?((?:19|20)\d\d)\b", re.IGNORECASE)
_BARE_MONTH = re.compile(rf"\b({'|'.join(n for n in sorted(_MONTHS, key=len, reverse=True) if n != 'may')})\b", re.IGNORECASE)
# "and in May?": the month, not the verb, when said with a capital after a preposition of time.
_BARE_MAY = re.compile(r"(?i:\b(?:in|for|during|of|since|until|through|from)\s+)(May)\b")
_ISO_MONTH = re.compile(r"\b((?:19|20)\d\d)-(0[1-9]|1[0-2])\b(?!-\d)")
_YEAR = re.compile(r"(?<![\w.-])((?:19|20)\d\d)(?![\w.]|-\d)")
_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})")
_UNIT = r"(day|week|month|quarter|year|hour)s?"
_RELATIVE = re.compile(
    rf"\b(?:(last|past|previous|prior|this|current|next|coming)\s+(?:(\d+|few|couple of)\s+)?{_UNIT}"
    r"|(yesterday|today|tonight|tomorrow|ytd|mtd|year to date|month to date))\b",
    re.IGNORECASE,
)
_GRAIN_WORDS = {"daily": "day", "weekly": "week", "monthly": "month", "quarterly": "quarter", "yearly": "year",
                "annual": "year", "annually": "year", "hourly": "hour"}
_GRAIN = re.compile(rf"\b(?:per|each|every|by|a|an)\s+{_UNIT}\b|\b({'|'.join(_GRAIN_WORDS)})\b", re.IGNORECASE)


# "between September and November 2026", "from Sep to Nov 2026", "September–November 2026": consecutive months, the
# last one included. "September and November 2026" (no "between") is two months, not a range.
_RANGE_END = rf"({_MONTH_NAME})\.?,?\s+((?:19|20)\d\d)\b"
_MONTH_RANGE = re.compile(
    rf"\b(?:between\s+({_MONTH_NAME})\.?(?:\s+((?:19|20)\d\d))?\s+and|from\s+({_MONTH_NAME})\.?(?:\s+((?:19|20)\d\d))?\s+(?:to|through|until|till)"
    rf"|({_MONTH_NAME})\.?(?:\s+((?:19|20)\d\d))?\s*(?:\s(?:to|through)\s|[-–—]))\s*{_RANGE_END}",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Period:
    """A calendar month (``month`` set; ``months`` consecutive ones from it for a range) or a whole year;
    ``text`` is how the question said it."""

    year: int
    month: int | None = None
    text: str = ""
    months: int = 1

    def __str__(self) -> str:
        if self.month and self.months > 1:
            last = _add_months(self.end(), -1)
            return f"{self.year}-{self.month:02d} to {last.year}-{last.month:02d}"
        return f"{self.year}-{self.month:02d}" if self.month else str(self.year)

    @property
    def kind(self) -> str:
        return "month" if self.month else "year"

    def start(self) -> date:
        return date(self.year, self.month or 1, 1)

    def end(self) -> date:
        """The first day after the period."""
        return _add_months(self.start(), self.months if self.month else 12)

    def said(self) -> str:
        """How a question names the period: "November 2026", "2026" (a range as its ``text``).

        >>> Period(2026, 11).said(), Period(2025).said()
        ('November 2026', '2025')
        """
        if self.months > 1 and self.text:
            return self.text
        return f"{calendar.month_name[self.month]} {self.year}" if self.month else str(self.year)

    def same_as(self, other: "Period") -> bool:
        return (self.year, self.month, self.months) == (other.year, other.month, other.months)


def periods_in(text: str, default_year: int | None = None) -> list[Period]:
    """Months (with their year) and bare years that ``text`` names, in order; with ``default_year`` a month
    named without a year ("and for December?", "and in May?" but not "it may") is taken to be in that year.

    >>> [p.month for p in periods_in("and in May?", 2026)], periods_in("which may differ", 2026)
    ([5], [])
    """
    return list(_periods_in(text, default_year))


@lru_cache(maxsize=16384)
def _periods_in(text: str, default_year: int | None) -> tuple[Period, ...]:
    found: list[tuple[int, Period]] = []
    taken: list[tuple[int, int]] = []
    for match in _MONTH_RANGE.finditer(text):
        period = _month_range(match)
        if period is not None:
            found.append((match.start(), period))
            taken.append(match.span())
    for match in _MONTH_YEAR.finditer(text):
        if not any(start <= match.start() < end for start, end in taken):
            found.append((match.start(), Period(int(match.group(2)), _MONTHS[match.group(1).lower()], match.group(0))))
            taken.append(match.span())
    for match in _ISO_MONTH.finditer(text):
        found.append((match.start(), Period(int(match.group(1)), int(match.group(2)), match.group(0))))
        taken.append(match.span())
    if default_year is not None:
        for match in [*_BARE_MONTH.finditer(text), *_BARE_MAY.finditer(text)]:
            if not any(start <= match.start(1) < end for start, end in taken):
                found.append((match.start(1), Period(default_year, _MONTHS[match.group(1).lower()], match.group(1))))
                taken.append(match.span(1))
    for match in _YEAR.finditer(text):
        if not any(start <= match.start() < end for start, end in taken):
            found.append((match.start(), Period(int(match.group(1)), None, match.group(0))))
    return tuple(period for _, period in sorted(found, key=lambda item: item[0]))


# "Oct '26", "October ’26": a month with its year in two digits; "10/2026" (and "2026/10"): a month and year in numbers.
_SHORT_YEAR = re.compile(rf"\b({_MONTH_NAME})\.?\s*['’‘](\d\d)\b", re.IGNORECASE)
_SLASHED = re.compile(r"(?<![\w/.-])(?:(0?[1-9]|1[0-2])/((?:19|20)\d\d)|((?:19|20)\d\d)/(0?[1-9]|1[0-2]))(?![\w/.-])")


def dates_spelled(text: str) -> str:
    """``text`` with a month whose year is said in two digits ("Oct '26") or a month written in numbers ("10/2026")
    spelled as ``periods_in`` reads months ("Oct 2026", "October 2026"); a day ("10/12/2026") stays as it is.

    >>> dates_spelled("streams in Oct '26 vs 10/2026"), dates_spelled("due 10/12/2026")
    ('streams in Oct 2026 vs October 2026', 'due 10/12/2026')
    """
    text = _SHORT_YEAR.sub(lambda m: f"{m.group(1)} {2000 + int(m.group(2)) if int(m.group(2)) < 70 else 1900 + int(m.group(2))}", text)

    def spelled(match: re.Match) -> str:
        month, year = (match.group(1), match.group(2)) if match.group(1) else (match.group(4), match.group(3))
        return f"{calendar.month_name[int(month)]} {year}"

    return _SLASHED.sub(spelled, text)


def _month_range(match: re.Match) -> Period | None:
    """The months a ``_MONTH_RANGE`` match spans, first and last included; None when they are not in order (a
    range across New Year must name the first month's year) or are one month."""
    first, first_year = next((match.group(i), match.group(i + 1)) for i in (1, 3, 5) if match.group(i))
    last_month, last_year = _MONTHS[match.group(7).lower()], int(match.group(8))
    start = date(int(first_year) if first_year else last_year, _MONTHS[first.lower()], 1)
    months = (last_year - start.year) * 12 + last_month - start.month + 1
    return Period(start.year, start.month, match.group(0), months) if 1 < months <= 24 else None


# "so far in November 2026": the part of a named period there is data for, which is the period as a query
# filters it (an answer for a period past the last profiled day says the period may be incomplete).
_SO_FAR = re.compile(r"\b(?:so far|thus far|to date|until now|up to now)\b", re.IGNORECASE)


def without_so_far(text: str) -> str:
    """``text`` without "so far" and its like when it names a calendar period; as it is otherwise ("streams
    so far" names no period to be part of).

    >>> without_so_far("Daily streams so far in November 2026"), without_so_far("streams so far")
    ('Daily streams in November 2026', 'streams so far')
    """
    return re.sub(r"\s*" + _SO_FAR.pattern, "", text, flags=re.IGNORECASE) if periods_in(text) else text


def relative_periods(text: str) -> set[str]:
    """Periods ``text`` names relative to today ("last week", "past 7 days", "yesterday"), normalized."""
    out = set()
    for match in _RELATIVE.finditer(text):
        if match.group(4):
            out.add(match.group(4).lower())
            continue
        anchor = {"past": "last", "previous": "last", "prior": "last", "current": "this", "coming": "next"}.get(
            match.group(1).lower(), match.group(1).lower())
        out.add(" ".join(p for p in (anchor, (match.group(2) or "").lower(), match.group(3).lower()) if p))
    return out


# A finished calendar period named from today: "last month" on 2026-11-26 is October 2026. Not "the last month"
# nor "the past month" (the 30 days up to today), nor "this month" (not over yet).
_LAST_PERIOD = re.compile(r"(?<!\bthe )\b(?:last|previous)\s+(month|year)\b(?!\s*(?:to date|so far))", re.IGNORECASE)


def last_periods_named(text: str, today: date) -> tuple[str, list[tuple[str, Period]]]:
    """``text`` with "last month" / "last year" written as the calendar period they are seen from ``today``, and
    what was read as what.

    >>> last_periods_named("streams in Sweden last month", date(2026, 11, 26))
    ('streams in Sweden October 2026', [('last month', Period(year=2026, month=10, text='October 2026', months=1))])
    >>> last_periods_named("signups in the last month", date(2026, 11, 26))[1]
    []
    """
    read: list[tuple[str, Period]] = []

    def named(match: re.Match) -> str:
        if match.group(1).lower() == "month":
            day = _add_months(today.replace(day=1), -1)
            period = Period(day.year, day.month, f"{calendar.month_name[day.month]} {day.year}")
        else:
            period = Period(today.year - 1, None, str(today.year - 1))
        read.append((match.group(0), period))
        return period.text

    return _LAST_PERIOD.sub(named, text), read


# A period named from the one the answer before showed: "that year", "the same month", "the previous month", "the
# month before". Not "last month" (seen from today) nor "the month before last".
_FROM_SHOWN = re.compile(r"\b(?:(?:in |for |during )?(?:that|the same) (month|year)|the (?:previous|prior) (month|year)"
                         r"|the (month|year) before(?! last))\b", re.IGNORECASE)


def periods_from_shown(text: str, shown: "Period | None") -> tuple[str, list[tuple[str, Period]]]:
    """``text`` with the periods it names from ``shown`` (the answer before's month or year) written out, and what
    was read as what; a month is never read from a year.

    >>> periods_from_shown("and the previous month?", Period(2026, 11))
    ('and October 2026?', [('the previous month', Period(year=2026, month=10, text='October 2026', months=1))])
    >>> periods_from_shown("refunds that year?", Period(2024))[0], periods_from_shown("that month", Period(2024))[0]
    ('refunds in 2024?', 'that month')
    """
    read: list[tuple[str, Period]] = []

    def named(match: re.Match) -> str:
        unit = (match.group(1) or match.group(2) or match.group(3)).lower()
        before = match.group(1) is None
        if shown is None or shown.months != 1 or unit == "month" and shown.month is None:
            return match.group(0)
        if unit == "month":
            day = _add_months(shown.start(), -1 if before else 0)
            period = Period(day.year, day.month, f"{calendar.month_name[day.month]} {day.year}")
        elif before and shown.month is not None:  # "the year before" October 2026: October 2025, or the year 2025?
            return match.group(0)
        else:
            year = shown.year - 1 if before else shown.year
            period = Period(year, None, str(year))
        read.append((match.group(0).strip(), period))
        return ("in " if period.month is None else "") + period.text

    return _FROM_SHOWN.sub(named, text), read


def names_a_period(text: str) -> bool:
    """Whether ``text`` names a period in any way these functions read (or decline to read): a month or year, one
    relative to today ("last week", "this month") or to the answer before ("that month", "the year before").

    >>> names_a_period("and refunds that month?"), names_a_period("how many streams per day then?")
    (True, False)
    """
    return bool(periods_in(text) or relative_periods(text) or _FROM_SHOWN.search(text) or _LAST_PERIOD.search(text))


def grains(text: str) -> set[str]:
    """The time units ``text`` splits or counts by ("per day", "each month", "weekly"); not "18 years old"."""
    return {(m.group(1) or _GRAIN_WORDS[m.group(2).lower()]).lower() for m in _GRAIN.finditer(text)}


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def day_of(text: object) -> date | None:
    """The date an ISO date or timestamp starts with ('2026-10-01', '2026-08-28T00:28:43'); None otherwise."""
    match = _DATE.match(str(text))
    if match is None:
        return None
    try:
        return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        return None


def date_literals(tree: exp.Expression) -> list[tuple[exp.Literal, date]]:
    """String literals of ``tree`` that start with an ISO date ('2026-10-01', '2026-10-01 00:00:00')."""
    found = ((literal, day_of(literal.this)) for literal in tree.find_all(exp.Literal) if literal.is_string)
    return [(literal, day) for literal, day in found if day is not None]


def shift_dates(tree: exp.Expression, old: Period, new: Period) -> int:
    """Move the date literals of ``tree`` that bound ``old`` (its first day, last day or the day after) to the
    same bound of ``new``, in place; returns how many moved (0: the query does not show ``old`` as a date range)."""
    if (new.month is None) != (old.month is None):
        return 0
    last = date.fromordinal(old.end().toordinal() - 1)
    bounds = {old.start(): new.start(), old.end(): new.end(), last: date.fromordinal(new.end().toordinal() - 1)}
    moved = 0
    for literal, day in date_literals(tree):
        if day not in bounds:
            continue
        text = str(literal.this)
        literal.replace(exp.Literal.string(bounds[day].isoformat() + text[10:]))
        moved += 1
    return moved


def sql_period(tree: exp.Expression) -> Period | None:
    """The one month or year the query's date literals span (first day and the day after, or the last day),
    when there is exactly one; None otherwise."""
    days = {day for _, day in date_literals(tree)}
    found = set()
    for day in days:
        if day.day != 1:
            continue
        month, year = Period(day.year, day.month), Period(day.year)
        for period in (month, year) if day.month == 1 else (month,):
            if period.end() in days or date.fromordinal(period.end().toordinal() - 1) in days:
                found.add(period)
    return found.pop() if len(found) == 1 else None
