"""Configs users copy from the docs must be valid: the README's and deploy/k8s's."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from saferollout.config import parse_config

ROOT = Path(__file__).resolve().parents[2]


def test_the_readme_example_config_is_valid() -> None:
    readme = (ROOT / "README.md").read_text()
    blocks = [b for b in re.findall(r"```yaml\n(.*?)```", readme, re.S) if "versions:" in b]
    assert blocks, "the README shows no rollout.yaml"
    for block in blocks:
        cfg = parse_config(block, source="README.md", env={})
        assert cfg.versions[cfg.candidate].url.startswith("http")


def test_the_kubernetes_configmap_config_is_valid() -> None:
    docs = list(yaml.safe_load_all((ROOT / "deploy" / "k8s" / "gateway.yaml").read_text()))
    [configmap] = [d for d in docs if d and d.get("kind") == "ConfigMap"]
    env = {"DATABASE_URL": "postgresql://u@db/saferollout"}
    cfg = parse_config(configmap["data"]["rollout.yaml"], source="gateway.yaml", env=env)
    assert cfg.storage.url == env["DATABASE_URL"]
    assert cfg.storage.retention.days == 30
    assert cfg.alerts.sinks and cfg.server.admin_token_env
