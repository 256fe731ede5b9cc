"""Acceptance criteria and AIFactory spec parsing (agents_app.spec.criteria)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from agents_app.spec.criteria import (
    Criterion,
    SpecFormatError,
    collect_criteria,
    is_ears,
    parse_criteria_text,
    parse_implementation_plan,
    parse_requirements,
    parse_spec_criteria,
    requirements_criteria,
)

DATA = Path(__file__).parent / "data" / "specs"
SLUG = re.compile(r"^[A-Za-z0-9_-]+$")


def ids(crits: list[Criterion]) -> list[str]:
    return [c.id for c in crits]


def texts(crits: list[Criterion]) -> list[str]:
    return [c.text for c in crits]


# -- AIFactory-style specs end to end -----------------------------------------------


class TestAIFactorySpec:
    """Auto-Claude's spec_writer template: criteria under ## Success Criteria."""

    def crits(self) -> list[Criterion]:
        return parse_spec_criteria((DATA / "aifactory_spec.md").read_text())

    def test_it_reads_the_success_criteria_checkboxes(self):
        crits = self.crits()
        assert ids(crits) == ["AC1", "AC2", "AC3", "AC4", "AC5"]
        assert crits[0].text == (
            "Applying `SAVE10` to a cart of 50.00 makes `Cart.total()` return 45.00"
        )
        assert [c.checked for c in crits] == [False, True, False, False, False]
        assert all(c.source == "spec.md" and c.format == "markdown" for c in crits)
        assert crits[0].origin == "Success Criteria"
        assert crits[0].line == 11

    def test_it_keeps_continuation_lines(self):
        assert self.crits()[2].text == (
            "Unknown codes raise `PromoNotFound`\n(the message names the code the shopper typed)"
        )

    def test_it_flags_boilerplate_criteria_as_generic(self):
        assert [c.generic for c in self.crits()] == [False, False, False, True, True]

    def test_it_collects_backticked_identifiers(self):
        crits = self.crits()
        assert crits[0].mentions == ("SAVE10", "Cart.total")
        assert crits[1].mentions == ("PromoExpired",)

    def test_it_ignores_qa_acceptance_criteria_and_fenced_headings(self):
        joined = "\n".join(texts(self.crits()))
        assert "pytest tests/" not in joined
        assert "code fence" not in joined
        assert "All implementation steps completed" not in joined


class TestAcceptanceCriteriaSpec:
    """## Acceptance Criteria with ### AC#N headings, as TFactory asks AIFactory for."""

    def crits(self) -> list[Criterion]:
        return parse_spec_criteria((DATA / "ac_spec.md").read_text())

    def test_ids_follow_the_labels_with_gaps_and_duplicates(self):
        crits = self.crits()
        assert ids(crits) == ["AC1", "AC2", "AC4", "AC4-2"]
        assert [c.label for c in crits] == ["AC#1", "AC-2", "AC 4", "AC#4"]

    def test_heading_bodies_are_kept_without_the_marker(self):
        first = self.crits()[0]
        assert first.title == "Valid code reduces the total"
        assert first.text == (
            "Valid code reduces the total\n"
            "Given a cart whose items total 50.00\n"
            'When `Cart.apply_promo("SAVE10")` is called\n'
            "Then `Cart.total()` returns 45.00"
        )
        assert first.format == "gherkin"  # Given/When/Then body
        assert first.mentions == ("Cart.apply_promo", "Cart.total")

    def test_code_fences_stay_in_the_body_and_are_not_headings(self):
        second = self.crits()[1]
        assert second.title == "Expired codes are rejected"
        assert "# ## not a heading, and not a criterion" in second.text
        assert second.text.count("```") == 2
        assert "---" not in second.text  # the horizontal rule is dropped

    def test_bullets_in_a_body_stay_in_the_criterion(self):
        assert self.crits()[2].text == (
            "Codes are case-insensitive\n\n"
            "- `save10` and `SAVE10` give the same discount\n"
            "- surrounding spaces are ignored"
        )

    def test_empty_criteria_comments_and_front_matter_are_dropped(self):
        joined = "\n".join(texts(self.crits()))
        assert "AC#5" not in [c.label for c in self.crits()]
        assert "hidden in an HTML comment" not in joined
        assert "status: ready" not in joined
        assert "outside the section" not in joined


