"""Acceptance criteria, and the AIFactory / Auto-Claude spec files they come from.

Pure Python, no Django: the planner calls these with plain strings and bytes.

Where criteria are found (first match wins, in this order)
----------------------------------------------------------
1. Every ``Acceptance Criteria`` section (any heading level; also ``Acceptance
   Scenarios``/``Acceptance Tests``/``ACs``, a whole-line ``**Acceptance Criteria:**``
   pseudo-heading, or a plain ``Acceptance Criteria:`` line).  ``QA Acceptance
   Criteria`` (Auto-Claude's test-command section) is *not* one.
2. Criteria labelled ``AC#N`` / ``AC-N`` / ``AC N`` / ``ACN`` anywhere in the
   document: as headings, ``**AC#N**`` / ``**AC#N:**`` bold bullets or lines, or
   plain ``AC#N: text`` lines (the shape AIFactory's ingest client looks for).
3. ``Success Criteria`` sections and close variants (``Criteria for success``,
   ``Definition of Done``, ``Done/Completion/Exit criteria``) — Auto-Claude's
   spec.md template carries its criteria there as ``- [ ]`` checkboxes.
4. Gherkin scenarios anywhere (```` ```gherkin ```` fences or bare ``Scenario:``).
5. EARS sentences anywhere (``When …, the … shall …``, ``While``, ``If … then``,
   ``Where``, ``The … shall``), one per bullet or sentence.

Inside a section, AC-labelled sub-headings win (each heading and its body is one
criterion and unlabelled sub-headings are ignored); otherwise unlabelled
sub-headings either group bullets (``### Functional`` + list) or are criteria
themselves (heading + prose).  Otherwise Gherkin scenarios, top-level list items
(bullets, numbers, ``- [ ]``/``- [x]``, nested items and continuation lines kept in
the text), labelled lines, then table rows, then paragraphs.  Code fences are never
read as headings or list items; fenced text inside a criterion's body is kept.

Ids
---
An explicit label gives the id: ``AC#1``, ``AC-1``, ``AC 1``, ``AC-001`` and
``Acceptance Criterion 1`` all become ``AC1``; ``AC-1.2`` becomes ``AC1_2`` and
``AC#2a`` ``AC2a``; other label families keep their prefix (``SC-001`` → ``SC1``,
``REQ-3`` → ``REQ3``, ``FR-2`` → ``FR2``).  Numbering gaps are kept (``AC1``,
``AC3`` stay as written, so a report lines up with the spec).  A repeated label
keeps the first occurrence and suffixes the later ones ``-2``, ``-3`` … (``AC2``,
``AC2-2``).  Unlabelled criteria are numbered in document order after the highest
explicit ``AC`` number (``AC1`` … ``ACn`` for a plain list).  Ids match
``[A-Za-z0-9_-]+``.  Criteria with no text (an empty ``### AC#4`` heading) are
dropped.
"""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

__all__ = [
    "FORMATS",
    "SOURCES",
    "Criterion",
    "ImplementationPlan",
    "Phase",
    "SpecFormatError",
    "Subtask",
    "collect_criteria",
    "is_ears",
    "parse_criteria_text",
    "parse_implementation_plan",
    "parse_requirements",
    "parse_spec_criteria",
    "requirements_criteria",
]

SOURCES = ("spec.md", "implementation_plan.json", "requirements.json", "inline")
FORMATS = ("markdown", "gherkin", "ears")


class SpecFormatError(ValueError):
    """A spec file cannot be read; the message names the file and what is wrong."""

    def __init__(self, message: str, *, file: str | None = None) -> None:
        super().__init__(message)
        self.file = file


@dataclass(frozen=True)
class Criterion:
    """One acceptance criterion, normalised from whatever shape it was written in."""

    id: str  # normalised, unique within a list, slug-safe: "AC1"
    label: str  # as written: "AC#1" (the id when nothing was written)
    text: str  # full text: title and body, label and heading marker removed
    source: str = "spec.md"  # one of SOURCES
    format: str = "markdown"  # one of FORMATS
    title: str = ""  # heading / bold title when the criterion had one
    mentions: tuple[str, ...] = ()  # identifiers and paths written in `backticks`
    checked: bool | None = None  # "- [x]" → True, "- [ ]" → False, else None
    line: int | None = None  # 1-based line in the source text
    origin: str = ""  # section heading, or JSON path inside a plan
    tags: tuple[str, ...] = ()  # Gherkin tags
    generic: bool = False  # boilerplate such as "No console errors"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "label": self.label,
            "text": self.text,
            "source": self.source,
            "format": self.format,
            "title": self.title,
            "mentions": list(self.mentions),
            "checked": self.checked,
            "line": self.line,
            "origin": self.origin,
            "tags": list(self.tags),
            "generic": self.generic,
        }


# ---------------------------------------------------------------------------
# Labels
# ---------------------------------------------------------------------------

_PREFIX = (
    r"(?P<prefix>acceptance[ \t]+criteri(?:on|a)|success[ \t]+criteri(?:on|a)"
    r"|criteri(?:on|a)|NFR|REQ|AC|SC|FR)"
)
_LABEL_BODY = (
    _PREFIX + r"[ \t]*(?:[#\-_.][ \t]*)?"
    r"(?P<num>\d{1,4}(?:\.\d{1,4})*)(?P<suffix>[a-z])?(?![A-Za-z0-9])"
)
_LABEL_RE = re.compile(
    r"^[ \t]*\[?[ \t]*(?P<label>" + _LABEL_BODY + r")[ \t]*\]?"
    r"(?P<sep>[ \t]*[:.)\-–—|]+[ \t]*|[ \t]+|$)",
    re.IGNORECASE,
)
_SEP_CHARS = " \t:.)-–—|"


def _label_key(m: re.Match[str]) -> str:
    prefix = re.sub(r"\s+", " ", m.group("prefix").lower())
    if prefix in ("ac", "acceptance criterion", "acceptance criteria", "criterion", "criteria"):
        head = "AC"
    elif prefix in ("sc", "success criterion", "success criteria"):
        head = "SC"
    else:
        head = prefix.upper()
    num = "_".join(str(int(part)) for part in m.group("num").split("."))
    return f"{head}{num}{(m.group('suffix') or '').lower()}"


@dataclass
class _Label:
    label: str
    key: str
    title: str
    rest: str


def _split_label(s: str) -> _Label | None:
    """``**AC#1:** text`` / ``AC-1 — text`` / ``[AC1] text`` → label, key, title, rest."""
    s0 = s.strip()
    bold = re.match(r"^(\*\*|__)(?P<inner>.+?)\1(?P<after>.*)$", s0)
    if bold:
        inner = bold.group("inner").strip()
        m = _LABEL_RE.match(inner)
        if not m:
            return None
        title = inner[m.end() :].strip().strip(_SEP_CHARS).strip()
        rest = bold.group("after").strip().lstrip(":.-–—|").strip()
        return _Label(m.group("label").strip(), _label_key(m), title, rest)
    m = _LABEL_RE.match(s0)
    if not m:
        return None
    rest = s0[m.end() :].strip()
    # "AC#1 **Login**: users can log in" keeps the bold title in the text.
    return _Label(m.group("label").strip(), _label_key(m), "", rest)


# ---------------------------------------------------------------------------
# Markdown lines
# ---------------------------------------------------------------------------

