"""Qualifiers a question puts on what it counts — "including test users", "without refunds", "only premium
users", "on all platforms", "previews included" — and whether a vetted pair's SQL honours them.

A vetted pair that excludes test accounts (``user_id >= 100``) must not answer "… including test users". The
qualified words are tied to the SQL through the cluster itself: column names, profiled values, and the doc
sections that use those words (the definitions doc says test accounts are ``user_id >= 100``). Then:

- **include** ("including X", "X included", "with X", "all X"): the pair must not filter what X names;
- **exclude** ("excluding X", "without X", "except X", "non-X", "X excluded"): the pair must filter it out —
  with the predicate the docs give for X, or a condition that leaves X's value out;
- **only** ("only X", "X only"): the pair must restrict to it.

What cannot be tied to the SQL is a disagreement: precision over coverage.

>>> [(q.kind, sorted(q.terms)) for q in qualifiers_in("top tracks including test users in October 2026")]
[('include', ['test', 'user'])]
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlglot
from sqlglot import exp

from vedder.context.tokenize import STOP_WORDS, split_identifier, stem, tokenize

if TYPE_CHECKING:
    from vedder.context.index import ClusterIndex

_KEYWORDS = {
    "include": ("including", "include", "includes", "inclusive of", "incl", "with", "all", "plus"),
    "exclude": ("not including", "not counting", "excluding", "exclude", "excludes", "without", "except for",
                "except", "other than", "apart from", "ignoring", "leaving out", "non"),
    "only": ("only", "solely", "exclusively"),
}
_POSTFIX = {"included": "include", "excluded": "exclude", "only": "only"}
# "with" and "all" are everyday words ("students with age above 20", "list all the names"): they qualify only
# with words the pair's phrasing and SQL do not already speak of.
_WEAK = {"with", "all"}
_PREFIX = re.compile(
    r"\b(" + "|".join(sorted((re.escape(k) for ks in _KEYWORDS.values() for k in ks), key=len, reverse=True)) + r")\b[\s-]+"
)
_TOKEN = re.compile(r"[a-z0-9_]+|[^\sa-z0-9_]")
_FILLERS = {"the", "a", "an", "of", "our", "their", "its", "those", "these", "any", "every", "them"}
_STOPPERS = {
    "in", "for", "by", "per", "during", "from", "on", "at", "to", "and", "or", "with", "who", "that", "which",
    "where", "than", "over", "across", "between", "since", "before", "after", "vs", "versus", "whose", "when",
    "as", "is", "are", "was", "were", "have", "has", "had", "did", "do", "does", "be", "been", "order",
    "sorted", "ordered", "included", "excluded", "only", "but", "not", "along", "together", "having", "named",
    "called", "containing", "contains", "exceeding", "exceeds", "above", "below", "under", "larger", "greater",
    "more", "less", "fewer", "higher", "lower", "bigger", "smaller", "equal", "of",
}
# "the city with the largest area", "employees with last name …": the argmax pattern, not a qualifier.
_SUPERLATIVES = set("""most least highest lowest greatest largest smallest biggest maximum minimum max min latest
    earliest oldest youngest longest shortest best worst top bottom fewest more less fewer greater larger smaller
    higher lower first last same different""".split())
_NEGATIONS = {"not", "no", "never", "without", "except", "excluding", "non", "none", "nor", "neither"}
# Words about the shape of the answer, not about what is counted.
_NOT_THINGS = {stem(w) for w in """most least highest lowest top bottom more less fewer greater number count total
    average many much same different distinct unique time times information detail details""".split()}
_MONTH_WORDS = {"january", "february", "march", "april", "june", "july", "august", "september", "october",
                "november", "december", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct",
                "nov", "dec"}
_COMPARISONS = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Like, exp.ILike, exp.In, exp.Between, exp.Is)
MAX_WORDS = 3


@dataclass(frozen=True)
class Qualifier:
    """``kind`` ("include", "exclude", "only") of the things named by ``terms`` (stems), said by ``keyword``
    as ``text`` at ``span`` of the question."""

    kind: str
    keyword: str
    terms: frozenset[str]
    span: tuple[int, int]
    text: str

    @property
    def weak(self) -> bool:
        return self.keyword in _WEAK


def _words_after(text: str, start: int) -> tuple[list[str], int]:
    found: list[str] = []
    end = start
    for match in _TOKEN.finditer(text, start):
        word = match.group(0)
        if not found and word in _FILLERS:
            end = match.end()
            continue
        if not found and word in _SUPERLATIVES:
            return [], end
        if not re.fullmatch(r"[a-z_]+", word) or word in _STOPPERS or word in _MONTH_WORDS or len(found) == MAX_WORDS:
            break
        found.append(word)
        end = match.end()
    return found, end


def _words_before(text: str, end: int) -> tuple[list[str], int]:
    found: list[str] = []
    start = end
    for match in reversed(list(_TOKEN.finditer(text[:end]))):
        word = match.group(0)
        if not re.fullmatch(r"[a-z_]+", word) or word in _STOPPERS or word in _FILLERS or len(found) == MAX_WORDS - 1:
            break
        found.insert(0, word)
        start = match.start()
    return found, start


def _terms(found: list[str]) -> frozenset[str]:
    return frozenset(stem(w) for w in found if w not in STOP_WORDS and stem(w) not in _NOT_THINGS)


def qualifiers_in(text: str) -> list[Qualifier]:
    """The qualifiers of ``text``, in order (those that name nothing countable are left out)."""
    lowered = text.lower()
    if len(lowered) != len(text):  # a few characters change length when lower-cased: keep spans aligned
        lowered = "".join(c if len(c.lower()) != 1 else c.lower() for c in text)
    out: list[Qualifier] = []
    for match in _PREFIX.finditer(lowered):
        keyword = re.sub(r"\s+", " ", match.group(1))
        kind = next(k for k, words in _KEYWORDS.items() if keyword in words)
        found, end = _words_after(lowered, match.end())
        terms = _terms(found)
        if terms:
            out.append(Qualifier(kind, keyword, terms, (match.start(), end), text[match.start() : end]))
    for match in re.finditer(r"\b(included|excluded|only)\b", lowered):
        found, start = _words_before(lowered, match.start())
        terms = _terms(found)
        if terms and not any(q.span[0] <= start < q.span[1] for q in out):
            out.append(Qualifier(_POSTFIX[match.group(1)], match.group(1), terms, (start, match.end()), text[start : match.end()]))
    return sorted(out, key=lambda q: q.span)


@dataclass(frozen=True)
class Predicate:
    """One condition of a query's WHERE or HAVING: the columns it reads, its literals, whether it negates."""

    columns: frozenset[str]
    literals: tuple[str, ...]
    negated: bool
    forms: frozenset[str]


