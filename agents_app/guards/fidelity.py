"""Spec fidelity: a generated test that bends the spec to fit the code, found statically.

A model that cannot make a test pass against the implementation is tempted to change what
the test expects instead: it asserts what the code returns and explains, in a comment,
that the spec must be wrong. Such a test passes and proves nothing about the criterion.

Rules (both `reject`, kind "spec-bending"):

  SF001  the test's own text (comments, docstrings, assertion messages, skip/xfail
         reasons) says the spec / criterion / requirement / docs are wrong, a typo or
         outdated, or that the test asserts the implementation's actual behaviour instead
         of the spec.
  SF002  an assertion contradicts a literal in the criterion: the criterion says
         ``normalize_code(" spring-25 ")`` becomes ``"SPRING-25"`` and the test asserts
         ``"spring-25"``; the criterion says a call raises ``ValueError`` (for a negative
         subtotal, say) and the test asserts the value it returns, or expects another
         exception.

Both rules lean towards silence: a test is only rejected when its text says so in words
that leave no doubt, or when an assertion compares a call the criterion spells out with a
literal the criterion contradicts. Neutral mentions of the spec ("AC#3: the spec requires
rounding half up") and literals that merely appear somewhere are not findings.
"""

from __future__ import annotations

import ast
import builtins
import io
import re
import tokenize
from dataclasses import dataclass, field

from agents_app.guards.astutil import call_name
from agents_app.guards.finding import GuardFinding

GUARD = "fidelity"
KIND = "spec-bending"
RULES = {
    "SF001": ("reject", "says the spec is wrong or asserts the implementation instead"),
    "SF002": ("reject", "contradicts the criterion"),
}