_FENCE_RE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^`]*?)[ \t]*$")
_ATX_RE = re.compile(r"^ {0,3}(?P<hashes>#{1,6})(?:[ \t]+(?P<title>.*?))?[ \t]*$")
_SETEXT_RE = re.compile(r"^ {0,3}(?P<ch>=+|-+)[ \t]*$")
_LIST_RE = re.compile(
    r"^(?P<indent>[ \t]*)(?P<marker>[-*+]|\d{1,3}[.)])(?P<gap>[ \t]+)(?P<rest>.*)$"
)
_RULE_RE = re.compile(r"^[ \t]*([-*_])(?:[ \t]*\1){2,}[ \t]*$")
_BOLD_LINE_RE = re.compile(r"^ {0,3}(\*\*|__)(?P<title>[^*_\s].*?)\1[ \t]*:?[ \t]*$")
_CHECKBOX_RE = re.compile(r"^\[(?P<mark>[ xX✓✔-])\][ \t]+")
_TABLE_SEP_RE = re.compile(r"^[ \t]*\|?[ \t]*:?-{2,}:?[ \t]*(?:\|[ \t]*:?-{2,}:?[ \t]*)*\|?[ \t]*$")


@dataclass
class _Heading:
    level: int  # 1–6 for ATX/setext, 7 for a whole-line bold pseudo-heading
    title: str


@dataclass
class _Line:
    no: int
    raw: str
    fence: bool = False  # inside a code fence, delimiters included
    lang: str = ""  # the fence's info string
    block: int = 0  # which fenced block (1, 2, …); 0 outside fences
    delim: bool = False  # an opening or closing fence line
    heading: _Heading | None = None
    skip: bool = False  # setext underline or front matter


def _indent(s: str) -> int:
    return len(s) - len(s.lstrip(" "))


def _prepare(text: str) -> list[_Line]:
    text = text.replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff")
    # HTML comments vanish, newlines kept so line numbers still match.
    text = re.sub(r"<!--.*?-->", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.DOTALL)
    lines = [_Line(no=i + 1, raw=raw.expandtabs(4)) for i, raw in enumerate(text.split("\n"))]

    # YAML front matter.
    if lines and lines[0].raw.strip() == "---":
        for j in range(1, min(len(lines), 200)):
            if lines[j].raw.strip() in ("---", "..."):
                for k in range(j + 1):
                    lines[k].skip = True
                break

    fence: tuple[str, int] | None = None
    lang = ""
    block = 0
    for ln in lines:
        if ln.skip:
            continue
        if fence is not None:
            ln.fence, ln.lang, ln.block = True, lang, block
            m = _FENCE_RE.match(ln.raw)
            if m and not m.group("info") and m.group("fence")[0] == fence[0]:
                if len(m.group("fence")) >= fence[1]:
                    fence, ln.delim = None, True
            continue
        m = _FENCE_RE.match(ln.raw)
        if m and not (m.group("fence")[0] == "`" and "`" in m.group("info")):
            fence = (m.group("fence")[0], len(m.group("fence")))
            lang = (m.group("info").split() or [""])[0].lower()
            block += 1
            ln.fence, ln.lang, ln.block, ln.delim = True, lang, block, True
            continue
        h = _ATX_RE.match(ln.raw)
        if h:
            title = re.sub(r"[ \t]+#+[ \t]*$", "", h.group("title") or "").strip()
            ln.heading = _Heading(len(h.group("hashes")), title)
            continue
        b = _BOLD_LINE_RE.match(ln.raw)
        if b:
            ln.heading = _Heading(7, b.group("title").strip().rstrip(":").strip())
            continue
        plain = ln.raw.strip()
        if (
            plain.endswith(":")
            and len(plain) < 60
            and _indent(ln.raw) <= 3
            and not _LIST_RE.match(ln.raw)
            and _section_kind(plain[:-1])
        ):
            ln.heading = _Heading(7, plain[:-1].strip())

    # Setext headings: a one-line paragraph underlined with === or ---.
    for i in range(1, len(lines)):
        ln, prev = lines[i], lines[i - 1]
        if ln.fence or ln.skip or prev.fence or prev.skip or prev.heading:
            continue
        m = _SETEXT_RE.match(ln.raw)
        if not m or not prev.raw.strip():
            continue
        before = lines[i - 2] if i >= 2 else None
        if before is not None and before.raw.strip() and not before.heading:
            continue
        p = prev.raw
        if _indent(p) > 3 or _LIST_RE.match(p) or p.lstrip().startswith(("|", ">")):
            continue
        prev.heading = _Heading(1 if m.group("ch")[0] == "=" else 2, p.strip())
        ln.skip = True
    return lines


def _norm_title(title: str) -> str:
    t = re.sub(r"[*_`~]", "", title)
    t = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", t)
    t = re.sub(r"\([^)]*\)", " ", t)
    t = re.sub(r"^[^\w]+", "", t)
    t = re.sub(r"^(?:\d+(?:\.\d+)*|[A-Za-z])[.)]\s+", "", t)
    t = re.sub(r"^(?:section|part)\s+\d+\s*[:.\-–—]\s*", "", t, flags=re.IGNORECASE)
    return re.sub(r"\s+", " ", t).strip(" :.-–—").lower()


_AC_SECTION_RE = re.compile(
    r"^(?:the\s+)?(?:acceptance(?:\s+(?:criteri(?:a|on|as)|scenarios?|tests?|conditions?))?"
    r"|acs?)$|^acceptance\s+criteri(?:a|on)\b"
)
_SUCCESS_SECTION_RE = re.compile(
    r"^(?:success\s+criteri(?:a|on)|criteria\s+(?:for|of)\s+success|definition\s+of\s+done"
    r"|(?:done|completion|exit|verification)\s+criteri(?:a|on))\b"
)


def _section_kind(title: str) -> str | None:
    t = _norm_title(title)
    if _AC_SECTION_RE.search(t):
        return "acceptance"
    if _SUCCESS_SECTION_RE.search(t):
        return "success"
    return None


# ---------------------------------------------------------------------------
# Raw criteria and text helpers
# ---------------------------------------------------------------------------


@dataclass
class _Raw:
    text: str
    label: str = ""
    key: str = ""
    title: str = ""
    fmt: str | None = None
    checked: bool | None = None
    line: int | None = None
    origin: str = ""
    tags: tuple[str, ...] = ()


def _normalize_block(lines: Sequence[str]) -> str:
    """Dedent, drop rules, collapse runs of spaces and blank lines; keep fenced text."""
    body = textwrap.dedent("\n".join(line.rstrip() for line in lines)).split("\n")
    out: list[str] = []
    in_fence = False
    for line in body:
        if _FENCE_RE.match(line):
            in_fence = not in_fence
            out.append(line)
            continue
        if in_fence:
            out.append(line)
            continue
        if _RULE_RE.match(line):
            continue
        lead = line[: _indent(line)]
        out.append(lead + re.sub(r"[ \t]+", " ", line.strip()))
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(out))
    return text.strip("\n").rstrip()


def _join(title: str, rest: str) -> str:
    if title and rest:
        sep = " " if title.endswith((":", ".", "?", "!")) else ": "
        return f"{title}{sep}{rest}"
    return title or rest


def _demark(s: str) -> str:
    """Drop list markers, checkboxes and bold markers for keyword matching."""
    s = re.sub(r"^\s*(?:[-*+]|\d{1,3}[.)])\s+", "", s)
    s = _CHECKBOX_RE.sub("", s.strip())
    return s.replace("**", "").strip()


_CODE_SPAN_RE = re.compile(r"`([^`\n]+)`")
_MENTION_RE = re.compile(r"^[A-Za-z_][\w\-]*(?:(?:::|[./:])[\w\-]+)*$")


def _mentions(text: str) -> tuple[str, ...]:
    prose = re.sub(r"(?ms)^[ \t]*(`{3,}|~{3,}).*?^[ \t]*\1[ \t]*$", "", text)
    found: list[str] = []
    for span in _CODE_SPAN_RE.findall(prose):
        s = re.sub(r"\(.*\)$", "", span.strip())
        s = s.lstrip("@").rstrip(":")
        if s and len(s) <= 200 and _MENTION_RE.match(s) and s not in found:
            found.append(s)
    return tuple(found)


