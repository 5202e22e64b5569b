"""Rendering a profile into the system prompt, and the template rules enforced at save time."""

from __future__ import annotations

import pytest

from agent.prompt import (
    DEFAULT_TEMPLATE,
    ProfilePrompt,
    TemplateError,
    check_template,
    render_system_prompt,
    render_template,
    template_diff,
)


def test_the_prompt_carries_persona_restrictions_and_disclaimers():
    profile = ProfilePrompt(
        template="You are {persona_name} of {tenant_name}, {tone}; you are {traits}. Profile {profile_name}.",
        persona_name="Asha", tone="warm", traits=("patient", "precise"),
        restrictions=("Never promise delivery dates.",), disclaimers=("Prices include VAT.",), profile_name="Support",
    )  # fmt: skip
    prompt = render_system_prompt(profile, "Acme")
    assert prompt.startswith("You are Asha of Acme, warm; you are patient, precise. Profile Support.")
    assert "- Never promise delivery dates." in prompt
    assert "disclaimers" in prompt and "- Prices include VAT." in prompt


def test_the_default_template_is_valid_and_names_the_tenant():
    check_template(DEFAULT_TEMPLATE)
    assert "Acme" in render_system_prompt(ProfilePrompt(DEFAULT_TEMPLATE, "Asha", "warm"), "Acme")


@pytest.mark.parametrize(
    ("template", "reason"),
    [
        ("Hi {customer_name}", "{customer_name}"),
        ("{tone.__class__}", "{tone.__class__}"),  # attribute access never reaches an object
        ("{traits[0]}", "{traits[0]}"),
        ("{tone!r}", "without a format spec"),
        ("{persona_name:>40}", "without a format spec"),
        ("an open { brace", "not well formed"),
    ],
)
def test_unknown_or_clever_placeholders_are_refused(template, reason):
    with pytest.raises(TemplateError) as caught:
        check_template(template)
    assert reason in str(caught.value)


def test_literal_braces_and_unknown_values_stay_visible():
    assert render_template('JSON looks like {{"a": 1}}; {tone} {other}', {"tone": "calm"}) == 'JSON looks like {"a": 1}; calm {other}'


def test_the_diff_shows_the_changed_line():
    diff = template_diff("line one\nline two\n", "line one\nline 2\n", "version 1", "version 2")
    assert "--- version 1" in diff and "+++ version 2" in diff
    assert "-line two\n" in diff and "+line 2\n" in diff and " line one\n" in diff
