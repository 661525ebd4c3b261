"""What a cluster's docs say in prose that a query must not do: read a table they retire ("It is obsolete …
Don't use it"), take a money column for another unit (a column in cents, one already in major units), or
name a result after a defined term without the term's filter ("**GMV** is the sum … of orders that are not
cancelled (`status_code <> 9`)").

``Miner`` holds back the queries on a retired table as it does for a ``deprecated:`` list in a doc's front
matter; ``describe`` says in a proposal's question where a query breaks the others, so a reviewer sees it.

>>> from types import SimpleNamespace as NS
>>> doc = NS(body="`m.orders_v1` is the old table. It is obsolete. Don't use it — use `m.orders`.")
>>> sorted(retired_tables(NS(docs=[doc], dataset_files={"m.orders_v1": None, "m.orders": None})))
['m.orders_v1']
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vedder.project import Cluster

_RETIRED = re.compile(r"\b(?:obsolete|deprecated|do not use|don't use|no longer (?:updated|maintained)|replaced by|superseded by)\b",
                      re.IGNORECASE)
_REPLACEMENT = re.compile(r"(?:(?<!not )(?<!n't )\buse|\breplaced by|\bsuperseded by|\binstead of|\bin favou?r of|\bmigrate to)\s*$", re.IGNORECASE)
_SPAN = re.compile(r"`([^`\n]+)`")
_COLUMN_WORD = re.compile(r"\b(?:column|field|attribute)s?\b", re.IGNORECASE)
_NEGATED = re.compile(r"(?:\bnot|\bnon-|n't)\s*$", re.IGNORECASE)
_ATTRIBUTIVE = re.compile(r"\s*(?:the\s+)?(?:(?:table|view)s?\s+)?", re.IGNORECASE)
"""What may stand between a word that retires and the code span it is said of ('the deprecated `orders_v1`',
'do not use the `orders_v1` table')."""
_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+")
_MAJOR_UNITS = re.compile(r"\bmajor units?\b|\bnot (?:in )?cents\b", re.IGNORECASE)
_CENTS = re.compile(r"\bcents\b", re.IGNORECASE)
_BOLD_DEFINED = re.compile(r"\*\*(?P<term>[^*]+)\*\*\s+(?:\([^)]{1,80}\)\s+)?(?:is|are|means)\b")
MONEY_WORDS = frozenset({"eur", "usd", "sek", "nok", "dkk", "gbp", "chf", "jpy", "euro", "euros", "dollar", "dollars",
                         "kronor", "krona", "kroner", "pound", "pounds"})
"""Words of a result name that say it is in a currency's major unit (``revenue_eur``), not in cents."""


def _paragraphs(text: str) -> list[str]:
    return [p for p in re.split(r"\n\s*\n|\n(?=#)", text) if p.strip()]


def retired_tables(cluster: "Cluster") -> set[str]:
    """Tables of ``cluster`` (as its dataset files name them, lower case) that a doc paragraph calls obsolete or
    deprecated, or says not to use: the table named in the sentence that says so (the nearest before the word,
    else the one after 'do not use'), or, when that sentence names none ('It is obsolete'), the paragraph's
    first. A table the paragraph says to use instead ('use `x`', 'replaced by `x`') is never retired, nor one whose
    column the sentence is about ('the `status` column of `market.orders` is deprecated')."""
    names = {name.lower() for name in cluster.dataset_files}
    short = {}
    for name in names:
        short.setdefault(name.rpartition(".")[2], []).append(name)

    def table(span: str) -> str | None:
        span = span.strip().lower()
        if span in names:
            return span
        owners = short.get(span, [])
        return owners[0] if len(owners) == 1 else None

    retired: set[str] = set()
    for doc in cluster.docs:
        for paragraph in _paragraphs(doc.body):
            if not _RETIRED.search(paragraph):
                continue
            # Every code span, as the table it names ('' for a column or a value), without the replacements.
            spans = [(m.start(), table(m.group(1)) or "") for m in _SPAN.finditer(paragraph)
                     if not _REPLACEMENT.search(paragraph[max(0, m.start() - 20):m.start()])]
            offset = 0
            for sentence in _SENTENCE_END.split(paragraph):
                start = paragraph.find(sentence, offset)
                offset = start + len(sentence)
                for marker in _RETIRED.finditer(sentence):
                    at, end = start + marker.start(), start + marker.end()
                    if _NEGATED.search(paragraph[max(0, at - 8):at]):
                        continue  # 'is not deprecated', 'non-obsolete'
                    inside = [(pos, name) for pos, name in spans if start <= pos < offset]
                    before = [name for pos, name in inside if pos < at]
                    after = [(pos, name) for pos, name in inside if pos > at]
                    earlier = [name for pos, name in spans if pos < at and name]
                    # A span the word stands right before is what it is said of ('the deprecated `orders_v1`', a
                    # column in 'a deprecated `signup_source` column'); else the span nearest before the word
                    # ('`country_code` is no longer updated' retires no table); else the one after it; else the
                    # paragraph's subject.
                    if after and _ATTRIBUTIVE.fullmatch(paragraph, end, after[0][0]):
                        chosen = after[0][1]
                    elif _COLUMN_WORD.search(paragraph, start, at):
                        chosen = ""  # 'the `status` column of `market.orders` is deprecated' retires a column
                    else:
                        chosen = before[-1] if before else after[0][1] if after else earlier[0] if earlier else ""
                    if chosen:
                        retired.add(chosen)
    return retired


def money_units(cluster: "Cluster") -> tuple[set[str], set[str]]:
    """(columns in cents, columns already in major units), lower-case column names: a ``…_cents`` column, or
    the first a doc sentence names when it says 'cents'; the first one a sentence names when it says 'major
    units' or 'not cents' ('`amount_units` is in major units (kronor, euros), NOT cents, unlike `total_cents`')."""
    cents = {column.name.lower() for dataset in cluster.dataset_files.values() if dataset is not None
             for column in dataset.columns if column.name.lower().endswith("_cents")}
    major: set[str] = set()
    for doc in cluster.docs:
        for sentence in _SENTENCE_END.split(doc.body):
            columns = [span.strip().lower().rpartition(".")[2] for span in _SPAN.findall(sentence)]
            columns = [c for c in columns if re.fullmatch(r"\w+", c)]
            if not columns:
                continue
            if _MAJOR_UNITS.search(sentence):
                major.add(columns[0])
            elif _CENTS.search(sentence):
                cents.add(columns[0])
    return cents - major, major


def defined_filters(cluster: "Cluster") -> dict[str, list[str]]:
    """Term -> the code spans of the sentence that defines it in bold ('gmv' -> ['total_cents', 'status_code <> 9']),
    lower case; the caller keeps the spans that are filters."""
    found: dict[str, list[str]] = {}
    for doc in cluster.docs:
        for sentence in _SENTENCE_END.split(doc.body):
            match = _BOLD_DEFINED.search(sentence)
            if match:
                found.setdefault(match.group("term").strip().lower(), []).extend(_SPAN.findall(sentence[match.end():]))
    return found