_EARS_RES = (
    re.compile(r"^(?:when|while|if|where|once|after|before|during)\b.+?\bshall\b\s*\S", re.I),
    re.compile(r"^(?:the|a|an)\s+[^,;]{1,100}?\s+shall\b\s*\S", re.I),
    re.compile(r"^[A-Z][\w\-/]*(?:\s+[\w\-/]+){0,5}\s+shall\b\s*\S"),
)


def is_ears(text: str) -> bool:
    """True when ``text`` starts with an EARS sentence (``… shall …``)."""
    first = _demark(text.strip().split("\n", 1)[0])
    lab = _split_label(first)
    if lab is not None:
        first = _join(lab.title, lab.rest)
    first = first.replace("`", "")
    return any(r.match(first) for r in _EARS_RES)


_GIVEN_RE = re.compile(r"(?im)^\s*(?:[-*+]\s+|\d+[.)]\s+)?(?:\*\*)?given\b")
_THEN_RE = re.compile(r"(?im)^\s*(?:[-*+]\s+|\d+[.)]\s+)?(?:\*\*)?(?:then|and then)\b")
_GIVEN_START_RE = re.compile(r"^\W*given\b", re.I)
_WHEN_WORD_RE = re.compile(r"\bwhen\b", re.I)
_THEN_WORD_RE = re.compile(r"\bthen\b", re.I)


def _looks_gherkin(text: str) -> bool:
    """Given/When/Then steps on their own lines, or "Given …, when …, then …" inline."""
    plain = text.replace("**", "")
    start = _GIVEN_START_RE.match(plain)
    if start:  # linear scan: no backtracking on long texts
        when = _WHEN_WORD_RE.search(plain, start.end())
        if when and _THEN_WORD_RE.search(plain, when.end()):
            return True
    return bool(_GIVEN_RE.search(text) and _THEN_RE.search(text))


_GENERIC_RES = [
    re.compile(p)
    for p in (
        r"^no (?:new )?(?:console|runtime|type|lint(?:ing)?|build|compil\w*) (?:errors?|warnings?)",
        r"^(?:all )?(?:the )?(?:existing |current |other )?(?:unit |integration |e2e )?"
        r"tests? (?:still )?(?:pass|are passing|succeed)",
        r"^(?:all )?existing (?:functionality|features?|behaviou?r) (?:still |continues? to )?work",
        r"^(?:the )?code follows (?:the )?(?:project|existing|codebase) ",
        r"^no (?:new )?(?:security )?vulnerabilit",
        r"^(?:the )?(?:new )?code (?:has|is covered by) (?:unit )?test",
        r"^(?:the )?changes are tested",
        r"^no regressions?\b",
        r"^(?:all )?(?:implementation )?steps (?:are )?completed?",
        r"^(?:the )?(?:build|lint(?:er)?|type ?checks?|ci) (?:passes|succeeds|is (?:clean|green))",
    )
]


def _dedupe_key(text: str) -> str:
    t = text.strip()
    lab = _split_label(_demark(t.split("\n", 1)[0]))
    if lab is not None and "\n" not in t:
        t = _join(lab.title, lab.rest)
    t = re.sub(r"[*_`#>\[\]]", "", t.lower())
    t = re.sub(r"\s+", " ", t)
    return t.strip(" .;:!,")


def _is_generic(text: str) -> bool:
    key = _dedupe_key(text)
    return any(r.search(key) for r in _GENERIC_RES)


def _finalize(raws: Iterable[_Raw], source: str) -> list[Criterion]:
    """Give every raw criterion a unique, deterministic id (see the module docstring)."""
    items = [r for r in raws if r.text.strip()]
    used: set[str] = set()
    ids: list[str | None] = [None] * len(items)
    top = 0
    for r in items:
        m = re.fullmatch(r"AC(\d+)", r.key)
        if m:
            top = max(top, int(m.group(1)))
    for i, r in enumerate(items):
        if r.key:
            cand, n = r.key, 2
            while cand in used:
                cand, n = f"{r.key}-{n}", n + 1
            used.add(cand)
            ids[i] = cand
    for i in range(len(items)):
        if ids[i] is None:
            top += 1
            while f"AC{top}" in used:
                top += 1
            ids[i] = f"AC{top}"
            used.add(ids[i])
    out = []
    for r, cid in zip(items, ids, strict=True):
        assert cid is not None
        text = r.text.strip()
        fmt = r.fmt or (
            "gherkin" if _looks_gherkin(text) else "ears" if is_ears(text) else "markdown"
        )
        out.append(
            Criterion(
                id=cid,
                label=r.label or cid,
                text=text,
                source=source,
                format=fmt,
                title=r.title,
                mentions=_mentions(text),
                checked=r.checked,
                line=r.line,
                origin=r.origin,
                tags=r.tags,
                generic=_is_generic(text),
            )
        )
    return out


# ---------------------------------------------------------------------------
# Gherkin
# ---------------------------------------------------------------------------

_STEP_KW = ("given", "when", "then", "and", "but", "*")
_SCENARIO_RE = re.compile(
    r"^(?P<kw>scenario outline|scenario template|scenario|example)\s*:\s*(?P<title>.*)$", re.I
)
_GHERKIN_BLOCK_RE = re.compile(
    r"^(?P<kw>feature|rule|background|examples|scenarios)\s*:\s*(?P<rest>.*)$", re.I
)


def _is_step(s: str) -> bool:
    if s.startswith("* "):
        return True
    word = s.split(" ", 1)[0].lower().rstrip(":,")
    return word in _STEP_KW[:-1] and len(s.split()) > 1


@dataclass
class _Scenario:
    keyword_line: str
    title: str
    line: int
    tags: tuple[str, ...]
    lines: list[str] = field(default_factory=list)
    steps: int = 0
    used: set[int] = field(default_factory=set)


def _parse_gherkin(
    entries: Sequence[tuple[int, int, str]], *, bare: bool
) -> list[tuple[_Raw, set[int]]]:
    """``entries`` are (index, line number, text); one criterion per scenario."""
    out: list[tuple[_Raw, set[int]]] = []
    feature = ""
    background: list[str] = []
    in_background = False
    in_docstring = False
    tags: list[str] = []
    cur: _Scenario | None = None

    def finish() -> None:
        nonlocal cur
        if cur is None:
            return
        body = [cur.keyword_line] + ["  " + s for s in background]
        body += [
            s if not s.strip() else ("    " + s if s.startswith(("|", '"""', "```")) else "  " + s)
            for s in cur.lines
        ]
        text = _normalize_block(body)
        title, label, key = cur.title, "", ""
        lab = _split_label(title)
        if lab is not None:
            label, key, title = lab.label, lab.key, _join(lab.title, lab.rest)
        else:
            for tag in cur.tags:
                m = _LABEL_RE.match(tag.lstrip("@"))
                if m and m.end() == len(tag.lstrip("@")):
                    label, key = tag.lstrip("@"), _label_key(m)
                    break
        if cur.steps or not bare:
            raw = _Raw(
                text=text,
                label=label,
                key=key,
                title=title,
                fmt="gherkin",
                line=cur.line,
                origin=feature,
                tags=cur.tags,
            )
            out.append((raw, cur.used))
        cur = None

    for idx, no, text in entries:
        s = _demark(text) if bare else text.strip()
        if in_docstring:
            if cur is not None:
                cur.lines.append(s)
                cur.used.add(idx)
            if s.startswith(('"""', "```")):
                in_docstring = False
            continue
        if not s:
            if cur is not None:
                cur.lines.append("")
            continue
        if s.startswith("#") and not bare:
            continue
        if s.startswith("@"):
            finish()
            tags.extend(t for t in s.split() if t.startswith("@"))
            continue
        m = _SCENARIO_RE.match(s)
        if m:
            finish()
            cur = _Scenario(s, m.group("title").strip(), no, tuple(tags), used={idx})
            tags, in_background = [], False
            continue
        b = _GHERKIN_BLOCK_RE.match(s)
        if b:
            kw = b.group("kw").lower()
            if kw in ("feature", "rule"):
                finish()
                if kw == "feature":
                    feature, background = b.group("rest").strip(), []
                in_background, tags = False, []
                continue
            if kw == "background":
                finish()
                in_background, background = True, []
                continue
            if cur is not None:  # Examples / Scenarios
                cur.lines.append(s)
                cur.used.add(idx)
            continue
        if _is_step(s) or s.startswith("|") or s.startswith(('"""', "```")):
            if s.startswith(('"""', "```")):
                in_docstring = True
            if in_background and cur is None:
                background.append(s)
            elif cur is not None:
                cur.lines.append(s)
                cur.used.add(idx)
                if _is_step(s):
                    cur.steps += 1
            continue
        # Free text: a description in a feature file, the end of a scenario in markdown.
        if cur is not None:
            if bare:
                finish()
            elif not cur.steps:
                cur.lines.append(s)
    finish()
    return out


