"""No route of the API waits for a thread: FastAPI runs a plain ``def`` dependency in its
thread pool, a hop to another thread and back on every request (issue 22)."""

from __future__ import annotations

import inspect
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from serving.api import create_app


def calls(dependant: Dependant) -> list[object]:
    found = []
    for sub in dependant.dependencies:
        found += [sub.call, *calls(sub)]
    return found


def is_async(call: Any) -> bool:
    # a function, or an instance whose __call__ is async (HTTPBearer)
    return inspect.iscoroutinefunction(call) or inspect.iscoroutinefunction(call.__call__)


def test_every_route_and_dependency_runs_on_the_event_loop() -> None:
    routes = [r for r in create_app().routes if isinstance(r, APIRoute)]
    assert len(routes) > 20
    sync = sorted(
        {
            f"{route.path}: {getattr(call, '__qualname__', call)}"
            for route in routes
            for call in [route.endpoint, *calls(route.dependant)]
            if not is_async(call)
        }
    )
    assert sync == []
