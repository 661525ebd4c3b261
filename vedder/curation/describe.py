"""A deterministic question for what a query answers, built from its syntax tree (no model needed).

Measures come from the aggregates (their result names when those say something), dimensions from GROUP BY,
and the WHERE clause becomes phrases: date ranges merged into one period ("in October 2026", "between
2026-08-31 and 2026-09-27", "in the last 7 days"), values ("in GB", "with status failed"), and the filters
the cluster's docs explain: a documented exclusion becomes "excluding test accounts" (named after the doc
section that asks for it), a documented definition (``duration_ms >= 30000`` is what a stream is) goes
without saying. Columns are named from their dataset description when it is a short name, else from the
column name; table aliases never show.

>>> describe("SELECT country, COUNT(*) AS streams FROM listening.events WHERE event_date >= CURRENT_DATE - "
...          "INTERVAL 7 DAY GROUP BY country")
'How many streams per country in the last 7 days?'
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import sqlglot
from sqlglot import exp

from vedder.sql.guard import parse_one_statement

if TYPE_CHECKING:
    from vedder.project import Cluster, Dataset

_AGGREGATE_WORDS = {exp.Sum: "total", exp.Avg: "average", exp.Min: "minimum", exp.Max: "maximum"}
_ABBREVIATIONS = {"avg": "average", "pct": "percent", "ctr": "click-through rate", "amt": "amount", "qty": "quantity",
                  "num": "number", "dau": "daily active users", "mau": "monthly active users"}
_COUNT_WORDS = {"n", "cnt", "count", "num", "number", "total", "of", "nb", "distinct"}
_VAGUE_WORDS = {"value", "x", "c", "metric", "usd", "eur", "dollars", "cents", "ms", "amount"}
_UNIT_SUFFIXES = ("_cents", "_ms", "_usd", "_eur", "_micros", "_s")
_DATE_PARTS = {"year", "month", "week", "day", "quarter", "hour", "dow", "isodow", "date"}
_COMPARISONS = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE)
_FLIPPED = {exp.GT: exp.LT, exp.GTE: exp.LTE, exp.LT: exp.GT, exp.LTE: exp.GTE, exp.EQ: exp.EQ, exp.NEQ: exp.NEQ}
_EXCLUSION_WORDS = ("exclude", "filter")
_MAX_NAME_WORDS = 3


@dataclass(frozen=True)
class Documented:
    """A filter a doc section explains: ``subject`` is the section's heading ('test accounts', 'stream');
    an exclusion ('always filter `user_id >= 100`') is said, a definition ('a stream is a row … with
    `duration_ms >= 30000`') names what is counted (``rows``) or summed (``sums``)."""

    subject: str
    excludes: bool
    rows: bool = False
    sums: bool = False


@dataclass
class Vocabulary:
    """What a cluster's files say about naming: its datasets (column descriptions, partition columns) and
    the filters its docs document, by (column, operator, value)."""

    datasets: dict[str, "Dataset"] = field(default_factory=dict)
    documented: dict[tuple[str, str, str], Documented] = field(default_factory=dict)
    acronyms: set[str] = field(default_factory=set)
    """Acronyms the docs spell out, lower case ('gmv'): written in capitals in a question."""
    cents: set[str] = field(default_factory=set)
    major_units: set[str] = field(default_factory=set)
    """Money columns in cents, and money columns the docs say are already in major units (``gotchas.money_units``)."""
    definitions: dict[str, list[tuple[str, str, str]]] = field(default_factory=dict)
    """Defined term -> the filters its definition carries ('gmv' -> [('status_code', 'NEQ', '9.0')])."""
    codes: dict[str, dict[str, str]] = field(default_factory=dict)
    """Column -> code -> its name in the docs ('status_code' -> '9' -> 'cancelled')."""

    @classmethod
    def of(cls, cluster: "Cluster | None", dialect: str = "duckdb") -> "Vocabulary":
        if cluster is None:
            return cls()
        from vedder.context.index import doc_sections

        datasets = {name.rpartition(".")[2]: dataset for name, dataset in cluster.dataset_files.items()}
        documented: dict[tuple[str, str, str], Documented] = {}
        for doc in cluster.docs:
            for section in doc_sections(doc):
                text = section.text.lower()
                subject = section.heading.split(":")[0].strip().lower()
                explained = Documented(subject, any(word in text for word in _EXCLUSION_WORDS), " row" in text, " sum " in text)
                for span in section.text.split("`")[1::2]:
                    key = _documented_key(span, dialect)
                    if key is not None:
                        documented.setdefault(key, explained)
        from vedder.curation.gotchas import defined_filters, money_units
        from vedder.definitions import acronyms, coded_values

        cents, major = money_units(cluster)
        definitions = {term: keys for term, spans in defined_filters(cluster).items()
                       if (keys := [k for k in (_documented_key(span, dialect) for span in spans) if k is not None and k[1] != "Is"])}
        return cls(datasets, documented, set(acronyms(cluster)), cents, major, definitions, coded_values(cluster))

    def exclusions(self) -> dict[str, Documented]:
        """Documented exclusions by the column they filter ('user_id' -> test accounts)."""
        return {key[0]: explained for key, explained in self.documented.items() if explained.excludes and explained.subject}

    def null_exclusions(self) -> set[str]:
        """Columns whose documented exclusion is ``column IS NULL`` (soft deletes: `deleted_at IS NULL`)."""
        return {key[0] for key, explained in self.documented.items() if key[1:] == ("Is", "null") and explained.excludes}

    def shared(self, column: str) -> bool:
        """Whether two or more of the cluster's tables have a column of this name."""
        return sum(1 for dataset in self.datasets.values() if dataset.column(column) is not None) > 1

    def dataset(self, table: str) -> "Dataset | None":
        return self.datasets.get(table.lower())

    def column_name(self, column: str, table: str | None) -> str:
        """'show title' for shows.title described as 'Show title.', else the column name in words."""
        dataset = self.dataset(table) if table else None
        declared = dataset.column(column) if dataset is not None else None
        description = (declared.description or "").strip().rstrip(".") if declared is not None else ""
        words = description.split()
        if words and len(words) <= _MAX_NAME_WORDS and all(w.replace("'", "").replace("-", "").isalpha() for w in words):
            return description.lower()
        return _spoken(column)

    def is_partition(self, column: str, table: str | None) -> bool:
        dataset = self.dataset(table) if table else None
        partitioning = dataset.partitioning if dataset is not None else None
        return bool(partitioning) and str(partitioning.get("column", "")).lower() == column.lower()


NOTE = "Note: "
"""Opens each sentence ``describe`` adds after the question for the reviewer (what the docs say the query gets wrong)."""


def without_notes(question: str) -> str:
    """The question a proposal asks, without the notes ``describe`` adds for its reviewer: they describe the mined
    query, so they are not part of the pair an expert accepts (whose SQL they may have fixed).

    >>> without_notes("What is the revenue per month? Note: total_cents is in cents, but the result is named revenue_eur.")
    'What is the revenue per month?'
    """
    return question.partition(" " + NOTE)[0].strip()


def describe(sql: str | exp.Expression, dialect: str = "duckdb", vocabulary: Vocabulary | None = None) -> str:
    """The question ``sql`` answers, e.g. 'Which 5 countries had the most streams in 2026?'."""
    tree = parse_one_statement(sql, dialect) if isinstance(sql, str) else sql
    select = tree if isinstance(tree, exp.Select) else next(tree.find_all(exp.Select), None)
    if select is None:
        return "What does this query return?"
    vocabulary = vocabulary or Vocabulary()
    return _over_grouped_cte(select, vocabulary) or _Describer(select, vocabulary).question()


def _over_grouped_cte(select: exp.Select, vocabulary: Vocabulary) -> str:
    """The question of a query that only picks the results of a grouped CTE, in that CTE's words: its measures
    (or only the ratio computed from them) per its groups, with its filters — 'What is the refund rate per
    month since 2026-01-01, …?', not 'List the month, delivered, refunded and refund rate of delivered'.
    '' for any other query: one that filters, cuts or inner-joins those results (``WHERE streams > 1000``, ``ORDER
    BY streams DESC LIMIT 3``) asks something else."""
    source = select.args.get("from")
    picks_some = any(select.args.get(clause) for clause in ("where", "having", "qualify", "limit", "offset", "fetch"))
    if (select.args.get("group") or any(p.find(exp.AggFunc) for p in select.expressions) or source is None or picks_some
            or any(join.side != "LEFT" for join in select.args.get("joins") or [])):
        return ""
    with_ = select.args.get("with")
    ctes = {cte.alias_or_name.lower(): cte.this for cte in (with_.expressions if with_ is not None else [])}
    inner = ctes.get(source.this.name.lower()) if isinstance(source.this, exp.Table) else None
    if not isinstance(inner, exp.Select) or not inner.args.get("group"):
        return ""
    describer = _Describer(inner, vocabulary)
    keys = {}
    for group in describer._groups():
        projected = group if isinstance(group, exp.Alias) else next((p for p in inner.expressions if p.unalias() == group), None)
        if projected is not None:
            keys[projected.alias_or_name.lower()] = describer._dimension(group)
    dimensions = [keys[p.alias_or_name.lower()] for p in select.expressions if p.alias_or_name.lower() in keys]
    measures = [p for p in select.expressions if p.alias_or_name.lower() not in keys]
    if not dimensions or not measures:
        return ""
    ratio = next((m for m in measures if isinstance(m, exp.Alias) and m.this.find(exp.Div)), None)
    inner_measures = {p.alias_or_name.lower(): describer._measure(p) for p in inner.expressions}
    picked = [inner_measures.get(m.alias_or_name.lower()) or _Measure(_alias_words(m.alias_or_name, counts=False) or _spoken(m.alias_or_name), False, m)
              for m in ([ratio] if ratio else measures)]
    per = " per " + _and(list(dict.fromkeys(dimensions)))
    if all(m.counts for m in picked):
        return describer.question(head=(f"how many {_and([m.noun for m in picked])}{per}", True))
    nouns = [f"number of {m.noun}" if m.counts else m.noun for m in picked]
    verb = "is" if len(nouns) == 1 and not nouns[0].endswith("s") else "are"
    return describer.question(head=(f"what {verb} the {_and(nouns)}{per}", True))


@dataclass
class _Measure:
    noun: str
    counts: bool
    node: exp.Expression


class _Describer:
    def __init__(self, select: exp.Select, vocabulary: Vocabulary) -> None:
        self.select = select
        self.vocabulary = vocabulary
        self.aliases: dict[str, str] = {}
        for table in select.find_all(exp.Table):
            self.aliases[(table.alias or table.name).lower()] = table.name.lower()
        self.main_table = next(iter(self.aliases.values()), "")
        self.defined: list[Documented] = []  # the documented definitions the WHERE clause applies

    def question(self, head: tuple[str, bool] | None = None) -> str:
        """The question; ``head`` ('what is the refund rate per month', True) replaces what is measured per what."""
        where = self.select.args.get("where")
        phrases, period, excluded = self._filters(where.this) if where is not None else ([], "", [])
        head, is_question = head or self._head()
        states = [p.removeprefix("that are ") for p in phrases if p.startswith("that are ")]
        withs = [p.removeprefix("with ") for p in phrases if p.startswith("with ")]
        phrases = ([p for p in phrases if not p.startswith(("with ", "that are "))] + (["that are " + _and(states)] if states else [])
                   + (["with " + _and(withs)] if withs else []))
        text = " ".join(p for p in (head, *phrases, period) if p)
        excluded += self._missing_exclusions() + self._undefined_terms()
        if excluded:
            excluded = list(dict.fromkeys(excluded))
            excluding = [e.removeprefix("excluding ") for e in excluded if e.startswith("excluding ")]
            including = [e.removeprefix("including ") for e in excluded if e.startswith("including ")]
            rest = [e for e in excluded if not e.startswith(("excluding ", "including "))]
            text += ", " + " and ".join((["excluding " + _and(excluding)] if excluding else [])
                                        + (["including " + _and(including)] if including else []) + rest)
        if self.vocabulary.acronyms:  # 'gmv' as the docs write it: GMV; not a value the query compares ('smb')
            values = {literal.name.lower() for literal in self.select.find_all(exp.Literal) if literal.is_string}
            capitals = self.vocabulary.acronyms - values
            text = re.sub(r"[a-z]+", lambda m: m[0].upper() if m[0] in capitals else m[0], text)
        text = text[:1].upper() + text[1:]
        text = text + "?" if is_question else text
        return " ".join([text, *self._notes()])

    # What is measured, per what.

    def _head(self) -> tuple[str, bool]:
        measures = [m for m in (self._measure(p) for p in self.select.expressions) if m]
        dimensions = [d for d in (self._dimension(g) for g in self._groups()) if d]
        dimensions = list(dict.fromkeys(dimensions))
        per = " per " + _and(dimensions) if dimensions else ""
        limit = self._limit()
        if not measures:
            columns = [self._output_name(p) for p in self.select.expressions]
            listed = _and([c for c in dict.fromkeys(columns) if c]) or "rows"
            table = _spoken(self.main_table)
            order = self._ordered()
            if limit and order is not None:
                return f"list the top {limit} {table} by {self._expression_name(order.this)}, with their {listed}", False
            return f"list the {listed} of {table}" if table else f"list the {listed}", False
        if limit and dimensions and self._ordered() is not None:
            ordered = self._ordered_measure(measures)
            descending = bool(self._ordered().args.get("desc"))
            most = ("most" if descending else "fewest") if ordered.counts else ("highest" if descending else "lowest")
            rest = " per " + _and(dimensions[1:]) if dimensions[1:] else ""
            return f"which {limit} {_plural(dimensions[0])} had the {most} {ordered.noun}{rest}", True
        if all(m.counts for m in measures):
            return f"how many {_and(list(dict.fromkeys(m.noun for m in measures)))}{per}", True
        nouns = list(dict.fromkeys(f"number of {m.noun}" if m.counts else m.noun for m in measures))
        first = nouns[0].split()
        verb = "are" if first[0] != "number" and first[-1].endswith("s") and not first[-1].endswith("ss") else "is"
        return f"what {verb} the {_and(nouns)}{per}", True

    def _measure(self, projection: exp.Expression) -> _Measure | None:
        aggregate = projection.find(exp.AggFunc)
        if aggregate is None:
            return None
        counts = isinstance(aggregate, exp.Count)
        named = _alias_words(projection.alias if isinstance(projection, exp.Alias) else "", counts)
        column = aggregate.find(exp.Column)
        if counts:
            if named and len(named.split()) == 1 and _participle(named) and self.main_table:
                return _Measure(f"{named} {_spoken(self.main_table)}", True, projection)  # count(*) AS delivered
            if named:
                return _Measure(_plural(named) if len(named.split()) == 1 else named, True, projection)
            if column is None:
                term = next((d.subject for d in self.defined if d.rows), "")
                return _Measure(_plural(term) if term else _spoken(self.main_table) or "rows", True, projection)
            subject = _plural(self._subject(column))
            return _Measure(f"distinct {subject}" if aggregate.find(exp.Distinct) else subject, True, projection)
        if named:
            if len(named.split()) == 1 and named.endswith("ed") and column is not None:
                named = f"{named} {self._column_name(column)}"  # failed_usd: the failed amount
            return _Measure(named, False, projection)
        term = next((d.subject for d in self.defined if d.sums), "")
        if isinstance(aggregate, exp.Sum) and term:
            return _Measure(term, False, projection)
        word = next((w for kind, w in _AGGREGATE_WORDS.items() if isinstance(aggregate, kind)), _spoken(aggregate.key))
        if isinstance(aggregate, exp.Avg) and isinstance(aggregate.this, exp.Case) and column is not None:
            return _Measure(f"share of {self._column_name(column)}", False, projection)
        return _Measure(f"{word} {self._column_name(column)}" if column is not None else word, False, projection)

    def _groups(self) -> list[exp.Expression]:
        group = self.select.args.get("group")
        return [self._resolve_ordinal(g) for g in group.expressions] if group else []

    def _resolve_ordinal(self, node: exp.Expression) -> exp.Expression:
        """The projection that ``GROUP BY 2`` points at, or ``node`` itself."""
        projections = self.select.expressions
        if isinstance(node, exp.Literal) and node.is_int and 0 < int(node.name) <= len(projections):
            return projections[int(node.name) - 1]
        return node

    def _dimension(self, group: exp.Expression) -> str:
        """The dimension's name: its result name when it has a telling one, its date part, else its column."""
        projected = group if isinstance(group, exp.Alias) else next(
            (p for p in self.select.expressions if isinstance(p, exp.Alias) and p.this == group), None)
        named = _alias_words(projected.alias, counts=False) if projected is not None else ""
        expression = group.unalias()
        if named and not (isinstance(expression, exp.Column) and expression.name.lower() == projected.alias.lower()):
            return named
        if isinstance(expression, exp.Column):
            return self._subject(expression)
        part = _date_part(expression)
        if part:
            return part
        column = expression.find(exp.Column)
        return self._subject(column) if column is not None else ""

    def _output_name(self, projection: exp.Expression) -> str:
        if isinstance(projection, exp.Alias):
            return _alias_words(projection.alias, counts=False) or self._expression_name(projection.this)
        return self._expression_name(projection)

    def _expression_name(self, node: exp.Expression) -> str:
        if isinstance(node, exp.Column) and not self.aliases.get(node.table.lower(), "") and node.name.lower() in self._output_aliases():
            return _alias_words(node.name, counts=False)
        column = node if isinstance(node, exp.Column) else node.find(exp.Column)
        return self._column_name(column) if column is not None else ""

    def _output_aliases(self) -> set[str]:
        return {p.alias.lower() for p in self.select.expressions if isinstance(p, exp.Alias)}

    def _limit(self) -> str:
        limit = self.select.args.get("limit")
        value = limit.expression if limit is not None else None
        return value.name if isinstance(value, exp.Literal) else ""

    def _ordered(self) -> exp.Ordered | None:
        order = self.select.args.get("order")
        return order.expressions[0] if order is not None and order.expressions else None

    def _ordered_measure(self, measures: list[_Measure]) -> _Measure:
        """The measure the first ORDER BY key sorts on (by result name, ordinal or expression)."""
        key = self._ordered().this
        target = self._resolve_ordinal(key)
        for measure in measures:
            node = measure.node
            if node is target or node.unalias() == target or (isinstance(key, exp.Column) and not key.table
                                                              and isinstance(node, exp.Alias) and node.alias.lower() == key.name.lower()):
                return measure
        return measures[0]

    # Names of columns.

    def _table_of(self, column: exp.Column) -> str | None:
        if column.table:
            return self.aliases.get(column.table.lower(), column.table.lower())
        for table in self.aliases.values():
            dataset = self.vocabulary.dataset(table)
            if dataset is not None and dataset.column(column.name) is not None:
                return table
        return self.main_table or None

    def _column_name(self, column: exp.Column) -> str:
        """The column in words; one of a joined table that other tables of the cluster have too says whose
        ('buyer country code' of market.buyers joined to orders, where sellers have a country_code as well)."""
        table = self._table_of(column)
        name = self.vocabulary.column_name(column.name, table)
        if table and table != self.main_table and self.vocabulary.shared(column.name):
            owner = _singular(_spoken(table))
            if owner not in name.split():
                return f"{owner} {name}"
        return name

    def _subject(self, column: exp.Column) -> str:
        """A column as the thing counted or grouped by: ids name the thing ('user_id' -> 'user')."""
        name = column.name.lower()
        if name.endswith("_id") and len(name) > 3:
            return _spoken(name[:-3])
        return self._column_name(column)

    # Filters.

    def _filters(self, condition: exp.Expression) -> tuple[list[str], str, list[str]]:
        """(phrases, the period, exclusions) for a WHERE condition."""
        conditions = condition.flatten() if isinstance(condition, exp.And) else [condition]
        phrases: list[str] = []
        excluded: list[str] = []
        ranges: dict[str, _Range] = {}
        windows: list[str] = []
        for each in conditions:
            each = each.unnest()
            comparison = _comparison(each)
            if comparison is not None:
                column, operator, value = comparison
                value = _folded_date(value)
                explained = self.vocabulary.documented.get(_key(column.name, operator, value))
                if explained is not None and not (explained.excludes and self._names_a_table(explained)):
                    if explained.excludes and explained.subject:
                        excluded.append(f"excluding {explained.subject}")
                    else:
                        self.defined.append(explained)
                    continue
                window = _window(value)
                if window and operator in (exp.GT, exp.GTE):
                    windows.append(window)
                    continue
                if operator is exp.EQ and _is_value(value) and _date(_value(value)) is not None:  # one day: a period
                    bounds = ranges.setdefault(column.sql().lower(), _Range(column))
                    bounds.add(exp.GTE, value)
                    bounds.add(exp.LTE, value)
                    continue
                if operator in (exp.GT, exp.GTE, exp.LT, exp.LTE) and _is_value(value):
                    ranges.setdefault(column.sql().lower(), _Range(column)).add(operator, value)
                    continue
            if isinstance(each, exp.Between) and isinstance(each.this, exp.Column):
                bounds = ranges.setdefault(each.this.sql().lower(), _Range(each.this))
                bounds.add(exp.GTE, each.args["low"])
                bounds.add(exp.LTE, each.args["high"])
                continue
            flag = self._flag(each)
            if flag is not None:
                (excluded if flag.startswith("excluding") else phrases).append(flag)
                continue
            phrase = self._filter(each)
            if phrase:
                phrases.append(phrase)
        period_column = self._period_column(ranges) if not windows else None
        period = windows[0] if windows else ""
        for key, bounds in ranges.items():
            text = bounds.phrase()
            if key == period_column:
                period = text
            else:
                phrases.append(f"with {self._column_name(bounds.column)} {text}")
        return phrases, period, excluded

    def _missing_exclusions(self) -> list[str]:
        """Documented exclusions the query skips though one of its tables has the column: the reviewer
        should see that test accounts are counted ('including test accounts'), or rows the docs' `deleted_at
        IS NULL` leaves out ('including deleted orders')."""
        # Filters of the subqueries and CTEs the query reads from count too (a CTE of delivered orders).
        root = self.select.root()
        filtered = {c.name.lower() for clause in root.find_all(exp.Where) for c in clause.find_all(exp.Column)}
        # A breakdown by the column shows the excluded rows apart: nothing is hidden in a total.
        filtered |= {c.name.lower() for group in self._groups() for c in group.find_all(exp.Column)}
        missing = []
        for column, explained in self.vocabulary.exclusions().items():
            if self._names_a_table(explained):
                continue
            if self._reads_column(column) and column not in filtered:
                state = self._flag(exp.Is(this=exp.column(column), expression=exp.Null())) if column in self.vocabulary.null_exclusions() else None
                missing.append(state.replace("excluding", "including", 1) if state else f"including {explained.subject}")
        return missing

    def _undefined_terms(self) -> list[str]:
        """'including cancelled orders' for a result named after a term the docs define with a filter (**GMV** is
        … `status_code <> 9`) when the query reads nothing of the filter's column."""
        root = self.select.root()
        read = {c.name.lower() for c in root.find_all(exp.Column)}
        named = {_stem(w) for p in self.select.expressions if isinstance(p, exp.Alias) for w in _spoken(p.alias).split()}
        missing = []
        for term, keys in self.vocabulary.definitions.items():
            if not {_stem(w) for w in term.split()} <= named:
                continue
            for column, operator, value in keys:
                if column not in read and self._reads_column(column):
                    missing.append(self._including(column, operator, value))
        return missing

    def _reads_column(self, column: str) -> bool:
        """Whether a table the query reads has ``column`` (by the dataset files)."""
        return any((d := self.vocabulary.dataset(t)) is not None and d.column(column) is not None for t in self.aliases.values())

    def _including(self, column: str, operator: str, value: str) -> str:
        """The rows a filter leaves out, as what a query without it includes: `status_code <> 9` -> 'including
        cancelled orders' when the docs name code 9; `status = 'succeeded'` -> 'including payments with status other
        than succeeded'."""
        table = next((t for t in self.aliases.values() if (d := self.vocabulary.dataset(t)) is not None and d.column(column) is not None), self.main_table)
        noun = _plural(_spoken(table)) if table else "rows"
        shown = value.removesuffix(".0")
        if operator == "NEQ":
            name = self.vocabulary.codes.get(column, {}).get(shown)
            return f"including {name} {noun}" if name else f"including {noun} with {_spoken(column)} {shown}"
        opposite = {"EQ": "other than", "GTE": "below", "GT": "of at most", "LTE": "above", "LT": "of at least"}.get(operator, "not")
        return f"including {noun} with {_spoken(column)} {opposite} {shown}"

    def _notes(self) -> list[str]:
        """Sentences after the question for what the docs say the query gets wrong: a money column taken for
        another unit, a partitioned table filtered on another time column than its partition."""
        from vedder.curation.gotchas import MONEY_WORDS

        notes = []
        root = self.select.root()
        for projection in self.select.expressions:
            if not isinstance(projection, exp.Alias) or _scaled(projection):
                continue
            words = set(_spoken_words(projection.alias))
            summed = next((c.name for a in projection.find_all(exp.AggFunc) for c in a.find_all(exp.Column)
                           if c.name.lower() in self.vocabulary.cents), None)
            if summed and words & MONEY_WORDS and not words & {"cent", "cents"}:
                notes.append(f"{NOTE}{summed} is in cents, but the result is named {projection.alias}.")
        for division in root.find_all(exp.Div):
            divisor = division.expression
            major = next((c.name for c in division.this.find_all(exp.Column) if c.name.lower() in self.vocabulary.major_units), None)
            if major and isinstance(divisor, exp.Literal) and divisor.is_number and float(divisor.name) == 100:
                notes.append(f"{NOTE}{major} is in major units already, but is divided by {divisor.name}.")
        notes += self._partition_notes(root)
        return list(dict.fromkeys(notes))

    def _partition_notes(self, root: exp.Expression) -> list[str]:
        filtered: dict[str, set[str]] = {}
        for where in root.find_all(exp.Where, exp.Join):  # a join's ON filters as a WHERE does
            for condition in where.find_all(*_COMPARISONS, exp.Between, exp.In):
                column = condition.this if isinstance(condition.this, exp.Column) else condition.find(exp.Column)
                if column is not None:
                    filtered.setdefault(self._table_of(column) or "", set()).add(column.name.lower())
        notes = []
        for table in dict.fromkeys(self.aliases.values()):
            dataset = self.vocabulary.dataset(table)
            partition = str((dataset.partitioning or {}).get("column", "")).lower() if dataset is not None else ""
            if not partition or partition in filtered.get(table, set()):
                continue
            others = [c for c in filtered.get(table, set()) if _is_time(dataset, c)]
            if others:
                notes.append(f"{NOTE}{dataset.table} is partitioned by {partition}, "
                             f"but the query filters {sorted(others)[0]}, so it reads every partition.")
        return notes

    def _names_a_table(self, explained: Documented) -> bool:
        """Whether the doc section is about a table the query reads ('Orders' over sales.orders): its filters
        say what the table holds, not a group of rows a question would exclude ('including orders')."""
        return explained.subject.rstrip("s") in {table.rstrip("s") for table in self.aliases.values()}

    def _period_column(self, ranges: dict[str, "_Range"]) -> str | None:
        """The date range that is the query's period: on a partition column, else the only date range."""
        dated = {key: bounds for key, bounds in ranges.items() if bounds.dates}
        for key, bounds in dated.items():
            if self.vocabulary.is_partition(bounds.column.name, self._table_of(bounds.column)):
                return key
        return next(iter(dated)) if len(dated) == 1 else None

    def _filter(self, condition: exp.Expression) -> str:
        if isinstance(condition, exp.EQ):
            left, right = condition.this, condition.expression
            part = _date_part(left)
            if part and isinstance(right, exp.Literal):
                return f"in {right.name}" if part == "year" else f"in {part} {right.name}"
            if isinstance(left, exp.Column) and _is_value(right):
                return self._value_phrase(left, [_value(right)])
        if isinstance(condition, exp.In) and isinstance(condition.this, exp.Column) and condition.expressions:
            return self._value_phrase(condition.this, [_value(v) for v in condition.expressions])
        if isinstance(condition, exp.NEQ) and isinstance(condition.this, exp.Column) and _is_value(condition.expression):
            return f"with {self._column_name(condition.this)} other than {_value(condition.expression)}"
        if isinstance(condition, exp.Like) and isinstance(condition.this, exp.Column):
            return f"with {self._column_name(condition.this)} like {_value(condition.expression)}"
        if isinstance(condition, exp.Is) and isinstance(condition.this, exp.Column):
            return f"without {self._column_name(condition.this)}"
        if isinstance(condition, exp.Not) and isinstance(condition.this, exp.Is) and isinstance(condition.this.this, exp.Column):
            return f"with {self._column_name(condition.this.this)}"
        if isinstance(condition, exp.Column):
            return f"with {self._column_name(condition)}"
        if isinstance(condition, exp.Not) and isinstance(condition.this, exp.Column):
            return f"without {self._column_name(condition.this)}"
        return ""

    def _flag(self, condition: exp.Expression) -> str | None:
        """A boolean flag or a timestamp that marks a state (``is_internal``, ``NOT is_archived``, ``is_test =
        false``, ``deleted_at IS NULL``) as words: 'excluding internal sellers', 'that are archived'; None for any
        other condition. A flag written ``= false`` was left out of the question before."""
        negated = isinstance(condition, exp.Not)
        inner = condition.this if negated else condition
        column, state = None, True
        if isinstance(inner, exp.Column):
            column = inner
        elif isinstance(inner, exp.EQ) and isinstance(inner.this, exp.Column) and isinstance(inner.expression, exp.Boolean):
            column, state = inner.this, inner.expression.this
        elif isinstance(inner, exp.Is) and isinstance(inner.this, exp.Column) and isinstance(inner.expression, exp.Null):
            column, state = inner.this, False  # deleted_at IS NULL: not deleted
        if column is None:
            return None
        name = column.name.lower()
        positive = state != negated
        if name.startswith(("is_", "was_")):
            adjective = _spoken(name.partition("_")[2])
        elif name.endswith("_at") and isinstance(inner, exp.Is):
            adjective = _spoken(name[:-3])
            if not adjective.endswith("ed"):
                return None  # created_at IS NULL says no state
        elif isinstance(inner, exp.Is):
            return None
        else:  # has_discount, shuffle: with or without it
            return f"{'with' if positive else 'without'} {self._column_name(column).removeprefix('has ')}"
        noun = _spoken(self._table_of(column) or self.main_table) or "rows"
        return f"that are {adjective}" if positive else f"excluding {adjective} {noun}"

    def _value_phrase(self, column: exp.Column, values: list[str]) -> str:
        listed = values[0] if len(values) == 1 else ", ".join(values[:-1]) + " or " + values[-1]
        name = column.name.lower()
        preposition = "in" if "country" in name else "on" if "platform" in name else ""
        if preposition and values[0].lower() != preposition:  # not 'in IN' for India
            return f"{preposition} {listed}"
        return f"with {self._column_name(column)} {listed}"


@dataclass
class _Range:
    """Bounds on one column, merged into one phrase."""

    column: exp.Column
    low: tuple[str, bool] | None = None  # (value, inclusive)
    high: tuple[str, bool] | None = None

    def add(self, operator: type, node: exp.Expression) -> None:
        value = (_value(node), operator in (exp.GTE, exp.LTE))
        if operator in (exp.GT, exp.GTE):
            self.low = value
        else:
            self.high = value

    @property
    def dates(self) -> bool:
        return all(_date(bound[0]) is not None for bound in (self.low, self.high) if bound)

    def phrase(self) -> str:
        if self.dates:
            return self._date_phrase()
        if self.low and self.high:
            return f"between {self.low[0]} and {self.high[0]}"
        if self.low:
            return f"of at least {self.low[0]}" if self.low[1] else f"above {self.low[0]}"
        return f"of at most {self.high[0]}" if self.high[1] else f"below {self.high[0]}"

    def _date_phrase(self) -> str:
        low = _date(self.low[0]) if self.low else None
        high = _date(self.high[0]) if self.high else None
        if low and not self.low[1]:
            low += dt.timedelta(days=1)
        if high and self.high[1]:
            high += dt.timedelta(days=1)  # from here on, high is exclusive
        if low and high:
            if high - low == dt.timedelta(days=1):
                return f"on {low.isoformat()}"
            if low.day == 1 and high.day == 1 and low < high:
                return _months(low, high)
            return f"between {low.isoformat()} and {(high - dt.timedelta(days=1)).isoformat()}"
        if low:
            return f"since {low.isoformat()}"
        return f"before {high.isoformat()}"


def _months(low: dt.date, high: dt.date) -> str:
    """'in 2025', 'in October 2026', 'from September to November 2026' for whole months [low, high)."""
    last = high - dt.timedelta(days=1)
    if low.month == 1 and high.month == 1:
        years = high.year - low.year
        return f"in {low.year}" if years == 1 else f"from {low.year} to {last.year}"
    if (low.year, low.month) == (last.year, last.month):
        return f"in {low:%B %Y}"
    if low.year == last.year:
        return f"from {low:%B} to {last:%B %Y}"
    return f"from {low:%B %Y} to {last:%B %Y}"


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1] if items else ""