def _gherkin_in(lines: list[_Line], a: int, b: int) -> list[tuple[_Raw, set[int]]]:
    found: list[tuple[_Raw, set[int]]] = []
    i = a
    while i < b:
        ln = lines[i]
        if not ln.fence:
            i += 1
            continue
        j = i + 1
        while j < b and lines[j].block == ln.block:
            j += 1
        body = [
            (k, lines[k].no, lines[k].raw)
            for k in range(i + 1, j)
            if not (lines[k].delim and k == j - 1)
        ]
        is_gherkin = ln.lang in ("gherkin", "feature", "cucumber", "bdd")
        if not is_gherkin and ln.lang in ("", "text", "txt", "plain"):
            is_gherkin = any(_SCENARIO_RE.match(t.strip()) for _, _, t in body)
        if is_gherkin:
            for raw, used in _parse_gherkin(body, bare=False):
                found.append((raw, used | set(range(i, j))))
        i = j
    # Bare scenarios in markdown; a heading ends a scenario.
    entries: list[tuple[int, int, str]] = []
    for k in range(a, b):
        if lines[k].heading:
            entries.append((k, lines[k].no, "<heading>"))
        elif not lines[k].fence and not lines[k].skip:
            entries.append((k, lines[k].no, lines[k].raw))
    if any(_SCENARIO_RE.match(_demark(t)) for _, _, t in entries):
        found.extend(_parse_gherkin(entries, bare=True))
    return sorted(found, key=lambda x: x[0].line or 0)


# ---------------------------------------------------------------------------
# Lists, labelled lines, tables and paragraphs
# ---------------------------------------------------------------------------


@dataclass
class _Item:
    kind: str  # "list" | "labelled"
    start: int
    marker_indent: int
    content_indent: int
    first: str
    more: list[str] = field(default_factory=list)


def _item_to_raw(it: _Item, lines: list[_Line], origin: str) -> _Raw:
    first = it.first.strip()
    checked = None
    cb = _CHECKBOX_RE.match(first)
    if cb:
        checked = cb.group("mark") not in (" ",)
        first = first[cb.end() :].strip()
    label = key = title = ""
    lab = _split_label(first)
    if lab is not None:
        label, key, title = lab.label, lab.key, lab.title
        first = lab.rest
    cont = [
        s[it.content_indent :] if _indent(s) >= it.content_indent else s.lstrip() for s in it.more
    ]
    head = _join(title, first)
    text = _normalize_block([head, *cont]) if cont else _normalize_block([head])
    return _Raw(
        text=text,
        label=label,
        key=key,
        title=title,
        checked=checked,
        line=lines[it.start].no,
        origin=origin,
    )


def _items_in(lines: list[_Line], a: int, b: int, used: set[int], origin: str) -> list[_Raw]:
    markers = [
        _indent(lines[i].raw)
        for i in range(a, b)
        if i not in used
        and not lines[i].fence
        and not lines[i].skip
        and not lines[i].heading
        and _LIST_RE.match(lines[i].raw)
    ]
    base = min(markers) if markers else 0
    out: list[_Raw] = []
    cur: _Item | None = None
    prev_blank = False
    attached = -1  # the fenced block that belongs to the current item

    def finish() -> None:
        nonlocal cur, attached
        if cur is not None:
            out.append(_item_to_raw(cur, lines, origin))
        cur, attached = None, -1

    for i in range(a, b):
        ln = lines[i]
        if i in used or ln.heading or ln.skip:
            finish()
            prev_blank = False
            continue
        raw = ln.raw
        blank = not raw.strip()
        if ln.fence:
            if ln.block != attached:
                first_of_block = i == a or lines[i - 1].block != ln.block
                if (
                    cur is not None
                    and first_of_block
                    and (
                        _indent(raw) > cur.marker_indent
                        or (cur.kind == "labelled" and not prev_blank)
                    )
                ):
                    attached = ln.block
                else:
                    finish()
            if ln.block == attached and cur is not None:
                cur.more.append(raw)
            prev_blank = False
            continue
        if blank:
            if cur is not None:
                cur.more.append("")
            prev_blank = True
            continue
        m = _LIST_RE.match(raw)
        ind = _indent(raw)
        if m and cur is not None and cur.kind == "labelled" and ind > cur.marker_indent:
            cur.more.append(raw)
        elif m and (ind <= base + 1 or cur is None):
            finish()
            content_indent = len(m.group("indent")) + len(m.group("marker")) + len(m.group("gap"))
            cur = _Item("list", i, ind, content_indent, m.group("rest"))
        elif cur is not None and cur.kind == "list" and ind > cur.marker_indent:
            cur.more.append(raw)
        elif ind <= 3 and _split_label(raw) is not None and not raw.lstrip().startswith(">"):
            finish()
            cur = _Item("labelled", i, ind, ind, raw.strip())
        elif cur is not None and not prev_blank:
            cur.more.append(raw)
        else:
            finish()
        prev_blank = False
    finish()
    # Trailing blank continuation lines are dropped by _normalize_block.
    return out


def _split_cells(row: str) -> list[str]:
    s = row.strip()
    if s.startswith("|"):
        s = s[1:]
    if s.endswith("|"):
        s = s[:-1]
    return [c.strip() for c in re.split(r"(?<!\\)\|", s)]


_TEXT_COLS = (
    "criteri",
    "description",
    "requirement",
    "text",
    "acceptance",
    "condition",
    "behaviour",
    "behavior",
    "expected",
    "scenario",
    "outcome",
)
_ID_COLS = ("id", "#", "ac", "ac id", "ac #", "ref", "no", "no.", "key", "criterion id")