def check(source: str, criterion: str) -> list[GuardFinding]:
    """Every spec-bending finding in a test file, judged against one criterion's text.

    Unparseable source has none (the pre-flight rejects it for that)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    spans = _test_spans(tree)
    findings = _sf001(source, tree, spans)
    if criterion.strip():
        findings += _sf002(tree, _Criterion.parse(criterion))
    seen: set[tuple[str, int | None, str]] = set()
    out = []
    for f in sorted(findings, key=lambda f: (f.line or 0, f.rule)):
        key = (f.rule, f.line, f.message)
        if key not in seen:
            seen.add(key)
            out.append(f)
    return out


def _finding(rule: str, detail: str, line: int, test: str) -> GuardFinding:
    return GuardFinding(
        guard=GUARD,
        rule=rule,
        kind=KIND,
        action=RULES[rule][0],
        message=f"{rule} {detail} (line {line})",
        line=line,
        test=test,
    )


def _test_spans(tree: ast.Module) -> list[tuple[int, int, str]]:
    spans = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            end = node.end_lineno or node.lineno
            start = min([node.lineno] + [d.lineno for d in node.decorator_list])
            spans.append((start, end, node.name))
    return spans


def _test_at(spans: list[tuple[int, int, str]], line: int) -> str:
    best = ""
    width = None
    for start, end, name in spans:
        if start <= line <= end and (width is None or end - start < width):
            best, width = name, end - start
    return best


# ---------------------------------------------------------------------------
# SF001: the test says the spec is wrong
# ---------------------------------------------------------------------------

_SPEC = (
    r"(?:acceptance[\s-]+criteri(?:on|a)|spec(?:ification)?s?|criteri(?:on|a)"
    r"|ac\s*[#-]?\s*\d+|requirements?|docs|documentation|docstring|user\s+story|ticket)"
)
_BAD = (
    r"(?:wrong|incorrect|mistaken|erroneous|outdated|out[\s-]of[\s-]date|stale|obsolete"
    r"|inaccurate|in\s+error|a\s+typo|typo'?d|buggy|off\s+by\s+one|bogus|no\s+longer\s+"
    r"(?:accurate|valid|correct|true|right)|not\s+(?:right|correct|accurate))"
)
_COPULA = (
    r"(?:is|are|was|were|seems?(?:\s+to\s+be)?|looks?|appears?(?:\s+to\s+be)?|must\s+be"
    r"|might\s+be|may\s+be|could\s+be|has\s+to\s+be|got\s+(?:it|this|that)|gets\s+(?:it|this))"
)
_REPORTING = r"(?:says?|said|states?|stated|requires?|expects?|wants?|describes?|specifies|mentions?|defines?|needs?|asks?|calls?|lists?)"  # noqa: E501
_NEGATION = re.compile(r"\b(?:not|never|isn't|aren't|wasn't|weren't|n't)\b", re.IGNORECASE)

_SF001_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (
        # "the spec is wrong", "AC#3's example is outdated", "the criterion must be a typo"
        re.compile(
            rf"\b{_SPEC}(?:'s)?(?P<between>(?:\s+(?!{_REPORTING}\b)[\w'-]+){{0,3}}?)\s+{_COPULA}"
            rf"(?P<gap>(?:\s+[\w'-]+){{0,2}}?)\s+(?P<bad>{_BAD})\b",
            re.IGNORECASE,
        ),
        "says the spec is wrong",
    ),
    (
        # "typo in the spec", "the criterion has a typo"
        re.compile(
            rf"\btypo\w*\s+(?:in|of)\s+(?:the\s+|this\s+)?{_SPEC}\b"
            rf"|\b{_SPEC}(?:'s)?\s+typo\b"
            rf"|\b{_SPEC}(?:'s)?(?:\s+[\w'-]+){{0,3}}?\s+(?:has|contains|is|was|must\s+be"
            rf"|probably|likely)\s+(?:a\s+|an\s+|just\s+a\s+|probably\s+a\s+|clearly\s+a\s+)?typo",
            re.IGNORECASE,
        ),
        "says the spec has a typo",
    ),
    (
        # "contrary to the spec", "despite AC#2", "ignore the spec", "differs from the docs"
        re.compile(
            r"\b(?:contrary\s+to|despite|regardless\s+of|ignor(?:e|es|ed|ing)|disregard\w*"
            r"|deviat\w*\s+from|in\s+contradiction\s+(?:to|with)|contradict(?:s|ing|ed)?"
            r"|disagree\w*\s+with|differs?\s+from|diverg\w*\s+from|inconsistent\s+with"
            r"|(?:does\s+not|doesn't|do\s+not|don't|did\s+not|didn't)\s+(?:match|follow|agree\s+with))"
            rf"\s+(?:what\s+)?(?:the\s+|this\s+)?{_SPEC}\b",
            re.IGNORECASE,
        ),
        "goes against the spec",
    ),
    (
        # "the spec says 50, but the implementation returns 49"
        re.compile(
            rf"\b{_SPEC}\b[^.\n]{{0,20}}?\b{_REPORTING}\b[^\n]{{0,100}}?\b(?:but|however|whereas"
            r"|while|yet)\b[^\n]{0,100}?\b(?:actual(?:ly)?|implementation|impl|the\s+code"
            r"|really|in\s+practice|in\s+reality|current\s+behaviou?r)\b",
            re.IGNORECASE,
        ),
        "says the implementation differs from the spec",
    ),
    (
        # "the criterion says this raises, but that looks outdated"
        re.compile(
            rf"\b{_SPEC}\b[^.\n]{{0,20}}?\b{_REPORTING}\b[^\n]{{0,100}}?\b(?:but|however|though"
            rf"|although)\b,?\s+(?:that|this|it|which|the\s+\w+)\s+{_COPULA}"
            rf"(?P<gap2>(?:\s+[\w'-]+){{0,2}}?)\s+(?P<bad2>{_BAD})\b",
            re.IGNORECASE,
        ),
        "says the spec is wrong",
    ),
    (
        # "returns 49, not 50 as the spec says", "rather than what the spec says"
        re.compile(
            rf"\bnot\s+[^.;\n]{{0,40}}?\b(?:as|like|what)\s+(?:the\s+)?{_SPEC}\s+{_REPORTING}"
            rf"|\b(?:rather\s+than|instead\s+of)\s+(?:what\s+|as\s+)?(?:the\s+|this\s+)?{_SPEC}\b",
            re.IGNORECASE,
        ),
        "asserts something other than the spec",
    ),
    (
        # "asserts the actual behaviour", "pins the current implementation"
        re.compile(
            r"\b(?:assert(?:s|ed|ing)?|check(?:s|ed|ing)?|test(?:s|ed|ing)?|pin(?:s|ned|ning)?"
            r"|lock(?:s|ed|ing)?\s+in|captur\w+|reflect\w*|match(?:es|ed|ing)?|document\w*"
            r"|follow\w*|expect(?:s|ed|ing)?)\s+(?:the\s+|what\s+the\s+)?(?:actual|current|observed"
            r"|real|existing)\s+(?:behaviou?r|implementation|code|logic)\b",
            re.IGNORECASE,
        ),
        "asserts the implementation's actual behaviour",
    ),
    (
        # "expected value adjusted to match the implementation"
        re.compile(
            r"\b(?:adjust\w*|chang\w*|updat\w*|tweak\w*|fix\w*|set|written|modified|edited"
            r"|altered|relax\w*)\b[^.\n]{0,40}?\bto\s+(?:match|agree\s+with|reflect|mirror|fit)"
            r"\s+(?:the\s+|what\s+the\s+)?(?:actual\s+|current\s+|real\s+)?(?:implementation"
            r"|code|behaviou?r|output|function|library)\b",
            re.IGNORECASE,
        ),
        "changed the expectation to match the implementation",
    ),
    (
        # "trust the implementation over the spec", "the code is the source of truth"
        re.compile(
            r"\b(?:trust|follow|go\s+with|believe|prefer)\s+(?:the\s+)?(?:implementation|code)\b"
            rf"[^.\n]{{0,30}}?\b(?:not|over|rather\s+than|instead\s+of)\s+(?:the\s+)?{_SPEC}\b"
            r"|\b(?:implementation|code)\s+is\s+(?:the\s+)?(?:source\s+of\s+truth|authoritative)",
            re.IGNORECASE,
        ),
        "prefers the implementation over the spec",
    ),
]
# "actually returns 49" only counts next to the spec or the implementation
_ACTUALLY = re.compile(
    r"\bactually\s+(?:returns?|gives|produces|rounds|raises|computes|yields|does|behaves"
    r"|truncates|outputs|accepts|rejects)\b",
    re.IGNORECASE,
)
_ACTUALLY_CONTEXT = re.compile(
    rf"\b(?:{_SPEC}|implementation|impl|the\s+code|in\s+practice)\b", re.IGNORECASE
)


@dataclass
class _Text:
    line: int
    text: str


def _texts(source: str, tree: ast.Module) -> list[_Text]:
    """Comments (consecutive lines joined), docstrings and the strings a test uses as
    words rather than data: assertion messages, fail/skip/xfail reasons, msg=."""
    out: list[_Text] = []
    block: list[tuple[int, str]] = []

    def flush() -> None:
        if block:
            out.append(_Text(block[0][0], " ".join(t for _, t in block)))
            block.clear()

    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type == tokenize.COMMENT:
                line = tok.start[0]
                if block and block[-1][0] != line - 1:
                    flush()
                block.append((line, tok.string.lstrip("#").strip()))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass
    flush()

    def strings(node: ast.AST | None) -> None:
        if node is None:
            return
        for sub in ast.walk(node):
            if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
                out.append(_Text(sub.lineno, sub.value))

    for node in ast.walk(tree):
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            if isinstance(node.value.value, str):  # docstrings and bare strings
                out.append(_Text(node.lineno, node.value.value))
        elif isinstance(node, ast.Assert):
            strings(node.msg)
        elif isinstance(node, ast.Call):
            name = call_name(node)
            if name in ("fail", "skip", "xfail", "importorskip") and node.args:
                strings(node.args[0])
            elif name.startswith("assert") and name in _UNITTEST_MSG_POS:
                pos = _UNITTEST_MSG_POS[name]
                if len(node.args) > pos:
                    strings(node.args[pos])
            for kw in node.keywords:
                if kw.arg in ("reason", "msg"):
                    strings(kw.value)
    return out


_UNITTEST_MSG_POS = {
    **dict.fromkeys(("assertTrue", "assertFalse", "assertIsNone", "assertIsNotNone"), 1),
    **dict.fromkeys(
        (
            "assertEqual", "assertEquals", "assertNotEqual", "assertIs", "assertIsNot",
            "assertIn", "assertNotIn", "assertIsInstance", "assertNotIsInstance",
            "assertGreater", "assertGreaterEqual", "assertLess", "assertLessEqual",
            "assertCountEqual", "assertListEqual", "assertDictEqual", "assertRegex",
        ),
        2,
    ),
}  # fmt: skip


def _sf001_match(text: str) -> str | None:
    flat = re.sub(r"\s+", " ", text)
    for pattern, what in _SF001_PATTERNS:
        for m in pattern.finditer(flat):
            groups = m.groupdict()
            bad = groups.get("bad") or groups.get("bad2")
            if bad is not None:
                between = " ".join(groups.get(k) or "" for k in ("between", "gap", "gap2"))
                if _NEGATION.search(between) and not bad.lower().startswith("not"):
                    continue
            return what
    m = _ACTUALLY.search(flat)
    if m and _ACTUALLY_CONTEXT.search(flat):
        return "says what the implementation actually does"
    return None


def _sf001(source: str, tree: ast.Module, spans: list[tuple[int, int, str]]) -> list[GuardFinding]:
    out = []
    for t in _texts(source, tree):
        what = _sf001_match(t.text)
        if what:
            snippet = re.sub(r"\s+", " ", t.text).strip()
            if len(snippet) > 120:
                snippet = snippet[:117] + "..."
            out.append(_finding("SF001", f'{what}: "{snippet}"', t.line, _test_at(spans, t.line)))
    return out


# ---------------------------------------------------------------------------
# SF002: an assertion contradicts the criterion
# ---------------------------------------------------------------------------

_NO_VALUE = object()


@dataclass
class _Cond:
    param: str
    op: str  # "<" ">" "<=" ">=" "outside", or "?" for words about the parameter we cannot read
    value: float
    high: float = 0.0

    def holds(self, x: float) -> bool:
        if self.op == "<":
            return x < self.value
        if self.op == ">":
            return x > self.value
        if self.op == "<=":
            return x <= self.value
        if self.op == ">=":
            return x >= self.value
        return not self.value <= x <= self.high


@dataclass
class _Claim:
    func: str  # last name of the callable: "normalize_code", "apply_discount"
    owner: str  # "Invoice" for `Invoice.apply_discount(...)`, "" otherwise
    params: list[str] | None  # the criterion's signature, when it gives one
    args: list[ast.expr | None] | None  # concrete args (None = a parameter); None = any
    kwargs: dict[str, ast.expr] = field(default_factory=dict)
    expected: object = _NO_VALUE  # the literal the call returns
    raises: str = ""  # or the exception it raises
    conds: list[_Cond] = field(default_factory=list)  # any of these -> the claim applies
    unknown: bool = False  # a condition we cannot evaluate
    text: str = ""  # the criterion's words, for messages

    @property
    def conditional(self) -> bool:
        return bool(self.conds) or self.unknown


_IDENT = re.compile(r"^[A-Za-z_][\w.]*$")
_EXC_NAME = re.compile(r"^[A-Z]\w*(?:Error|Exception|Exit|Interrupt|Warning)$")
_VALUE_VERB = (
    r"(?:returns?|is|are|equals?|becomes|gives|yields|evaluates\s+to|should\s+(?:be|return|equal)"
    r"|must\s+(?:be|return|equal)|will\s+(?:be|return)|==|→|->|=>)"
)
_BARE_LITERAL = r"(?:-?\d+(?:\.\d+)?(?![\w%]|\.\d)|None\b|True\b|False\b|\"[^\"\n]*\"|'[^'\n]*')"
_RAISES_BEFORE = re.compile(r"\b(?:raise[sd]?|throws?)\s+(?:an?\s+)?$", re.IGNORECASE)
_COND_START = re.compile(r"^\s*,?\s*(?:for|when|if|unless|whenever|once|where)\b", re.IGNORECASE)
_REL = {
    "below": "<", "under": "<", "less than": "<", "lower than": "<", "smaller than": "<",
    "above": ">", "over": ">", "greater than": ">", "more than": ">", "higher than": ">",
    "larger than": ">", "exceeds": ">", "exceeding": ">", "at least": ">=", "at most": "<=",
}  # fmt: skip
_REL_RE = "|".join(sorted((re.escape(k).replace(r"\ ", r"\s+") for k in _REL), key=len)[::-1])
_NUM = r"(-?\d+(?:\.\d+)?)"


def _literal(text: str) -> object:
    try:
        return ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return _NO_VALUE


def _norm(node: ast.AST) -> str:
    return ast.unparse(node)


class _Criterion:
    """What a criterion's text says about calls: values they return, exceptions they raise,
    and which exception subclasses which."""

    def __init__(self) -> None:
        self.claims: list[_Claim] = []
        self.parents: dict[str, str] = {}  # exception -> its base, from "(a subclass of X)"
        self.signatures: dict[str, list[str]] = {}
        self.exceptions: set[str] = set()  # exception classes the criterion names

    @classmethod
    def parse(cls, text: str) -> _Criterion:
        self = cls()
        ticks = [(m.start(), m.end(), m.group(1)) for m in re.finditer(r"`([^`\n]+)`", text)]
        masked = text
        for start, end, _ in ticks:  # no sentence ends inside backticks
            masked = masked[:start] + "`" + "x" * (end - start - 2) + "`" + masked[end:]
        for m in re.finditer(
            r"`(\w+)`\s*(?:\(|,)\s*(?:a|an|which\s+is\s+a|is\s+a)?\s*(?:subclass|subtype|kind)"
            r"\s+of\s+`(\w+)`|`(\w+)`\s+(?:subclasses|inherits\s+from|extends)\s+`(\w+)`",
            text,
            re.IGNORECASE,
        ):
            child, parent = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
            self.parents[child] = parent
        self.exceptions = {body for _, _, body in ticks if _EXC_NAME.match(body)}
        for _, _, body in ticks:
            sig = _signature(body)
            if sig is not None:
                self.signatures.setdefault(sig[0], sig[1])

        subject: tuple[str, str] | None = None  # (func, owner)
        pos = 0
        for sent_end in [m.end() for m in re.finditer(r"[.;](?=\s|$)|\n\s*\n", masked)] + [
            len(text)
        ]:
            if sent_end <= pos:
                continue
            sentence_ticks = [t for t in ticks if pos <= t[0] < sent_end]
            subject = self._sentence(text, pos, sent_end, sentence_ticks, subject)
            pos = sent_end
        return self

    def _sentence(
        self,
        text: str,
        start: int,
        end: int,
        ticks: list[tuple[int, int, str]],
        subject: tuple[str, str] | None,
    ) -> tuple[str, str] | None:
        for i, (t_start, t_end, body) in enumerate(ticks):
            call = _call_of(body)
            before = text[start:t_start]
            after = text[t_end:end]
            # a new subject: a call spelled out, or a bare name that opens the sentence
            if call is not None:
                subject = (call_name(call), _owner(call))
            elif _opens_subject(body, before, after):
                subject = (body.rsplit(".", 1)[-1], body.rsplit(".", 1)[0] if "." in body else "")

            # `expr` returns `literal`
            m = re.match(rf"\s+{_VALUE_VERB}\s+(`([^`\n]+)`|{_BARE_LITERAL})", after, re.IGNORECASE)
            if call is not None and m:
                lit = _literal(m.group(2) if m.group(2) is not None else m.group(1))
                if lit is not _NO_VALUE:
                    rest = after[m.end() :]
                    self._add_value(call, lit, rest, text[t_start : t_end + m.end()])
            # `literal` becomes `literal`, after a subject named in the same sentence
            if call is None and subject is not None and i + 1 < len(ticks):
                nxt = ticks[i + 1]
                link = text[t_end : nxt[0]]
                if re.fullmatch(
                    r"\s*(?:becomes|is\s+(?:normali[sz]ed|turned|converted|changed)\s+(?:to|into)"
                    r"|turns\s+into|->|→|=>|gives|yields|returns)\s*",
                    link,
                    re.IGNORECASE,
                ):
                    arg, res = _literal(body), _literal(nxt[2])
                    if (
                        arg is not _NO_VALUE
                        and res is not _NO_VALUE
                        and re.search(
                            rf"`{re.escape(subject[0])}(?:\([^`]*\))?`", text[start:t_start]
                        )
                    ):
                        try:
                            arg_node = ast.parse(body.strip(), mode="eval").body
                        except SyntaxError:
                            continue
                        self.claims.append(
                            _Claim(
                                func=subject[0],
                                owner=subject[1],
                                params=self.signatures.get(subject[0]),
                                args=[arg_node],
                                expected=res,
                                text=f"{subject[0]}({_norm(arg_node)}) returns {res!r}",
                            )
                        )
            # raises `E`
            if _RAISES_BEFORE.search(before) and _EXC_NAME.match(body):
                claim_call = _call_of_raise_subject(before, ticks[:i])
                func, owner = (
                    (call_name(claim_call), _owner(claim_call))
                    if claim_call is not None
                    else (subject if subject is not None else ("", ""))
                )
                if not func:
                    continue
                pre = _clause_before(text[start:t_start])
                post = _clause_after(after)
                conds, unknown = self._conditions(func, pre, post)
                args, kwargs = _template_args(claim_call) if claim_call is not None else (None, {})
                if not conds and not (args is not None and all(a is not None for a in args)):
                    unknown = True  # "raises E" of a function: under some condition or other
                words = re.sub(r"\s+", " ", text[start:end]).strip()
                self.claims.append(
                    _Claim(
                        func=func,
                        owner=owner,
                        params=self.signatures.get(func),
                        args=args,
                        kwargs=kwargs,
                        raises=body,
                        conds=conds,
                        unknown=unknown,
                        text=words,
                    )
                )
        # "It returns 0 when ..." / "returns `None` when ..." for the current subject
        if subject is not None:
            chunk = text[start:end]
            for m in re.finditer(
                rf"(?:^|\b(?:it|and|then)\s+)(?:returns|is)\s+(`([^`\n]+)`|{_BARE_LITERAL})",
                chunk,
                re.IGNORECASE,
            ):
                before_verb = chunk[: m.start()]
                if re.search(r"`[^`]*`\s*$", before_verb):
                    continue  # handled as `expr` returns literal
                lit = _literal(m.group(2) if m.group(2) is not None else m.group(1))
                if lit is _NO_VALUE:
                    continue
                rest = _clause_after(chunk[m.end() :])
                conds, unknown = self._conditions(subject[0], "", rest)
                if not conds:
                    continue  # a value for every call of the function: too broad to trust
                self.claims.append(
                    _Claim(
                        func=subject[0],
                        owner=subject[1],
                        params=self.signatures.get(subject[0]),
                        args=None,
                        expected=lit,
                        conds=conds,
                        unknown=unknown,
                        text=re.sub(r"\s+", " ", chunk).strip(),
                    )
                )
        return subject

    def _add_value(self, call: ast.Call, lit: object, rest: str, words: str) -> None:
        args, kwargs = _template_args(call)
        rest = _clause_after(rest)
        conds, unknown = self._conditions(call_name(call), "", rest)
        concrete = args is not None and all(a is not None for a in args)
        if not concrete and not conds and _COND_START.match(rest):
            return  # "f(x) returns 0 when <something we cannot read>"
        self.claims.append(
            _Claim(
                func=call_name(call),
                owner=_owner(call),
                params=self.signatures.get(call_name(call)),
                args=args,
                kwargs=kwargs,
                expected=lit,
                conds=conds,
                unknown=unknown and not concrete,
                text=re.sub(r"\s+", " ", words).strip(),
            )
        )

    def _conditions(self, func: str, pre: str, post: str) -> tuple[list[_Cond], bool]:
        """Conditions on the function's parameters: "for a negative subtotal",
        "A discount below 0 or above the subtotal" -> [discount < 0, discount ?]; unknown when
        a condition is about something other than a parameter."""
        params = self.signatures.get(func) or []
        pieces: list[str] = []
        if pre.strip() and not re.fullmatch(r"\s*(?:it|this|that|and)?\s*", pre, re.IGNORECASE):
            pieces.append(pre)
        m = _COND_START.match(post)
        if m:
            pieces.append(post[m.end() :])
        conds: list[_Cond] = []
        unknown = False
        for piece in pieces:
            branches = re.split(r"\bor\b|,", piece)
            subject_noun = ""
            for branch in branches:
                branch = branch.strip()
                if not branch:
                    continue
                cond, noun = _parse_cond(branch, subject_noun)
                if noun:
                    subject_noun = noun
                if cond is not None and cond.param in params:
                    conds.append(cond)
                elif cond is None and noun in params:
                    conds.append(_Cond(noun, "?", 0))  # about this parameter, we cannot say how
                else:
                    unknown = True
        return conds, unknown


def _opens_subject(body: str, before: str, after: str) -> bool:
    """A bare name that a sentence is about: "`normalize_code` strips ...", "Creating a
    `Discount` raises ..."."""
    if not _IDENT.match(body) or _EXC_NAME.match(body) or body in ("None", "True", "False"):
        return False
    if re.search(
        r"(?:creating|constructing|instantiating|calling|building)\s+(?:a|an|the)?\s*$",
        before,
        re.IGNORECASE,
    ):
        return True
    return bool(re.search(r"(?:^|[:(\n])[ \t]*$", before)) and bool(
        re.match(
            r"\s+(?:strips|returns|raises|is|becomes|gives|takes|shares|computes|picks"
            r"|rounds|applies|attaches|detaches|follows|shows|accepts|rejects)\b",
            after,
        )
    )