def _bare(node: exp.Expression) -> str:
    """``node`` as SQL with table qualifiers removed, so ``e.user_id >= 100`` and ``user_id >= 100`` match."""
    copy = node.copy()
    for column in copy.find_all(exp.Column):
        column.set("table", None)
    return copy.sql(dialect="duckdb").lower()


def _conjuncts(condition: exp.Expression) -> list[exp.Expression]:
    if isinstance(condition, exp.And):
        return _conjuncts(condition.this) + _conjuncts(condition.expression)
    if isinstance(condition, exp.Paren):
        return _conjuncts(condition.this)
    return [condition]


def predicates(tree: exp.Expression) -> list[Predicate]:
    """The conditions of every WHERE and HAVING in ``tree``, split at AND."""
    out = []
    for clause in tree.find_all(exp.Where, exp.Having):
        for condition in _conjuncts(clause.this):
            columns = frozenset(c.name.lower() for c in condition.find_all(exp.Column) if c.name)
            literals = tuple(str(l.this) for l in condition.find_all(exp.Literal))
            negated = any(True for _ in condition.find_all(exp.Not, exp.NEQ))
            forms = frozenset(_bare(node) for node in condition.find_all(*_COMPARISONS))
            out.append(Predicate(columns, literals, negated, forms))
    return out


@dataclass(frozen=True)
class _Vocabulary:
    """What a cluster's schema, profiles and docs tie words to."""

    columns: dict[str, frozenset[str]]  # column name → stems of its name
    tables: dict[str, frozenset[str]]  # table name (without schema) → its column names
    values: list[tuple[str, str, frozenset[str]]]  # (column, value, stems of the value)
    sections: list[tuple[frozenset[str], frozenset[str], frozenset[str]]]  # (stems, columns, predicate forms)
    headed: list[tuple[frozenset[str], frozenset[str]]]  # (stems of a section's heading, its predicate forms)


def _code_spans(text: str) -> list[str]:
    return re.findall(r"`([^`\n]+)`", text)


def _vocabulary(index: "ClusterIndex") -> _Vocabulary:
    cached = index.memo.get("qualifier_vocabulary")
    if cached is not None:
        return cached
    columns: dict[str, frozenset[str]] = {}
    tables: dict[str, frozenset[str]] = {}
    values: list[tuple[str, str, frozenset[str]]] = []
    for dataset in index.datasets:
        tables[dataset.table.rsplit(".", 1)[-1].lower()] = frozenset(c.name.lower() for c in dataset.columns)
        for column in dataset.columns:
            name = column.name.lower()
            columns[name] = frozenset(stem(w) for w in split_identifier(name) if w != "id")
            for entry in column.common_values:
                value = entry.get("value") if isinstance(entry, dict) else None
                if isinstance(value, str) and re.search(r"[A-Za-z]", value):
                    values.append((name, value, frozenset(tokenize(value))))
    sections, headed = [], []
    for section in index.sections:
        found_columns: set[str] = set()
        forms: set[str] = set()
        for span in _code_spans(section.text):
            try:
                tree = sqlglot.parse_one(span, read="duckdb")
            except sqlglot.errors.SqlglotError:
                continue
            found_columns |= {c.name.lower() for c in tree.find_all(exp.Column) if c.name.lower() in columns}
            forms |= {_bare(node) for node in tree.find_all(*_COMPARISONS) if any(True for _ in node.find_all(exp.Column))}
        if found_columns:
            stems = frozenset(tokenize(f"{section.heading} {section.text}"))
            sections.append((stems, frozenset(found_columns), frozenset(forms)))
        if forms:
            headed.append((frozenset(tokenize(section.heading)), frozenset(forms)))
    vocabulary = _Vocabulary(columns, tables, values, sections, headed)
    index.memo["qualifier_vocabulary"] = vocabulary
    return vocabulary