def _tables_in(lines: list[_Line], a: int, b: int, origin: str) -> list[_Raw]:
    out: list[_Raw] = []
    i = a
    while i + 1 < b:
        ln = lines[i]
        if (
            not ln.fence
            and ln.raw.lstrip().startswith("|")
            and _TABLE_SEP_RE.match(lines[i + 1].raw)
            and not lines[i + 1].fence
        ):
            header = [h.lower().replace("*", "").strip() for h in _split_cells(ln.raw)]
            text_col = next(
                (k for k, h in enumerate(header) if any(w in h for w in _TEXT_COLS)), None
            )
            id_col = next((k for k, h in enumerate(header) if h in _ID_COLS), None)
            if text_col is None:
                text_col = 1 if id_col == 0 and len(header) > 1 else 0
            j = i + 2
            while j < b and not lines[j].fence and lines[j].raw.lstrip().startswith("|"):
                cells = _split_cells(lines[j].raw)
                if text_col < len(cells) and cells[text_col]:
                    text = cells[text_col].replace("<br>", "\n").replace("<br/>", "\n")
                    raw = _Raw(
                        text=_normalize_block(text.split("\n")), line=lines[j].no, origin=origin
                    )
                    ident = cells[id_col] if id_col is not None and id_col < len(cells) else ""
                    lab = _split_label(ident) if ident else None
                    if lab is not None:
                        raw.label, raw.key = lab.label, lab.key
                    else:
                        lab = _split_label(raw.text)
                        if lab is not None:
                            raw.label, raw.key, raw.title = lab.label, lab.key, lab.title
                            raw.text = _join(lab.title, lab.rest)
                    out.append(raw)
                j += 1
            i = j
            continue
        i += 1
    return out


_SENTENCE_RE = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'`(])")


def _paragraphs_in(
    lines: list[_Line], a: int, b: int, origin: str, *, ears_only: bool
) -> list[_Raw]:
    out: list[_Raw] = []
    para: list[tuple[int, str]] = []

    def flush() -> None:
        if not para:
            return
        text = " ".join(s.strip() for _, s in para)
        no = para[0][0]
        para.clear()
        if text.startswith(">") or text.rstrip().endswith(":") or text.startswith("|"):
            return
        if re.fullmatch(r"[*_()\s\w]*\(?(?:mandatory|optional)\)?[*_\s]*", text, re.I):
            return
        sentences = [s.strip() for s in _SENTENCE_RE.split(text) if s.strip()]
        ears = [s for s in sentences if is_ears(s)]
        if ears_only or len(ears) >= 2:
            for s in ears:
                raw = _Raw(text=s, line=no, origin=origin)
                lab = _split_label(s)
                if lab is not None:
                    raw.label, raw.key, raw.text = lab.label, lab.key, _join(lab.title, lab.rest)
                out.append(raw)
            return
        raw = _Raw(text=_normalize_block([text]), line=no, origin=origin)
        lab = _split_label(text)
        if lab is not None:
            raw.label, raw.key, raw.title = lab.label, lab.key, lab.title
            raw.text = _join(lab.title, lab.rest)
        out.append(raw)

    for i in range(a, b):
        ln = lines[i]
        if ln.fence or ln.heading or ln.skip or not ln.raw.strip() or _LIST_RE.match(ln.raw):
            flush()
            continue
        if _RULE_RE.match(ln.raw):
            flush()
            continue
        para.append((ln.no, ln.raw))
    flush()
    return out


def _flat(
    lines: list[_Line],
    a: int,
    b: int,
    origin: str,
    *,
    paragraphs: bool,
    labelled_only: bool = False,
    ac_only: bool = False,
) -> list[_Raw]:
    found: list[_Raw] = []
    used: set[int] = set()
    if not labelled_only:
        for raw, u in _gherkin_in(lines, a, b):
            if not raw.origin:
                raw.origin = origin
            found.append(raw)
            used |= u
    items = _items_in(lines, a, b, used, origin)
    if labelled_only:
        items = [r for r in items if r.key and (not ac_only or re.match(r"AC\d", r.key))]
    found.extend(items)
    if found or labelled_only:
        return sorted(found, key=lambda r: r.line or 0)
    tables = _tables_in(lines, a, b, origin)
    if tables:
        return tables
    if paragraphs:
        return _paragraphs_in(lines, a, b, origin, ears_only=False)
    return []


def _heading_end(lines: list[_Line], i: int, b: int) -> int:
    level = lines[i].heading.level if lines[i].heading else 7
    j = i + 1
    while j < b and not (lines[j].heading and lines[j].heading.level <= level):
        j += 1
    return j


def _heading_raw(lines: list[_Line], i: int, j: int, origin: str) -> _Raw:
    h = lines[i].heading
    assert h is not None
    title, label, key = h.title, "", ""
    lab = _split_label(title)
    if lab is not None:
        label, key = lab.label, lab.key
        title = _join(lab.title, lab.rest)
    checked = None
    cb = _CHECKBOX_RE.match(title)
    if cb:
        checked = cb.group("mark") != " "
        title = title[cb.end() :].strip()
    title = re.sub(r"^\d{1,3}[.)]\s+", "", title).strip()
    body = []
    for k in range(i + 1, j):
        ln = lines[k]
        if ln.skip:
            continue
        body.append(ln.heading.title if ln.heading and not ln.fence else ln.raw)
    text = _normalize_block([title, *body]) if title else _normalize_block(body)
    return _Raw(
        text=text,
        label=label,
        key=key,
        title=title,
        checked=checked,
        line=lines[i].no,
        origin=origin,
    )


def _block(lines: list[_Line], a: int, b: int, origin: str, *, paragraphs: bool) -> list[_Raw]:
    heads = [i for i in range(a, b) if lines[i].heading and not lines[i].fence]
    labelled = [i for i in heads if _split_label(lines[i].heading.title) is not None]  # type: ignore[union-attr]
    if labelled:
        out = _flat(lines, a, heads[0], origin, paragraphs=False, labelled_only=True)
        for i in labelled:
            out.append(_heading_raw(lines, i, _heading_end(lines, i, b), origin))
        return sorted(out, key=lambda r: r.line or 0)
    if not heads:
        return _flat(lines, a, b, origin, paragraphs=paragraphs)
    out = _flat(lines, a, heads[0], origin, paragraphs=False)
    i = heads[0]
    while i < b:
        j = _heading_end(lines, i, b)
        sub = _block(lines, i + 1, j, origin, paragraphs=False)
        if sub:
            out.extend(sub)
        else:
            out.append(_heading_raw(lines, i, j, origin))
        i = j
    return out


def _sections(lines: list[_Line], kind: str) -> list[tuple[int, int, str]]:
    found: list[tuple[int, int, str]] = []
    end = -1
    for i, ln in enumerate(lines):
        if i < end or not ln.heading or ln.fence:
            continue
        if _section_kind(ln.heading.title) == kind:
            end = _heading_end(lines, i, len(lines))
            found.append((i, end, ln.heading.title))
    return found


def _labelled_anywhere(lines: list[_Line]) -> list[_Raw]:
    n = len(lines)
    out: list[_Raw] = []
    spans: list[tuple[int, int]] = []
    i = 0
    while i < n:
        ln = lines[i]
        lab = _split_label(ln.heading.title) if ln.heading and not ln.fence else None
        if lab is not None and lab.key.startswith("AC"):
            j = _heading_end(lines, i, n)
            out.append(_heading_raw(lines, i, j, ""))
            spans.append((i, j))
            i = j
            continue
        i += 1
    start = 0
    for a, b in [*spans, (n, n)]:
        if start < a:
            out.extend(
                _flat(lines, start, a, "", paragraphs=False, labelled_only=True, ac_only=True)
            )
        start = b
    return sorted(out, key=lambda r: r.line or 0)


def _ears_anywhere(lines: list[_Line]) -> list[_Raw]:
    n = len(lines)
    items = [r for r in _items_in(lines, 0, n, set(), "") if is_ears(r.text)]
    paras = _paragraphs_in(lines, 0, n, "", ears_only=True)
    for heading_line in (
        ln for ln in lines if ln.heading and not ln.fence and ln.heading.level <= 6
    ):
        assert heading_line.heading is not None
        if is_ears(heading_line.heading.title):
            paras.append(_Raw(text=heading_line.heading.title, line=heading_line.no))
    out = sorted(items + paras, key=lambda r: r.line or 0)
    for r in out:
        r.fmt = "ears"
    return out


