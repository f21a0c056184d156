"""hypothesis on rollout.yaml loading: every invalid file is a ConfigError whose
issues name what and where (path, line), never another exception.

Documents are valid configs mutated two ways: as data (drop keys, unknown keys,
wrong types, bad nesting, odd scalars, unknown ${VAR}) dumped back to YAML, and
as text (lines dropped or repeated, junk and YAML syntax inserted, truncation).
"""

from __future__ import annotations

import copy
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from saferollout.config import ConfigError, config_hash, parse_config, version_hash

from .conftest import STATS

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = (ROOT / "examples" / "rollout.yaml").read_text()
MINIMAL = """\
versions:
  a: {url: "http://127.0.0.1:1/v1", model: m}
  b: {url: "http://127.0.0.1:2/v1", model: n}
stable: a
candidate: b
"""


def _uncomment_optional_sections(text: str) -> str:
    """The example with its commented-out sections (clients, alerts, preflight) on."""
    lines = text.splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.startswith("retry_on_stable"))
    rest = [line[2:] if line.startswith("# ") else line for line in lines[start + 1 :]]
    return "".join(lines[: start + 1] + rest)


SEEDS = {"example": EXAMPLE, "minimal": MINIMAL, "full": _uncomment_optional_sections(EXAMPLE)}
SEED_DATA = {name: yaml.safe_load(text) for name, text in SEEDS.items()}
FUZZ_SETTINGS = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,  # the same documents in CI and here
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

ODD_SCALARS = st.sampled_from(
    ["yes", "no", "on", "~", "null", "0x1F", "0o17", "1_000", "1e3", ".inf", "-.nan", "2024-01-01",
     "", " ", "http://", "${", "${}", "${NOPE", "$${X}", "\\ud800", "0" * 400]
)  # fmt: skip
VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=2**63),
    st.floats(),  # nan and inf included
    st.text(max_size=20),
    ODD_SCALARS,
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