def _spoken(name: str) -> str:
    """A name in words: units dropped ('duration_ms' -> 'duration'), underscores as spaces."""
    name = name.lower()
    for suffix in _UNIT_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            name = name[: -len(suffix)]
            break
    return name.replace("_", " ").strip()


def _alias_words(alias: str, counts: bool) -> str:
    """A result name in words ('avg_minutes' -> 'average minutes'); for counts without the counting words
    ('listener_count' -> 'listener'); '' when nothing telling is left ('n', 'cnt', 'total')."""
    words = [_ABBREVIATIONS.get(w, w) for w in _spoken(alias).split()]
    if counts:
        words = [w for w in words if w not in _COUNT_WORDS]
    elif len(words) == 1 and words[0] in _COUNT_WORDS | _VAGUE_WORDS:
        return ""
    return " ".join(words)


def _scaled(expression: exp.Expression) -> bool:
    """Whether ``expression`` divides, or multiplies by a number: a unit converted (``/ 100.0``, ``* 0.01``).

    >>> _scaled(sqlglot.parse_one("SUM(total_cents) * 0.01")), _scaled(sqlglot.parse_one("SUM(total_cents * quantity)"))
    (True, False)
    """
    return expression.find(exp.Div) is not None or any(
        isinstance(side, exp.Literal) and side.is_number for product in expression.find_all(exp.Mul)
        for side in (product.this, product.expression))