def _parse_cond(branch: str, noun: str) -> tuple[_Cond | None, str]:
    b = re.sub(r"`", "", branch)
    m = re.search(r"\bnegative\s+(\w+)", b, re.IGNORECASE)
    if m:
        return _Cond(m.group(1), "<", 0), m.group(1)
    m = re.search(r"(\w+)\s+(?:is|are)\s+negative\b", b, re.IGNORECASE)
    if m:
        return _Cond(m.group(1), "<", 0), m.group(1)
    m = re.search(
        rf"(?:(\w+)\s+)?(?:is\s+|are\s+)?({_REL_RE})\s+{_NUM}\b(?!\s*%)", b, re.IGNORECASE
    )
    if m:
        who = m.group(1)
        if who is None or who.lower() in ("is", "are", "a", "an", "the", "or", "and"):
            who = noun
        op = _REL[re.sub(r"\s+", " ", m.group(2).lower())]
        if who:
            return _Cond(who, op, float(m.group(3))), who
    m = re.search(rf"(\w+)\s+(?:is\s+)?outside\s+(?:of\s+)?{_NUM}\s*(?:–|-|to|\.\.)\s*{_NUM}", b)
    if m:
        return _Cond(m.group(1), "outside", float(m.group(2)), float(m.group(3))), m.group(1)
    m = re.search(r"^(?:a|an|the)\s+(\w+)", b.strip(), re.IGNORECASE)
    return None, (m.group(1) if m else noun)


