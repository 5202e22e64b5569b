"""An agent profile's system prompt: the template rendered with the persona, then the profile's
restrictions and required disclaimers as instructions.

Templates name their values as `{persona_name}`; nothing in a template is ever evaluated. Only
the placeholders in PLACEHOLDERS are accepted when a template is saved (check_template), and the
renderer substitutes by name alone: no attribute access, indexing or format specs, so a template
cannot reach into Python objects the way `str.format` would let `{tone.__class__}` do.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from string import Formatter

PLACEHOLDERS = ("persona_name", "tone", "traits", "tenant_name", "profile_name")

DEFAULT_TEMPLATE = (
    "You are {persona_name}, the customer-service assistant of {tenant_name}. Your tone is {tone}. "
    "Answer briefly and politely in the customer's language. If you do not know something, say so and "
    "offer to bring in a person from the team; never invent orders, prices or policies."
)


class TemplateError(ValueError):
    """A template that cannot be saved; the message says why, for the API's 422."""


@dataclass(frozen=True)
class ProfilePrompt:
    """What of a profile goes into its system prompt."""

    template: str
    persona_name: str
    tone: str
    traits: Sequence[str] = ()
    restrictions: Sequence[str] = ()
    disclaimers: Sequence[str] = ()
    profile_name: str = ""


def _pieces(template: str) -> list[tuple[str, str | None, str | None, str | None]]:
    try:
        return list(Formatter().parse(template))
    except ValueError as exc:  # an unmatched "{" or "}"
        raise TemplateError(f"the template is not well formed ({exc}); write a literal brace as {{{{ or }}}}") from None


def check_template(template: str) -> None:
    """Raises TemplateError unless every placeholder is one of PLACEHOLDERS, written plainly."""
    unknown: list[str] = []
    for _, name, spec, conversion in _pieces(template):
        if name is None:
            continue
        if name not in PLACEHOLDERS:
            unknown.append("{" + name + "}")
        elif spec or conversion:
            raise TemplateError(f"write the placeholder as {{{name}}}, without a format spec or conversion")
    if unknown:
        known = ", ".join("{" + p + "}" for p in PLACEHOLDERS)
        raise TemplateError(f"unknown placeholder(s) {', '.join(dict.fromkeys(unknown))}; the template may use {known}")


def render_template(template: str, values: Mapping[str, str]) -> str:
    """Substitutes `values` by name; a placeholder without a value stays visible as written."""
    out: list[str] = []
    for literal, name, spec, conversion in _pieces(template):
        out.append(literal)
        if name is None:
            continue
        if name in values and not spec and not conversion:
            out.append(values[name])
        else:
            out.append("{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}")
    return "".join(out)


def render_system_prompt(profile: ProfilePrompt, tenant_name: str) -> str:
    values = {
        "persona_name": profile.persona_name,
        "tone": profile.tone,
        "traits": ", ".join(profile.traits),
        "tenant_name": tenant_name,
        "profile_name": profile.profile_name,
    }
    parts = [render_template(profile.template, values).strip()]
    if profile.restrictions:
        parts.append("You must always respect these restrictions:\n" + "\n".join(f"- {r}" for r in profile.restrictions))
    if profile.disclaimers:
        parts.append(
            "Include each of these disclaimers, word for word, in every answer it applies to:\n"
            + "\n".join(f"- {d}" for d in profile.disclaimers)
        )
    return "\n\n".join(p for p in parts if p)


def template_diff(old: str, new: str, old_label: str, new_label: str) -> str:
    """A unified diff of two template versions, line by line."""
    lines = difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True), old_label, new_label)
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)