# -- markdown shapes -----------------------------------------------------------------


def test_bold_ac_bullets_and_lines():
    spec = """## Acceptance Criteria
- **AC#1**: Users can log in
- **AC#2:** Users can log out
  and their session is cleared
**AC3** Tokens expire after an hour
**AC#4 — Audit**: every login is logged
"""
    crits = parse_spec_criteria(spec)
    assert ids(crits) == ["AC1", "AC2", "AC3", "AC4"]
    assert texts(crits) == [
        "Users can log in",
        "Users can log out\nand their session is cleared",
        "Tokens expire after an hour",
        "Audit: every login is logged",
    ]
    assert crits[3].title == "Audit"


def test_plain_numbered_and_checkbox_lists():
    spec = """## Acceptance criteria

The following must hold:

1. A cart starts empty
2. Adding an item
   increases the count
- [ ] totals are rounded to cents
- [x] tax is shown separately
* a star bullet
"""
    crits = parse_spec_criteria(spec)
    assert ids(crits) == ["AC1", "AC2", "AC3", "AC4", "AC5"]
    assert texts(crits)[1] == "Adding an item\nincreases the count"
    assert [c.checked for c in crits] == [None, None, False, True, None]
    assert "The following must hold" not in "\n".join(texts(crits))


def test_heading_variants_and_levels():
    for heading in (
        "## Acceptance Criteria",
        "### acceptance criteria:",
        "#### 4. Acceptance Criteria",
        "## Acceptance Criteria *(mandatory)*",
        "## ✅ Acceptance Criteria",
        "## ACs",
    ):
        crits = parse_spec_criteria(f"# Spec\n\n{heading}\n- one\n- two\n\n## Notes\n- no\n")
        assert texts(crits) == ["one", "two"], heading


def test_label_forms_normalise_to_slug_safe_ids():
    spec = """## Acceptance Criteria
### AC-001: zero padded
### AC 2 - spaced
### AC3. dotted separator
### Acceptance Criterion 4: spelled out
### AC-5.1: sub-numbered
### AC#6a: lettered
### [AC7] bracketed
"""
    crits = parse_spec_criteria(spec)
    assert ids(crits) == ["AC1", "AC2", "AC3", "AC4", "AC5_1", "AC6a", "AC7"]
    assert texts(crits)[0] == "zero padded"
    assert all(SLUG.match(i) for i in ids(crits))


def test_unlabelled_criteria_are_numbered_after_the_highest_label():
    spec = """## Acceptance Criteria
- **AC#3:** labelled three
- unlabelled
- **AC1:** labelled one
- also unlabelled
"""
    crits = parse_spec_criteria(spec)
    assert ids(crits) == ["AC3", "AC4", "AC1", "AC5"]
    assert [c.label for c in crits] == ["AC#3", "AC4", "AC1", "AC5"]


def test_ids_are_unique_and_deterministic():
    spec = "## Acceptance Criteria\n" + "\n".join(
        ["- **AC#2:** a", "- **AC#2:** b", "- **AC#2:** c", "- d"]
    )
    first = parse_spec_criteria(spec)
    assert ids(first) == ["AC2", "AC2-2", "AC2-3", "AC3"]
    assert len(set(ids(first))) == len(first)
    assert ids(parse_spec_criteria(spec)) == ids(first)


def test_labelled_criteria_anywhere_without_a_section():
    spec = """# Feature

Some intro mentioning AC1 in passing.

AC1: The cart total updates
- **AC#2**: Removing an item updates the total

```text
AC#9: inside a fence
```

### AC#3 Discount line
The discount shows as its own line.
"""
    crits = parse_spec_criteria(spec)
    assert ids(crits) == ["AC1", "AC2", "AC3"]
    assert texts(crits)[2] == "Discount line\nThe discount shows as its own line."


def test_acceptance_section_wins_over_other_shapes():
    spec = """## Acceptance Criteria
- the real one

## Success Criteria
- not this

```gherkin
Scenario: nor this
  Given x
  Then y
```
"""
    assert texts(parse_spec_criteria(spec)) == ["the real one"]


def test_several_acceptance_sections_are_all_read():
    spec = """## Story 1
### Acceptance Criteria
- s1 a
- s1 b
## Story 2
### Acceptance Criteria
- s2 a
"""
    assert texts(parse_spec_criteria(spec)) == ["s1 a", "s1 b", "s2 a"]