def _raws_from_markdown(text: str) -> list[_Raw]:
    lines = _prepare(text)
    found: list[_Raw] = []
    for a, b, title in _sections(lines, "acceptance"):
        found.extend(_block(lines, a + 1, b, title, paragraphs=True))
    if found:
        return found
    found = _labelled_anywhere(lines)
    if found:
        return found
    found = []
    for a, b, title in _sections(lines, "success"):
        found.extend(_block(lines, a + 1, b, title, paragraphs=True))
    if found:
        return found
    found = [raw for raw, _ in _gherkin_in(lines, 0, len(lines))]
    if found:
        return found
    return _ears_anywhere(lines)


def parse_spec_criteria(text: str, *, source: str = "spec.md") -> list[Criterion]:
    """Acceptance criteria of a markdown spec (AIFactory spec.md or any markdown)."""
    if not text or not text.strip():
        return []
    return _finalize(_raws_from_markdown(text), source)


def parse_criteria_text(text: str, format: str = "markdown") -> list[Criterion]:  # noqa: A002
    """Criteria of an inline spec (AIFactory ingest): ``markdown``, ``gherkin`` or ``ears``.

    A gherkin or EARS text that yields nothing in its own shape is read as markdown.
    """
    fmt = (format or "markdown").strip().lower()
    if fmt in ("md", "gfm"):
        fmt = "markdown"
    if fmt in ("feature", "cucumber", "bdd"):
        fmt = "gherkin"
    if fmt not in FORMATS:
        raise SpecFormatError(
            f"format: expected one of {', '.join(FORMATS)}, got {format!r}", file="format"
        )
    if not text or not text.strip():
        return []
    if fmt == "gherkin":
        lines = _prepare(text)
        raws = [raw for raw, _ in _gherkin_in(lines, 0, len(lines))]
        if raws:
            return _finalize(raws, "inline")
    elif fmt == "ears":
        lines = _prepare(text)
        raws = _ears_anywhere(lines)
        if raws:
            return _finalize(raws, "inline")
    return parse_spec_criteria(text, source="inline")


# ---------------------------------------------------------------------------
# JSON files: implementation_plan.json and requirements.json
# ---------------------------------------------------------------------------


def _json_type(value: object) -> str:
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if value is None:
        return "null"
    return type(value).__name__


def _decode(raw: str | bytes | bytearray | memoryview, name: str) -> str:
    if isinstance(raw, bytes | bytearray | memoryview):
        data = bytes(raw)
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = data.count(b"\n", 0, exc.start) + 1
            raise SpecFormatError(
                f"{name}: not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start}, "
                f"line {line}); save the file as UTF-8",
                file=name,
            ) from None
    if isinstance(raw, str):
        return raw.lstrip("\ufeff")
    raise SpecFormatError(
        f"{name}: expected JSON text or bytes, got {type(raw).__name__}", file=name
    )


def _load_object(raw: str | bytes | Mapping[str, Any], name: str) -> dict[str, Any]:
    if isinstance(raw, Mapping):
        return dict(raw)
    text = _decode(raw, name)
    if not text.strip():
        raise SpecFormatError(f"{name}: the file is empty; expected a JSON object", file=name)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SpecFormatError(
            f"{name}: line {exc.lineno} column {exc.colno}: {exc.msg}", file=name
        ) from None
    except RecursionError:
        raise SpecFormatError(f"{name}: the JSON is nested too deeply to read", file=name) from None
    if not isinstance(data, dict):
        raise SpecFormatError(
            f"{name}: expected a JSON object at the top level, got {_json_type(data)}", file=name
        )
    return data


def _str(value: object) -> str:
    if value is None or isinstance(value, bool):
        return "" if value is None else str(value).lower()
    if isinstance(value, str | int | float):
        return str(value).strip()
    return ""


def _first(data: Mapping[str, Any], *keys: str) -> str:
    for k in keys:
        s = _str(data.get(k))
        if s:
            return s
    return ""


def _strs(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        s = str(value).strip()
        return (s,) if s else ()
    if isinstance(value, Mapping):
        out: list[str] = []
        for v in value.values():
            out.extend(_strs(v))
        return tuple(out)
    if isinstance(value, list | tuple):
        out = []
        for v in value:
            out.extend(_strs(v))
        return tuple(out)
    return ()


def _paths(*values: object) -> tuple[str, ...]:
    out: list[str] = []
    for value in values:
        items = value if isinstance(value, list | tuple) else [value]
        for item in items:
            if isinstance(item, Mapping):
                named = item.get("path") or item.get("file") or item.get("name")
                # {"path": "a.py"} names one file; {"backend": ["a.py"]} groups them
                item = named if named is not None else list(_strs(item))
            if isinstance(item, list | tuple):
                for p in _paths(*item):
                    if p not in out:
                        out.append(p)
                continue
            p = _str(item).replace("\\", "/")
            while p.startswith("./"):
                p = p[2:]
            if p and p not in out:
                out.append(p)
    return tuple(out)


_STATUS = {
    "pending": "pending",
    "not_started": "pending",
    "not started": "pending",
    "todo": "pending",
    "to_do": "pending",
    "backlog": "pending",
    "open": "pending",
    "queued": "pending",
    "in_progress": "in_progress",
    "in-progress": "in_progress",
    "inprogress": "in_progress",
    "in progress": "in_progress",
    "working": "in_progress",
    "started": "in_progress",
    "completed": "completed",
    "complete": "completed",
    "done": "completed",
    "completed_successfully": "completed",
    "finished": "completed",
    "passed": "completed",
    "blocked": "blocked",
    "failed": "failed",
    "error": "failed",
}


def _status(value: object) -> str:
    return _STATUS.get(_str(value).lower(), "pending")


@dataclass(frozen=True)
class Subtask:
    id: str
    description: str
    status: str = "pending"  # pending | in_progress | completed | blocked | failed
    files: tuple[str, ...] = ()  # files_to_modify + files_to_create, in that order
    files_to_modify: tuple[str, ...] = ()
    files_to_create: tuple[str, ...] = ()
    verification_command: str | None = None
    verification_type: str | None = None
    verification: Mapping[str, Any] = field(default_factory=dict, compare=False)
    title: str = ""
    service: str | None = None
    depends_on: tuple[str, ...] = ()
    acceptance_criteria: tuple[str, ...] = ()  # as written (stories carry them)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "status": self.status,
            "service": self.service,
            "files": list(self.files),
            "files_to_modify": list(self.files_to_modify),
            "files_to_create": list(self.files_to_create),
            "verification_type": self.verification_type,
            "verification_command": self.verification_command,
            "depends_on": list(self.depends_on),
            "acceptance_criteria": list(self.acceptance_criteria),
        }


@dataclass(frozen=True)
class Phase:
    id: str
    name: str
    subtasks: tuple[Subtask, ...] = ()
    number: int | None = None
    type: str | None = None
    description: str = ""
    depends_on: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "number": self.number,
            "name": self.name,
            "type": self.type,
            "description": self.description,
            "depends_on": list(self.depends_on),
            "subtasks": [s.to_dict() for s in self.subtasks],
        }


