"""Reading request bodies with a size cap, before anything parses them."""

from __future__ import annotations

from fastapi import Request

from api.problems import Problem


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise Problem(400, "Invalid Content-Length header")
        if int(declared) > limit:
            raise Problem(413, "Request body too large", f"the limit is {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:  # chunked uploads carry no Content-Length to check up front
            raise Problem(413, "Request body too large", f"the limit is {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