def test_sub_headings_group_bullets_or_are_criteria_themselves():
    spec = """## Acceptance Criteria
### Functional
- f1
- f2
### Performance
- p1
### Users can export
Export produces a CSV with a header row.
## Notes
- not a criterion
"""
    crits = parse_spec_criteria(spec)
    assert texts(crits) == [
        "f1",
        "f2",
        "p1",
        "Users can export\nExport produces a CSV with a header row.",
    ]


def test_labelled_sub_headings_ignore_unlabelled_ones():
    spec = """## Acceptance Criteria
> **IMPORTANT:** XML format is required.

### XML Acceptance Criteria Format

### AC#1: Project mode
```xml
<acceptance_criteria id="AC1"><given>a project</given></acceptance_criteria>
```

### AC#2: Standalone mode
**Given** no project
**When** the command runs
**Then** it asks for an idea
"""
    crits = parse_spec_criteria(spec)
    assert ids(crits) == ["AC1", "AC2"]
    assert "<given>a project</given>" in crits[0].text
    assert crits[1].format == "gherkin"


def test_pseudo_headings_and_setext_headings():
    bold = """Some text.

**Acceptance Criteria:**
1. first
2. second

**Notes**
- not one
"""
    assert texts(parse_spec_criteria(bold)) == ["first", "second"]
    plain = "Acceptance Criteria:\n- alpha\n- beta\n"
    assert texts(parse_spec_criteria(plain)) == ["alpha", "beta"]
    setext = """Acceptance Criteria
-------------------

- gamma

Other
-----
- not one
"""
    assert texts(parse_spec_criteria(setext)) == ["gamma"]


def test_a_bullet_ending_with_a_colon_is_not_a_heading():
    spec = "## Overview\n- Acceptance criteria:\n- something\n\n## Success Criteria\n- real\n"
    assert texts(parse_spec_criteria(spec)) == ["real"]


def test_long_given_texts_parse_in_linear_time():
    import time

    started = time.monotonic()
    crits = parse_spec_criteria("## Acceptance Criteria\n- Given " + "word when " * 50_000)
    assert len(crits) == 1 and time.monotonic() - started < 5


def test_criteria_tables():
    spec = """## Acceptance Criteria

| ID | Criterion | Priority |
|----|-----------|----------|
| AC-1 | Totals are rounded | high |
| AC-3 | Tax is shown | low |
"""
    crits = parse_spec_criteria(spec)
    assert ids(crits) == ["AC1", "AC3"]
    assert texts(crits) == ["Totals are rounded", "Tax is shown"]


def test_paragraph_criteria_when_the_section_has_no_list():
    spec = (
        "## Acceptance Criteria\n\nA cart can hold at most 50 items.\n\nExtra items are refused.\n"
    )
    assert texts(parse_spec_criteria(spec)) == [
        "A cart can hold at most 50 items.",
        "Extra items are refused.",
    ]


def test_a_fenced_acceptance_heading_is_not_a_section():
    spec = "```\n## Acceptance Criteria\n- fenced\n```\n\n## Success Criteria\n- real\n"
    assert texts(parse_spec_criteria(spec)) == ["real"]


def test_tilde_fences_and_nested_backticks():
    spec = "## Acceptance Criteria\n~~~\n## not a heading\n- not an item\n~~~\n- item\n"
    assert texts(parse_spec_criteria(spec)) == ["item"]


def test_success_criteria_fallback_variants():
    for heading in (
        "## Success Criteria",
        "### success criteria",
        "## Success criterion",
        "## Criteria for Success",
        "## Definition of Done",
        "#### Exit criteria",
    ):
        crits = parse_spec_criteria(f"## Overview\nx\n\n{heading}\n- works\n")
        assert texts(crits) == ["works"], heading
        assert crits[0].origin == heading.lstrip("# ")


def test_spec_kit_success_criteria_with_sc_labels():
    spec = """## Success Criteria *(mandatory)*

### Measurable Outcomes

- **SC-001**: Users finish checkout in under a minute
- **SC-002**: 95% of promo codes apply on the first try
"""
    crits = parse_spec_criteria(spec)
    assert ids(crits) == ["SC1", "SC2"]
    assert crits[0].label == "SC-001"