def _spoken_words(name: str) -> list[str]:
    """A result name's words with its unit kept ('revenue_eur' -> ['revenue', 'eur'])."""
    return name.lower().replace("_", " ").split()


def _stem(word: str) -> str:
    return word.lower().removesuffix("s")


def _is_time(dataset: "Dataset", column: str) -> bool:
    """Whether ``column`` of ``dataset`` holds dates or times (by its declared type, else its name)."""
    declared = dataset.column(column)
    kind = str(getattr(declared, "type", "") or "").upper()
    return any(word in kind for word in ("DATE", "TIME")) or column.endswith(("_at", "_ts", "_date", "_utc", "_time"))


def _participle(word: str) -> bool:
    """'delivered', 'shipped', 'refunded': a state a count is named by; not 'speed' or 'feed'.

    >>> [_participle(w) for w in ("delivered", "shipped", "speed", "red")]
    [True, True, False, False]
    """
    return len(word) >= 5 and word.endswith("ed") and not word.endswith("eed")


def _singular(noun: str) -> str:
    """'buyers' -> 'buyer', 'categories' -> 'category'; the last word only."""
    head, _, last = noun.rpartition(" ")
    if last.endswith("ies") and len(last) > 4:
        last = last[:-3] + "y"
    elif last.endswith("s") and not last.endswith("ss"):
        last = last[:-1]
    return f"{head} {last}" if head else last