def _clause_before(text: str) -> str:
    """The words before "raises" that belong to it: after the last clause boundary."""
    text = re.sub(r"`[^`]*`\s*(?:\([^)]*\))?", "", text)  # code spans are not conditions
    parts = re.split(r";|:|,\s+(?:and\s+)?|\band\b|\bbut\b|\bthen\b", text)
    return _RAISES_BEFORE.sub("", parts[-1] if parts else text)


def _clause_after(text: str) -> str:
    """The words after a claim up to the next claim of the sentence."""
    m = re.search(
        r",?\s+(?:and|but)\s+(?:it\s+)?(?:returns|raises|is|never|then)\b|;|\.\s|\.$", text
    )
    return text[: m.start()] if m else text


def _signature(body: str) -> tuple[str, list[str]] | None:
    call = _call_of(body)
    if call is None or not call.args or call.keywords:
        return None
    if not all(isinstance(a, ast.Name) for a in call.args):
        return None
    return call_name(call), [a.id for a in call.args]  # type: ignore[union-attr]


def _call_of(body: str) -> ast.Call | None:
    try:
        node = ast.parse(body.strip(), mode="eval").body
    except SyntaxError:
        return None
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name | ast.Attribute):
        return node
    return None


def _owner(call: ast.Call) -> str:
    f = call.func
    if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id[:1].isupper():
        return f.value.id
    return ""