def test_crlf_and_tabs():
    spec = "## Acceptance Criteria\r\n-\tfirst\r\n-   second  with   spaces\r\n"
    assert texts(parse_spec_criteria(spec)) == ["first", "second with spaces"]


def test_empty_and_criteria_free_specs():
    assert parse_spec_criteria("") == []
    assert parse_spec_criteria("# Title\n\nJust prose, no criteria at all.\n") == []


# -- Gherkin ---------------------------------------------------------------------------

FEATURE = """@checkout
Feature: Promo codes
  Shoppers can use codes.

  Background:
    Given a cart whose items total 50.00

  @AC1
  Scenario: Valid code
    When the shopper applies "SAVE10"
    Then the total is 45.00
    And the discount line shows "-5.00"

  Scenario Outline: Rejected codes
    When the shopper applies "<code>"
    Then they see "<message>"
    But the total stays 50.00

    Examples:
      | code  | message      |
      | OLD   | expired      |
      | NOPE  | unknown code |

  # a comment
  Scenario: AC7 - Case does not matter
    When the shopper applies "save10"
    Then the total is 45.00
"""


def test_gherkin_one_criterion_per_scenario_with_background_steps():
    crits = parse_criteria_text(FEATURE, "gherkin")
    assert ids(crits) == ["AC1", "AC8", "AC7"]
    assert all(c.format == "gherkin" and c.source == "inline" for c in crits)
    assert crits[0].text == (
        "Scenario: Valid code\n"
        "  Given a cart whose items total 50.00\n"
        '  When the shopper applies "SAVE10"\n'
        "  Then the total is 45.00\n"
        '  And the discount line shows "-5.00"'
    )
    assert crits[0].label == "AC1" and crits[0].tags == ("@AC1",)
    assert crits[0].origin == "Promo codes"


def test_gherkin_outline_keeps_examples_and_title_labels():
    crits = parse_criteria_text(FEATURE, "gherkin")
    outline = crits[1]
    assert outline.title == "Rejected codes"
    assert outline.text.startswith("Scenario Outline: Rejected codes")
    assert "But the total stays 50.00" in outline.text
    assert "Examples:" in outline.text and "| NOPE | unknown code |" in outline.text
    assert crits[2].label == "AC7" and crits[2].title == "Case does not matter"


def test_gherkin_fenced_in_markdown():
    spec = f"# Promo\n\nIntro.\n\n```gherkin\n{FEATURE}```\n"
    crits = parse_spec_criteria(spec)
    assert len(crits) == 3 and all(c.format == "gherkin" for c in crits)
    assert crits[0].line == 14


def test_bare_gherkin_in_markdown_and_in_an_ac_section():
    spec = """## Acceptance Criteria

Scenario: Login works
- **Given** a registered user
- **When** they log in
- **Then** they see the dashboard

Scenario: Logout works
  Given a logged-in user
  When they log out
  Then the session ends
"""
    crits = parse_spec_criteria(spec)
    assert ids(crits) == ["AC1", "AC2"]
    assert crits[0].text == (
        "Scenario: Login works\n  Given a registered user\n  When they log in\n"
        "  Then they see the dashboard"
    )
    assert crits[1].format == "gherkin"


def test_inline_given_when_then_bullets_are_gherkin():
    spec = (
        "## Acceptance Scenarios\n"
        "1. **Given** a cart, **When** a code is applied, **Then** the total drops\n"
    )
    crits = parse_spec_criteria(spec)
    assert crits[0].format == "gherkin"


# -- EARS --------------------------------------------------------------------------------

EARS = """# Export requirements

- When the user clicks Export, the system shall download a CSV file.
- While an export is running, the Export button shall be disabled.
- If the export fails, then the system shall show the error message.
- Where SSO is enabled, the login page shall show the SSO button.
- The exporter shall write UTF-8.
- A plain bullet that is not a requirement.
"""


def test_ears_bullets_in_a_markdown_spec_without_a_section():
    crits = parse_spec_criteria(EARS)
    assert ids(crits) == ["AC1", "AC2", "AC3", "AC4", "AC5"]
    assert all(c.format == "ears" for c in crits)
    assert crits[2].text == "If the export fails, then the system shall show the error message."


