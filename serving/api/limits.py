"""Request bodies the API refuses to read: larger than ``KAIROS_API_MAX_BODY_BYTES``.

Pure ASGI middleware, like the metrics: a declared ``Content-Length`` over the limit gets 413
before anything is read; a body sent without one (chunked) is counted as it arrives and the
route's read fails with 413 once it passes the limit, so no request holds more than the
limit in memory.
"""

from __future__ import annotations

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.api.deps import ApiError


def _too_large(limit: int) -> ApiError:
    return ApiError(413, "body_too_large", f"request bodies are limited to {limit:,} bytes")


class BodyLimit:
    def __init__(self, app: ASGIApp, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            refused = _too_large(self.limit)
            response = JSONResponse(
                {"error": refused.error, "detail": refused.detail}, status_code=refused.status
            )
            await response(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _too_large(self.limit)  # answered by the API's ApiError handler
            return message

        await self.app(scope, counted, send)
