"""Column-wise RESP encoding: same effect as redis-py, errors raise, the client stays usable.

The wire-protocol writes go to one node: on a cluster, every key here shares a hash tag and
the bytes go to the node holding it (:func:`serving.connection.node_of`), as the
materializer sends each node its own rows."""

from __future__ import annotations

import pyarrow as pa
import pytest
import redis

from serving import resp
from serving.connection import node_of


def hsets(keys: list[str], values: list[str]) -> pa.Array:
    return resp.concat(
        "*4\r\n$4\r\nHSET\r\n",
        resp.bulk(pa.array(keys)),
        resp.bulk_text("segment"),
        resp.bulk(pa.array(values)),
    )


def test_commands_round_trip_with_byte_lengths(redis_client: redis.Redis) -> None:
    rows = hsets(["{h}:1", "{h}:2", "{h}:3"], ["loyal", "fidèle", "at_risk"])
    resp.send(node_of(redis_client, "{h}"), resp.payload(rows), 3)
    assert redis_client.hget("{h}:2", "segment") == "fidèle"  # byte lengths, not characters
    assert redis_client.hget("{h}:3", "segment") == "at_risk"
    # a slice of an array is encoded from its own first row to its own last one
    resp.send(
        node_of(redis_client, "{h}"),
        resp.payload(hsets(["{h}:4", "{h}:5"], ["a", "b"]).slice(1)),
        1,
    )
    assert redis_client.exists("{h}:4") == 0 and redis_client.hget("{h}:5", "segment") == "b"
    numbers = resp.bulk(pa.array([0.25, 1 / 3]))
    assert numbers.to_pylist() == ["$4\r\n0.25\r\n", "$18\r\n0.3333333333333333\r\n"]


def test_an_error_reply_raises_and_the_client_recovers(redis_client: redis.Redis) -> None:
    good = resp.payload(hsets(["{h}k"], ["v"]))
    bad = (
        f"*4\r\n$4\r\nZADD\r\n{resp.bulk_text('{h}z')}{resp.bulk_text('NaN?')}$1\r\nm\r\n".encode()
    )
    with pytest.raises(redis.ResponseError):
        resp.send(node_of(redis_client, "{h}"), good + bad + good, 3)
    assert redis_client.hget("{h}k", "segment") == "v"
    assert redis_client.ping() is True  # the broken connection was dropped, not reused
    with pytest.raises(ValueError, match="null"):
        resp.payload(resp.bulk(pa.array(["x", None])))