def _paths(data: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(data, dict):
        for k, v in data.items():
            out += _paths(v, (*path, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out += _paths(v, (*path, i))
    return out


def _get(data: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        data = data[part]
    return data


@st.composite
def mutated_data(draw: st.DrawFn) -> str:
    """A seed config changed as data, 1 to 3 times, dumped back to YAML."""
    data = copy.deepcopy(SEED_DATA[draw(st.sampled_from(sorted(SEEDS)))])
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(data)))
        op = draw(st.sampled_from(["drop", "unknown_key", "wrong_type", "nest", "env"]))
        node = _get(data, path)
        if not path:  # the root: only keys can be added
            op = "unknown_key"
        parent, last = (_get(data, path[:-1]), path[-1]) if path else (None, None)
        if op == "drop" and parent is not None:
            del parent[last]
        elif op == "unknown_key" and isinstance(node, dict):
            node[draw(st.text(min_size=1, max_size=12))] = draw(VALUES)
        elif op == "nest" and parent is not None:
            parent[last] = draw(st.sampled_from([[node], {"value": node}, [[node]]]))
        elif op == "env" and parent is not None:
            name = draw(st.sampled_from(["UNSET_VAR", "X", "A_B_C"]))
            form = draw(st.sampled_from(["${%s}", "prefix-${%s}", "${%s:-}", "${%s:-d}"]))
            parent[last] = form % name
        elif parent is not None:
            parent[last] = draw(VALUES)
    flow = draw(st.booleans())
    return yaml.safe_dump(data, default_flow_style=flow, sort_keys=False, allow_unicode=True)


JUNK = st.sampled_from(
    [":", ": :", "- ", "\t", "[", "{", "}", "&a ", "*a ", "? ", "%YAML 1.1\n", "---\n", "...\n",
     "${NOPE}", "\x00", "\x1b", "\ufeff", "'", '"', "#", "|\n", ">-\n", "  ", "\n"]
)  # fmt: skip
# What a value can be spelled as in YAML, the odd spellings most of all: explicit
# tags on values they cannot read, escapes, anchors and aliases (one of its own
# collection), flow collections, numbers too long to read.
VALUE_TEXT = st.sampled_from(
    ["!!int abc", "!!float x", "!!bool maybe", "!!timestamp soon", "!!binary '!!'", "!!str 5",
     "!!null x", "!!map []", "!!seq {}", "!!set {a}", "!!omap [a]", "!!python/object:os.system x",
     "!custom x", '"\\ud800"', '"\\x00"', '"\\x1b[31m"', "1" + "0" * 5000, ".nan", "-.inf",
     "1e999", "0x", "0o9", "~", "[]", "{}", "[1, [2, [3]]]", "{a: {b: }}", "*nope", "&x v",
     "&c [*c]", "&m {k: *m}", "${NOPE}", "${NOPE:-}", "${1BAD}", "'unterminated", "[unclosed",
     "yes", "off", "2024-13-45", "-", "- a", "a: b", "? x"]
)  # fmt: skip
KEY_TEXT = st.sampled_from(
    ["[a, b]", "{a: 1}", "!!int x", "!!python/name:os.system", '"\\ud800"', "<<", "? x", "~",
     "''", "&k key", "*k", "1", "-", "true"]
)  # fmt: skip
PREFIX = st.sampled_from(
    [
        "x: &x [*x]\n",
        "? [a, b]\n: 1\n",
        "base: &b {model: m}\n",
        "a: " + "[" * 300 + "\n",
        # aliases repeating aliases: 10^6 values if built out
        "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
        + "".join(
            f"{k}: &{k} [{', '.join([f'*{p}'] * 10)}]\n"
            for p, k in zip("abcde", "bcdef", strict=True)
        ),
    ]
)
# Values are where most of a file's content (and damage) is: they weigh most.
_TEXT_OPS = ["value"] * 4 + ["key", "delete", "repeat", "insert", "indent", "dedent", "text"]
_TEXT_OPS += ["prefix"]
_KEY_VALUE = re.compile(r"^(\s*(?:- )?)([^\s#:][^:#]*):(\s+)(\S.*?)?(\s*#.*)?$")


@st.composite
def broken_text(draw: st.DrawFn) -> str:
    """A seed config changed as text: the damage a hand edit or a bad merge does."""
    lines = SEEDS[draw(st.sampled_from(sorted(SEEDS)))].splitlines(keepends=True)
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(_TEXT_OPS))
        pairs = [i for i, line in enumerate(lines) if _KEY_VALUE.match(line.rstrip("\n"))]
        if op in ("value", "key") and pairs:  # aim at a `key: value` line
            i = draw(st.sampled_from(pairs))
        else:
            i = draw(st.integers(0, len(lines) - 1))
        match = _KEY_VALUE.match(lines[i].rstrip("\n"))
        if op == "delete" and len(lines) > 1:
            del lines[i]
        elif op == "repeat":  # a duplicate key, or a list item twice
            lines.insert(i, lines[i])
        elif op == "insert":
            at = draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:at] + draw(JUNK) + lines[i][at:]
        elif op == "indent":
            lines[i] = draw(st.sampled_from([" ", "  ", "   ", "\t"])) + lines[i]
        elif op == "dedent":
            lines[i] = lines[i].lstrip(" ")
        elif op == "value" and match is not None:
            lines[i] = f"{match[1]}{match[2]}: {draw(VALUE_TEXT)}\n"
        elif op == "key" and match is not None:
            lines[i] = f"{match[1]}{draw(KEY_TEXT)}:{match[3]}{match[4] or ''}\n"
        elif op == "prefix":
            lines.insert(0, draw(PREFIX))
        else:
            at = draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:at] + draw(st.text(max_size=8)) + lines[i][at:]
    text = "".join(lines)
    if draw(st.integers(0, 9)) == 0:  # a file cut short
        text = text[: draw(st.integers(0, len(text)))]
    return text


def _yaml_parses(text: str) -> bool:
    try:
        yaml.compose(text, Loader=yaml.SafeLoader)
    except (yaml.YAMLError, RecursionError):
        return False
    return True