def test_ears_sentences_in_prose_with_the_ears_format():
    text = (
        "Background text. The cart shall reject negative quantities. When a code is applied, "
        "the cart shall show the discount. REQ-7: If the code is expired then the API shall "
        "return 410.\n"
    )
    crits = parse_criteria_text(text, "ears")
    assert ids(crits) == ["AC1", "AC2", "REQ7"]
    assert texts(crits) == [
        "The cart shall reject negative quantities.",
        "When a code is applied, the cart shall show the discount.",
        "If the code is expired then the API shall return 410.",
    ]
    assert all(c.format == "ears" and c.source == "inline" for c in crits)


def test_ears_format_of_criteria_inside_an_ac_section():
    spec = "## Acceptance Criteria\n- When a code expires, the cart shall drop it.\n- plain\n"
    assert [c.format for c in parse_spec_criteria(spec)] == ["ears", "markdown"]


def test_is_ears():
    assert is_ears("When X happens, the system shall do Y.")
    assert is_ears("While offline, the app shall queue writes")
    assert is_ears("The API shall return JSON")
    assert is_ears("**AC1:** If the token expires then the API shall return 401")
    assert not is_ears("The API returns JSON")
    assert not is_ears("Users can log in")


# -- parse_criteria_text ---------------------------------------------------------------------


def test_parse_criteria_text_markdown_is_parse_spec_criteria_with_source_inline():
    crits = parse_criteria_text("## Acceptance Criteria\n- a\n", "markdown")
    assert texts(crits) == ["a"] and crits[0].source == "inline"


def test_parse_criteria_text_markdown_with_only_ears_sentences():
    crits = parse_criteria_text(EARS, "markdown")
    assert len(crits) == 5 and all(c.format == "ears" and c.source == "inline" for c in crits)


def test_parse_criteria_text_falls_back_to_markdown():
    md = "## Acceptance Criteria\n- a\n- b\n"
    assert texts(parse_criteria_text(md, "gherkin")) == ["a", "b"]
    assert texts(parse_criteria_text(md, "ears")) == ["a", "b"]


def test_aifactory_ingest_appended_section():
    # What AIFactory's TFactory client appends when a spec lacks the heading.
    spec = (DATA / "aifactory_spec.md").read_text().rstrip() + (
        "\n\n## Acceptance Criteria\n- Applying SAVE10 gives 45.00\n- Unknown codes are rejected"
    )
    assert texts(parse_criteria_text(spec, "markdown")) == [
        "Applying SAVE10 gives 45.00",
        "Unknown codes are rejected",
    ]


def test_parse_criteria_text_rejects_unknown_formats():
    with pytest.raises(SpecFormatError, match=r"format: expected one of markdown, gherkin, ears"):
        parse_criteria_text("x", "yaml")


def test_criterion_to_dict_is_json_serialisable():
    crit = parse_spec_criteria((DATA / "ac_spec.md").read_text())[0]
    data = json.loads(json.dumps(crit.to_dict()))
    assert data["id"] == "AC1" and data["label"] == "AC#1" and data["format"] == "gherkin"


# -- implementation_plan.json -------------------------------------------------------------