def _call_of_raise_subject(before: str, ticks: list[tuple[int, int, str]]) -> ast.Call | None:
    """`f(x)` raises `E`: the call right before "raises"."""
    if ticks and re.search(r"`\s*(?:raise[sd]?|throws?)\s+(?:an?\s+)?$", before, re.IGNORECASE):
        return _call_of(ticks[-1][2])
    return None


def _template_args(call: ast.Call) -> tuple[list[ast.expr | None] | None, dict[str, ast.expr]]:
    """Concrete arguments of a call in the criterion; bare names and ``...`` stand for
    any value."""
    if any(isinstance(a, ast.Constant) and a.value is Ellipsis for a in call.args):
        return None, {}
    args: list[ast.expr | None] = []
    for a in call.args:
        if isinstance(a, ast.Name) or isinstance(a, ast.Starred):
            args.append(None)
        else:
            args.append(a)
    kwargs = {kw.arg: kw.value for kw in call.keywords if kw.arg}
    if all(a is None for a in args) and not kwargs:
        return None, {}
    return args, kwargs


# -- the test side -----------------------------------------------------------


def _num(node: ast.AST, env: dict[str, ast.expr]) -> float | None:
    if isinstance(node, ast.Name) and node.id in env:
        node = env[node.id]
    v = _literal_node(node)
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    return float(v)


