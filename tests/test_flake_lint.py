"""The flake lint, rule by rule, on tests that break it and tests that do not."""

from __future__ import annotations

import textwrap

import pytest

from agents_app.guards.flake_lint import RULES, lint


def rules(src: str) -> set[str]:
    return {f.rule for f in lint(textwrap.dedent(src))}


@pytest.mark.parametrize(
    ("rule", "src"),
    [
        ("FL001", "def test_a():\n    assert list({1, 2}) == [1, 2]\n"),
        ("FL001", "def test_a(d):\n    assert list(d.keys())[0] == 'x'\n"),
        ("FL001", "def test_a():\n    assert next(iter(set('ab'))) == 'a'\n"),
        ("FL001", "def test_a(s):\n    assert str(frozenset(s)) == 'x'\n"),
        ("FL002", "import time\ndef test_a():\n    time.sleep(0.5)\n    assert True\n"),
        ("FL003", "import time\ndef test_a():\n    assert time.time() > 0\n"),
        ("FL003", "from datetime import datetime\ndef test_a():\n    assert datetime.now()\n"),
        ("FL003", "import datetime\ndef test_a():\n    assert datetime.date.today()\n"),
        ("FL004", "import random\ndef test_a():\n    assert random.randint(1, 6) < 7\n"),
        ("FL004", "import uuid\ndef test_a():\n    assert uuid.uuid4()\n"),
        ("FL004", "import random\ndef test_a():\n    assert random.Random().random() < 1\n"),
        ("FL005", "import socket\ndef test_a():\n    assert socket.socket()\n"),
        ("FL005", "import requests\ndef test_a():\n    assert requests.get('http://x')\n"),
        ("FL005", "from urllib.request import urlopen\ndef test_a():\n    assert 1\n"),
        ("FL006", "def test_a():\n    open('/tmp/out.txt', 'w').write('x')\n    assert 1\n"),
        ("FL006", "from pathlib import Path\ndef test_a():\n    Path('out.txt').write_text('x')\n"),
        ("FL006", "import shutil\ndef test_a():\n    shutil.rmtree('build')\n"),
        ("FL007", "_seen = []\ndef test_a():\n    _seen.append(1)\n    assert _seen\n"),
        ("FL007", "CACHE = {}\ndef test_a():\n    CACHE['k'] = 1\n    assert CACHE\n"),
        ("FL007", "N = []\ndef test_a():\n    global N\n    N = [1]\n"),
    ],
)
def test_each_rule_fires(rule, src):
    found = lint(src)
    assert rule in {f.rule for f in found}, found
    f = next(f for f in found if f.rule == rule)
    assert f.message.startswith(rule) and RULES[rule][1] in f.message
    assert f.verdict in ("reject", "flag")


def test_clean_tests_have_no_findings():
    assert (
        rules(
            """
        import random
        import time
        from pathlib import Path

        import pytest

        LIMITS = (1, 2)
        TABLE = {"a": 1}

        def test_sorted_set_is_fine():
            assert sorted({3, 1}) == [1, 3]
            assert {1, 2} == {2, 1}
            assert set(TABLE) == {"a"}

        def test_seeded_random():
            random.seed(7)
            assert random.randint(1, 6) in range(1, 7)

        def test_tmp_path_writes(tmp_path):
            (tmp_path / "x.txt").write_text("x")
            open(tmp_path / "y.txt", "w").write("y")
            with open(f"{tmp_path}/z.txt", "w") as fh:
                fh.write("z")
            assert open("README.md").read() is not None

        def test_reads_module_state():
            assert TABLE["a"] == 1 and LIMITS[0] == 1

        def test_zero_sleep_yields():
            time.sleep(0)
            assert True

        def test_local_list_is_fine():
            seen = []
            seen.append(1)
            assert seen == [1]
        """
        )
        == set()
    )


def test_findings_name_the_test_and_line():
    (f,) = lint(
        "import time\n\ndef helper():\n    time.sleep(1)\n\ndef test_x():\n    time.sleep(2)\n"
    )
    assert (f.rule, f.test, f.line) == ("FL002", "test_x", 7)


def test_unparseable_source_has_no_findings():
    assert lint("def test_(:\n") == []


def test_a_seeded_random_generator_is_deterministic():
    source = """
import random


def test_shuffle():
    rng = random.Random(20250108)
    assert rng.randint(1, 6) in range(1, 7)
"""
    assert lint(source) == []
    assert [f.rule for f in lint(source.replace("random.Random(20250108)", "random.Random()"))] == [
        "FL004"
    ]


def test_a_set_or_a_literal_path_bound_to_a_name_first_is_still_caught():
    source = """
from pathlib import Path


def test_order(tmp_path):
    eligible = {"A", "B"}
    assert list(eligible) == ["A", "B"]


def test_file():
    out = Path("summary.txt")
    out.write_text("x")


def test_fine(tmp_path):
    eligible = {"A", "B"}
    eligible = sorted(eligible)
    assert list(eligible) == ["A", "B"]
    out = tmp_path / "summary.txt"
    out.write_text("x")
"""
    assert [(f.rule, f.test) for f in lint(source)] == [
        ("FL001", "test_order"),
        ("FL006", "test_file"),
    ]
