"""Redis clients from ``KAIROS_REDIS_URL``: one node, or a Redis Cluster.

    redis://[:password@]host:6379/0          one node (or a primary, replicas behind it)
    redis+cluster://[:password@]host:7000    a Redis Cluster: any node; the others are found
    rediss+cluster://...                     the same over TLS (ElastiCache cluster mode)

A cluster client offers the same commands Kairos uses (single-key commands, pipelines split
by slot, transactions and scripts within one slot, ``SCAN`` over every primary), so the rest
of the code takes either as a ``redis.Redis``. What acts on one node's whole data (``INFO``,
``BGREWRITEAOF``, the materializer's raw wire-protocol writes) goes through :func:`nodes` or
:func:`node_of`.
"""

from __future__ import annotations

import contextlib
from typing import Any, cast
from urllib.parse import urlsplit, urlunsplit

import redis
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.cluster import RedisCluster
from redis.crc import key_slot

CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}


def is_cluster(url: str) -> bool:
    return urlsplit(url).scheme in CLUSTER_SCHEMES


def _node_url(url: str) -> str:
    """The cluster URL with the plain scheme the client libraries parse (db 0 only)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(scheme=CLUSTER_SCHEMES[parts.scheme], path=""))


# redis-py 8 speaks RESP3 and converts every reply back to the RESP2 shapes Kairos reads; for
# a sorted set's scores that is float -> text -> float per member (an audience page of 1,000
# parsed 30% slower). Kairos uses nothing of RESP3 (client-side caching, pushes), so its
# clients speak RESP2; a ``?protocol=3`` in the URL still wins.
PROTOCOL = 2


def connect(url: str, **options: Any) -> redis.Redis:
    """A client of the node or cluster ``url`` names."""
    options.setdefault("protocol", PROTOCOL)
    if is_cluster(url):
        return cast(redis.Redis, RedisCluster.from_url(_node_url(url), **options))
    return redis.Redis.from_url(url, **options)


def connect_async(url: str, **options: Any) -> aioredis.Redis:
    """An asyncio client of the node or cluster ``url`` names."""
    options.setdefault("protocol", PROTOCOL)
    if is_cluster(url):
        return cast(aioredis.Redis, AsyncRedisCluster.from_url(_node_url(url), **options))
    return aioredis.Redis.from_url(url, **options)


def is_cluster_client(client: redis.Redis) -> bool:
    return isinstance(client, RedisCluster)


async def open_async(url: str, **options: Any) -> aioredis.Redis:
    """:func:`connect_async`, :func:`initialized`."""
    return await initialized(connect_async(url, **options))


async def initialized(client: aioredis.Redis) -> aioredis.Redis:
    """``client``, with a cluster's topology read before the first command: a cluster client
    that discovers it lazily, under concurrent first requests, may drop the connections
    other requests are using (redis-py 8.1), which they see as an error."""
    if isinstance(client, AsyncRedisCluster):
        with contextlib.suppress(redis.RedisError):  # unreachable yet: the first command retries
            await client.initialize()
    return client


def nodes(client: redis.Redis) -> list[redis.Redis]:
    """A client per node holding data: the client itself, or one per cluster primary."""
    if isinstance(client, RedisCluster):
        return [
            cast(redis.Redis, client.get_redis_connection(node)) for node in client.get_primaries()
        ]
    return [client]


def node_of(client: redis.Redis, key: str) -> redis.Redis:
    """The client of the node that holds ``key`` (the client itself off a cluster)."""
    if isinstance(client, RedisCluster):
        node = client.get_node_from_key(key)
        return cast(redis.Redis, client.get_redis_connection(node))
    return client


def by_node(client: redis.Redis, keys: list[str]) -> list[tuple[redis.Redis, list[int]]]:
    """The positions of ``keys`` grouped by the cluster node holding each (one group, the
    client itself, off a cluster)."""
    if not isinstance(client, RedisCluster):
        return [(client, list(range(len(keys))))]
    groups: dict[str, list[int]] = {}
    nodes_by_name = {}
    for n, key in enumerate(keys):
        node = client.nodes_manager.get_node_from_slot(key_slot(key.encode()))
        groups.setdefault(node.name, []).append(n)
        nodes_by_name[node.name] = node
    return [
        (cast(redis.Redis, client.get_redis_connection(nodes_by_name[name])), rows)
        for name, rows in groups.items()
    ]
