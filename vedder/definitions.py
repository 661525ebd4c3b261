"""Definitions the experts wrote. A question that asks what a term means ("What counts as a stream?", "What is
an active listener?", "How is the completion rate defined?") is answered, without a model, by the doc passage
that defines the term: a section headed by it, or a sentence that defines it in bold ("A **stream** is …").

Acronyms the docs spell out ("**ARPU** (average revenue per paying user)", "monthly active users (MAU)") are read
as their words when a question uses them, so "What was our ARPU in 2025?" meets the pair that says it in full.

Only a question that asks for a meaning is read as one: "What is the skip rate in October?" asks for a number
and is left to the pairs. The term must match the heading or the bold words exactly (case, articles and plural
aside): a near match is not a definition of what was asked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterator

if TYPE_CHECKING:
    from vedder.project import Cluster, Doc, Project

# Each pattern captures the term; "what is the …" is not among them (it asks for a value more often than not).
_ASKS_MEANING = [re.compile(p, re.IGNORECASE) for p in (
    r"^(?:so,?\s+)?what\s+(?:is|'s|are)\s+(?:an?\s+)(?P<term>.+?)\s*(?:exactly|,?\s*precisely)?$",
    r"^what\s+(?:is|'s|does)\s+(?P<term>[A-Z]{2,6})(?:\s+stand\s+for)?$",  # an acronym: "What is ARPU?"
    r"^what\s+are\s+(?P<term>(?!the\b|our\b|my\b|all\b|some\b|any\b|most\b|top\b)[a-z][\w\s-]*?)$",
    r"^what\s+(?:does|do)\s+(?:an?\s+|the\s+)?(?P<term>.+?)\s+mean$",
    r"^what\s+(?:do\s+we|does\s+\w+)\s+mean\s+by\s+(?:an?\s+|the\s+)?(?P<term>.+?)$",
    r"^how\s+(?:is|are)\s+(?:an?\s+|the\s+)?(?P<term>.+?)\s+(?:defined|calculated|computed|counted|measured)$",
    r"^how\s+do\s+(?:we|you|i)\s+(?:define|count|calculate|compute|measure)\s+(?:an?\s+|the\s+)?(?P<term>.+?)$",
    r"^what\s+counts\s+as\s+(?:an?\s+|the\s+)?(?P<term>.+?)$",
    r"^(?:please\s+)?define\s+(?:an?\s+|the\s+)?(?P<term>.+?)$",
    r"^(?:what\s+is\s+)?the\s+(?:definition|meaning)\s+of\s+(?:an?\s+|the\s+)?(?P<term>.+?)$",
)]
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_BOLD_DEFINED = re.compile(r"\*\*(?P<term>[^*]+)\*\*\s+(?:\([^)]{1,80}\)\s+)?(?:is|are|means|mean)\b")
MAX_CHARS = 700  # of one definition's text in the answer
MAX_CLUSTERS = 3  # whose definitions one answer quotes


@dataclass(frozen=True)
class Definition:
    cluster: str
    path: str  # the doc's, relative to the project root: its source id
    heading: str
    text: str


def asked_term(question: str) -> str | None:
    """The term a question asks the meaning of, or None.

    >>> asked_term("What counts as a stream?"), asked_term("How is the skip rate defined?")
    ('stream', 'skip rate')
    >>> asked_term("What is the skip rate in October 2026?") is None, asked_term("What are the top 5 tracks?") is None
    (True, True)
    """
    text = re.sub(r"\s+", " ", question.strip().rstrip("?.! ").strip())
    for pattern in _ASKS_MEANING:
        if match := pattern.match(text):
            term = match.group("term").strip(" \"'`")
            if 0 < len(term.split()) <= 4 and not re.search(r"\d", term):
                return term
    return None


def _words(text: str) -> tuple[str, ...]:
    """Lower-case words, plural folded, articles and inline code marks dropped."""
    words = re.findall(r"[^\W_]+", text.lower().replace("`", ""))
    return tuple(w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w
                 for w in words if w not in ("a", "an", "the"))


def _heading_term(heading: str) -> str:
    """The term a heading names: "Test accounts: always exclude …" → "Test accounts"."""
    return re.split(r"\s*(?::|—|–| - |\()", heading, maxsplit=1)[0]


def _sections(doc: "Doc") -> list[tuple[str, str]]:
    """(heading, text up to the next heading) of each section of ``doc``'s Markdown body."""
    sections: list[tuple[str, list[str]]] = []
    for line in doc.body.splitlines():
        if heading := _HEADING.match(line):
            sections.append((heading.group(2), []))
        elif sections:
            sections[-1][1].append(line)
    return [(heading, "\n".join(lines).strip()) for heading, lines in sections]


