"""Every API route of the app, however FastAPI nests included routers."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from fastapi.routing import APIRoute


def api_routes(routes: Iterable) -> Iterator[APIRoute]:
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif (router := getattr(route, "original_router", None)) is not None:
            # FastAPI 0.16x keeps `include_router` lazy; we add no prefix when including.
            yield from api_routes(router.routes)