@dataclass(frozen=True)
class ImplementationPlan:
    feature: str
    workflow_type: str = "feature"
    phases: tuple[Phase, ...] = ()
    criteria: tuple[Criterion, ...] = ()
    services_involved: tuple[str, ...] = ()
    quality_gates: tuple[str, ...] = ()  # verification_strategy.acceptance_criteria
    test_commands: tuple[str, ...] = ()  # verification_strategy / qa_acceptance commands
    ac_to_code_map: Mapping[str, tuple[str, ...]] = field(default_factory=dict, compare=False)
    qa_signoff: Mapping[str, Any] | None = field(default=None, compare=False)
    spec_file: str | None = None
    warnings: tuple[str, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def title(self) -> str:
        return self.feature

    @property
    def subtasks(self) -> tuple[Subtask, ...]:
        return tuple(s for p in self.phases for s in p.subtasks)

    @property
    def files(self) -> tuple[str, ...]:
        out: list[str] = []
        for s in self.subtasks:
            out.extend(f for f in s.files if f not in out)
        return tuple(out)

    @property
    def verification_commands(self) -> tuple[str, ...]:
        out: list[str] = []
        for s in self.subtasks:
            if s.verification_command and s.verification_command not in out:
                out.append(s.verification_command)
        return tuple(out)

    @property
    def qa_status(self) -> str | None:
        if isinstance(self.qa_signoff, Mapping):
            return _str(self.qa_signoff.get("status")) or None
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "feature": self.feature,
            "workflow_type": self.workflow_type,
            "services_involved": list(self.services_involved),
            "phases": [p.to_dict() for p in self.phases],
            "criteria": [c.to_dict() for c in self.criteria],
            "quality_gates": list(self.quality_gates),
            "test_commands": list(self.test_commands),
            "ac_to_code_map": {k: list(v) for k, v in self.ac_to_code_map.items()},
            "qa_status": self.qa_status,
            "spec_file": self.spec_file,
            "warnings": list(self.warnings),
        }


def _verification(value: object) -> tuple[str | None, str | None, dict[str, Any]]:
    if isinstance(value, str):
        return None, value.strip() or None, {"command": value}
    if isinstance(value, list):
        for v in value:
            vtype, cmd, raw = _verification(v)
            if cmd:
                return vtype, cmd, raw
        return None, None, {}
    if not isinstance(value, Mapping):
        return None, None, {}
    raw = dict(value)
    vtype = _str(raw.get("type")).lower() or None
    cmd = _first(raw, "command", "run", "cmd", "script") or None
    return vtype, cmd, raw


def _subtask_from(data: object, pi: int, si: int, name: str, warnings: list[str]) -> Subtask | None:
    where = f"phases[{pi}].subtasks[{si}]"
    if isinstance(data, str):
        return Subtask(id=f"subtask-{pi + 1}-{si + 1}", description=data.strip())
    if not isinstance(data, Mapping):
        warnings.append(f"{name}: {where} is {_json_type(data)}, not an object; skipped")
        return None
    sid = (
        _first(data, "id", "subtask_id", "chunk_id", "story_id", "task_id")
        or f"subtask-{pi + 1}-{si + 1}"
    )
    title = _first(data, "title", "name")
    description = _first(data, "description", "user_story", "title", "name", "summary")
    modify = _paths(
        data.get("files_to_modify"), data.get("filesToModify"), data.get("files"), data.get("file")
    )
    create = _paths(data.get("files_to_create"), data.get("filesToCreate"))
    files = tuple(dict.fromkeys((*modify, *create)))
    vtype, cmd, vraw = _verification(data.get("verification"))
    ac = data.get("acceptance_criteria", data.get("acceptanceCriteria"))
    return Subtask(
        id=sid,
        description=description,
        status=_status(data.get("status")),
        files=files,
        files_to_modify=modify,
        files_to_create=create,
        verification_command=cmd,
        verification_type=vtype,
        verification=vraw,
        title=title,
        service=_first(data, "service") or None,
        depends_on=_strs(data.get("depends_on")),
        acceptance_criteria=tuple(_criterion_text(v) for v in ac if _criterion_text(v))
        if isinstance(ac, list)
        else _strs(ac),
    )


def _phase_from(data: Mapping[str, Any], pi: int, name: str, warnings: list[str]) -> Phase:
    number: int | None = None
    pnum = data.get("phase", data.get("phase_number", data.get("phase_id")))
    if isinstance(pnum, int) and not isinstance(pnum, bool):
        number = pnum
    elif isinstance(pnum, str) and pnum.strip().isdigit():
        number = int(pnum)
    pid = _first(data, "id", "phase_id") or (str(number) if number is not None else str(pi + 1))
    subtasks_raw: object = None
    for key in ("subtasks", "chunks", "stories", "tasks"):
        value = data.get(key)
        if value is None:
            continue
        if not isinstance(value, list):
            warnings.append(
                f"{name}: phases[{pi}].{key} is {_json_type(value)}, not a list; ignored"
            )
            continue
        if value or subtasks_raw is None:
            subtasks_raw = value
        if value:
            break
    subtasks = []
    for si, item in enumerate(subtasks_raw or []):  # type: ignore[union-attr]
        st = _subtask_from(item, pi, si, name, warnings)
        if st is not None:
            subtasks.append(st)
    return Phase(
        id=pid,
        name=_first(data, "name", "title") or f"Phase {pi + 1}",
        subtasks=tuple(subtasks),
        number=number,
        type=_first(data, "type") or None,
        description=_first(data, "description"),
        depends_on=_strs(data.get("depends_on")),
    )


def _criterion_text(item: object) -> str:
    if isinstance(item, Mapping):
        raw = _raw_from_json(item, "")
        return _join(raw.label, raw.text) if raw and raw.label else (raw.text if raw else "")
    return _str(item)


def _raw_from_json(item: object, origin: str) -> _Raw | None:
    if isinstance(item, str | int | float) and not isinstance(item, bool):
        text = str(item).strip()
        if not text:
            return None
        raw = _Raw(text=_normalize_block(text.split("\n")), origin=origin)
        lab = _split_label(_demark(text.split("\n", 1)[0]))
        if lab is not None:
            rest = text.split("\n", 1)[1:] if "\n" in text else []
            raw.label, raw.key, raw.title = lab.label, lab.key, lab.title
            raw.text = _normalize_block([_join(lab.title, lab.rest), *rest])
        return raw
    if not isinstance(item, Mapping):
        return None
    ident = _first(item, "id", "ac_id", "key", "label", "ref")
    text = _first(
        item,
        "text",
        "description",
        "criterion",
        "criteria",
        "statement",
        "requirement",
        "title",
        "name",
        "scenario",
    )
    gwt = [(k.capitalize(), _str(item.get(k))) for k in ("given", "when", "then")]
    steps = [f"{k} {v}" for k, v in gwt if v]
    body = "\n".join([text, *steps]) if text else "\n".join(steps)
    if not body.strip():
        return None
    raw = _Raw(
        text=_normalize_block(body.split("\n")), origin=origin, fmt="gherkin" if steps else None
    )
    lab = _split_label(ident) if ident else None
    if lab is not None and not lab.rest:
        raw.label, raw.key = lab.label, lab.key
    elif ident:
        raw.label = ident
        raw.key = re.sub(r"[^A-Za-z0-9_-]+", "-", ident).strip("-")
    else:
        lab = _split_label(text)
        if lab is not None:
            raw.label, raw.key, raw.title = lab.label, lab.key, lab.title
            raw.text = _normalize_block([_join(lab.title, lab.rest), *steps])
    status = item.get("status", item.get("met", item.get("done")))
    if isinstance(status, bool):
        raw.checked = status
    return raw


def _raws_from_json(value: object, origin: str) -> list[_Raw]:
    if isinstance(value, str):
        if "\n" in value:
            lines = _prepare(value)
            found = _flat(lines, 0, len(lines), origin, paragraphs=False)
            if found:
                return found
        raw = _raw_from_json(value, origin)
        return [raw] if raw else []
    if isinstance(value, Mapping):
        if any(k in value for k in ("text", "description", "criterion", "given", "then")):
            raw = _raw_from_json(value, origin)
            return [raw] if raw else []
        out: list[_Raw] = []
        for k, v in value.items():  # {"AC1": "text", ...}
            for raw in _raws_from_json(v, f"{origin}.{k}"):
                lab = _split_label(str(k))
                if lab is not None and not raw.key:
                    raw.label, raw.key = str(k), lab.key
                out.append(raw)
        return out
    if isinstance(value, list):
        out = []
        for i, v in enumerate(value):
            out.extend(_raws_from_json(v, f"{origin}[{i}]"))
        return out
    return []


