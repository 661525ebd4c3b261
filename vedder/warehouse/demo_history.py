"""The demo query history: what analysts ran on the demo warehouse over 60 days, with the truth.

Most real history is noise; a minority are recurring patterns worth vetting. ``generate_history``
mixes both, seeded, and returns the truth next to the rows so that mining can be measured: for every
query its pattern id (or None) and kind, and the list of real patterns with their cluster. The miner
must never read the truth.

Kinds of rows: ``pattern`` (a real recurring question, run by several users with other literals,
aliases, case and whitespace), ``wrong`` (recurring but wrong: it ignores a quirk the docs explain),
``deprecated`` (recurring, on ``listening.plays_legacy``), ``cross_cluster`` (recurring, joins tables
of two clusters), ``exploration`` (``SELECT * … LIMIT``, DESCRIBE, SHOW TABLES, distinct values),
``lookup`` (one row by id), ``error`` (failed runs), ``debug`` (null and duplicate checks, EXPLAIN),
``write`` (temporary and scratch tables) and ``one_off`` (structurally unique queries, run once).

>>> rows, truth = generate_history(50, seed=1)
>>> len(rows) == len(truth["queries"]) == 50
True
"""

from __future__ import annotations

import json
import random
import string
import textwrap
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Callable

from vedder.errors import ProjectFileError

HISTORY_COLUMNS = {
    "query": "VARCHAR",
    "user": "VARCHAR",
    "started_at": "TIMESTAMP",
    "status": "VARCHAR",
    "error": "VARCHAR",
    "duration_ms": "INTEGER",
    "rows": "BIGINT",
}
DEFAULT_ROWS = 450
DEFAULT_SEED = 2026
HISTORY_END = date(2026, 11, 25)
HISTORY_DAYS = 60

KIND_SHARES = {
    "pattern": 0.40,
    "wrong": 0.03,
    "deprecated": 0.05,
    "cross_cluster": 0.02,
    "exploration": 0.17,
    "lookup": 0.08,
    "error": 0.10,
    "debug": 0.05,
    "write": 0.02,
    "one_off": 0.08,
}

ANALYSTS = {
    "listening": ("astrid.lind", "kwame.mensah", "lucia.ferreira", "tom.becker", "mei.chen"),
    "podcasts": ("hiro.tanaka", "priya.raman", "oscar.nilsson", "fatima.haddad"),
    "revenue": ("jonas.weber", "sofia.alvarez", "dev.patel", "claire.dubois", "mateo.rossi"),
    "general": ("sam.okoro", "nina.kowalski", "raj.iyer", "emma.johansson", "leo.martins", "yuki.sato"),
}
ALL_ANALYSTS = tuple(name for names in ANALYSTS.values() for name in names)

# Table aliases and output-column aliases vary between analysts; each template names a pool.
ALIASES = {
    "e": ("e", "ev", "evt"),
    "t": ("t", "tr", "trk"),
    "a": ("a", "ar", "art"),
    "u": ("u", "usr", "usr1"),
    "l": ("l", "li", "lst"),
    "ep": ("ep", "epi", "x"),
    "s": ("s", "sh", "shw"),
    "sub": ("s", "sub", "subs"),
    "p": ("p", "pay", "pm"),
    "streams": ("streams", "n_streams", "stream_count"),
    "listeners": ("listeners", "n_listeners", "listener_count"),
    "listens": ("listens", "n_listens", "listen_count"),
    "hours": ("hours", "listening_hours", "total_hours"),
    "revenue": ("revenue_usd", "revenue", "usd"),
    "rate": ("completion_rate", "completed_share", "pct_completed"),
    "cnt": ("cnt", "n", "total"),
}

COUNTRIES = ("US", "US", "US", "GB", "GB", "DE", "DE", "BR", "BR", "MX", "SE", "SE", "IN", "JP")
PLATFORMS = ("ios", "android", "desktop", "web", "smart_speaker", "car")
PLANS = ("premium", "premium", "family", "student")
CATEGORIES = ("comedy", "news", "true crime", "society", "sports", "business", "education")
ADVERTISERS = ("Fizzly Cola", "Northwind Air", "Lumen Phones", "Trailhead Outdoor", "Koru Bank", "Pixel Bistro")


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


EVENTS_FROM = date(2026, 8, 28)


