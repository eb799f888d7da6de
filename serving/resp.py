"""Bulk writes in Redis's wire protocol (RESP), encoded column-wise by Arrow.

redis-py builds each command through several Python calls (argument encoding, packing, the
pipeline's bookkeeping): several microseconds per command, which at 500,000 customers is the
whole time budget. Here a batch's commands are assembled by Arrow compute kernels, one
vectorized string concatenation per column, and the result's value buffer, already the
exact bytes Redis expects, goes out in one write over a redis-py connection. The replies
are read with redis-py's parser (hiredis), and any error reply raises.

A bulk string is ``$<byte length>\\r\\n<bytes>\\r\\n``; lengths come from
``binary_length``, so non-ASCII text is encoded correctly too.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import redis

_JOIN = pc.binary_join_element_wise


def bulk_text(text: str) -> str:
    """One bulk string for a constant argument."""
    return f"${len(text.encode())}\r\n{text}\r\n"


def bulk(values: pa.Array) -> pa.Array:
    """Each value as a RESP bulk string (values are cast to text first)."""
    text = values.cast(pa.string())
    return _JOIN("$", pc.binary_length(text).cast(pa.string()), "\r\n", text, "\r\n", "")


def bulk_column(values: pa.Array) -> pa.Array | str:
    """Like :func:`bulk`, cheaper for the low-cardinality columns a score batch has: a
    constant column becomes one constant string, a few distinct values are encoded once
    each and gathered."""
    encoded = pc.dictionary_encode(values)
    if len(encoded.dictionary) == 1 and not values.null_count:
        return bulk_text(str(encoded.dictionary[0].as_py()))
    if len(encoded.dictionary) * 4 <= len(values):
        return pc.take(bulk(encoded.dictionary), encoded.indices)
    return bulk(values)


def concat(*parts: pa.Array | str) -> pa.Array:
    """Row-wise concatenation of arrays and constant strings (adjacent constants merged)."""
    merged: list[pa.Array | str] = []
    for part in parts:
        if isinstance(part, str) and merged and isinstance(merged[-1], str):
            merged[-1] += part
        else:
            merged.append(part)
    return _JOIN(*merged, "")


def payload(rows: pa.Array) -> bytes:
    """The bytes of a string array without nulls: its value buffer from first to last row."""
    if rows.null_count:
        raise ValueError("a command row is null (a null column value?)")
    width = np.int64 if rows.type == pa.large_string() else np.int32
    offsets = np.frombuffer(rows.buffers()[1], dtype=width)
    start, end = int(offsets[rows.offset]), int(offsets[rows.offset + len(rows)])
    return bytes(memoryview(rows.buffers()[2])[start:end])


def send(client: redis.Redis, data: bytes, count: int) -> None:
    """Send pre-encoded commands in one write and read their ``count`` replies."""
    connection = client.connection_pool.get_connection()
    try:
        connection.send_packed_command([data], check_health=False)
        for _ in range(count):
            connection.read_response()
    except BaseException:
        connection.disconnect()  # replies may be left unread: never reuse this socket
        raise
    finally:
        client.connection_pool.release(connection)