def _literal_node(node: ast.AST) -> object:
    try:
        return ast.literal_eval(node)  # type: ignore[arg-type]
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return _NO_VALUE


def _same_value(a: object, b: object) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return type(a) is type(b) and a == b


class _Applies:
    YES, MAYBE, NO = "yes", "maybe", "no"


def _claim_applies(claim: _Claim, call: ast.Call, env: dict[str, ast.expr]) -> str:
    if call_name(call) != claim.func:
        return _Applies.NO
    args = list(call.args)
    if (
        claim.owner
        and isinstance(call.func, ast.Attribute)
        and isinstance(call.func.value, ast.Name)
        and call.func.value.id == claim.owner
        and claim.func[:1].islower()
        and args
    ):
        args = args[1:]  # Invoice.apply_discount(invoice, d): unbound method
    if any(isinstance(a, ast.Starred) for a in args) or any(kw.arg is None for kw in call.keywords):
        return _Applies.NO
    if claim.args is not None:
        if len(args) != len(claim.args):
            return _Applies.NO
        for got, want in zip(args, claim.args, strict=True):
            if want is not None and _norm(got) != _norm(want):
                return _Applies.NO
        given = {kw.arg: kw.value for kw in call.keywords}
        for name, want in claim.kwargs.items():
            if name not in given or _norm(given[name]) != _norm(want):
                return _Applies.NO
        if set(given) - set(claim.kwargs):
            return _Applies.NO
    if not claim.conditional:
        return _Applies.YES
    bound: dict[str, ast.expr] = {}
    if claim.params:
        for name, value in zip(claim.params, args, strict=False):
            bound[name] = value
    for kw in call.keywords:
        if kw.arg:
            bound[kw.arg] = kw.value
    verdicts = []
    for cond in claim.conds:
        if cond.param not in bound:
            verdicts.append(False)  # left at its default: not the case the criterion means
            continue
        if cond.op == "?":
            verdicts.append(None)
            continue
        x = _num(bound[cond.param], env)
        verdicts.append(None if x is None else cond.holds(x))
    if any(v is True for v in verdicts):
        return _Applies.YES
    if claim.unknown or any(v is None for v in verdicts):
        return _Applies.MAYBE
    return _Applies.NO