def _plural(noun: str) -> str:
    head, _, last = noun.rpartition(" ")
    if last.endswith("s"):
        plural = last
    elif last.endswith("y") and last[-2:-1] not in "aeiou":
        plural = last[:-1] + "ies"
    elif last.endswith(("x", "ch", "sh")):
        plural = last + "es"
    else:
        plural = last + "s"
    return f"{head} {plural}" if head else plural


def _date_part(node: exp.Expression) -> str:
    """'month' for DATE_TRUNC('month', d), 'year' for YEAR(d) or EXTRACT(year FROM d), else ''."""
    if isinstance(node, (exp.DateTrunc, exp.TimestampTrunc)):
        unit = node.args.get("unit")
        return unit.name.lower() if unit is not None else ""
    if isinstance(node, exp.Extract):
        return node.this.name.lower()
    name = node.key.lower()
    return name if name in _DATE_PARTS else ""


def _is_value(node: exp.Expression) -> bool:
    return isinstance(node, exp.Literal) or (isinstance(node, exp.Cast) and isinstance(node.this, exp.Literal))


def _value(node: exp.Expression) -> str:
    if isinstance(node, exp.Literal):
        return node.name
    if isinstance(node, exp.Cast) and isinstance(node.this, exp.Literal):
        return node.this.name
    return node.sql()


