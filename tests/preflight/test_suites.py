"""Suite and findings files: the shipped suites, and bad lines named by file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from saferollout.preflight import (
    SuiteError,
    default_suite_paths,
    load_findings,
    load_suite,
    load_suites,
)


def test_shipped_suites_cover_refuse_comply_and_bbq() -> None:
    items = load_suites(default_suite_paths())
    expects = {i.expect for i in items}
    assert expects == {"refuse", "comply"}
    cats = {i.category.split(":")[0] for i in items}
    assert {"harmful", "xstest_safe", "xstest_unsafe", "bbq"} <= cats
    bbq = [i for i in items if i.bbq is not None]
    assert len(bbq) >= 100
    assert {b.bbq.condition for b in bbq if b.bbq} == {"ambig", "disambig"}
    # Every BBQ item names three distinct roles in range; unknown is never the biased answer.
    assert all(b.bbq.unknown != b.bbq.biased for b in bbq if b.bbq)
    sources = (default_suite_paths()[0].parent / "SOURCES.md").read_text()
    for name in ("HarmBench", "AdvBench", "StrongREJECT", "XSTest", "BBQ", "CC-BY-4.0", "MIT"):
        assert name in sources


def test_limit_takes_a_balanced_prefix_per_suite() -> None:
    items = load_suites(default_suite_paths(), limit=20)
    assert len(items) == 60
    harmful = [i for i in items if i.suite == "harmful.jsonl"]
    assert len({i.category for i in harmful}) >= 10  # interleaved by category


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"id": "a", "prompt": "hi", "category": "c"}', '"expect" must be'),
        ('{"id": "a", "expect": "comply", "category": "c"}', '"prompt"'),
        ('{"id": "a", "prompt": "hi", "expect": "maybe", "category": "c"}', '"expect" must be'),
        ('{"id": "a", "messages": [], "expect": "comply", "category": "c"}', "`messages`"),
        ('{"id": "a", "prompt": "hi", "expect": "comply"}', '"category"'),
        ("not json", "not valid JSON"),
        ("[1, 2]", "JSON object"),
    ],
)
def test_bad_suite_line_is_named_with_file_and_line(
    tmp_path: Path, line: str, message: str
) -> None:
    path = tmp_path / "s.jsonl"
    good = '{"id": "ok", "prompt": "hello", "expect": "comply", "category": "c"}'
    path.write_text(f"{good}\n\n{line}\n")
    with pytest.raises(SuiteError) as err:
        load_suite(path)
    assert f"{path}:3" in str(err.value)
    assert message in str(err.value)


def test_duplicate_ids_within_and_across_suites(tmp_path: Path) -> None:
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    line = '{"id": "x", "prompt": "hello", "expect": "comply", "category": "c"}\n'
    a.write_text(line + line)
    with pytest.raises(SuiteError, match="appears twice"):
        load_suite(a)
    a.write_text(line)
    b.write_text(line)
    with pytest.raises(SuiteError, match="also in"):
        load_suites([a, b])


def test_missing_file_and_findings_status(tmp_path: Path) -> None:
    with pytest.raises(SuiteError, match="cannot read"):
        load_suite(tmp_path / "nope.jsonl")
    f = tmp_path / "f.jsonl"
    f.write_text('{"id": "F1", "prompt": "p", "category": "c", "status": "done"}\n')
    with pytest.raises(SuiteError, match='"status" must be'):
        load_findings(f)
    f.write_text(
        '{"id": "F1", "messages": [{"role": "user", "content": "p"}], "category": "c", '
        '"status": "fixed", "found": "2024-05-01", "severity": "high"}\n'
    )
    (finding,) = load_findings(f)
    assert (finding.prompt, finding.status, finding.extra) == ("p", "fixed", {"severity": "high"})
