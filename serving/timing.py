"""Where a request's time goes: a per-request clock of named stages.

The API's metrics middleware opens a :class:`StageClock` for each request (:func:`measuring`);
code on the request's path adds to it with :func:`stage` (``auth``, ``serialize``), and every
Redis round trip the request makes adds to ``redis`` by itself, because the API's client is
made with :func:`time_round_trips`. The clock lives in a context variable, so concurrent
requests on one event loop each see their own, and code run outside a request (the CLI, the
scheduler) pays one ``ContextVar.get`` per command and records nothing.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster

REDIS = "redis"


class StageClock:
    """Seconds spent per stage within one request, and its Redis round trips (sends: a
    pipeline is one, a cluster pipeline one per node it spans)."""

    __slots__ = ("round_trips", "spent")

    def __init__(self) -> None:
        self.spent: dict[str, float] = {}
        self.round_trips = 0

    def add(self, name: str, seconds: float) -> None:
        self.spent[name] = self.spent.get(name, 0.0) + seconds


_current: ContextVar[StageClock | None] = ContextVar("kairos_stage_clock", default=None)


@contextmanager
def measuring() -> Iterator[StageClock]:
    """A fresh clock for the code run within (one request)."""
    clock = StageClock()
    token = _current.set(clock)
    try:
        yield clock
    finally:
        _current.reset(token)


@contextmanager
def stage(name: str) -> Iterator[None]:
    """Add the time spent within to ``name`` on the current request's clock, if any."""
    clock = _current.get()
    if clock is None:
        yield
        return
    began = time.perf_counter()
    try:
        yield
    finally:
        clock.add(name, time.perf_counter() - began)


_timed_classes: dict[type, type] = {}


def _timed(base: type) -> type:
    """``base`` (a redis-py asyncio connection class) whose sends and reads count as
    ``redis``: for a pipeline, one send and a read per reply, so the whole round trip."""
    if base in _timed_classes or base in _timed_classes.values():
        return _timed_classes.get(base, base)

    class Timed(base):
        async def send_packed_command(self, *args: Any, **kwargs: Any) -> Any:
            if (clock := _current.get()) is not None:
                clock.round_trips += 1
            with stage(REDIS):
                return await super().send_packed_command(*args, **kwargs)

        async def read_response(self, *args: Any, **kwargs: Any) -> Any:
            with stage(REDIS):
                return await super().read_response(*args, **kwargs)

    Timed.__name__ = Timed.__qualname__ = f"Timed{base.__name__}"
    _timed_classes[base] = Timed
    return Timed


def time_round_trips(client: aioredis.Redis) -> aioredis.Redis:
    """``client`` with every connection it opens from now on timed as the ``redis`` stage:
    a node's pool, or each cluster node (those known and those found later). Call it before
    the first command."""
    if isinstance(client, AsyncRedisCluster):
        manager = client.nodes_manager
        manager.connection_kwargs["connection_class"] = _timed(
            manager.connection_kwargs.get("connection_class", aioredis.Connection)
        )
        for node in manager.startup_nodes.values():
            node.connection_class = _timed(node.connection_class)
    else:
        pool = client.connection_pool
        pool.connection_class = _timed(pool.connection_class)
    return client