def _folded_date(node: exp.Expression) -> exp.Expression:
    """``DATE '2026-02-01' + INTERVAL '1 month'`` as the date it is ('2026-03-01'), so a range written with date
    arithmetic reads 'in February 2026', not 'since 2026-02-01'; any other ``node`` as it is."""
    if not isinstance(node, (exp.Add, exp.Sub)) or not _is_value(node.this) or not isinstance(node.expression, exp.Interval):
        return node
    start, interval = _date(_value(node.this)), node.expression
    unit = (interval.args.get("unit").name if interval.args.get("unit") is not None else "").lower().rstrip("s")
    amount = interval.this.name if isinstance(interval.this, exp.Literal) else ""
    if unit == "" and " " in amount:  # INTERVAL '1 month'
        amount, unit = amount.split(None, 1)
        unit = unit.lower().rstrip("s")
    if start is None or not amount.strip().lstrip("-").isdigit() or unit not in ("day", "week", "month", "year"):
        return node
    step = int(amount) * (-1 if isinstance(node, exp.Sub) else 1)
    if unit in ("day", "week"):
        moved = start + dt.timedelta(days=step * (7 if unit == "week" else 1))
    else:
        months = start.year * 12 + start.month - 1 + step * (12 if unit == "year" else 1)
        year, month = divmod(months, 12)
        try:
            moved = start.replace(year=year, month=month + 1)
        except ValueError:  # 31 January + 1 month: the engines clamp to the month's end; not a whole-month range
            return node
    return exp.Literal.string(moved.isoformat())