def _mentioned(literal: str, terms: frozenset[str]) -> bool:
    stems = set(tokenize(literal.strip("%")))
    return bool(stems) and stems <= terms


def _honoured(qualifier: Qualifier, vocabulary: _Vocabulary, tree: exp.Expression) -> bool | None:
    """Whether the pair's SQL ``tree`` honours ``qualifier``; None for a weak one that names no column of the
    tables the pair reads (not a qualifier of this pair: "all flights", "students with red hair")."""
    conditions = predicates(tree)
    terms = qualifier.terms
    restricts = any(not p.negated and any(_mentioned(l, terms) for l in p.literals) for p in conditions)
    sections = [s for s in vocabulary.sections if terms <= s[0]]
    doc_forms = set().union(*(forms for _, _, forms in sections))
    matches_docs = any(p.forms & doc_forms for p in conditions)
    if qualifier.kind == "only":
        return restricts or matches_docs
    named_values = [(column, value) for column, value, stems in vocabulary.values if stems and stems <= terms]
    targets = {name for name, stems in vocabulary.columns.items() if stems & terms}
    targets |= {column for column, _ in named_values}
    if not targets:
        # A long doc section names many columns: the docs stand in only for words the schema does not know.
        targets = set().union(*(columns for _, columns, _ in sections))
    if qualifier.kind == "include":
        # "students with red hair" restricts; "including cancelled ones" does not: it widens.
        if restricts:
            return qualifier.weak
        # "including internal test orgs" of a pair that applies the filter the docs give under that heading
        # (`account_id > 25`), though a column is also named after them (``is_internal``).
        headed_forms = set().union(*(forms for heading, forms in vocabulary.headed if terms <= heading))
        if any(p.forms & headed_forms for p in conditions):
            return False
        read = set().union(*(vocabulary.tables.get(t.name.lower(), frozenset()) for t in tree.find_all(exp.Table)))
        if not targets & read:
            return None if qualifier.weak else False
        return not any(p.columns & targets for p in conditions)
    if matches_docs:
        return True
    for column, value in named_values:
        for p in conditions:
            if column not in p.columns:
                continue
            mentions_value = value in p.literals
            if (p.negated and mentions_value) or (not p.negated and not mentions_value and p.literals):
                return True
    return any(p.negated and p.columns & targets for p in conditions)


def qualifier_check(
    index: "ClusterIndex", question: str, phrasing: str, tree: exp.Expression | None, sql_words: set[str]
) -> tuple[list[str], list[Qualifier]]:
    """Problems with the question's qualifiers that the pair (``phrasing``, its SQL ``tree``) cannot be shown to
    honour, and the qualifiers the SQL honours whose words need no other accounting ("excluding test users",
    "including all platforms" asked of a pair that does not filter platforms; not the everyday "with"/"all").

    A qualifier the phrasing states too (same kind, same words) is honoured by the vetting itself; an include
    qualifier whose words the phrasing uses plainly, or a weak one ("with", "all") whose words the SQL names,
    describes the pair rather than changing it.
    """
    asked = qualifiers_in(question)
    if not asked:
        return [], []
    vetted = {(q.kind, q.terms) for q in qualifiers_in(phrasing)}
    phrasing_terms = set(tokenize(phrasing))
    phrasing_negates = bool(set(re.findall(r"[a-z]+", phrasing.lower())) & _NEGATIONS) or "n't" in phrasing
    problems: list[str] = []
    honoured: list[Qualifier] = []
    for qualifier in asked:
        if (qualifier.kind, qualifier.terms) in vetted:
            continue
        if qualifier.kind == "include" and (qualifier.terms <= phrasing_terms or qualifier.weak and (
                qualifier.terms & phrasing_terms or qualifier.terms <= sql_words)):
            continue
        # "courses without prerequisites" and the vetted "courses that do not have prerequisites".
        if qualifier.kind == "exclude" and phrasing_negates and qualifier.terms <= phrasing_terms | sql_words:
            continue
        verdict = _honoured(qualifier, _vocabulary(index), tree) if tree is not None else False
        if verdict is False:
            problems.append(f"'{qualifier.text}'")
        elif verdict and not qualifier.weak and not (qualifier.kind == "include" and qualifier.terms <= phrasing_terms | sql_words):
            honoured.append(qualifier)
    return problems, honoured


def without_spans(text: str, qualifiers: list[Qualifier]) -> str:
    """``text`` with the words of ``qualifiers`` blanked out (same length, so other spans stay valid)."""
    for qualifier in qualifiers:
        start, end = qualifier.span
        text = text[:start] + " " * (end - start) + text[end:]
    return text
