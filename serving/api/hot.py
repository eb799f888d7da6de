"""The two hot routes answered beside the framework: score lookups and events.

``GET /v1/customers/{id}/scores`` and ``POST /v1/events`` are the API's busiest requests, and
a lookup its cheapest: one Redis round trip. Through Starlette's router and FastAPI's
dependency solving more than half of a lookup's CPU was the framework's (py-spy at
saturation, issue 22): matching the path against every route, building the request, solving
four dependencies, validating the path parameter. This pure ASGI middleware answers a
well-formed request of either route itself, and with the same code: the key check is
:func:`serving.api.deps.authorized`, the answer the route's own function (called with the
services a dependency would have given it), errors go to the app's exception handlers, and
the request is counted under the route's template by
:class:`~serving.api.metrics.MetricsMiddleware`.

Whatever it does not recognise goes on to the framework, which answers it as before: other
methods and paths, a customer id FastAPI would refuse (empty, longer than 64 characters,
holding a ``/``), a path under a ``root_path``. Both routes stay declared in FastAPI, so
OpenAPI documents them and the framework remains the one definition of what is valid.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from serving import auth
from serving.api import events, scores
from serving.api.deps import authorized

Handler = Callable[[Request, Exception], Awaitable[Response]]


def presented_key(headers: list[tuple[bytes, bytes]]) -> str:
    """The API key a request presents, as FastAPI's ``HTTPBearer`` and the ``X-API-Key``
    fallback read it: ``Authorization: Bearer <key>`` (scheme in any case), else
    ``X-API-Key``; "" for none. The first of a repeated header counts, as in Starlette."""
    authorization = api_key = None
    for name, value in headers:
        if name == b"authorization" and authorization is None:
            authorization = value.decode("latin-1")
        elif name == b"x-api-key" and api_key is None:
            api_key = value.decode("latin-1")
    if authorization:
        scheme, _, credentials = authorization.partition(" ")
        if scheme.lower() == "bearer" and credentials:
            return credentials
    return api_key or ""


class HotRoutes:
    """Answers well-formed score lookups and events; passes every other request to ``app``.

    ``routes`` are the app's routes (the two are found among them by path and put on the
    scope, as the router would, so the metrics name a request by its template); ``prefix``
    the API's (``/v1``); ``handlers`` the app's exception handlers, by exception class.
    """

    def __init__(
        self,
        app: ASGIApp,
        routes: list[BaseRoute],
        prefix: str,
        handlers: dict[type[Exception], Handler],
    ):
        self.app, self.handlers = app, handlers
        by_path = {getattr(r, "path", ""): r for r in routes}
        self.events_path = prefix + events.EVENTS_PATH
        self.lookup, self.events = by_path[prefix + scores.SCORES_PATH], by_path[self.events_path]
        self.head, self.tail = f"{prefix}/customers/", "/scores"

    def customer(self, path: str) -> str | None:
        """The customer id of a score lookup at ``path`` this answers, else None."""
        if not (path.startswith(self.head) and path.endswith(self.tail)):
            return None
        customer = path[len(self.head) : len(path) - len(self.tail)]
        shortest, longest = scores.ID_LENGTH
        return customer if shortest <= len(customer) <= longest and "/" not in customer else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("root_path"):
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        customer = self.customer(path) if method == "GET" else None
        if customer is not None:
            scope["route"] = self.lookup
        elif method == "POST" and path == self.events_path:
            scope["route"] = self.events
        else:
            await self.app(scope, receive, send)
            return
        app = scope["app"].state
        try:
            presented = presented_key(scope["headers"])
            if customer is not None:
                key = authorized(app.services, presented, auth.READ_SCORES)
                response = await scores.customer_scores(customer, app.store, key)
            else:
                key = authorized(app.services, presented, auth.WRITE_EVENTS)
                request = Request(scope, receive)
                response = await events.ingest(request, app.services, app.store, key)
        except Exception as exc:
            handler = self._handler(exc)
            if handler is None:
                raise  # to the app's handler of last resort (a 500), as a route's would
            response = await handler(Request(scope, receive), exc)
        await response(scope, receive, send)

    def _handler(self, exc: Exception) -> Handler | None:
        for cls in type(exc).__mro__:
            if cls is not Exception and cls in self.handlers:
                return self.handlers[cls]
        return None
