"""Loading rollout.yaml: YAML -> ${VAR} expansion -> pydantic, errors with line numbers.

PyYAML's node tree keeps the line of every key, so we build the plain data
ourselves from the nodes and remember `path -> line`; pydantic's error
locations are then mapped back to the line a user has to edit.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import yaml
from pydantic import ValidationError

from ._models import RolloutConfig

Path_ = tuple[str | int, ...]

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass(frozen=True)
class ConfigIssue:
    path: str  # dotted YAML path, e.g. "versions.canary.url"
    line: int | None  # 1-based line in the file
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line else ""
        return f"{where}{self.path or '<root>'}: {self.message}"


class ConfigError(Exception):
    """rollout.yaml is not valid; `issues` lists every problem with path and line."""

    def __init__(self, source: str, issues: list[ConfigIssue]) -> None:
        self.source = source
        self.issues = issues
        super().__init__("\n".join(f"{source}: {i}" for i in issues))


def _dotted(path: Path_) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


# rollout.yaml nests a few levels and holds a few hundred values; far more
# comes from aliases multiplying (a "billion laughs" file) or a broken file.
MAX_DEPTH = 64
MAX_VALUES = 100_000
_MERGE_TAG = "tag:yaml.org,2002:merge"


class _TooLarge(Exception):
    """Building stopped: the document nests too deeply or expands to too many values."""


class _Builder:
    """Turns a YAML node tree into plain data, recording each path's line."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self._loader = yaml.SafeLoader("")
        self.lines: dict[Path_, int] = {}
        self.issues: list[ConfigIssue] = []
        self._values = 0
        self._open: set[int] = set()  # ids of the collections being built (alias cycles)

    def build(self, node: yaml.Node, path: Path_) -> Any:
        self.lines.setdefault(path, node.start_mark.line + 1)
        self._values += 1
        if len(path) > MAX_DEPTH:
            self._issue(path, f"the document nests deeper than {MAX_DEPTH} levels")
            raise _TooLarge
        if self._values > MAX_VALUES:
            self._issue(path, f"the document expands to more than {MAX_VALUES} values (aliases?)")
            raise _TooLarge
        if isinstance(node, yaml.MappingNode | yaml.SequenceNode):
            if id(node) in self._open:
                self._issue(path, "an alias refers to a collection that contains it")
                return None
            self._open.add(id(node))
            try:
                return self._collection(node, path)
            finally:
                self._open.discard(id(node))
        # Scalars: the tag resolved at compose time picks int, bool, null... as safe_load
        # would. An explicit tag on a bad value (`!!int abc`, `!!python/object`) makes
        # PyYAML's constructors raise whatever int(), float() or a regex match raise.
        try:
            value = self._loader.construct_object(node)
        except Exception:
            self._issue(path, f"cannot read {_clip(node.value)!a} as {node.tag}")
            return None
        if isinstance(value, str):
            value = self._expand(value, path)
            if not _utf8(value):
                self._issue(path, "the text has a lone surrogate escape (not valid Unicode)")
                return None
        elif isinstance(value, int) and not -(2**63) <= value < 2**63:
            # The config hash (orjson) and the store take 64-bit integers.
            self._issue(path, f"{_clip(str(value))} is out of range (64-bit integer)")
            return None
        return value

    def _collection(self, node: yaml.MappingNode | yaml.SequenceNode, path: Path_) -> Any:
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or not _utf8(key_node.value):
                self.lines.setdefault((*path, "?"), key_node.start_mark.line + 1)
                self._issue((*path, "?"), "a key must be plain text")
                continue
            key = key_node.value
            child = (*path, key)
            self.lines[child] = key_node.start_mark.line + 1
            if key_node.tag == _MERGE_TAG:
                self._issue(child, "YAML merge keys (<<) are not supported; write the keys out")
                continue
            if key in out:
                self._issue(child, "duplicate key")
                continue
            out[key] = self.build(value_node, child)
        return out

    def _expand(self, text: str, path: Path_) -> str:
        def sub(m: re.Match[str]) -> str:
            name, default = m.group(1), m.group(2)
            if name in self.env:
                return self.env[name]
            if default is not None:
                return default
            self._issue(path, f"environment variable {name} is not set (used as ${{{name}}})")
            return ""

        return _VAR.sub(sub, text)

    def _issue(self, path: Path_, message: str) -> None:
        self.issues.append(ConfigIssue(_dotted(path), self.line_of(path), message))

    def line_of(self, path: Path_) -> int | None:
        # The closest enclosing path we know a line for (a missing key has none).
        for cut in range(len(path), -1, -1):
            if path[:cut] in self.lines:
                return self.lines[path[:cut]]
        return None


