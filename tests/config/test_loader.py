from __future__ import annotations

from pathlib import Path

import pytest

from saferollout.config import ConfigError, config_hash, load_config, parse_config, version_hash

ROOT = Path(__file__).resolve().parents[2]

BASE = """\
versions:
  stable: {url: "http://127.0.0.1:9001/v1", model: m1}
  canary: {url: "http://127.0.0.1:9002/v1", model: m2}
stable: stable
candidate: canary
"""


def errors(text: str, env: dict[str, str] | None = None) -> list[tuple[str, int | None, str]]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, env=env or {})
    return [(i.path, i.line, i.message) for i in info.value.issues]


def test_example_config_is_valid() -> None:
    cfg = load_config(ROOT / "examples" / "rollout.yaml", env={})
    assert cfg.stable == "stable" and cfg.candidate == "candidate"
    assert [s.weight for s in cfg.strategy.steps] == [1, 5, 25, 50]
    assert cfg.strategy.steps[3].pause is not None and cfg.strategy.steps[3].pause.requests is None


def test_defaults() -> None:
    cfg = parse_config(BASE, env={})
    assert cfg.storage.url == "sqlite:///saferollout.db"
    assert [(k.header, k.body) for k in cfg.stickiness.keys] == [
        ("X-Session-Id", None),
        ("X-User-Id", None),
        (None, "user"),
    ]
    assert cfg.retry_on_stable is True
    assert cfg.salt == "default"
    assert cfg.strategy.initial_weight() == 1


def test_unknown_key_names_path_and_line() -> None:
    text = BASE + "server:\n  port: 8080\n  prot: 1\n"
    assert errors(text) == [("server.prot", 8, "unknown key")]


def test_every_error_is_reported_with_its_line() -> None:
    text = """\
versions:
  stable: {url: "http://x/v1", model: m1}
  canary:
    url: ftp://x
    model: m2
    timeout_s: -1
stable: stable
candidate: canary
strategy:
  steps:
    - weight: 150
    - {}
"""
    found = errors(text)
    assert ("versions.canary.url", 4, "must start with http:// or https://") in found
    assert ("versions.canary.timeout_s", 6, "Input should be greater than 0") in found
    assert ("strategy.steps[0].weight", 11, "Input should be less than or equal to 100") in found
    assert ("strategy.steps[1]", 12, "a step needs `weight`, `pause`, or both") in found


def test_stable_must_be_a_version() -> None:
    text = BASE.replace("stable: stable\n", "stable: nope\n")
    [(path, line, message)] = errors(text)
    assert "'nope' is not a key of `versions`" in message
    assert line == 1 and path == ""


@pytest.mark.parametrize(
    "url",
    [
        "sqlite://",
        "sqlite:///:memory:",
        "sqlite+pysqlite:///:memory:",
        "sqlite:///file::memory:?cache=shared",
        "sqlite:///x.db?mode=memory&cache=shared",
    ],
)
def test_in_memory_sqlite_is_refused(url: str) -> None:
    """The record writer and scoring workers are processes: they could not open it."""
    [(path, line, message)] = errors(BASE + f'storage:\n  url: "{url}"\n')
    assert path == "storage.url" and line == 7
    assert "in-memory SQLite" in message and "sqlite:///PATH.db" in message


@pytest.mark.parametrize("url", ["sqlite:///memory.db", "sqlite:////tmp/a.db", "postgresql://h/d"])
def test_shared_storage_urls_are_accepted(url: str) -> None:
    assert parse_config(BASE + f'storage:\n  url: "{url}"\n', env={}).storage.url == url


def test_missing_required_key() -> None:
    found = errors("versions: {}\nstable: a\n")
    assert ("candidate", 1, "Field required") in found


def test_wrong_type_has_line() -> None:
    assert (
        "retry_on_stable",
        6,
        "Input should be a valid boolean, unable to interpret input",
    ) in errors(BASE + "retry_on_stable: sometimes\n")


def test_invalid_yaml_names_line() -> None:
    [(_path, line, message)] = errors("versions: [1,\n  2\nstable: a\n")
    assert line == 3 and message.startswith("invalid YAML")


def test_duplicate_key_is_an_error() -> None:
    assert ("stable", 6, "duplicate key") in errors(BASE + "stable: canary\n")


def test_env_expansion() -> None:
    text = BASE.replace("http://127.0.0.1:9002/v1", "${CAND_URL}").replace(
        "model: m2", 'model: "${CAND_MODEL:-fallback}"'
    )
    cfg = parse_config(text, env={"CAND_URL": "http://10.0.0.9:8000/v1"})
    assert cfg.versions["canary"].url == "http://10.0.0.9:8000/v1"
    assert cfg.versions["canary"].model == "fallback"


def test_missing_env_var_is_an_error_with_line() -> None:
    text = BASE.replace("http://127.0.0.1:9002/v1", "${CAND_URL}")
    found = errors(text)
    assert found[0] == (
        "versions.canary.url",
        3,
        "environment variable CAND_URL is not set (used as ${CAND_URL})",
    )


def test_empty_and_non_mapping_files() -> None:
    assert errors("") == [("", 1, "the file is empty")]
    assert errors("- a\n- b\n") == [("", 1, "the top level must be a mapping")]


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "missing.yaml")
    assert "cannot read" in str(info.value)


def test_hash_ignores_formatting_comments_order_and_spelled_out_defaults() -> None:
    reordered = """\
# a comment
candidate: canary
stable: stable
versions:
  canary:
    model: m2
    url: http://127.0.0.1:9002/v1
  stable:
    model: m1
    url: "http://127.0.0.1:9001/v1"
    timeout_s: 60.0
retry_on_stable: true
"""
    assert config_hash(parse_config(BASE, env={})) == config_hash(parse_config(reordered, env={}))


def test_hash_changes_with_meaning() -> None:
    base = parse_config(BASE, env={})
    changed = parse_config(BASE.replace("model: m2", "model: m3"), env={})
    assert config_hash(base) != config_hash(changed)
    assert version_hash(base, "stable") == version_hash(changed, "stable")
    assert version_hash(base, "canary") != version_hash(changed, "canary")