_BUILTIN_EXC = {
    name: obj
    for name, obj in vars(builtins).items()
    if isinstance(obj, type) and issubclass(obj, BaseException)
}
_PROGRAMMING_ERRORS = {"TypeError", "AttributeError", "NotImplementedError", "NameError"}


def _ancestors(name: str, parents: dict[str, str]) -> list[str] | None:
    """The exception's bases as far as they are known, or None when unknown."""
    chain = []
    seen = {name}
    cur = name
    while cur not in _BUILTIN_EXC:
        nxt = parents.get(cur)
        if nxt is None or nxt in seen:
            return None
        chain.append(nxt)
        seen.add(nxt)
        cur = nxt
    chain += [c.__name__ for c in _BUILTIN_EXC[cur].__mro__[1:] if c is not object]
    return chain


def _related(test_exc: str, claimed: str, parents: dict[str, str], named: set[str]) -> bool:
    """Could ``pytest.raises(test_exc)`` catch what the criterion says is raised?

    Judged by name: the criterion's "(a subclass of X)" and the builtin hierarchy. A
    project exception the criterion does not name may be a subclass of the claimed one
    (and if it does not exist, the pre-flight says so), so it counts as related."""
    if test_exc == claimed or test_exc in ("Exception", "BaseException"):
        return True
    if test_exc not in _BUILTIN_EXC and test_exc not in named and test_exc not in parents:
        return True
    up = _ancestors(claimed, parents)
    if up is None:
        if claimed in _BUILTIN_EXC:
            up = [c.__name__ for c in _BUILTIN_EXC[claimed].__mro__[1:] if c is not object]
        else:  # a project exception we know nothing about: any builtin may be its base
            return test_exc in _BUILTIN_EXC
    if test_exc in up:
        return True
    down = _ancestors(test_exc, parents)
    if down is not None:
        return claimed in down
    # test_exc is a project exception we know nothing about: it may subclass a builtin claim
    return claimed in _BUILTIN_EXC and test_exc not in _BUILTIN_EXC


def _env(func: ast.AST) -> dict[str, ast.expr]:
    """Names assigned exactly once in the test, to what."""
    counts: dict[str, int] = {}
    values: dict[str, ast.expr] = {}
    for node in ast.walk(func):
        targets: list[ast.expr] = []
        value = None
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        elif isinstance(node, ast.AugAssign):
            targets = [node.target]
        elif isinstance(node, ast.For | ast.comprehension):
            targets = [node.target]
        elif isinstance(node, ast.withitem) and node.optional_vars is not None:
            targets = [node.optional_vars]
        elif isinstance(node, ast.NamedExpr):
            targets, value = [node.target], node.value
        for t in targets:
            for n in ast.walk(t):
                if isinstance(n, ast.Name):
                    counts[n.id] = counts.get(n.id, 0) + 1
                    if isinstance(t, ast.Name) and value is not None:
                        values[n.id] = value
    return {k: v for k, v in values.items() if counts.get(k) == 1}


def _resolve(node: ast.expr, env: dict[str, ast.expr]) -> ast.expr:
    if isinstance(node, ast.Name) and node.id in env:
        return env[node.id]
    return node


def _raises_of(item: ast.withitem | ast.Call) -> list[str] | None:
    call = item.context_expr if isinstance(item, ast.withitem) else item
    if not isinstance(call, ast.Call) or call_name(call) not in ("raises", "assertRaises"):
        return None
    if not call.args:
        return None
    exc = call.args[0]
    elts = exc.elts if isinstance(exc, ast.Tuple) else [exc]
    names = []
    for e in elts:
        if isinstance(e, ast.Name):
            names.append(e.id)
        elif isinstance(e, ast.Attribute):
            names.append(e.attr)
        else:
            return None
    return names


def _sf002(tree: ast.Module, crit: _Criterion) -> list[GuardFinding]:
    if not crit.claims:
        return []
    out: list[GuardFinding] = []
    for func in ast.walk(tree):
        if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        if not func.name.startswith("test"):
            continue
        env = _env(func)
        inside_raises: set[int] = set()
        for node in ast.walk(func):
            if isinstance(node, ast.With | ast.AsyncWith):
                for item in node.items:
                    excs = _raises_of(item)
                    if excs is None:
                        continue
                    for sub in node.body:
                        for n in ast.walk(sub):
                            inside_raises.add(id(n))
                    call = _single_call(node.body, env)
                    if call is not None:
                        out += _check_raises(crit, call, excs, env, node.lineno, func.name)
            elif isinstance(node, ast.Call) and call_name(node) in ("raises", "assertRaises"):
                excs = _raises_of(node)
                if excs is not None and len(node.args) >= 2:
                    fake = ast.Call(func=node.args[1], args=node.args[2:], keywords=[
                        kw for kw in node.keywords if kw.arg not in ("match", "msg")
                    ])  # fmt: skip
                    out += _check_raises(crit, fake, excs, env, node.lineno, func.name)
        for node in ast.walk(func):
            if id(node) in inside_raises:
                continue
            for left, op, right, line in _comparisons(node):
                out += _check_compare(crit, left, op, right, env, line, func.name)
    return out