def _month(rng: random.Random, today: date) -> dict[str, str]:
    """This month or one of the two before (never before the events window)."""
    back = rng.choices((0, 1, 2), weights=(5, 4, 1))[0]
    year, month = today.year, today.month - back
    if month < 1:
        year, month = year - 1, month + 12
    if date(year, month, 1) < EVENTS_FROM:
        year, month = EVENTS_FROM.year, EVENTS_FROM.month + 1
    following = (year + month // 12, month % 12 + 1)
    return {"start": _quote(f"{year}-{month:02d}-01"), "end": _quote(f"{following[0]}-{following[1]:02d}-01")}


def _weeks(rng: random.Random, today: date) -> dict[str, str]:
    """The last 2–6 whole weeks (Monday to Monday) before ``today``."""
    end = today - timedelta(days=today.weekday())
    start = max(end - timedelta(weeks=rng.randint(2, 6)), EVENTS_FROM + timedelta(days=7 - EVENTS_FROM.weekday()))
    return {"start": _quote(start.isoformat()), "end": _quote(end.isoformat())}


def _year(rng: random.Random, today: date) -> dict[str, str]:
    year = today.year - rng.choices((0, 1), weights=(2, 1))[0]
    return {"start": _quote(f"{year}-01-01"), "end": _quote(f"{year + 1}-01-01")}


Literals = Callable[[random.Random, date], dict[str, str]]


def _slots(*makers: Literals) -> Literals:
    def make(rng: random.Random, today: date) -> dict[str, str]:
        literals: dict[str, str] = {}
        for maker in makers:
            literals.update(maker(rng, today))
        return literals

    return make


def _choice(name: str, values: tuple[str, ...], quote: bool = True) -> Literals:
    return lambda rng, today: {name: _quote(rng.choice(values)) if quote else rng.choice(values)}


@dataclass(frozen=True)
class Pattern:
    """A recurring question as analysts write it: a SQL template with literal slots and alias pools."""

    id: str
    cluster: str
    description: str
    template: str
    literals: Literals
    users: tuple[str, ...]
    weight: float = 1.0
    typical_rows: tuple[int, int] = (3, 60)
    vetted_pair: str | None = None


PATTERNS = (
    Pattern(
        "listening.weekly_streams_by_platform", "listening",
        "Streams per week and platform in one country",
        """
        SELECT date_trunc('week', {e}.event_date) AS week, {e}.platform, COUNT(*) AS {streams}
        FROM listening.events {e}
        WHERE {e}.country = {country}
          AND {e}.event_date >= DATE {start} AND {e}.event_date < DATE {end}
          AND {e}.duration_ms >= 30000
          AND {e}.user_id >= 100
        GROUP BY 1, 2
        ORDER BY 1, 2
        """,
        _slots(_weeks, _choice("country", COUNTRIES)),
        ("astrid.lind", "kwame.mensah", "sam.okoro", "emma.johansson"), 1.4, (12, 36),
    ),
    Pattern(
        "listening.top_artists_by_listeners", "listening",
        "Top N artists by distinct listeners in one country and month",
        """
        SELECT {a}.name AS artist, COUNT(DISTINCT {e}.user_id) AS {listeners}
        FROM listening.events {e}
        JOIN listening.tracks {t} ON {t}.track_id = {e}.track_id
        JOIN listening.artists {a} ON {a}.artist_id = {t}.artist_id
        WHERE {e}.country = {country}
          AND {e}.event_date >= DATE {start} AND {e}.event_date < DATE {end}
          AND {e}.duration_ms >= 30000
          AND {e}.user_id >= 100
        GROUP BY {a}.name
        ORDER BY {listeners} DESC
        LIMIT {n}
        """,
        _slots(_month, _choice("country", COUNTRIES), _choice("n", ("5", "10", "10", "20"), quote=False)),
        ("lucia.ferreira", "mei.chen", "astrid.lind", "leo.martins", "yuki.sato"), 1.3,
    ),
    Pattern(
        "listening.listeners_by_birth_decade", "listening",
        "Listeners and streams per birth decade in a month",
        """
        SELECT ({u}.birth_year // 10) * 10 AS birth_decade,
               COUNT(DISTINCT {e}.user_id) AS {listeners},
               COUNT(*) AS {streams}
        FROM listening.events {e}
        JOIN listening.users {u} ON {u}.user_id = {e}.user_id
        WHERE {e}.event_date >= DATE {start} AND {e}.event_date < DATE {end}
          AND {e}.duration_ms >= 30000
          AND {e}.user_id >= 100
        GROUP BY 1
        ORDER BY 1
        """,
        _month, ("tom.becker", "kwame.mensah", "nina.kowalski"), 0.8, (5, 7),
    ),
    Pattern(
        "listening.hours_by_source", "listening",
        "Listening hours per source (playlist, album, radio…) on one platform",
        """
        SELECT source, ROUND(SUM(duration_ms) / 3600000.0, 1) AS {hours}
        FROM listening.events
        WHERE platform = {platform}
          AND event_date >= DATE {start} AND event_date < DATE {end}
          AND user_id >= 100
        GROUP BY source
        ORDER BY {hours} DESC
        """,
        _slots(_month, _choice("platform", PLATFORMS)),
        ("mei.chen", "astrid.lind", "raj.iyer"), 0.9, (6, 6),
    ),
    Pattern(
        "listening.new_release_streams_by_genre", "listening",
        "Streams of tracks released since a date, per genre",
        """
        SELECT {t}.genre, COUNT(*) AS {streams}
        FROM listening.events {e}
        JOIN listening.tracks {t} ON {t}.track_id = {e}.track_id
        WHERE {t}.release_date >= DATE {released}
          AND {e}.event_date >= DATE {start} AND {e}.event_date < DATE {end}
          AND {e}.duration_ms >= 30000
          AND {e}.user_id >= 100
        GROUP BY {t}.genre
        ORDER BY {streams} DESC
        """,
        _slots(_month, _choice("released", ("'2026-01-01'", "'2025-01-01'", "'2026-06-01'"), quote=False)),
        ("kwame.mensah", "lucia.ferreira", "yuki.sato"), 0.8, (10, 10),
    ),
    Pattern(
        "listening.streams_per_country", "listening",
        "Streams per country in a month (the vetted pair listening/streams-per-country)",
        """
        SELECT country, COUNT(*) AS {streams}
        FROM listening.events
        WHERE event_date >= DATE {start} AND event_date < DATE {end}
          AND duration_ms >= 30000
          AND user_id >= 100
        GROUP BY country
        ORDER BY {streams} DESC
        """,
        _month, ("astrid.lind", "emma.johansson", "sam.okoro"), 0.9, (8, 8),
        vetted_pair="listening/streams-per-country",
    ),
    Pattern(
        "podcasts.top_shows_in_category", "podcasts",
        "Top N shows by listens in one category and month",
        """
        SELECT {s}.title, COUNT(*) AS {listens}
        FROM podcasts.listens {l}
        JOIN podcasts.episodes {ep} ON {ep}.episode_id = {l}.episode_id
        JOIN podcasts.shows {s} ON {s}.show_id = {ep}.show_id
        WHERE {s}.category = {category}
          AND {l}.listen_date >= DATE {start} AND {l}.listen_date < DATE {end}
          AND {l}.seconds_listened >= 60
          AND {l}.user_id >= 100
        GROUP BY {s}.title
        ORDER BY {listens} DESC
        LIMIT {n}
        """,
        _slots(_month, _choice("category", CATEGORIES), _choice("n", ("5", "10", "10"), quote=False)),
        ("hiro.tanaka", "priya.raman", "oscar.nilsson", "nina.kowalski"), 1.3,
    ),
    Pattern(
        "podcasts.completion_by_language", "podcasts",
        "Completion rate of podcast listens per show language",
        """
        SELECT {s}.language,
               AVG(CASE WHEN {l}.completed THEN 1.0 ELSE 0.0 END) AS {rate},
               COUNT(*) AS {listens}
        FROM podcasts.listens {l}
        JOIN podcasts.episodes {ep} ON {ep}.episode_id = {l}.episode_id
        JOIN podcasts.shows {s} ON {s}.show_id = {ep}.show_id
        WHERE {l}.listen_date >= DATE {start} AND {l}.listen_date < DATE {end}
          AND {l}.seconds_listened >= 60
          AND {l}.user_id >= 100
        GROUP BY {s}.language
        ORDER BY {rate} DESC
        """,
        _month, ("priya.raman", "fatima.haddad", "raj.iyer"), 0.9, (7, 7),
    ),
    Pattern(
        "podcasts.episodes_per_publisher", "podcasts",
        "Episodes published per publisher since a date, with their average length",
        """
        SELECT {s}.publisher, COUNT(*) AS {cnt}, ROUND(AVG({ep}.duration_s) / 60.0, 1) AS avg_minutes
        FROM podcasts.episodes {ep}
        JOIN podcasts.shows {s} ON {s}.show_id = {ep}.show_id
        WHERE {ep}.published_on >= DATE {released}
        GROUP BY {s}.publisher
        ORDER BY {cnt} DESC
        """,
        _choice("released", ("'2026-01-01'", "'2026-07-01'", "'2026-09-01'", "'2025-01-01'"), quote=False),
        ("oscar.nilsson", "hiro.tanaka", "leo.martins"), 0.7, (7, 7),
    ),
    Pattern(
        "podcasts.listeners_by_platform", "podcasts",
        "Podcast listeners per platform in one country and month",
        """
        SELECT platform, COUNT(DISTINCT user_id) AS {listeners}
        FROM podcasts.listens
        WHERE country = {country}
          AND listen_date >= DATE {start} AND listen_date < DATE {end}
          AND seconds_listened >= 60
          AND user_id >= 100
        GROUP BY platform
        ORDER BY {listeners} DESC
        """,
        _slots(_month, _choice("country", COUNTRIES)),
        ("fatima.haddad", "priya.raman", "emma.johansson", "yuki.sato"), 1.0, (6, 6),
    ),
    Pattern(
        "revenue.revenue_per_plan_month", "revenue",
        "Revenue in dollars per month and plan in a year",
        """
        SELECT date_trunc('month', {p}.payment_date) AS month, {sub}.plan, SUM({p}.amount_cents) / 100.0 AS {revenue}
        FROM revenue.payments {p}
        JOIN revenue.subscriptions {sub} ON {sub}.subscription_id = {p}.subscription_id
        WHERE {p}.status = 'succeeded'
          AND {p}.user_id >= 100
          AND {p}.payment_date >= DATE {start} AND {p}.payment_date < DATE {end}
        GROUP BY 1, 2
        ORDER BY 1, 2
        """,
        _year, ("jonas.weber", "sofia.alvarez", "claire.dubois", "sam.okoro"), 1.4, (33, 36),
    ),
    Pattern(
        "revenue.failed_payments_by_country", "revenue",
        "Failed payments and their value per country in a month",
        """
        SELECT country, COUNT(*) AS {cnt}, SUM(amount_cents) / 100.0 AS failed_usd
        FROM revenue.payments
        WHERE status = 'failed'
          AND user_id >= 100
          AND payment_date >= DATE {start} AND payment_date < DATE {end}
        GROUP BY country
        ORDER BY {cnt} DESC
        """,
        _month, ("dev.patel", "jonas.weber", "mateo.rossi"), 1.0, (8, 8),
    ),
    Pattern(
        "revenue.campaign_revenue_for_advertiser", "revenue",
        "Impressions, ad revenue and click-through rate per campaign of one advertiser",
        """
        SELECT campaign_id,
               COUNT(*) AS impressions,
               SUM(revenue_micros) / 1000000.0 AS {revenue},
               AVG(CASE WHEN clicked THEN 1.0 ELSE 0.0 END) AS ctr
        FROM revenue.ad_impressions
        WHERE advertiser = {advertiser}
          AND impression_date >= DATE {start} AND impression_date < DATE {end}
          AND user_id >= 100
        GROUP BY campaign_id
        ORDER BY {revenue} DESC
        """,
        _slots(_month, _choice("advertiser", ADVERTISERS)),
        ("claire.dubois", "mateo.rossi", "sofia.alvarez", "nina.kowalski"), 1.1, (6, 6),
    ),
    Pattern(
        "revenue.cancellations_per_plan_month", "revenue",
        "Cancelled subscriptions per month and plan",
        """
        SELECT date_trunc('month', ended_on) AS month, plan, COUNT(*) AS {cnt}
        FROM revenue.subscriptions
        WHERE status = 'cancelled'
          AND user_id >= 100
          AND ended_on >= DATE {start} AND ended_on < DATE {end}
        GROUP BY 1, 2
        ORDER BY 1, 2
        """,
        _year, ("sofia.alvarez", "dev.patel", "raj.iyer"), 0.9, (40, 48),
    ),
    Pattern(
        "revenue.new_subscriptions_by_country", "revenue",
        "New subscriptions of one plan per country in a month",
        """
        SELECT country, COUNT(*) AS {cnt}
        FROM revenue.subscriptions
        WHERE plan = {plan}
          AND user_id >= 100
          AND started_on >= DATE {start} AND started_on < DATE {end}
        GROUP BY country
        ORDER BY {cnt} DESC
        """,
        _slots(_month, _choice("plan", PLANS)),
        ("mateo.rossi", "jonas.weber", "leo.martins", "claire.dubois"), 1.0, (8, 8),
    ),
    Pattern(
        "revenue.revenue_per_month", "revenue",
        "Revenue per month in a year (the vetted pair revenue/revenue-per-month)",
        """
        SELECT date_trunc('month', payment_date) AS month, SUM(amount_cents) / 100.0 AS {revenue}
        FROM revenue.payments
        WHERE status = 'succeeded'
          AND user_id >= 100
          AND payment_date >= DATE {start} AND payment_date < DATE {end}
        GROUP BY 1
        ORDER BY 1
        """,
        _year, ("jonas.weber", "dev.patel", "emma.johansson"), 0.8, (11, 12),
        vetted_pair="revenue/revenue-per-month",
    ),
)

# Recurring, run by several people, and still not worth vetting (truth: no pattern).
DECOYS = {
    "wrong": (
        Pattern(
            "wrong.listeners_with_test_accounts", "listening",
            "Listeners per country, counting test accounts and sub-30-second plays",
            """
            SELECT country, COUNT(DISTINCT user_id) AS {listeners}
            FROM listening.events
            WHERE event_date >= DATE {start} AND event_date < DATE {end}
            GROUP BY country
            """,
            _month, ("sam.okoro", "leo.martins", "yuki.sato"), typical_rows=(8, 8),
        ),
        Pattern(
            "wrong.revenue_in_cents_all_statuses", "revenue",
            "Monthly 'revenue' summing cents of every payment, failed and refunded included",
            """
            SELECT date_trunc('month', paid_at) AS month, SUM(amount_cents) AS {revenue}
            FROM revenue.payments
            WHERE paid_at >= TIMESTAMP {start}
            GROUP BY 1
            ORDER BY 1
            """,
            _year, ("raj.iyer", "nina.kowalski", "mateo.rossi"), typical_rows=(11, 12),
        ),
    ),
    "deprecated": (
        Pattern(
            "deprecated.daily_legacy_plays", "listening",
            "Daily plays from the deprecated plays_legacy table",
            """
            SELECT CAST(played_at AS DATE) AS day, COUNT(*) AS plays
            FROM listening.plays_legacy
            WHERE played_at >= TIMESTAMP {start} AND played_at < TIMESTAMP {end}
            GROUP BY 1
            ORDER BY 1
            """,
            _month, ("tom.becker", "nina.kowalski", "raj.iyer", "sam.okoro"), typical_rows=(0, 31),
        ),
        Pattern(
            "deprecated.legacy_listeners_by_platform", "listening",
            "Listeners per platform from the deprecated plays_legacy table",
            """
            SELECT platform, COUNT(DISTINCT user_id) AS {listeners}
            FROM listening.plays_legacy
            WHERE played_at >= TIMESTAMP {start}
              AND user_id >= 100
            GROUP BY platform
            """,
            _month, ("tom.becker", "leo.martins", "emma.johansson"), typical_rows=(0, 4),
        ),
    ),
    "cross_cluster": (
        Pattern(
            "cross_cluster.streams_by_plan", "listening",
            "Streams per subscription plan: joins listening and revenue tables",
            """
            SELECT {sub}.plan, COUNT(*) AS {streams}
            FROM listening.events {e}
            JOIN revenue.subscriptions {sub} ON {sub}.user_id = {e}.user_id
            WHERE {sub}.status = 'active'
              AND {e}.event_date >= DATE {start} AND {e}.event_date < DATE {end}
              AND {e}.duration_ms >= 30000
              AND {e}.user_id >= 100
            GROUP BY {sub}.plan
            """,
            _month, ("sofia.alvarez", "kwame.mensah", "yuki.sato"), typical_rows=(4, 4),
        ),
    ),
}

TABLE_KEYS = {
    "listening.users": "user_id",
    "listening.tracks": "track_id",
    "listening.artists": "artist_id",
    "listening.events": "event_id",
    "listening.plays_legacy": "play_id",
    "podcasts.shows": "show_id",
    "podcasts.episodes": "episode_id",
    "podcasts.listens": "listen_id",
    "revenue.subscriptions": "subscription_id",
    "revenue.payments": "payment_id",
    "revenue.ad_impressions": "impression_id",
}

# For one-offs and debugging: per table, columns to group by, measure, and filter on.
CATALOG: dict[str, dict[str, Any]] = {
    "listening.events": {
        "dims": ("country", "platform", "source", "event_date", "shuffle"),
        "measures": ("duration_ms", "user_id", "track_id"),
        "filters": {"country": COUNTRIES, "platform": PLATFORMS, "source": ("radio", "search", "album"), "event_date": "date"},
    },
    "listening.tracks": {
        "dims": ("genre", "explicit", "release_date", "artist_id"),
        "measures": ("duration", "track_id"),
        "filters": {"genre": ("pop", "rock", "jazz", "latin", "k-pop"), "release_date": "date"},
    },
    "listening.users": {
        "dims": ("country", "signup_platform", "birth_year", "signup_date"),
        "measures": ("user_id", "birth_year"),
        "filters": {"country": COUNTRIES, "signup_platform": ("ios", "android", "web"), "signup_date": "date"},
    },
    "listening.artists": {
        "dims": ("country", "genre", "label"),
        "measures": ("artist_id",),
        "filters": {"country": COUNTRIES, "genre": ("pop", "hip-hop", "indie")},
    },
    "podcasts.listens": {
        "dims": ("country", "platform", "listen_date", "completed"),
        "measures": ("seconds_listened", "user_id", "episode_id"),
        "filters": {"country": COUNTRIES, "platform": PLATFORMS, "listen_date": "date"},
    },
    "podcasts.shows": {
        "dims": ("category", "publisher", "language", "explicit"),
        "measures": ("show_id",),
        "filters": {"category": CATEGORIES, "language": ("en", "es", "sv")},
    },
    "podcasts.episodes": {
        "dims": ("show_id", "published_on"),
        "measures": ("duration_s", "episode_id"),
        "filters": {"published_on": "date"},
    },
    "revenue.payments": {
        "dims": ("country", "status", "currency", "payment_date"),
        "measures": ("amount_cents", "user_id", "subscription_id"),
        "filters": {"country": COUNTRIES, "status": ("succeeded", "failed", "refunded"), "payment_date": "date"},
    },
    "revenue.subscriptions": {
        "dims": ("plan", "status", "country", "started_on"),
        "measures": ("user_id", "subscription_id"),
        "filters": {"plan": PLANS, "status": ("active", "cancelled", "past_due"), "started_on": "date"},
    },
    "revenue.ad_impressions": {
        "dims": ("advertiser", "format", "platform", "country", "impression_date"),
        "measures": ("revenue_micros", "user_id", "campaign_id"),
        "filters": {"format": ("audio", "display", "video"), "country": COUNTRIES, "impression_date": "date"},
    },
}

FAILED_QUERIES = (
    ("SELEC country, count(*) FROM listening.events GROUP BY country", 'Parser Error: syntax error at or near "SELEC"'),
    ("SELECT * FORM listening.users LIMIT 10", 'Parser Error: syntax error at or near "FORM"'),
    ("SELECT country, count(*) FROM listening.events GROUP country", 'Parser Error: syntax error at or near "country"'),
    ("SELECT evnt_date, count(*) FROM listening.events GROUP BY 1",
     'Binder Error: Referenced column "evnt_date" not found in FROM clause!'),
    ("SELECT country, count(*) FROM listening.events",
     'Binder Error: column "country" must appear in the GROUP BY clause or must be part of an aggregate function.'),
    ("SELECT * FROM listening.streams LIMIT 10", "Catalog Error: Table with name streams does not exist!"),
    ("SELECT sum(amount) FROM revenue.payments WHERE status = 'succeeded'",
     'Binder Error: Referenced column "amount" not found in FROM clause!'),
    ("SELECT plan, count(*) FROM revenue.subscription GROUP BY plan",
     "Catalog Error: Table with name subscription does not exist!"),
    ("SELECT title, count(*) FROM podcasts.listens GROUP BY title",
     'Binder Error: Referenced column "title" not found in FROM clause!'),
    ("SELECT show_id, avg(duration) FROM podcasts.episodes GROUP BY show_id",
     'Binder Error: Referenced column "duration" not found in FROM clause!'),
    ("SELECT * FROM listening.events WHERE event_date > '2026-13-01'",
     "Conversion Error: date field value out of range: \"2026-13-01\""),
)
TIMEOUT_ERROR = "INTERRUPT Error: Interrupted! (statement timeout)"


@dataclass
class _Run:
    """One history row: planned (kind, pattern, user), then written on the day it was run."""

    kind: str
    user: str
    pattern: Pattern | None = None
    query: str = ""
    status: str = "success"
    error: str | None = None
    rows: int | None = None


def _render(template: str, literals: dict[str, str], rng: random.Random) -> str:
    """Fill a template the way one analyst would type it: their aliases, keyword case and layout."""
    text = textwrap.dedent(template).strip()
    text = text.replace("    ", " " * rng.choice((2, 4, 4)))
    if rng.random() < 0.35:
        text = text.lower()
    if rng.random() < 0.4:
        text = " ".join(text.split())
    fields = dict.fromkeys(name for _, name, _, _ in string.Formatter().parse(text) if name)
    values = {name: literals[name] if name in literals else rng.choice(ALIASES[name]) for name in fields}
    query = text.format(**values)
    return query + ";" if rng.random() < 0.15 else query


def _write_pattern(run: _Run, pattern: Pattern, rng: random.Random, today: date) -> None:
    literals = pattern.literals(rng, today)
    run.query = _render(pattern.template, literals, rng)
    run.rows = int(literals["n"]) if "n" in literals else rng.randint(*pattern.typical_rows)


def _exploration(rng: random.Random) -> str:
    table = rng.choice(tuple(TABLE_KEYS))
    choice = rng.random()
    if choice < 0.45:
        return f"SELECT * FROM {table} LIMIT {rng.choice((5, 10, 10, 20, 100))}"
    if choice < 0.6:
        return f"DESCRIBE {table}"
    if choice < 0.7:
        return rng.choice(("SHOW TABLES", "SHOW ALL TABLES", "show tables"))
    if choice < 0.85:
        column = rng.choice(tuple(CATALOG[table]["filters"])) if table in CATALOG else TABLE_KEYS[table]
        return f"SELECT DISTINCT {column} FROM {table} LIMIT 50"
    if choice < 0.93:
        return f"SELECT COUNT(*) FROM {table}"
    schema = table.split(".")[0]
    return f"SELECT table_name FROM information_schema.tables WHERE table_schema = '{schema}'"


def _lookup(rng: random.Random) -> str:
    table = rng.choice(tuple(TABLE_KEYS))
    key = TABLE_KEYS[table]
    columns = "*" if table not in CATALOG or rng.random() < 0.7 else f"{key}, {rng.choice(CATALOG[table]['dims'])}"
    return f"SELECT {columns} FROM {table} WHERE {key} = {rng.randint(100, 49_000)}"


def _recent_day(rng: random.Random, today: date) -> str:
    return (EVENTS_FROM + timedelta(days=rng.randint(0, (today - EVENTS_FROM).days))).isoformat()


def _debug(rng: random.Random, today: date) -> str:
    table = rng.choice(tuple(CATALOG))
    spec = CATALOG[table]
    choice = rng.random()
    if choice < 0.3:
        return f"SELECT COUNT(*) FROM {table} WHERE {rng.choice(spec['dims'])} IS NULL"
    if choice < 0.5:
        table = table if rng.random() < 0.5 else "listening.plays_legacy"
        key = TABLE_KEYS[table]
        return f"SELECT {key}, COUNT(*) FROM {table} GROUP BY {key} HAVING COUNT(*) > 1"
    if choice < 0.7:
        user = rng.randint(100, 49_000)
        day = _recent_day(rng, today)
        return f"SELECT * FROM listening.events WHERE user_id = {user} AND event_date = DATE '{day}' ORDER BY event_ts"
    if choice < 0.85:
        column = next((c for c in spec["dims"] if "date" in c or c.endswith("_on")), spec["measures"][0])
        return f"SELECT MIN({column}), MAX({column}) FROM {table}"
    return f"EXPLAIN SELECT {spec['dims'][0]}, COUNT(*) FROM {table} GROUP BY {spec['dims'][0]}"


def _write(rng: random.Random, user: str) -> str:
    name = f"{user.split('.')[0]}_{rng.choice(('tmp', 'check', 'sample', 'backfill'))}{rng.randint(1, 99)}"
    table = rng.choice(tuple(CATALOG))
    choice = rng.random()
    if choice < 0.4:
        return f"CREATE TEMP TABLE {name} AS SELECT * FROM {table} LIMIT 1000"
    if choice < 0.7:
        return f"CREATE TABLE scratch.{name} AS SELECT {CATALOG[table]['dims'][0]}, COUNT(*) AS n FROM {table} GROUP BY 1"
    if choice < 0.85:
        return f"DROP TABLE IF EXISTS scratch.{name}"
    return f"INSERT INTO scratch.{name} SELECT * FROM {table} WHERE {TABLE_KEYS[table]} < 1000"


def _one_off(rng: random.Random, today: date, seen: set[tuple]) -> str:
    """A query nobody ran before: a structure (table, groups, aggregate, filters, order) drawn until new."""
    for _ in range(200):
        table = rng.choice(tuple(CATALOG))
        spec = CATALOG[table]
        dims = tuple(sorted(rng.sample(spec["dims"], rng.randint(1, min(2, len(spec["dims"]))))))
        measure = rng.choice(spec["measures"])
        function = "COUNT_DISTINCT" if measure.endswith("_id") else rng.choice(("SUM", "AVG", "MAX", "MIN", "MEDIAN"))
        filters = tuple(sorted(rng.sample(tuple(spec["filters"]), rng.randint(0, min(2, len(spec["filters"]))))))
        ordering = rng.choice(("none", "measure", "dims_limit"))
        key = (table, dims, function, measure, filters, ordering)
        if key not in seen:
            seen.add(key)
            break
    aggregate = f"COUNT(DISTINCT {measure})" if function == "COUNT_DISTINCT" else f"{function}({measure})"
    conditions = []
    for column in filters:
        values = spec["filters"][column]
        if values == "date":
            conditions.append(f"{column} >= DATE '{_recent_day(rng, today)}'")
        else:
            conditions.append(f"{column} = {_quote(rng.choice(values))}")
    query = f"SELECT {', '.join(dims)}, {aggregate} AS {measure}_{function.lower()} FROM {table}"
    if conditions:
        query += " WHERE " + " AND ".join(conditions)
    query += f" GROUP BY {', '.join(dims)}"
    if ordering == "measure":
        query += f" ORDER BY {len(dims) + 1} DESC"
    elif ordering == "dims_limit":
        query += f" ORDER BY 1 LIMIT {rng.choice((10, 25, 50))}"
    return query


def _write_noise(run: _Run, rng: random.Random, today: date, seen: set[tuple]) -> None:
    kind = run.kind
    if kind == "exploration":
        run.query, run.rows = _exploration(rng), rng.randint(1, 100)
    elif kind == "lookup":
        run.query, run.rows = _lookup(rng), rng.choice((0, 1, 1, 1))
    elif kind == "debug":
        run.query, run.rows = _debug(rng, today), rng.randint(0, 40)
    elif kind == "write":
        run.query = _write(rng, run.user)
    elif kind == "one_off":
        run.query, run.rows = _one_off(rng, today, seen), rng.randint(1, 400)
    elif rng.random() < 0.75:
        query, run.error = rng.choice(FAILED_QUERIES)
        run.query = query.lower() if rng.random() < 0.3 else query
        run.status = "error"
    else:
        _write_pattern(run, rng.choice(PATTERNS), rng, today)
        run.status, run.error, run.rows = "error", TIMEOUT_ERROR, None


def _allocate(total: int, weights: dict[Any, float]) -> dict[Any, int]:
    """Split ``total`` in proportion to ``weights`` (largest remainders), so small histories keep the mix."""
    scale = sum(weights.values())
    exact = {key: total * weight / scale for key, weight in weights.items()}
    counts = {key: int(value) for key, value in exact.items()}
    for key in sorted(exact, key=lambda k: exact[k] - counts[k], reverse=True)[: total - sum(counts.values())]:
        counts[key] += 1
    return counts


def _plan(n_rows: int, rng: random.Random) -> list[_Run]:
    """Who runs what: recurring queries go round their users first, noise goes to anyone."""
    counts = _allocate(n_rows, KIND_SHARES)
    runs: list[_Run] = []
    for kind, patterns in (("pattern", PATTERNS), *DECOYS.items()):
        for pattern, count in _allocate(counts.pop(kind), {p: p.weight for p in patterns}).items():
            users = pattern.users
            runs += [_Run(kind, users[i] if i < len(users) else rng.choice(users), pattern) for i in range(count)]
    for kind, count in counts.items():
        runs += [_Run(kind, rng.choice(ALL_ANALYSTS)) for _ in range(count)]
    rng.shuffle(runs)
    return runs


def _timestamps(count: int, rng: random.Random) -> list[datetime]:
    """Working-hours start times over the last HISTORY_DAYS days, mostly on weekdays, sorted."""
    first = HISTORY_END - timedelta(days=HISTORY_DAYS - 1)
    days = [first + timedelta(days=d) for d in range(HISTORY_DAYS)]
    weights = [1.0 if day.weekday() < 5 else 0.12 for day in days]
    stamps = []
    for day in rng.choices(days, weights=weights, k=count):
        minute = int(rng.triangular(8 * 60, 19 * 60, 11 * 60))
        stamps.append(datetime(day.year, day.month, day.day, minute // 60, minute % 60, rng.randint(0, 59)))
    return sorted(stamps)


def generate_history(n_rows: int = DEFAULT_ROWS, seed: int = DEFAULT_SEED) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """``n_rows`` history rows as analysts ran them, and the truth: per row its pattern id or None.

    The same ``n_rows`` and ``seed`` give the same history. Kinds keep their shares at any size.
    """
    if n_rows < 1:
        raise ValueError("n_rows must be at least 1")
    rng = random.Random(seed)
    runs = _plan(n_rows, rng)
    seen: set[tuple] = set()
    rows, truth_rows = [], []
    for index, (run, started) in enumerate(zip(runs, _timestamps(len(runs), rng))):
        if run.pattern is not None:
            _write_pattern(run, run.pattern, rng, started.date())
        else:
            _write_noise(run, rng, started.date(), seen)
        if run.error == TIMEOUT_ERROR:
            duration = 30_000 + rng.randint(0, 500)
        else:
            duration = int(rng.lognormvariate(6.5, 1.1)) if run.status == "success" else rng.randint(40, 900)
        rows.append(
            {
                "query": run.query,
                "user": run.user,
                "started_at": started.isoformat(),
                "status": run.status,
                "error": run.error,
                "duration_ms": duration,
                "rows": run.rows,
            }
        )
        real = run.pattern.id if run.kind == "pattern" and run.pattern else None
        truth_rows.append({"index": index, "pattern": real, "kind": run.kind})
    return rows, _truth(rows, truth_rows, n_rows, seed)


def _truth(rows: list[dict[str, Any]], truth_rows: list[dict[str, Any]], n_rows: int, seed: int) -> dict[str, Any]:
    def runs_of(pattern: Pattern) -> list[dict[str, Any]]:
        return [rows[t["index"]] for t in truth_rows if t["pattern"] == pattern.id]

    return {
        "about": (
            "Truth for history/queries.jsonl: which queries are runs of real recurring patterns. For measuring "
            "`vedder propose` only; the miner must never read this file. Patterns with `vetted_pair` are already "
            "vetted pairs (propose should skip them, so leave them out of recall). Failed runs carry no pattern."
        ),
        "generator": {"function": "vedder.warehouse.demo.generate_history", "n_rows": n_rows, "seed": seed},
        "patterns": [
            {
                "id": p.id,
                "cluster": p.cluster,
                "description": p.description,
                "vetted_pair": p.vetted_pair,
                "runs": len(runs_of(p)),
                "users": sorted({row["user"] for row in runs_of(p)}),
                "example_sql": next((row["query"] for row in runs_of(p)), None),
            }
            for p in PATTERNS
        ],
        "kinds": {kind: sum(1 for t in truth_rows if t["kind"] == kind) for kind in KIND_SHARES},
        "queries": truth_rows,
    }


def write_history(folder: Path, rows: list[dict[str, Any]], truth: dict[str, Any]) -> tuple[Path, Path]:
    """Write ``queries.jsonl`` and ``patterns.json`` (the truth) into ``folder``, atomically."""
    from vedder.files import atomic_write

    queries, patterns = folder / "queries.jsonl", folder / "patterns.json"
    atomic_write(queries, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
    atomic_write(patterns, json.dumps(truth, indent=1, ensure_ascii=False) + "\n")
    return queries, patterns


def read_history(path: Path) -> list[dict[str, Any]]:
    """The rows of a JSONL history file; ProjectFileError names the line that is not JSON."""
    rows = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ProjectFileError(f"cannot read {path}: {exc.strerror}") from None
    for number, line in enumerate(lines, 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ProjectFileError(f"{path}:{number}: not JSON: {exc.msg}", "each line must be one JSON object") from None
    return rows