def parse_config(
    text: str, *, source: str = "<string>", env: dict[str, str] | None = None
) -> RolloutConfig:
    """Parse and validate rollout.yaml text; raise ConfigError listing every problem."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise ConfigError(source, [ConfigIssue("", line, f"invalid YAML: {exc.problem}")]) from None
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow
        line = text.count("\n", 0, exc.position) + 1
        char = exc.character if isinstance(exc.character, int) else ord(exc.character[:1] or b"\0")
        message = f"invalid YAML: character U+{char:04X} is not allowed"
        raise ConfigError(source, [ConfigIssue("", line, message)]) from None
    except yaml.YAMLError as exc:
        raise ConfigError(source, [ConfigIssue("", None, f"invalid YAML: {exc}")]) from None
    except RecursionError:  # PyYAML's composer recurses once per nesting level
        raise ConfigError(source, [ConfigIssue("", 1, "the YAML nests too deeply")]) from None
    if node is None:
        raise ConfigError(source, [ConfigIssue("", 1, "the file is empty")])
    builder = _Builder(dict(os.environ) if env is None else env)
    try:
        data = builder.build(node, ())
    except _TooLarge:
        raise ConfigError(source, builder.issues) from None
    if not isinstance(data, dict):
        raise ConfigError(source, [ConfigIssue("", 1, "the top level must be a mapping")])
    issues = list(builder.issues)
    try:
        config = RolloutConfig.model_validate(data)
    except ValidationError as exc:
        reported = {i.path for i in issues}
        for err in exc.errors():
            loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and "[" in p))
            message = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                message = "unknown key"
            if _dotted(loc) not in reported:
                issues.append(ConfigIssue(_dotted(loc), builder.line_of(loc), message))
    if issues:
        raise ConfigError(source, issues)
    return config


def _utf8(text: str) -> bool:
    """False for a lone surrogate ("\\ud800" in a quoted string): it cannot be
    printed, hashed (orjson) or stored."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _clip(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def load_config(path: str | Path, *, env: dict[str, str] | None = None) -> RolloutConfig:
    """Read and validate a rollout.yaml file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(p), [ConfigIssue("", None, f"cannot read: {exc.strerror}")]) from None
    except UnicodeDecodeError:
        raise ConfigError(str(p), [ConfigIssue("", None, "not UTF-8 text")]) from None
    return parse_config(text, source=str(p), env=env)


def config_hash(config: RolloutConfig) -> str:
    """sha256 of the validated configuration in canonical JSON.

    Formatting, comments, key order and spelling out a default do not change
    it; any change of meaning does.
    """
    canonical = orjson.dumps(config.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()


def version_hash(config: RolloutConfig, name: str) -> str:
    """Hash of what defines one version's behaviour: its server entry and the
    safety settings it is judged with (what a preflight receipt binds to)."""
    payload = {
        "version": config.versions[name].model_dump(mode="json"),
        "safety": config.safety.model_dump(mode="json"),
    }
    return hashlib.sha256(orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)).hexdigest()


def config_schema() -> dict[str, Any]:
    return RolloutConfig.model_json_schema()
