"""SQL highlighting from sqlglot's tokens: what gets which style, and SQL it cannot tokenize stays plain."""

from __future__ import annotations

from vedder.cli.highlight import STYLES, highlight_sql


def styled(sql: str) -> list[tuple[str, str]]:
    text = highlight_sql(sql)
    assert text.plain == sql  # highlighting never changes the SQL shown
    return [(text.plain[s.start:s.end], s.style) for s in text.spans]


def test_keywords_functions_strings_numbers_and_comments():
    sql = "SELECT country, COUNT(*) AS n -- per country\nFROM music.plays WHERE x = 'US' ORDER BY 2 DESC LIMIT 5 /* top */"
    assert styled(sql) == [
        ("SELECT", STYLES["keyword"]), ("COUNT", STYLES["function"]), ("AS", STYLES["keyword"]),
        ("-- per country", STYLES["comment"]), ("FROM", STYLES["keyword"]), ("WHERE", STYLES["keyword"]),
        ("'US'", STYLES["string"]), ("ORDER BY", STYLES["keyword"]), ("2", STYLES["number"]),
        ("DESC", STYLES["keyword"]), ("LIMIT", STYLES["keyword"]), ("5", STYLES["number"]), ("/* top */", STYLES["comment"]),
    ]


def test_identifiers_that_look_like_keywords_when_quoted_stay_plain():
    assert styled('SELECT "select", plays FROM t') == [("SELECT", STYLES["keyword"]), ("FROM", STYLES["keyword"])]


def test_untokenizable_sql_is_shown_plain():
    assert styled("SELECT 'unterminated") == []


def test_carriage_returns_and_control_characters_do_not_shift_the_styles():
    text = highlight_sql("SELECT a\r\nFROM t\r\nWHERE b = 'x\x0c'\r\n-- done\r\n")
    spans = [(text.plain[s.start:s.end], s.style) for s in text.spans]
    assert spans == [("SELECT", STYLES["keyword"]), ("FROM", STYLES["keyword"]), ("WHERE", STYLES["keyword"]),
                     ("'x'", STYLES["string"]), ("-- done", STYLES["comment"])]
