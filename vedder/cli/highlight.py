"""SQL highlighting for the terminal from sqlglot's tokenizer (already loaded to guard the query).

rich's Syntax would load pygments and its SQL lexer, ~0.1 s of a one-shot `vedder ask` that must finish in 1 s.

>>> [(span.start, span.end, span.style) for span in highlight_sql("SELECT n FROM t WHERE c = 'US'").spans]
[(0, 6, 'bold magenta'), (9, 13, 'bold magenta'), (16, 21, 'bold magenta'), (26, 30, 'green')]
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.text import Text

STYLES = {"keyword": "bold magenta", "function": "cyan", "string": "green", "number": "yellow", "comment": "dim"}


def highlight_sql(sql: str) -> "Text":
    """``sql`` as rich Text with keywords, function names, strings, numbers and comments styled."""
    from rich.control import strip_control_codes
    from rich.text import Text
    from sqlglot.errors import TokenError
    from sqlglot.tokens import Tokenizer, TokenType

    # Text drops carriage returns and other control codes; tokenize what it keeps, or every style lands off target.
    sql = strip_control_codes(sql.replace("\r\n", "\n").replace("\r", "\n"))
    text = Text(sql)
    try:
        tokens = Tokenizer().tokenize(sql)
    except TokenError:
        return text
    keywords = set(Tokenizer.KEYWORDS.values()) - {TokenType.VAR}
    strings = {TokenType.STRING, TokenType.NATIONAL_STRING, TokenType.RAW_STRING, TokenType.BYTE_STRING}
    previous_end = 0
    for position, token in enumerate(tokens):
        start, end = token.start, token.end + 1
        gap = sql[previous_end:start]
        if gap.strip():
            offset = len(gap) - len(gap.lstrip())
            text.stylize(STYLES["comment"], previous_end + offset, previous_end + len(gap.rstrip()))
        previous_end = end
        following = tokens[position + 1] if position + 1 < len(tokens) else None
        if token.token_type in strings:
            style = STYLES["string"]
        elif token.token_type == TokenType.NUMBER:
            style = STYLES["number"]
        elif following is not None and following.token_type == TokenType.L_PAREN and token.token_type == TokenType.VAR:
            style = STYLES["function"]
        elif token.token_type in keywords and token.text.upper() in Tokenizer.KEYWORDS:
            style = STYLES["keyword"]
        else:
            continue
        text.stylize(style, start, end)
    tail = sql[previous_end:]
    if tail.strip():
        text.stylize(STYLES["comment"], previous_end + len(tail) - len(tail.lstrip()), previous_end + len(tail.rstrip()))
    return text