def _shortened(text: str) -> str:
    """The first paragraphs of ``text``, within MAX_CHARS, cut at a paragraph or sentence end."""
    paragraphs = re.split(r"\n\s*\n", text.strip().replace("**", ""))
    text = "\n\n".join(re.sub(r"\s*\n\s*", " ", paragraph) for paragraph in paragraphs)
    if len(text) <= MAX_CHARS:
        return text
    cut = text[:MAX_CHARS]
    end = max(cut.rfind("\n\n"), cut.rfind(". "))
    return (cut[:end + 1] if end > MAX_CHARS // 3 else cut).rstrip() + " …"


def _paragraph_with(text: str, start: int) -> str:
    """The paragraph of ``text`` holding ``start``, from the sentence that holds it."""
    before = text.rfind("\n\n", 0, start)
    begin = before + 2 if before >= 0 else 0
    sentence = max(text.rfind(". ", begin, start), text.rfind(".\n", begin, start))
    after = text.find("\n\n", start)
    return text[sentence + 2 if sentence >= 0 else begin:after if after >= 0 else len(text)]


def _speaks_of(text: str, wanted: tuple[str, ...]) -> bool:
    """Whether a section's first paragraph names the term its heading does: "# Orders" over "`total_cents` is in
    cents …" is a title over notes, not a definition of an order."""
    first = set(_words(re.split(r"\n\s*\n", text.strip(), maxsplit=1)[0]))
    return all(word in first for word in wanted)


def definitions_in(cluster: "Cluster", term: str, root) -> list[Definition]:
    """The passages of ``cluster``'s docs that define ``term``: sections it heads, then bold definitions."""
    wanted = _words(term)
    found: list[Definition] = []
    for doc in sorted(cluster.docs, key=lambda d: d.id):
        path = doc.path.relative_to(root).as_posix() if doc.path.is_relative_to(root) else str(doc.path)
        for heading, text in _sections(doc):
            if text and _words(_heading_term(heading)) == wanted and _speaks_of(text, wanted):
                found.append(Definition(cluster.id, path, heading, _shortened(text)))
            else:
                for bold in _BOLD_DEFINED.finditer(text):
                    if _words(bold.group("term")) == wanted:
                        found.append(Definition(cluster.id, path, heading, _shortened(_paragraph_with(text, bold.start()))))
                        break
    return found


def defined_terms(cluster: "Cluster") -> list[str]:
    """The terms ``cluster``'s docs define: what their section headings name, and bold defined words."""
    terms: list[str] = []
    for doc in sorted(cluster.docs, key=lambda d: d.id):
        for heading, text in _sections(doc):
            terms.append(_heading_term(heading).replace("`", "").strip())
            terms += [bold.group("term").strip() for bold in _BOLD_DEFINED.finditer(text)]
    return list(dict.fromkeys(t for t in terms if t))


def terms_near(project: "Project", term: str, limit: int = 4) -> list[tuple[str, str]]:
    """(term, cluster id) the docs define that share a word with ``term`` ("active user" → "Active listener"),
    for a question asking about a term no doc defines."""
    wanted = set(_words(term))
    near = [(t, c.id) for c in sorted(project.clusters.values(), key=lambda c: c.id) for t in defined_terms(c)
            if wanted & set(_words(t)) and _words(t) != _words(term)]
    return near[:limit]


def find_definitions(project: "Project", term: str, prefer: "Cluster | None" = None, everywhere: bool = True) -> list[Definition]:
    """Where ``term`` is defined: in ``prefer``'s docs if it defines it, else in each cluster that does (its first
    passage; several teams may define a word differently, and each says so in its own words). ``everywhere`` False:
    ``prefer``'s docs only."""
    if prefer is not None and (own := definitions_in(prefer, term, project.root)):
        return own[:1]
    if not everywhere:
        return []
    found = (definitions_in(c, term, project.root) for c in sorted(project.clusters.values(), key=lambda c: c.id))
    return [each[0] for each in found if each][:MAX_CLUSTERS]


# "ARPU (average revenue per paying user)" and "average revenue per paying user (ARPU)"; bold marks removed first.
_ACRONYM_FIRST = re.compile(r"\b([A-Z]{2,6})\s*\(([A-Za-z][A-Za-z -]{3,80}?)\)")
# The words before "(MAU)" are read back from each such acronym: one pattern searching words-then-acronym from every
# position of the text took 4 s a megabyte (every ask of a cluster with a 17 MB doc took a minute).
_ACRONYM_IN_PARENS = re.compile(r"\(([A-Z]{2,6})\)")
_WORDS_BEFORE = re.compile(r"(?:[A-Za-z][A-Za-z-]*\s+){1,8}[A-Za-z][A-Za-z-]*\Z")
_WORDS_WINDOW = 1000


def _spells(acronym: str, words: list[str]) -> bool:
    """Whether ``words`` spell ``acronym``: the first word starts it, the last word ends it, and its letters are
    initials of the words in order (small words such as "per" may be skipped)."""
    initials = [w[0].lower() for w in words]
    letters = acronym.lower()
    if not initials or initials[0] != letters[0] or initials[-1] != letters[-1]:
        return False
    position = 0
    for letter in letters:
        while position < len(initials) and initials[position] != letter:
            position += 1
        if position == len(initials):
            return False
        position += 1
    return True


def _words_first(text: str) -> Iterator[tuple[str, str]]:
    """(the last 2–9 words before it, acronym) for each "monthly active users (MAU)" of ``text``."""
    for match in _ACRONYM_IN_PARENS.finditer(text):
        start = max(0, match.start() - _WORDS_WINDOW)
        window = text[start:match.start()].rstrip()
        if start > 0:  # not from the middle of a word
            window = window[next((i for i, c in enumerate(window) if c.isspace()), len(window)):]
        if words := _WORDS_BEFORE.search(window):
            yield words.group(0), match.group(1)


def acronyms(cluster: "Cluster") -> dict[str, str]:
    """The acronyms ``cluster``'s docs spell out: {"arpu": "average revenue per paying user"}."""
    found: dict[str, str] = {}
    for doc in cluster.docs:
        text = doc.body.replace("**", "").replace("`", "")
        for acronym, spelled in _ACRONYM_FIRST.findall(text):
            if _spells(acronym, spelled.split()):
                found.setdefault(acronym.lower(), spelled.lower())
        for before, acronym in _words_first(text):
            words = before.split()
            for start in range(len(words) - 2, -1, -1):  # the shortest tail that spells it: "… the monthly active users (MAU)"
                if _spells(acronym, words[start:]):
                    found.setdefault(acronym.lower(), " ".join(words[start:]).lower())
                    break
    return found


def acronyms_spelled_out(question: str, spelled: dict[str, str], values: "Callable[[], set[str]]" = set) -> str:
    """``question`` with each acronym of ``spelled`` (``acronyms(cluster)``) replaced by its words; one that is also
    a value of the data (``values()``, lower case: a plan 'smb') is left as it is."""
    if not spelled or not (used := {w.lower() for w in re.findall(r"\b[A-Za-z]{2,6}\b", question)} & spelled.keys()):
        return question
    kept = used & values()

    def words_of(match: re.Match) -> str:
        word = match.group(0)
        return spelled[word.lower()] if word.lower() in used - kept else word

    return re.sub(r"\b[A-Za-z]{2,6}\b", words_of, question)


# "`status_code`: 1 = placed, 2 = paid, 9 = cancelled" — a column's codes and what each is called.
_CODE_LIST = re.compile(r"`(?P<column>\w+)`\s*:\s*(?P<codes>(?:[\w.-]+\s*=\s*[A-Za-z][\w -]{0,30}?\s*(?:,|;|\.|$)\s*){2,})", re.MULTILINE)
_CODE = re.compile(r"([\w.-]+)\s*=\s*([A-Za-z][\w -]{0,30}?)\s*(?:,|;|\.|$)")


def coded_values(cluster: "Cluster") -> dict[str, dict[str, str]]:
    """The codes the docs name, per column: {"status_code": {"4": "delivered", "9": "cancelled", …}}.

    >>> from types import SimpleNamespace as NS
    >>> coded_values(NS(docs=[NS(body="`status_code`: 1 = placed, 4 = delivered, 9 = cancelled.")]))
    {'status_code': {'1': 'placed', '4': 'delivered', '9': 'cancelled'}}
    """
    found: dict[str, dict[str, str]] = {}
    for doc in cluster.docs:
        for match in _CODE_LIST.finditer(doc.body.replace("**", "")):
            codes = found.setdefault(match.group("column").lower(), {})
            for code, name in _CODE.findall(match.group("codes")):
                codes.setdefault(code, name.strip().lower())
    return found
