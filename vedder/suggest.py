"""'Did you mean …?' for names people mistype (columns, keys, tables), without importing anything heavy.

>>> closest("contry", ["country", "city"])
'country'
"""

from __future__ import annotations

import difflib


def closest(name: str, candidates: list[str] | set[str]) -> str | None:
    """The candidate closest to ``name`` (case-insensitive), or None when nothing is close."""
    by_lower = {c.lower(): c for c in candidates}
    match = difflib.get_close_matches(name.lower(), list(by_lower), n=1, cutoff=0.6)
    return by_lower[match[0]] if match else None
