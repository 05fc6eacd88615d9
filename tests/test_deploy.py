"""deploy/ cannot run here (no container runtime), so what can be checked without one is: the
compose file has the topology docs/scale-out.md draws, each node's flags give a config the
engine accepts, and every variable the files use is in deploy/example.env."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from engine.config.checks import validate_config

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"


def _compose() -> dict[str, Any]:
    doc = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


def _role(command: list[str]) -> str:
    return command[command.index("--role") + 1]


def _sets(command: list[str]) -> dict[str, str]:
    pairs = [command[i + 1] for i, arg in enumerate(command) if arg == "--set"]
    return dict(pair.split("=", 1) for pair in pairs)


def test_two_collect_and_two_process_nodes_over_postgres_and_nats() -> None:
    services = _compose()["services"]
    engines = {name: s["command"] for name, s in services.items() if s.get("image") == "cdp-engine"}
    roles = sorted(_role(command) for command in engines.values())
    assert roles == ["collect", "collect", "process", "process"]
    assert "--jetstream" in services["nats"]["command"]
    assert services["postgres"]["image"].startswith("postgres:")
    for name, command in engines.items():
        sets = _sets(command)
        assert sets["storage.backend"] == "postgres", name
        assert sets["transport.backend"] == "nats", name
        assert "@postgres:" in sets["storage.dsn"] and "nats://nats:" in sets["transport.url"]
        assert ":" not in sets["storage.dsn"].split("//", 1)[1].split("@", 1)[0], (
            "the password goes in PGPASSWORD, not on a command line")
        assert services[name]["environment"]["PGPASSWORD"].startswith("${POSTGRES_PASSWORD")


def test_every_node_is_a_config_the_engine_accepts() -> None:
    image_config = ROOT / "config.example.yaml"  # what the Dockerfile copies to /app/config.yaml
    dockerfile = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    assert "COPY config.example.yaml ./config.yaml" in dockerfile
    assert "COPY mappings ./mappings" in dockerfile
    for name, service in _compose()["services"].items():
        if service.get("image") != "cdp-engine":
            continue
        command = service["command"]
        assert command[:3] == ["serve", "--config", "/app/config.yaml"], name
        result = validate_config(image_config, overrides=_sets(command), environ={})
        assert result.ok, (name, [d.render() for d in result.diagnostics])


def test_the_balancer_spreads_collect_over_the_collect_nodes() -> None:
    nginx = (DEPLOY / "nginx.conf").read_text(encoding="utf-8")
    services = _compose()["services"]
    collectors = sorted(n for n, s in services.items()
                        if s.get("image") == "cdp-engine" and _role(s["command"]) == "collect")
    assert sorted(re.findall(r"server (\S+):8080", nginx)) == collectors
    assert "location /collect/" in nginx and "proxy_next_upstream error timeout http_503" in nginx


def _variables(path: Path) -> set[str]:
    """The ${VAR}s a file uses, comments left out."""
    lines = [line.split(" #", 1)[0] for line in path.read_text(encoding="utf-8").splitlines()
             if not line.lstrip().startswith("#")]
    return set(re.findall(r"\$\{([A-Z_]+)", "\n".join(lines)))


def test_example_env_names_every_variable_the_files_use() -> None:
    env = {line.split("=", 1)[0] for line in
           (DEPLOY / "example.env").read_text(encoding="utf-8").splitlines()
           if line and not line.startswith("#")}
    used = _variables(DEPLOY / "compose.yaml") | _variables(ROOT / "config.example.yaml")
    assert "POSTGRES_PASSWORD" in used
    assert used <= env