def _unique_raws(raws: Iterable[_Raw]) -> list[_Raw]:
    seen: set[str] = set()
    out = []
    for r in raws:
        k = _dedupe_key(r.text)
        if k and k not in seen:
            seen.add(k)
            out.append(r)
    return out


_CRITERIA_KEYS = (
    "acceptance_criteria",
    "acceptanceCriteria",
    "final_acceptance",
    "finalAcceptance",
    "success_criteria",
    "successCriteria",
)


def parse_implementation_plan(
    raw: str | bytes | Mapping[str, Any], *, name: str = "implementation_plan.json"
) -> ImplementationPlan:
    """Read an Auto-Claude / AIFactory ``implementation_plan.json`` in any of its shapes.

    Accepts phases→subtasks, phases→chunks (older plans), phases→stories (BMad
    stories with ``acceptance_criteria``), a top-level ``subtasks``/``chunks`` list
    (simple plans), ids as ints or strings, missing optional fields and extra keys.
    Raises :class:`SpecFormatError` for text that is not UTF-8 or not JSON, a top
    level that is not an object, or ``phases`` that is not a list.
    """
    data = _load_object(raw, name)
    warnings: list[str] = []

    phases_raw = data.get("phases")
    if phases_raw is None:
        top = None
        for key in ("subtasks", "chunks"):
            value = data.get(key)
            if isinstance(value, list):
                top = value
                break
            if value is not None:
                warnings.append(f"{name}: '{key}' is {_json_type(value)}, not a list; ignored")
        phases_raw = (
            [{"id": "1", "phase": 1, "name": "Phase 1", "subtasks": top}] if top is not None else []
        )
    elif not isinstance(phases_raw, list):
        raise SpecFormatError(
            f"{name}: 'phases' must be a list of phase objects, got {_json_type(phases_raw)}",
            file=name,
        )

    phases: list[Phase] = []
    raws: list[_Raw] = []
    for key in _CRITERIA_KEYS:
        raws.extend(_raws_from_json(data.get(key), key))
    for pi, p in enumerate(phases_raw):
        if not isinstance(p, Mapping):
            warnings.append(f"{name}: phases[{pi}] is {_json_type(p)}, not an object; skipped")
            continue
        phases.append(_phase_from(p, pi, name, warnings))
        for key in _CRITERIA_KEYS:
            raws.extend(_raws_from_json(p.get(key), f"phases[{pi}].{key}"))
        for key in ("subtasks", "chunks", "stories", "tasks"):
            items = p.get(key)
            if isinstance(items, list):
                for si, st in enumerate(items):
                    if isinstance(st, Mapping):
                        for ck in _CRITERIA_KEYS[:2]:
                            raws.extend(
                                _raws_from_json(st.get(ck), f"phases[{pi}].{key}[{si}].{ck}")
                            )

    strategy = data.get("verification_strategy")
    gates: tuple[str, ...] = ()
    commands: list[str] = []
    if isinstance(strategy, Mapping):
        gates = _strs(strategy.get("acceptance_criteria"))
        steps = strategy.get("verification_steps")
        for step in steps if isinstance(steps, list) else []:
            if isinstance(step, Mapping):
                cmd = _first(step, "command", "run")
                if cmd and cmd not in commands:
                    commands.append(cmd)
    qa = data.get("qa_acceptance")
    if isinstance(qa, Mapping):
        for block in qa.values():
            if isinstance(block, Mapping):
                for cmd in _strs(block.get("commands")):
                    if cmd not in commands:
                        commands.append(cmd)

    ac_map: dict[str, tuple[str, ...]] = {}
    tf = data.get("tfactory")
    if isinstance(tf, Mapping) and isinstance(tf.get("ac_to_code_map"), Mapping):
        for k, v in tf["ac_to_code_map"].items():
            ac_map[str(k)] = _paths(v)

    signoff = data.get("qa_signoff")
    return ImplementationPlan(
        feature=_first(data, "feature", "title", "spec_name", "name", "task"),
        workflow_type=_first(data, "workflow_type", "workflowType") or "feature",
        phases=tuple(phases),
        criteria=tuple(_finalize(_unique_raws(raws), "implementation_plan.json")),
        services_involved=_strs(data.get("services_involved")),
        quality_gates=gates,
        test_commands=tuple(commands),
        ac_to_code_map=ac_map,
        qa_signoff=dict(signoff) if isinstance(signoff, Mapping) else None,
        spec_file=_first(data, "spec_file") or None,
        warnings=tuple(warnings),
        raw=data,
    )


def parse_requirements(
    raw: str | bytes | Mapping[str, Any], *, name: str = "requirements.json"
) -> dict[str, Any]:
    """Read ``requirements.json`` (any keys tolerated); same errors as the plan parser."""
    return _load_object(raw, name)


def requirements_criteria(requirements: Mapping[str, Any]) -> list[Criterion]:
    """Criteria carried by requirements.json (``acceptance_criteria`` and its aliases)."""
    raws: list[_Raw] = []
    for key in ("acceptance_criteria", "acceptanceCriteria", "success_criteria", "successCriteria"):
        raws.extend(_raws_from_json(requirements.get(key), key))
    return _finalize(_unique_raws(raws), "requirements.json")


def _next_free(used: set[str]) -> str:
    top = max((int(m.group(1)) for u in used if (m := re.fullmatch(r"AC(\d+)", u))), default=0)
    top += 1
    while f"AC{top}" in used:
        top += 1
    return f"AC{top}"


def collect_criteria(
    spec_md: str | None,
    plan: ImplementationPlan | None,
    requirements: Mapping[str, Any] | None,
) -> list[Criterion]:
    """spec.md's criteria first, then the plan's and requirements.json's new ones.

    A plan or requirements criterion whose normalised text matches one already
    taken is dropped; one whose id is taken gets the next free ``ACn``.  When
    nothing carries criteria, requirements.json's ``user_requirements`` are used
    (as AIFactory's own TFactory client does).
    """
    result = parse_spec_criteria(spec_md) if spec_md else []
    seen = {_dedupe_key(c.text) for c in result}
    used = {c.id for c in result}
    extras: list[Criterion] = list(plan.criteria) if plan is not None else []
    if requirements:
        extras.extend(requirements_criteria(requirements))
    for c in extras:
        key = _dedupe_key(c.text)
        if not key or key in seen:
            continue
        seen.add(key)
        new_id = c.id if c.id not in used else _next_free(used)
        used.add(new_id)
        result.append(c if new_id == c.id else replace(c, id=new_id))
    if not result and requirements:
        raws: list[_Raw] = []
        for key in ("user_requirements", "userRequirements"):
            raws.extend(_raws_from_json(requirements.get(key), key))
        result = _finalize(_unique_raws(raws), "requirements.json")
    return result


def criteria_of_spec(
    spec_md: str,
    *,
    inline: bool,
    spec_format: str = "markdown",
    plan_raw: bytes | None = None,
    requirements_raw: bytes | None = None,
) -> list[Criterion]:
    """The criteria of a handed-over spec: an inline or file spec is read in its format;
    an AIFactory folder's spec.md together with its plan and requirements."""
    if inline:
        return parse_criteria_text(spec_md, spec_format or "markdown")
    plan = parse_implementation_plan(plan_raw) if plan_raw is not None else None
    reqs = parse_requirements(requirements_raw) if requirements_raw is not None else None
    return collect_criteria(spec_md, plan, reqs)
