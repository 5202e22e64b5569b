"""docker-compose.yml, the Dockerfile and their surroundings, read the way Docker reads them
(shared by the deployment tests)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
DOCKERFILE = REPO_ROOT / "deploy" / "Dockerfile"
DOCKERIGNORE = REPO_ROOT / ".dockerignore"
PYPROJECT = REPO_ROOT / "pyproject.toml"

OUR_IMAGE = "frontdesk:latest"
# The master key compose demands (`:?`); any value works for interpolating the file in tests.
TEST_ENV = {"FRONTDESK_MASTER_KEY": "dGVzdC1rZXktdGVzdC1rZXktdGVzdC1rZXktdGVzdA==", "FRONTDESK_ADMIN_KEY": "test-operator-key"}

# Services that hold data which must outlive their containers.
STATEFUL = {
    "postgres": "/var/lib/postgresql",
    "temporal-db": "/var/lib/postgresql/data",
    "redis": "/data",
    "vllm": "/root/.cache/huggingface",
    # Knowledge uploads: the API writes them, ingest workers read them.
    "api": "/data/uploads",
    "ingest-worker": "/data/uploads",
    # Voice notes: conversation workers download and send them, stt workers transcribe and voice them.
    "worker": "/data/media",
    "stt-worker": "/data/media",
}

# `frontdesk <subcommand>` used by compose or the Dockerfile -> the options they pass.
EXPECTED_SUBCOMMANDS = {
    "api": {"--host", "--port"},
    "worker": {"--queue"},
    "migrate": set(),
    "setup-temporal": set(),
}


# --- helpers ----------------------------------------------------------------------------------


def load_compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


def services() -> dict[str, dict[str, Any]]:
    return load_compose()["services"]


# Compose interpolation: ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?err},
# ${NAME?err}, ${NAME:+alt}, $NAME; "$$" is a literal dollar.
_VAR = re.compile(
    r"\$\$|\$\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}"
    r"|\$(?P<bare>[A-Za-z_][A-Za-z0-9_]*)"
)


def interpolate(value: str, env: dict[str, str]) -> str:
    """Resolve a string the way `docker compose` does (the subset we use)."""

    def resolve(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group("braced") or match.group("bare")
        op, arg = match.group("op"), match.group("arg") or ""
        current = env.get(name)
        unset_or_empty = not current if op and op.startswith(":") else current is None
        if op in (":-", "-"):
            return arg if unset_or_empty else current
        if op in (":?", "?"):
            if unset_or_empty:
                raise KeyError(f"{name}: {arg}")
            return current
        if op in (":+", "+"):
            return "" if unset_or_empty else arg
        return current or ""

    return _VAR.sub(resolve, value)


def all_strings(node: Any, path: str = "") -> list[tuple[str, str]]:
    if isinstance(node, str):
        return [(path, node)]
    if isinstance(node, dict):
        return [item for key, value in node.items() for item in all_strings(value, f"{path}.{key}")]
    if isinstance(node, list):
        return [item for i, value in enumerate(node) for item in all_strings(value, f"{path}[{i}]")]
    return []


def env_of(service: dict[str, Any], env: dict[str, str] | None = None) -> dict[str, str]:
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        raw = dict(item.split("=", 1) for item in raw)
    return {key: interpolate(str(value), {**TEST_ENV, **(env or {})}) for key, value in raw.items()}


def command_of(service: dict[str, Any]) -> list[str]:
    command = service.get("command") or []
    return shlex.split(command) if isinstance(command, str) else [str(part) for part in command]


def depends_on(service: dict[str, Any]) -> dict[str, str]:
    raw = service.get("depends_on") or {}
    if isinstance(raw, list):  # short form means "started"
        return {name: "service_started" for name in raw}
    return {name: spec.get("condition", "service_started") for name, spec in raw.items()}


def published_ports(service: dict[str, Any]) -> dict[int, int]:
    """host port -> container port, for short-syntax "[ip:]host:container" entries."""
    result = {}
    for entry in service.get("ports") or []:
        parts = str(entry).split("/")[0].split(":")
        assert len(parts) >= 2, f"port {entry!r} is not published on the host"
        result[int(parts[-2])] = int(parts[-1])
    return result


def named_volumes(service: dict[str, Any]) -> dict[str, str]:
    """volume name -> container path; bind mounts (./..., /...) are left out."""
    result = {}
    for entry in service.get("volumes") or []:
        source, target = str(entry).split(":")[:2]
        if not source.startswith((".", "/", "~")):
            result[source] = target
    return result


def our_services() -> dict[str, dict[str, Any]]:
    return {
        name: svc
        for name, svc in services().items()
        if svc.get("image") == OUR_IMAGE or "build" in svc
    }


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text(encoding="utf-8").replace("\\\n", " ")
    instructions = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            instructions.append((keyword.upper(), rest.strip()))
    return instructions


def exec_form(argument: str) -> list[str]:
    return yaml.safe_load(argument) if argument.startswith("[") else shlex.split(argument)


def frontdesk_invocations() -> list[list[str]]:
    """Every `frontdesk ...` argv the deployment runs (compose commands + Dockerfile CMD)."""
    argvs = [command_of(svc) for svc in our_services().values()]
    argvs += [exec_form(arg) for kw, arg in dockerfile_instructions() if kw == "CMD"]
    return argvs
