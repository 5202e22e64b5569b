"""τ²-bench's reward for a retail task run, computed the way τ² computes it.

- A run that did not end by the user's or the agent's own stop (turn limit, errors) scores 0.
- DB: the task's gold actions are replayed on a fresh store (a refused gold call is skipped, as
  in τ²); the run's final database must hash the same (every byte of every order, user and
  gift-card balance: a wrong order cancelled, a missing exchange or an extra refund all fail).
- COMMUNICATE: each `communicate_info` string must appear, case-insensitively, in one of the
  agent's messages with its commas removed ("1,093.34" counts as "1093.34").
- ACTION (only when a task names it in its reward basis; no retail task does): every gold call
  must have been made with the same arguments (`compare_args` when given).
The reward is the product over the task's reward basis (default DB and COMMUNICATE); pass^1 is
the mean reward over tasks.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.tau2.domain import GoldAction, RetailDomain, RetailTask
from bench.tau2.env import RetailEnv, RetailError

# How a run ended. τ² rewards only runs the user or the agent ended themselves.
USER_STOP = "user_stop"  # the simulator said ###STOP###, ###TRANSFER### or ###OUT-OF-SCOPE###
AGENT_STOP = "agent_stop"  # the agent handed the conversation to a person
MAX_TURNS = "max_turns"
ERROR = "error"
FINISHED = frozenset({USER_STOP, AGENT_STOP})
SUPPORTED_BASIS = frozenset({"DB", "COMMUNICATE", "ACTION", "ENV_ASSERTION"})


@dataclass
class TaskScore:
    task_id: str
    reward: float
    termination: str
    db_match: bool | None = None
    missing_info: list[str] = field(default_factory=list)
    actions_matched: int = 0  # gold calls the agent made with the same arguments (a diagnostic)
    actions_total: int = 0
    note: str = ""

    def summary(self) -> dict[str, Any]:
        return {
            "task": self.task_id,
            "reward": self.reward,
            "termination": self.termination,
            "db_match": self.db_match,
            "missing_info": self.missing_info,
            "actions": f"{self.actions_matched}/{self.actions_total}",
            **({"note": self.note} if self.note else {}),
        }


def gold_env(domain: RetailDomain, task: RetailTask) -> RetailEnv:
    """A fresh store after the task's reference solution."""
    env = RetailEnv(domain.fresh_db())
    for action in task.actions:
        try:
            env.call(action.name, dict(action.arguments))
        except RetailError:
            continue  # τ² logs a failing gold call and goes on
    return env


def missing_information(required: Iterable[str], agent_messages: Sequence[str]) -> list[str]:
    """The required strings no agent message contains (τ²'s substring rule)."""
    said = [m.lower().replace(",", "") for m in agent_messages if m]
    return [info for info in required if not any(info.lower() in text for text in said)]


def _matches(action: GoldAction, name: str, arguments: dict[str, Any]) -> bool:
    if action.name != name:
        return False
    keys = set(arguments) if action.compare_args is None else set(action.compare_args)
    if not keys:
        return True
    return {k: v for k, v in arguments.items() if k in keys} == {k: v for k, v in action.arguments.items() if k in keys}


def matched_actions(task: RetailTask, calls: Sequence[tuple[str, dict[str, Any], str | None]]) -> int:
    return sum(1 for action in task.actions if any(_matches(action, name, args) for name, args, _ in calls))


def score_task(
    domain: RetailDomain, task: RetailTask, run_env: RetailEnv, agent_messages: Sequence[str], termination: str, note: str = ""
) -> TaskScore:
    unsupported = set(task.reward_basis) - SUPPORTED_BASIS
    if unsupported:
        raise ValueError(f"task {task.id}: reward basis {sorted(unsupported)} needs an LLM judge, which this bench does not run")
    matched = matched_actions(task, run_env.calls)
    score = TaskScore(task.id, 0.0, termination, actions_matched=matched, actions_total=len(task.actions), note=note)
    if termination not in FINISHED:
        score.note = score.note or f"run ended early ({termination})"
        return score
    reward = 1.0
    if {"DB", "ENV_ASSERTION"} & set(task.reward_basis):
        # Retail tasks carry no env assertions; the database comparison is the whole check.
        score.db_match = run_env.hash() == gold_env(domain, task).hash()
        reward *= 1.0 if score.db_match else 0.0
    if "COMMUNICATE" in task.reward_basis:
        score.missing_info = missing_information(task.communicate_info, agent_messages)
        reward *= 0.0 if score.missing_info else 1.0
    if "ACTION" in task.reward_basis:
        reward *= 1.0 if matched == len(task.actions) else 0.0
    score.reward = reward
    return score


def pass_1(scores: Sequence[TaskScore]) -> float:
    """τ²'s pass^1 with one trial per task: the mean reward."""
    return sum(s.reward for s in scores) / len(scores) if scores else 0.0
