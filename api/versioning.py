"""Optimistic concurrency for versioned admin resources: the row's `version` is the ETag, and
an update sends it back as If-Match to fail with 409 when someone changed the row meanwhile."""

from __future__ import annotations

from fastapi import Response

from api.problems import Problem


def set_version_etag(response: Response, version: int) -> None:
    response.headers["ETag"] = f'"{version}"'


def if_match_version(value: str | None) -> int | None:
    """The version an If-Match header names; None when absent or "*" (any version)."""
    if value is None or value.strip() == "*":
        return None
    tag = value.strip().removeprefix("W/").strip('"')
    if not tag.isdigit():
        raise Problem(422, "Invalid If-Match", 'send back the ETag a read returned, e.g. If-Match: "3"')
    return int(tag)