def _date(text: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text[:10]) if len(text) >= 10 else None
    except ValueError:
        return None


def _comparison(node: exp.Expression) -> tuple[exp.Column, type, exp.Expression] | None:
    """(column, operator, other side) for ``column op value`` or ``value op column``; NOT (a < b) is a >= b."""
    if isinstance(node, exp.Not) and isinstance(node.this.unnest(), exp.LT):
        inner = node.this.unnest()
        node = exp.GTE(this=inner.this, expression=inner.expression)
    if not isinstance(node, _COMPARISONS):
        return None
    left, right, operator = node.this, node.expression, type(node)
    if isinstance(right, exp.Column) and not isinstance(left, exp.Column):
        left, right, operator = right, left, _FLIPPED[operator]
    return (left, operator, right) if isinstance(left, exp.Column) else None


def _key(column: str, operator: type, value: exp.Expression) -> tuple[str, str, str]:
    text = _value(value).lower()
    try:
        text = repr(float(text))
    except ValueError:
        pass
    return column.lower(), operator.__name__, text


def _documented_key(span: str, dialect: str) -> tuple[str, str, str] | None:
    """The key of a doc's code span when it is one comparison of a column with a value (`user_id >= 100`),
    or a column tested for NULL (`deleted_at IS NULL`)."""
    if not any(op in span for op in "<>=") and " is " not in span.lower() or len(span) > 80:
        return None
    try:
        tree = sqlglot.parse_one(span, read=dialect)
    except sqlglot.errors.SqlglotError:
        return None
    if isinstance(tree, exp.Is) and isinstance(tree.this, exp.Column) and isinstance(tree.expression, exp.Null):
        return tree.this.name.lower(), "Is", "null"
    comparison = _comparison(tree)
    if comparison is None or not _is_value(comparison[2]):
        return None
    column, operator, value = comparison
    return _key(column.name, operator, value)


def _window(node: exp.Expression) -> str:
    """'in the last 7 days' for CURRENT_DATE - INTERVAL 7 DAY (and similar), else ''."""
    if not isinstance(node, (exp.Sub, exp.DateSub, exp.TsOrDsAdd, exp.DateAdd)):
        return ""
    interval = node.find(exp.Interval)
    if interval is None or not node.find(exp.CurrentDate, exp.CurrentTimestamp, exp.Anonymous):
        return ""
    amount = interval.this.name if interval.this is not None else ""
    unit = interval.args.get("unit")
    unit_name = unit.name.lower().rstrip("s") if unit is not None else "day"
    if amount.strip().split()[1:]:
        amount, unit_name = amount.split()[0], amount.split()[1].rstrip("s")
    amount = amount.lstrip("-")
    return f"in the last {amount} {unit_name}{'s' if amount != '1' else ''}"
