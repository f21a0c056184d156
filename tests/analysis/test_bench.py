"""bench/detection.py runs and writes the row format the issue specifies."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "detection.py"


@pytest.fixture(scope="module")
def rows(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, object]]:
    spec = importlib.util.spec_from_file_location("detection_bench", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path_factory.mktemp("bench") / "detection.json"
    assert module.main(["--runs", "40", "--cusum-runs", "40", "--json", str(out)]) == 0
    return json.loads(out.read_text())


def test_row_format(rows: list[dict[str, object]]) -> None:
    keys = {"method", "scenario", "share", "false_rollback_rate", "median", "p95"}
    methods = {"saferollout", "normal-mixture", "naive-z", "flagger-threshold", "kayenta-mw"}
    assert {r["method"] for r in rows} == methods
    assert len(rows) == len(methods) * 2 * 2  # scenarios x shares
    for row in rows:
        assert set(row) == keys
        assert row["scenario"] in ("aa", "shift")
        assert row["share"] in (0.1, 0.5)
        if row["scenario"] == "aa":
            assert isinstance(row["false_rollback_rate"], float)
            assert row["median"] is None and row["p95"] is None
        else:
            assert row["false_rollback_rate"] is None
            assert row["median"] is None or isinstance(row["median"], float)
            assert row["p95"] is None or isinstance(row["p95"], float)