def _single_call(body: list[ast.stmt], env: dict[str, ast.expr]) -> ast.Call | None:
    if len(body) != 1:
        return None
    stmt = body[0]
    value = None
    if isinstance(stmt, ast.Expr):
        value = stmt.value
    elif isinstance(stmt, ast.Assign | ast.AnnAssign):
        value = stmt.value
    if isinstance(value, ast.Await):
        value = value.value
    return value if isinstance(value, ast.Call) else None


def _comparisons(node: ast.AST) -> list[tuple[ast.expr, str, ast.expr, int]]:
    """(left, op, right) of `assert a == b` / `is` / `!=` / `is not` and of assertEqual."""
    out = []
    if isinstance(node, ast.Assert):
        tests = [node.test]
        if isinstance(node.test, ast.BoolOp) and isinstance(node.test.op, ast.And):
            tests = list(node.test.values)
        for t in tests:
            if isinstance(t, ast.Compare) and len(t.ops) == 1:
                op = {ast.Eq: "==", ast.NotEq: "!=", ast.Is: "is", ast.IsNot: "is not"}.get(
                    type(t.ops[0])
                )
                out.append((t.left, op or "other", t.comparators[0], node.lineno))
            elif isinstance(t, ast.UnaryOp) and isinstance(t.op, ast.Not):
                out.append((t.operand, "falsy", ast.Constant(value=False), node.lineno))
            elif isinstance(t, ast.Call | ast.Name):
                out.append((t, "truthy", ast.Constant(value=True), node.lineno))
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        name = node.func.attr
        ops = {"assertEqual": "==", "assertEquals": "==", "assertNotEqual": "!=",
               "assertIs": "is", "assertIsNot": "is not"}  # fmt: skip
        if name in ops and len(node.args) >= 2:
            out.append((node.args[0], ops[name], node.args[1], node.lineno))
        elif name in ("assertIsNone", "assertIsNotNone") and node.args:
            op = "is" if name == "assertIsNone" else "is not"
            out.append((node.args[0], op, ast.Constant(value=None), node.lineno))
        elif name in ("assertTrue", "assertFalse") and node.args:
            op = "truthy" if name == "assertTrue" else "falsy"
            out.append((node.args[0], op, ast.Constant(value=op == "truthy"), node.lineno))
    return out


def _check_compare(
    crit: _Criterion,
    left: ast.expr,
    op: str,
    right: ast.expr,
    env: dict[str, ast.expr],
    line: int,
    test: str,
) -> list[GuardFinding]:
    out = []
    for call_side, other in ((left, right), (right, left)):
        call = _resolve(call_side, env)
        if not isinstance(call, ast.Call):
            continue
        truth = op in ("truthy", "falsy")
        lit = _NO_VALUE if truth else _literal_node(_resolve(other, env))
        if truth:
            shown = _norm(call) if op == "truthy" else f"not {_norm(call)}"
        else:
            shown = f"{_norm(call)} {op} {_norm(other)}"
        for claim in crit.claims:
            applies = _claim_applies(claim, call, env)
            if claim.raises and applies == _Applies.YES:
                out.append(
                    _finding(
                        "SF002",
                        f"asserts {shown} but the criterion says {_norm(call)} raises "
                        f"{claim.raises}: {claim.text!r}",
                        line,
                        test,
                    )
                )
                return out
            if claim.expected is _NO_VALUE or applies != _Applies.YES:
                continue
            contradicts = False
            if truth:
                contradicts = bool(claim.expected) != (op == "truthy")
            elif lit is not _NO_VALUE and op in ("==", "!=", "is", "is not"):
                same = _same_value(lit, claim.expected)
                if op in ("is", "is not") and (claim.expected is None or lit is None):
                    same = lit is claim.expected
                contradicts = same == (op in ("!=", "is not"))
            if contradicts:
                out.append(
                    _finding(
                        "SF002",
                        f"asserts {shown} but the criterion says it returns "
                        f"{claim.expected!r}: {claim.text!r}",
                        line,
                        test,
                    )
                )
                return out
    return out


def _check_raises(
    crit: _Criterion,
    call: ast.Call,
    excs: list[str],
    env: dict[str, ast.expr],
    line: int,
    test: str,
) -> list[GuardFinding]:
    shown = ", ".join(excs)
    value_claims = [
        c
        for c in crit.claims
        if c.expected is not _NO_VALUE and _claim_applies(c, call, env) == _Applies.YES
    ]
    if value_claims:
        c = value_claims[0]
        return [
            _finding(
                "SF002",
                f"expects {_norm(call)} to raise {shown} but the criterion says it returns "
                f"{c.expected!r}: {c.text!r}",
                line,
                test,
            )
        ]
    raise_claims = [(c, _claim_applies(c, call, env)) for c in crit.claims if c.raises]
    live = [(c, a) for c, a in raise_claims if a != _Applies.NO]
    if not live:
        return []
    if any(_related(e, c.raises, crit.parents, crit.exceptions) for c, _ in live for e in excs):
        return []
    sure = [c for c, a in live if a == _Applies.YES]
    if not sure and all(e in _PROGRAMMING_ERRORS for e in excs):
        return []  # maybe a wrong argument type, which the criterion does not cover
    c = sure[0] if sure else live[0][0]
    claimed = sorted({c.raises for c, _ in live})
    return [
        _finding(
            "SF002",
            f"expects {_norm(call)} to raise {shown} but the criterion says it raises "
            f"{' or '.join(claimed)}: {c.text!r}",
            line,
            test,
        )
    ]