class TestImplementationPlan:
    def plan(self):
        return parse_implementation_plan((DATA / "implementation_plan.json").read_bytes())

    def test_phases_and_subtasks(self):
        plan = self.plan()
        assert plan.feature == plan.title == "Promo codes at checkout"
        assert plan.workflow_type == "feature"
        assert [p.id for p in plan.phases] == ["phase-1-backend", "phase-2-integration"]
        assert plan.phases[1].depends_on == ("phase-1-backend",)
        first, second = plan.phases[0].subtasks
        assert first.id == "subtask-1-1"
        assert first.files == ("shop/models.py", "shop/promos.py")
        assert first.verification_type == "command"
        assert first.verification_command == (
            "python -c \"from shop.promos import load_codes; print('OK')\""
        )
        assert second.files == ("shop/cart.py",)  # "./" removed
        assert second.verification_command is None and second.verification_type == "api"
        assert [s.status for s in plan.subtasks] == ["completed", "completed", "pending"]
        assert plan.verification_commands == (first.verification_command,)
        assert plan.files == ("shop/models.py", "shop/promos.py", "shop/cart.py")

    def test_plan_criteria_and_extras(self):
        plan = self.plan()
        assert [(c.id, c.text, c.source) for c in plan.criteria] == [
            (
                "AC2",
                "Applying SAVE10 to a cart of 50.00 makes Cart.total() return 45.00.",
                "implementation_plan.json",
            ),
            ("AC1", "Unknown codes raise PromoNotFound", "implementation_plan.json"),
        ]
        assert plan.criteria[1].origin == "phases[0].subtasks[1].acceptance_criteria[0]"
        assert plan.quality_gates == ("All existing tests pass", "New code has test coverage")
        assert plan.test_commands == ("pytest tests/", "pytest -q tests/unit")
        assert dict(plan.ac_to_code_map) == {"AC1": ("shop/cart.py",), "AC2": ()}
        assert plan.qa_status == "approved"
        assert plan.warnings == ()
        json.dumps(plan.to_dict())

    def test_legacy_chunks_int_ids_stories_and_bad_entries(self):
        plan = parse_implementation_plan((DATA / "implementation_plan_chunks.json").read_text())
        assert plan.feature == "Legacy plan"
        assert plan.workflow_type == "feature"
        assert [(p.id, p.number, p.name) for p in plan.phases] == [
            ("1", 1, "Phase one"),
            ("2", 2, "Stories"),
        ]
        c1, c2 = plan.phases[0].subtasks
        assert (c1.id, c1.status, c1.verification_command) == (
            "1",
            "in_progress",
            "pytest tests/test_a.py",
        )
        assert (c2.id, c2.description, c2.status) == ("c2", "Second chunk", "pending")
        story = plan.phases[1].subtasks[0]
        assert story.id == "US-001" and story.description.startswith("As a shopper")
        assert story.acceptance_criteria == (
            "AC1: The export has a header row",
            "AC2: Code follows project conventions",
        )
        assert [(c.id, c.text, c.generic) for c in plan.criteria] == [
            ("AC1", "The export has a header row", False),
            ("AC2", "Code follows project conventions", True),
        ]
        assert plan.warnings == (
            "implementation_plan.json: phases[2] is a string, not an object; skipped",
        )

    def test_top_level_subtasks_and_minimal_plans(self):
        plan = parse_implementation_plan(
            json.dumps(
                {
                    "spec_name": "simple",
                    "workflow_type": "simple",
                    "subtasks": [
                        {
                            "id": 7,
                            "description": "Do it",
                            "files": "a.py",
                            "verification": "pytest -q",
                        }
                    ],
                }
            ),
        )
        assert plan.feature == "simple" and plan.workflow_type == "simple"
        assert [p.id for p in plan.phases] == ["1"]
        st = plan.phases[0].subtasks[0]
        assert (st.id, st.files, st.verification_command) == ("7", ("a.py",), "pytest -q")
        empty = parse_implementation_plan(b"{}")
        assert empty.feature == "" and empty.phases == () and empty.criteria == ()

    def test_files_grouped_by_service_or_given_as_objects(self):
        plan = parse_implementation_plan(
            json.dumps(
                {
                    "subtasks": [
                        {
                            "id": "s",
                            "files_to_modify": {"backend": ["api/views.py"], "web": ["ui.ts"]},
                            "files_to_create": [{"path": "api\\new.py"}],
                        }
                    ]
                }
            )
        )
        assert plan.subtasks[0].files == ("api/views.py", "ui.ts", "api/new.py")

    def test_missing_ids_get_auto_claude_style_defaults(self):
        plan = parse_implementation_plan('{"phases": [{"subtasks": [{"description": "x"}]}]}')
        assert plan.phases[0].id == "1" and plan.phases[0].name == "Phase 1"
        assert plan.phases[0].subtasks[0].id == "subtask-1-1"

    def test_criteria_objects_and_top_level_lists(self):
        plan = parse_implementation_plan(
            json.dumps(
                {
                    "feature": "x",
                    "acceptance_criteria": [
                        {"id": "AC-3", "description": "Totals are rounded"},
                        {"given": "a cart", "when": "a code is applied", "then": "the total drops"},
                        "Totals are rounded",
                    ],
                    "phases": [
                        {
                            "id": "p",
                            "acceptance_criteria": ["AC3: duplicate label, new text"],
                            "subtasks": [],
                        }
                    ],
                }
            )
        )
        crits = plan.criteria
        assert [c.id for c in crits] == ["AC3", "AC4", "AC3-2"]
        assert crits[1].format == "gherkin"
        assert crits[1].text == "Given a cart\nWhen a code is applied\nThen the total drops"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            '{\n  "feature": "x"\n  "phases": []\n}',
            "implementation_plan.json: line 3 column 3: Expecting ',' delimiter",
        ),
        ("", "implementation_plan.json: the file is empty; expected a JSON object"),
        (
            "[1, 2]",
            "implementation_plan.json: expected a JSON object at the top level, got an array",
        ),
        (
            '"text"',
            "implementation_plan.json: expected a JSON object at the top level, got a string",
        ),
        (
            '{"phases": {"one": {}}}',
            "implementation_plan.json: 'phases' must be a list of phase objects, got an object",
        ),
        (
            b'{"feature": "caf\xe9"}',
            "implementation_plan.json: not valid UTF-8 (byte 0xe9 at offset 16, line 1); "
            "save the file as UTF-8",
        ),
    ],
)
def test_malformed_plans_raise_clear_errors(raw, message):
    with pytest.raises(SpecFormatError) as exc:
        parse_implementation_plan(raw)
    assert str(exc.value) == message
    assert exc.value.file == "implementation_plan.json"
    assert isinstance(exc.value, ValueError)