def check_loading(text: str) -> None:
    """The property: a config (that hashes), or a ConfigError naming where."""
    STATS["config"] += 1
    try:
        config = parse_config(text, source="fuzz.yaml", env={})
    except ConfigError as exc:
        STATS["config:error"] += 1
        assert exc.issues, "a ConfigError with no issue"
        last_line = text.count("\n") + 1
        parses = _yaml_parses(text)
        for issue in exc.issues:
            assert isinstance(issue.message, str) and issue.message.strip(), issue
            if parses:  # a document YAML reads: every issue points at a line of it
                assert issue.line is not None and 1 <= issue.line <= last_line, (issue, text)
            # What the CLI prints must be printable (no lone surrogates).
            f"{exc.source}: {issue}".encode()
        return
    STATS["config:ok"] += 1
    config_hash(config)
    for name in config.versions:
        version_hash(config, name)


@FUZZ_SETTINGS
@given(mutated_data())
def test_config_mutated_as_data_loads_or_names_the_problem(text: str) -> None:
    check_loading(text)


@FUZZ_SETTINGS
@given(broken_text())
def test_config_broken_as_text_loads_or_names_the_problem(text: str) -> None:
    check_loading(text)


# Found by the fuzzers above: each was a traceback (or a hang) before the loader
# caught it, and is now one issue with its line.
REGRESSIONS = {
    "explicit_tag_bad_int": ("server:\n  port: !!int abc\n", 2, "cannot read 'abc'"),
    "explicit_tag_bad_bool": ("retry_on_stable: !!bool maybe\n", 1, "cannot read 'maybe'"),
    "explicit_tag_bad_timestamp": ("name: !!timestamp soon\n", 1, "cannot read 'soon'"),
    "python_tag": ("name: !!python/object:os.system x\n", 1, "cannot read 'x'"),
    "int_too_long_to_parse": ("server:\n  port: 1" + "0" * 5000 + "\n", 2, "cannot read"),
    "int_beyond_64_bit": (  # loaded, then `config hash` failed in orjson
        MINIMAL + "strategy:\n  steps:\n  - pause: {requests: 11701998223220008812544}\n",
        8,
        "out of range",
    ),
    "alias_cycle": ("stickiness: &a\n  keys: [*a]\n", 1, "refers to a collection"),
    "complex_key": ("? [a, b]\n: 1\n", 1, "key must be plain text"),
    "nul_character": ("name: x\nstable: a\x00\n", 2, "U+0000 is not allowed"),
    "lone_surrogate": ('name: x\nstable: "\\ud800"\n', 2, "lone surrogate"),
    "merge_key": ("base: &b {model: m}\nserver:\n  <<: *b\n", 3, "merge keys"),
    "deep_nesting": ("a: " + "[" * 2000 + "\n", 1, "nests too deeply"),
    "alias_bomb": (
        "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
        + "".join(
            f"{k}: &{k} [{', '.join([f'*{p}'] * 10)}]\n"
            for p, k in zip("abcdef", "bcdefg", strict=True)
        ),
        1,  # where the aliased values were written
        "expands to more than",
    ),
}


@pytest.mark.parametrize("name", sorted(REGRESSIONS))
def test_loader_regressions_are_clear_errors(name: str) -> None:
    text, line, message = REGRESSIONS[name]
    with pytest.raises(ConfigError) as info:
        parse_config(text, source="r.yaml", env={})
    assert any(i.line == line and message in i.message for i in info.value.issues), (
        info.value.issues
    )


@settings(max_examples=12, deadline=None, derandomize=True, database=None)
@given(text=st.one_of(mutated_data(), broken_text()))
def test_config_validate_cli_never_shows_a_traceback(text: str, tmp_path_factory: Any) -> None:
    """`saferollout config validate`: OK and exit 0, or exit 2 and one line per issue."""
    path = tmp_path_factory.mktemp("cli") / "rollout.yaml"
    path.write_text(text, encoding="utf-8")
    run = subprocess.run(
        [sys.executable, "-m", "saferollout", "config", "validate", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    STATS["cli"] += 1
    assert "Traceback" not in run.stderr, run.stderr
    assert run.returncode in (0, 2), (run.returncode, run.stderr)
    if run.returncode == 0:
        assert run.stdout.strip() == "OK"
    else:
        lines = run.stderr.strip().splitlines()
        assert lines and all(line.startswith(f"{path}: ") for line in lines), run.stderr
