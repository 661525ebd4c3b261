"""The demo warehouse: a fictional music-streaming company, generated inside DuckDB.

Every value comes from ``hash()`` of a row number and a salt, so two builds with the same scale hold
the same rows whatever the thread count, and nothing is downloaded. Generation is plain SQL over
``range()``: 1.2 million listening events take a couple of seconds. Event dates grow with the row
number, so fact tables are stored in date order (as partitions would be) without sorting them.

The data carries the quirks real warehouses have and only the clusters' docs explain:
user ids below 100 are legacy test accounts; ``listening.plays_legacy`` is deprecated in favour of
``listening.events``; money is in cents (``amount_cents``) or millionths of a dollar
(``revenue_micros``); ``events.duration_ms`` is how long a track was played, not its length, and
``users.country`` is the signup country, not where people listen.

>>> scaled_counts(0.01)["listening.events"]
12000
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from vedder.errors import UsageError, WarehouseError
from vedder.warehouse.demo_history import (
    DEFAULT_ROWS,
    DEFAULT_SEED,
    HISTORY_COLUMNS,
    generate_history,
    read_history,
    write_history,
)

if TYPE_CHECKING:
    from vedder.config import Config

__all__ = [
    "DemoSummary", "build_demo", "build_demo_project", "generate_history", "is_demo_warehouse", "read_history",
    "scaled_counts", "write_history",
]

HISTORY_FOLDER = "history"

END_DATE = date(2026, 11, 25)
EVENT_DAYS = 90
SUBSCRIPTIONS_FROM = date(2024, 1, 1)
LEGACY_FROM, LEGACY_UNTIL = date(2025, 6, 1), date(2026, 9, 14)
TEST_ACCOUNTS_BELOW = 100
DEMO_MARKER = "ops.demo_build"

BASE_COUNTS = {
    "listening.artists": 1_500,
    "listening.tracks": 30_000,
    "listening.users": 50_000,
    "listening.events": 1_200_000,
    "listening.plays_legacy": 300_000,
    "podcasts.shows": 400,
    "podcasts.episodes": 15_000,
    "podcasts.listens": 400_000,
    "revenue.subscriptions": 60_000,
    "revenue.ad_impressions": 500_000,
}
MINIMUM_COUNTS = {
    "listening.artists": 40,
    "listening.tracks": 300,
    "listening.users": 400,
    "podcasts.shows": 30,
    "podcasts.episodes": 300,
    "revenue.subscriptions": 2_000,
}

COUNTRIES = [("US", 34), ("GB", 14), ("DE", 12), ("BR", 11), ("IN", 8), ("MX", 8), ("SE", 7), ("JP", 6)]
ARTIST_COUNTRIES = [("US", 40), ("GB", 18), ("SE", 10), ("DE", 8), ("BR", 8), ("MX", 6), ("JP", 5), ("IN", 5)]
CURRENCIES = {"US": "USD", "GB": "GBP", "DE": "EUR", "BR": "BRL", "IN": "INR", "MX": "MXN", "SE": "SEK", "JP": "JPY"}
PLATFORMS = [("android", 36), ("ios", 34), ("desktop", 12), ("web", 8), ("smart_speaker", 6), ("car", 4)]
GENRES = [
    ("pop", 22), ("hip-hop", 18), ("rock", 12), ("electronic", 10), ("latin", 10),
    ("r&b", 8), ("indie", 8), ("k-pop", 4), ("jazz", 4), ("classical", 4),
]
SKIP_SHARES = {"pop": 0.21, "hip-hop": 0.27, "rock": 0.22, "electronic": 0.3, "latin": 0.23, "k-pop": 0.19, "classical": 0.33}
SOURCES = [("playlist", 42), ("album", 18), ("radio", 12), ("search", 10), ("home", 10), ("artist_page", 8)]
LABELS = [("Northbeam Records", 30), ("Indigo Lane", 20), ("Polar Sound", 15), ("Casa Verde", 15), ("self-released", 20)]
PODCAST_CATEGORIES = [
    ("comedy", 18), ("news", 16), ("true crime", 14), ("society", 12), ("sports", 10),
    ("business", 10), ("education", 8), ("music", 6), ("technology", 6),
]
PUBLISHERS = [
    ("Lantern Audio", 20), ("Bright Harbor Media", 16), ("Fieldnote Studios", 14), ("Open Mic Network", 12),
    ("Nordlys Pod", 10), ("Casa Radio", 10), ("independent", 18),
]
LANGUAGES = [("en", 55), ("es", 12), ("pt", 10), ("de", 8), ("sv", 6), ("ja", 5), ("hi", 4)]
PLANS = [("free", 42), ("premium", 34), ("family", 13), ("student", 11)]
PLAN_ROWS = [(1, "free", 0, 1), (2, "premium", 1099, 1), (3, "family", 1799, 6), (4, "student", 599, 1)]
PREMIUM_OLD_PRICE_CENTS, PRICE_CHANGE = 999, date(2025, 7, 1)
PAYMENT_STATUSES = [("succeeded", 93), ("failed", 5), ("refunded", 2)]
ADVERTISERS = [
    "Fizzly Cola", "Northwind Air", "Lumen Phones", "Trailhead Outdoor",
    "Koru Bank", "Pixel Bistro", "Orbit Games", "Sol Energy",
]
AD_FORMATS = [("audio", 55), ("display", 35), ("video", 10)]

ARTIST_WORDS = (
    "Velvet Neon Golden Silent Electric Midnight Crystal Wild Paper Lunar Copper Hollow Scarlet Northern "
    "Broken Gentle Atomic Frozen Violet Urban Desert Ocean Solar Quiet Royal Rusty Sugar Thunder Amber Iron "
    "Little Lost Crimson Indigo Marble Stone Cosmic Honey Silver Echo"
).split()
ARTIST_NOUNS = (
    "Harbor Foxes Tides Machines Rivers Ghosts Pilots Wolves Gardens Lights Kids Hearts Saints Rockets "
    "Avenue Dreamers Engines Orchids Sparrows Mirrors Drums Comets Lanterns Parade Signals Tigers Waves "
    "Collective Club Brothers Sisters Union Society Heights Motel Canyon Fever Choir Bandits District"
).split()
TRACK_WORDS = (
    "Summer Night Heart Fire Dance Rain City Love Dream Road Light Gold Blue Ocean Shadow Wild Sky Echo "
    "Home Youth Paradise Silence Storm Honey Neon Midnight Mirror Window River Falling"
).split()
SHOW_WORDS = (
    "Daily Curious Late Weekly Hidden Honest Loud Quiet Deep Modern Untold Morning Friday Northern Open "
    "Brave Little Big Small Bright Strange Secret Everyday Unfiltered Public Second Slow Fast Good Noisy"
).split()
SHOW_NOUNS = "Signal Hour Brief Files Room Table Desk Cast Circle Notes Talk Journal Minute Podcast Review Lab Story Report Club Show".split()


@dataclass
class DemoSummary:
    """What ``build_demo`` made: the file, its scale, rows per table and the build time."""

    path: Path
    scale: float
    tables: dict[str, int] = field(default_factory=dict)
    elapsed_s: float = 0.0
    history_files: list[Path] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "scale": self.scale,
            "tables": self.tables,
            "elapsed_s": round(self.elapsed_s, 3),
            "history_files": [str(p) for p in self.history_files],
        }


def scaled_counts(scale: float) -> dict[str, int]:
    """Rows to generate per table at ``scale`` (dimension tables keep a floor so every quirk survives)."""
    return {
        table: max(MINIMUM_COUNTS.get(table, 1), round(count * scale)) for table, count in BASE_COUNTS.items()
    }


def _literal(value: Any) -> str:
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, date):
        return f"DATE '{value.isoformat()}'"
    return str(value)


def _unit(key: str, salt: str) -> str:
    """SQL for a pseudo-random number in [0, 1) that depends only on ``key`` and ``salt``."""
    return f"((hash({key}, '{salt}') % 1000003) / 1000003.0)"


def _weighted(unit_column: str, choices: Sequence[tuple[Any, float]]) -> str:
    """SQL CASE that picks one of ``choices`` (value, weight) from a number in [0, 1)."""
    total = sum(weight for _, weight in choices)
    cumulative = 0.0
    branches = []
    for value, weight in choices[:-1]:
        cumulative += weight / total
        branches.append(f"WHEN {unit_column} < {cumulative:.6f} THEN {_literal(value)}")
    return f"CASE {' '.join(branches)} ELSE {_literal(choices[-1][0])} END"


def _word(words: Sequence[str], index_sql: str) -> str:
    """SQL for the word of ``words`` at a 0-based index (taken modulo the list length)."""
    listed = ", ".join(_literal(w) for w in words)
    return f"list_extract([{listed}], 1 + CAST(({index_sql}) % {len(words)} AS INTEGER))"


def _numbered_name(first: Sequence[str], second: Sequence[str], id_column: str) -> str:
    """SQL for a distinct name per id: every word pair once ('Velvet Harbor'), then numbered ('Velvet Harbor 2')."""
    pairs = len(first) * len(second)
    return (
        f"{_word(first, f'{id_column} - 1')} || ' ' || {_word(second, f'({id_column} - 1) // {len(first)}')}"
        f" || CASE WHEN {id_column} > {pairs} THEN ' ' || CAST(({id_column} - 1) // {pairs} + 1 AS VARCHAR) ELSE '' END"
    )


def _random_rows(id_column: str, count: int, *units: str, **computed: str) -> str:
    """A subquery of ids 1..count (``i``), each with the named pseudo-random numbers and ``computed`` columns."""
    columns = "".join(f", {sql} AS {name}" for name, sql in computed.items())
    columns += "".join(f", {_unit('i', f'{id_column}.{unit}')} AS {unit}" for unit in units)
    return f"(SELECT i AS {id_column}{columns} FROM range(1, {count + 1}) r(i))"


def _skewed_id(unit_sql: str, exponent: float, count: int) -> str:
    """SQL for an id in 1..count where low ids are popular (a power of a number in [0, 1))."""
    return f"1 + CAST(floor(pow({unit_sql}, {exponent}) * {count}) AS BIGINT)"


def _days_after(start: date, unit_sql: str, span_days: int | str) -> str:
    return f"({_literal(start)} + CAST(floor({unit_sql} * {span_days}) AS INTEGER))"


def _user_id(unit_test: str, hash_sql: str, unit_user: str, users: int, test_share: float, skew: float = 1.0) -> str:
    """A user id: a legacy test account (1–99) for ``test_share`` of rows, else a real user (skewed)."""
    real = f"{TEST_ACCOUNTS_BELOW} + CAST(floor(pow({unit_user}, {skew}) * {users - TEST_ACCOUNTS_BELOW + 1}) AS BIGINT)"
    test = f"1 + CAST({hash_sql} % {TEST_ACCOUNTS_BELOW - 1} AS BIGINT)"
    return f"CASE WHEN {unit_test} < {test_share} THEN {test} ELSE {real} END"


def _statements(counts: dict[str, int], scale: float) -> list[str]:
    """The SQL that generates every table, in dependency order."""
    n = counts
    users = n["listening.users"]
    event_start = date.fromordinal(END_DATE.toordinal() - EVENT_DAYS + 1)
    signup_span = (END_DATE - date(2019, 1, 1)).days
    release_span = (END_DATE - date(2000, 1, 1)).days
    launch_span = (END_DATE - date(2015, 1, 1)).days
    episode_span = (END_DATE - date(2023, 1, 1)).days
    legacy_span = (LEGACY_UNTIL - LEGACY_FROM).days
    currency = "CASE country " + " ".join(f"WHEN '{c}' THEN '{cur}'" for c, cur in CURRENCIES.items()) + " END"
    plan_values = ", ".join(f"({i}, '{name}', {price}, {accounts}, 'USD')" for i, name, price, accounts in PLAN_ROWS)
    advertisers = ", ".join(_literal(a) for a in ADVERTISERS)
    skip_share = "CASE t.genre " + " ".join(f"WHEN '{g}' THEN {share}" for g, share in SKIP_SHARES.items()) + " ELSE 0.24 END"
    return [
        "CREATE SCHEMA listening",
        "CREATE SCHEMA podcasts",
        "CREATE SCHEMA revenue",
        "CREATE SCHEMA ops",
        f"""
        CREATE TABLE listening.users AS
        SELECT user_id,
               CASE WHEN user_id < {TEST_ACCOUNTS_BELOW} THEN 'US' ELSE {_weighted('u_country', COUNTRIES)} END AS country,
               CASE WHEN user_id < {TEST_ACCOUNTS_BELOW} THEN DATE '2019-03-01'
                    ELSE {_days_after(date(2019, 1, 1), 'pow(u_signup, 0.6)', signup_span)} END AS signup_date,
               2011 - CAST(floor(pow(u_birth, 1.7) * 56) AS INTEGER) AS birth_year,
               CASE WHEN user_id < {TEST_ACCOUNTS_BELOW} THEN 'web' ELSE {_weighted('u_platform', PLATFORMS[:4])} END AS signup_platform
        FROM {_random_rows('user_id', users, 'u_country', 'u_signup', 'u_birth', 'u_platform')}
        ORDER BY user_id
        """,
        f"""
        CREATE TABLE listening.artists AS
        SELECT artist_id,
               {_numbered_name(ARTIST_WORDS, ARTIST_NOUNS, 'artist_id')} AS name,
               {_weighted('u_country', ARTIST_COUNTRIES)} AS country,
               {_weighted('u_genre', GENRES)} AS genre,
               {_weighted('u_label', LABELS)} AS label
        FROM {_random_rows('artist_id', n['listening.artists'], 'u_country', 'u_genre', 'u_label')}
        ORDER BY artist_id
        """,
        f"""
        CREATE TABLE listening.tracks AS
        SELECT t.track_id,
               {_word(TRACK_WORDS, "hash(t.track_id, 'title1')")} || ' ' || {_word(TRACK_WORDS, "hash(t.track_id, 'title2')")} AS title,
               t.artist_id,
               CASE WHEN t.u_genre < 0.85 THEN a.genre ELSE {_weighted('t.u_genre2', GENRES)} END AS genre,
               120 + CAST(floor(t.u_duration * 240) AS INTEGER) AS duration,
               {_days_after(date(2000, 1, 1), 'pow(t.u_release, 0.3)', release_span)} AS release_date,
               t.u_explicit < 0.18 AS explicit
        FROM {_random_rows(
            'track_id', n['listening.tracks'], 'u_genre', 'u_genre2', 'u_duration', 'u_release', 'u_explicit',
            artist_id=_skewed_id(_unit('i', 'track_artist'), 2, n['listening.artists']),
        )} t JOIN listening.artists a USING (artist_id)
        ORDER BY t.track_id
        """,
        f"""
        CREATE TABLE listening.events AS
        WITH base AS (
            SELECT i AS event_id,
                   {_user_id(_unit('i', 'ev_test'), "hash(i, 'ev_user')", _unit('i', 'ev_user2'), users, 0.05, 1.6)} AS user_id,
                   {_skewed_id(_unit('i', 'ev_track'), 2, n['listening.tracks'])} AS track_id,
                   {_days_after(event_start, f"sqrt((i - 1) / {n['listening.events']})", EVENT_DAYS)} AS event_date,
                   CAST(floor({_unit('i', 'ev_second')} * 86400) AS BIGINT) AS second_of_day,
                   {_unit('i', 'ev_platform')} AS u_platform, {_unit('i', 'ev_travel')} AS u_travel,
                   {_unit('i', 'ev_country')} AS u_country, {_unit('i', 'ev_skip')} AS u_skip,
                   {_unit('i', 'ev_played')} AS u_played, {_unit('i', 'ev_source')} AS u_source,
                   {_unit('i', 'ev_shuffle')} AS u_shuffle
            FROM range(1, {n['listening.events'] + 1}) r(i)
        )
        SELECT b.event_id,
               CAST(b.event_date AS TIMESTAMP) + to_seconds(b.second_of_day) AS event_ts,
               b.event_date,
               b.user_id,
               b.track_id,
               {_weighted('b.u_platform', PLATFORMS)} AS platform,
               CASE WHEN b.u_travel < 0.93 THEN u.country ELSE {_weighted('b.u_country', COUNTRIES)} END AS country,
               CASE WHEN b.u_skip < {skip_share} THEN 1000 + CAST(floor(b.u_played * 29000) AS INTEGER)
                    ELSE 30000 + CAST(floor(b.u_played * (t.duration * 1000 - 30000)) AS INTEGER) END AS duration_ms,
               {_weighted('b.u_source', SOURCES)} AS source,
               b.u_shuffle < 0.35 AS shuffle
        FROM base b
        JOIN listening.users u ON u.user_id = b.user_id
        JOIN listening.tracks t ON t.track_id = b.track_id
        """,
        f"""
        CREATE TABLE listening.plays_legacy AS
        WITH plays AS (
            SELECT i AS play_id,
                   {_user_id(_unit('i', 'pl_test'), "hash(i, 'pl_user')", _unit('i', 'pl_user2'), users, 0.05, 1.6)} AS user_id,
                   {_skewed_id(_unit('i', 'pl_track'), 2, n['listening.tracks'])} AS track_id,
                   CAST({_days_after(LEGACY_FROM, _unit('i', 'pl_day'), legacy_span)} AS TIMESTAMP)
                     + to_seconds(CAST(floor({_unit('i', 'pl_second')} * 86400) AS BIGINT)) AS played_at,
                   CAST(floor(pow({_unit('i', 'pl_ms')}, 0.5) * 300000) AS INTEGER) AS ms_played,
                   upper({_weighted(_unit('i', 'pl_platform'), PLATFORMS[:4])}) AS platform,
                   {_unit('i', 'pl_retry')} AS u_retry
            FROM range(1, {n['listening.plays_legacy'] + 1}) r(i)
        )
        SELECT play_id, user_id, track_id, played_at, ms_played, platform FROM plays
        UNION ALL
        SELECT play_id, user_id, track_id, played_at + INTERVAL 2 SECOND, ms_played, platform FROM plays WHERE u_retry < 0.04
        ORDER BY played_at, play_id
        """,
        f"""
        CREATE TABLE podcasts.shows AS
        SELECT show_id,
               'The ' || {_numbered_name(SHOW_WORDS, SHOW_NOUNS, 'show_id')} AS title,
               {_weighted('u_category', PODCAST_CATEGORIES)} AS category,
               {_weighted('u_publisher', PUBLISHERS)} AS publisher,
               {_weighted('u_language', LANGUAGES)} AS language,
               {_days_after(date(2015, 1, 1), 'pow(u_launch, 0.5)', launch_span)} AS launched_on,
               u_explicit < 0.2 AS explicit
        FROM {_random_rows('show_id', n['podcasts.shows'], 'u_category', 'u_publisher', 'u_language', 'u_launch', 'u_explicit')}
        ORDER BY show_id
        """,
        f"""
        CREATE TABLE podcasts.episodes AS
        SELECT e.episode_id,
               e.show_id,
               s.title || ': ' || {_word(TRACK_WORDS, "hash(e.episode_id, 'ep_title1')")} || ' and '
                 || lower({_word(TRACK_WORDS, "hash(e.episode_id, 'ep_title2')")}) AS title,
               greatest(s.launched_on, {_days_after(date(2023, 1, 1), 'e.u_published', episode_span)}) AS published_on,
               900 + CAST(floor(e.u_duration * 4500) AS INTEGER) AS duration_s
        FROM {_random_rows(
            'episode_id', n['podcasts.episodes'], 'u_published', 'u_duration',
            show_id=_skewed_id(_unit('i', 'ep_show'), 1.5, n['podcasts.shows']),
        )} e JOIN podcasts.shows s USING (show_id)
        ORDER BY e.episode_id
        """,
        f"""
        CREATE TABLE podcasts.listens AS
        WITH base AS (
            SELECT i AS listen_id,
                   {_user_id(_unit('i', 'li_test'), "hash(i, 'li_user')", _unit('i', 'li_user2'), users, 0.03)} AS user_id,
                   {_skewed_id(_unit('i', 'li_episode'), 2.2, n['podcasts.episodes'])} AS episode_id,
                   {_days_after(event_start, f"sqrt({_unit('i', 'li_day')})", EVENT_DAYS)} AS day,
                   {_unit('i', 'li_platform')} AS u_platform, {_unit('i', 'li_sample')} AS u_sample,
                   {_unit('i', 'li_seconds')} AS u_seconds
            FROM range(1, {n['podcasts.listens'] + 1}) r(i)
        ), timed AS (
            SELECT b.listen_id, b.user_id, b.episode_id,
                   greatest(b.day, e.published_on) AS listen_date,
                   {_weighted('b.u_platform', PLATFORMS)} AS platform,
                   u.country,
                   CASE WHEN b.u_sample < 0.15 THEN 5 + CAST(floor(b.u_seconds * 55) AS INTEGER)
                        ELSE 60 + CAST(floor(pow(b.u_seconds, 0.6) * (e.duration_s - 60)) AS INTEGER) END AS seconds_listened,
                   e.duration_s
            FROM base b
            JOIN podcasts.episodes e ON e.episode_id = b.episode_id
            JOIN listening.users u ON u.user_id = b.user_id
        )
        SELECT listen_id, user_id, episode_id, listen_date, platform, country, seconds_listened,
               seconds_listened >= 0.9 * duration_s AS completed
        FROM timed
        ORDER BY listen_date
        """,
        f"""
        CREATE TABLE revenue.plans AS
        SELECT * FROM (VALUES {plan_values}) v(plan_id, plan, monthly_price_cents, max_accounts, currency)
        ORDER BY plan_id
        """,
        f"""
        CREATE TABLE revenue.subscriptions AS
        WITH base AS (
            SELECT i AS subscription_id,
                   {_user_id(_unit('i', 'sub_test'), "hash(i, 'sub_user')", _unit('i', 'sub_user2'), users, 0.02)} AS user_id,
                   {_weighted(_unit('i', 'sub_plan'), PLANS)} AS plan,
                   {_unit('i', 'sub_start')} AS u_start, {_unit('i', 'sub_end')} AS u_end,
                   {_unit('i', 'sub_length')} AS u_length, {_unit('i', 'sub_past_due')} AS u_past_due,
                   {_unit('i', 'sub_billing')} AS u_billing, {_unit('i', 'sub_country')} AS u_country
            FROM range(1, {n['revenue.subscriptions'] + 1}) r(i)
        ), started AS (
            SELECT b.*, u.country AS signup_country,
                   greatest(u.signup_date, {_literal(SUBSCRIPTIONS_FROM)}) AS earliest
            FROM base b JOIN listening.users u USING (user_id)
        ), dated AS (
            SELECT *, earliest + CAST(floor(u_start * date_diff('day', earliest, {_literal(END_DATE)})) AS INTEGER) AS started_on
            FROM started
        ), ended AS (
            SELECT *, CASE WHEN u_end < 0.3
                           THEN started_on + CAST(floor(u_length * date_diff('day', started_on, {_literal(END_DATE)})) AS INTEGER)
                      END AS ended_on
            FROM dated
        )
        SELECT subscription_id, user_id, plan, started_on, ended_on,
               CASE WHEN ended_on IS NOT NULL THEN 'cancelled' WHEN u_past_due < 0.04 THEN 'past_due' ELSE 'active' END AS status,
               CASE WHEN u_billing < 0.95 THEN signup_country ELSE {_weighted('u_country', COUNTRIES)} END AS country
        FROM ended
        ORDER BY subscription_id
        """,
        f"""
        CREATE TABLE revenue.payments AS
        WITH due AS (
            SELECT s.subscription_id * 100 + m.month AS payment_id, s.subscription_id, s.user_id, s.plan, s.country,
                   CAST(s.started_on + to_months(CAST(m.month AS INTEGER)) AS DATE) AS payment_date,
                   p.monthly_price_cents
            FROM revenue.subscriptions s
            JOIN revenue.plans p ON p.plan = s.plan
            CROSS JOIN range(0, 60) m(month)
            WHERE p.monthly_price_cents > 0
              AND s.started_on + to_months(CAST(m.month AS INTEGER)) <= coalesce(s.ended_on, {_literal(END_DATE)})
        )
        SELECT payment_id, subscription_id, user_id,
               CAST(payment_date AS TIMESTAMP) + to_seconds(CAST(floor({_unit('payment_id', 'pay_second')} * 86400) AS BIGINT)) AS paid_at,
               payment_date,
               CASE WHEN plan = 'premium' AND payment_date < {_literal(PRICE_CHANGE)} THEN {PREMIUM_OLD_PRICE_CENTS}
                    ELSE monthly_price_cents END AS amount_cents,
               {currency} AS currency,
               country,
               {_weighted(_unit('payment_id', 'pay_status'), PAYMENT_STATUSES)} AS status
        FROM due
        ORDER BY payment_date
        """,
        f"""
        CREATE TABLE revenue.ad_impressions AS
        WITH base AS (
            SELECT i AS impression_id,
                   {_user_id(_unit('i', 'ad_test'), "hash(i, 'ad_user')", _unit('i', 'ad_user2'), users, 0.04)} AS user_id,
                   {_days_after(event_start, f"sqrt((i - 1) / {n['revenue.ad_impressions']})", EVENT_DAYS)} AS impression_date,
                   CAST(floor({_unit('i', 'ad_second')} * 86400) AS BIGINT) AS second_of_day,
                   CAST(floor(pow({_unit('i', 'ad_advertiser')}, 1.4) * {len(ADVERTISERS)}) AS INTEGER) AS advertiser_index,
                   hash(i, 'ad_campaign') % 6 AS campaign_offset,
                   {_weighted(_unit('i', 'ad_format'), AD_FORMATS)} AS format,
                   {_weighted(_unit('i', 'ad_platform'), PLATFORMS)} AS platform,
                   {_weighted(_unit('i', 'ad_country'), COUNTRIES)} AS country,
                   {_unit('i', 'ad_price')} AS u_price, {_unit('i', 'ad_click')} AS u_click
            FROM range(1, {n['revenue.ad_impressions'] + 1}) r(i)
        )
        SELECT impression_id, user_id,
               CAST(impression_date AS TIMESTAMP) + to_seconds(second_of_day) AS impression_ts,
               impression_date,
               list_extract([{advertisers}], advertiser_index + 1) AS advertiser,
               CAST((advertiser_index + 1) * 100 + campaign_offset + 1 AS INTEGER) AS campaign_id,
               format, platform, country,
               CAST(CASE format WHEN 'audio' THEN 18000 + u_price * 12000
                                WHEN 'display' THEN 2000 + u_price * 4000
                                ELSE 30000 + u_price * 20000 END AS BIGINT) AS revenue_micros,
               u_click < CASE format WHEN 'audio' THEN 0.004 WHEN 'display' THEN 0.012 ELSE 0.02 END AS clicked
        FROM base
        """,
        "CREATE TABLE ops.query_history (" + ", ".join(f'"{name}" {kind}' for name, kind in HISTORY_COLUMNS.items()) + ")",
        f"CREATE TABLE {DEMO_MARKER} AS SELECT CAST({float(scale)} AS DOUBLE) AS scale, 'vedder demo' AS built_by",
    ]


def _load_history(connection: Any, history: list[dict[str, Any]]) -> None:
    """Copy the query history into ``ops.query_history`` in one statement (one list per column, unnested)."""
    columns = [[None if row.get(name) is None else str(row[name]) for row in history] for name in HISTORY_COLUMNS]
    casts = ", ".join(f"CAST(unnest(?::VARCHAR[]) AS {kind})" for kind in HISTORY_COLUMNS.values())
    connection.execute(f"INSERT INTO ops.query_history SELECT {casts}", columns)


def build_demo(
    path: Path, scale: float = 1.0, history: list[dict[str, Any]] | None = None, *, force: bool = False
) -> DemoSummary:
    """Build the demo warehouse at ``path`` (atomically: a temporary file, then a rename).

    ``scale`` multiplies row counts; ``history`` fills ``ops.query_history`` (default: the generated
    demo history). An existing file is replaced only if it is a demo warehouse, or with ``force``.
    """
    import duckdb

    if not 0 < scale < math.inf:
        raise UsageError(f"scale must be a positive number, not {scale:g}", "pass e.g. --scale 1 (default) or --scale 0.1")
    started = time.perf_counter()
    path = Path(path)
    if path.exists() and not force and not is_demo_warehouse(path):
        raise WarehouseError(
            f"{path} exists and is not a vedder demo warehouse; refusing to replace it",
            "point `warehouse.path` in vedder.yaml elsewhere, or pass --force to replace it",
        )
    counts = scaled_counts(scale)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WarehouseError(f"cannot create {path.parent}: {exc.strerror}", "check the warehouse path in vedder.yaml") from None
    temporary = path.with_name(f".{path.name}.{os.getpid()}.building")
    _remove_database(temporary)
    try:
        connection = duckdb.connect(str(temporary), config={"autoinstall_known_extensions": False})
        try:
            connection.execute("SET enable_progress_bar = false")
            for statement in _statements(counts, scale):
                connection.execute(statement)
            _load_history(connection, history if history is not None else generate_history()[0])
            tables = _row_counts(connection)
            connection.execute("CHECKPOINT")
        finally:
            connection.close()
        # A write-ahead log left next to the old file would be replayed into the new one.
        Path(f"{path}.wal").unlink(missing_ok=True)
        os.replace(temporary, path)
    except duckdb.Error as exc:
        raise WarehouseError(f"building the demo warehouse failed: {str(exc).splitlines()[0]}") from None
    except OSError as exc:
        raise WarehouseError(f"cannot write {path}: {exc.strerror}", "check the warehouse path in vedder.yaml") from None
    finally:
        _remove_database(temporary)
    return DemoSummary(path=path, scale=scale, tables=tables, elapsed_s=time.perf_counter() - started)


def is_demo_warehouse(path: Path) -> bool:
    """Whether ``path`` is a DuckDB file that ``build_demo`` made (it holds the demo marker table)."""
    import duckdb

    try:
        with duckdb.connect(str(path), read_only=True) as connection:
            schema, table = DEMO_MARKER.split(".")
            found = connection.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?", [schema, table]
            ).fetchone()
    except duckdb.Error as exc:
        if "lock" in str(exc).lower():
            raise WarehouseError(f"{path} is open in another process", "close that process, then run `vedder demo` again") from None
        return False
    return bool(found and found[0])


def build_demo_project(
    config: "Config",
    scale: float = 1.0,
    *,
    rewrite_history: bool = False,
    history_rows: int | None = None,
    seed: int | None = None,
    force: bool = False,
) -> DemoSummary:
    """``vedder demo``: build the project's warehouse; with ``rewrite_history``, regenerate ``history/`` first.

    ``ops.query_history`` mirrors ``history/queries.jsonl`` when the project has one.
    """
    if config.warehouse_path is None:
        raise WarehouseError("no warehouse configured", "set `warehouse: {type: duckdb, path: .vedder/warehouse.duckdb}` in vedder.yaml")
    folder = config.root / HISTORY_FOLDER
    written: list[Path] = []
    if rewrite_history:
        rows, truth = generate_history(history_rows or DEFAULT_ROWS, DEFAULT_SEED if seed is None else seed)
        written = list(write_history(folder, rows, truth))
    history_file = folder / "queries.jsonl"
    history = read_history(history_file) if history_file.is_file() else None
    summary = build_demo(config.warehouse_path, scale, history, force=force)
    summary.history_files = written
    return summary


def _row_counts(connection: Any) -> dict[str, int]:
    names = connection.execute(
        "SELECT table_schema || '.' || table_name FROM information_schema.tables "
        "WHERE table_catalog = current_database() ORDER BY 1"
    ).fetchall()
    return {name: connection.execute(f"SELECT count(*) FROM {name}").fetchone()[0] for (name,) in names}


def _remove_database(path: Path) -> None:
    for leftover in (path, Path(f"{path}.wal")):
        leftover.unlink(missing_ok=True)