def test_plan_errors_name_the_file_given():
    with pytest.raises(SpecFormatError, match=r"^context/aifactory_plan\.json: line 1 column 2"):
        parse_implementation_plan("{,}", name="context/aifactory_plan.json")


def test_utf8_bom_is_accepted():
    plan = parse_implementation_plan('\ufeff{"feature": "x"}'.encode())
    assert plan.feature == "x"


# -- requirements.json and collect_criteria ----------------------------------------------


def test_parse_requirements_is_tolerant_with_the_same_errors():
    req = parse_requirements(b'{"task_description": "t", "workflow_type": "feature", "extra": 1}')
    assert req["task_description"] == "t" and req["extra"] == 1
    with pytest.raises(SpecFormatError, match=r"^requirements\.json: line 1 column 9"):
        parse_requirements('{"a": 1 "b": 2}')
    with pytest.raises(SpecFormatError, match="got an array"):
        parse_requirements("[]")
    with pytest.raises(SpecFormatError, match="not valid UTF-8"):
        parse_requirements(b"\xff\xfe{}")


def test_requirements_criteria():
    crits = requirements_criteria(
        {"acceptanceCriteria": ["Codes are trimmed", "AC2: Codes are case-insensitive"]}
    )
    assert [(c.id, c.text, c.source) for c in crits] == [
        ("AC3", "Codes are trimmed", "requirements.json"),
        ("AC2", "Codes are case-insensitive", "requirements.json"),
    ]


def test_collect_criteria_spec_first_then_new_plan_and_requirements_criteria():
    plan = parse_implementation_plan((DATA / "implementation_plan.json").read_bytes())
    reqs = {"acceptance_criteria": ["Unknown codes raise `PromoNotFound`.", "Codes are trimmed"]}
    crits = collect_criteria((DATA / "aifactory_spec.md").read_text(), plan, reqs)
    assert [(c.id, c.source) for c in crits] == [
        ("AC1", "spec.md"),
        ("AC2", "spec.md"),
        ("AC3", "spec.md"),
        ("AC4", "spec.md"),
        ("AC5", "spec.md"),
        ("AC6", "implementation_plan.json"),  # "Unknown codes raise PromoNotFound", renumbered
        ("AC7", "requirements.json"),  # "Codes are trimmed"; its duplicate was dropped
    ]
    assert crits[5].label == "AC1"  # as written in the plan
    assert crits[6].text == "Codes are trimmed"
    assert len({c.id for c in crits}) == len(crits)


def test_collect_criteria_keeps_plan_ids_when_free():
    plan = parse_implementation_plan(json.dumps({"acceptance_criteria": ["AC9: from the plan"]}))
    crits = collect_criteria("## Acceptance Criteria\n- from the spec\n", plan, None)
    assert [(c.id, c.text) for c in crits] == [("AC1", "from the spec"), ("AC9", "from the plan")]


def test_collect_criteria_without_a_spec_and_user_requirements_fallback():
    assert collect_criteria(None, None, None) == []
    crits = collect_criteria(None, None, {"user_requirements": ["Add a dark mode toggle"]})
    assert [(c.id, c.text, c.source) for c in crits] == [
        ("AC1", "Add a dark mode toggle", "requirements.json")
    ]
