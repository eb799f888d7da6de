"""``python -m serving api --workers 2`` as a user runs it: each worker accepts on its own
socket, new connections are spread over both, a dead worker is replaced, a second API on the
same port is refused, and SIGTERM stops them all (:mod:`serving.api.workers`)."""

from __future__ import annotations

import http.client
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from devtools.services import free_port
from tests.integration.serving.conftest import Api

pytestmark = pytest.mark.node_only("which worker accepts a connection is not Redis's concern")

CONNECTIONS = 32
PID = re.compile(rb'kairos_api_process_info\{pid="(\d+)"\}')


def listening_sockets(port: int) -> int:
    """Listening TCP sockets on ``port`` in this network namespace (/proc/net/tcp{,6})."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as rows:
            next(rows)
            for row in rows:
                local, state = row.split()[1], row.split()[3]
                count += state == "0A" and int(local.rsplit(":", 1)[1], 16) == port
    return count


def answering_pid(connection: http.client.HTTPConnection) -> int:
    """The worker behind ``connection`` (kept alive), as its /metrics names itself."""
    connection.request("GET", "/metrics")
    response = connection.getresponse()
    body = response.read()
    assert response.status == 200
    match = PID.search(body)
    assert match, "no kairos_api_process_info in /metrics"
    return int(match.group(1))


def spread(port: int) -> Counter[int]:
    """How many of :data:`CONNECTIONS` connections, all open at once, each worker took."""
    connections = [
        http.client.HTTPConnection("127.0.0.1", port, timeout=5) for _ in range(CONNECTIONS)
    ]
    try:
        for connection in connections:
            connection.connect()
        return Counter(answering_pid(c) for c in connections)
    finally:
        for connection in connections:
            connection.close()


def wait_until(check, seconds: float = 30, what: str = "") -> None:  # type: ignore[no-untyped-def]
    """Until ``check()`` is true; a connection refused or reset on the way counts as not yet."""
    deadline = time.monotonic() + seconds
    while not _holds(check):
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds} s: {what}")
        time.sleep(0.1)


def _holds(check) -> bool:  # type: ignore[no-untyped-def]
    try:
        return bool(check())
    except OSError:
        return False


def healthy(port: int) -> bool:
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        connection.request("GET", "/healthz")
        return connection.getresponse().status == 200
    except OSError:
        return False


def start(api: Api, port: int, workers: int = 2) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "KAIROS_REDIS_URL": api.settings.redis_url,
        "KAIROS_API_KEYS_FILE": api.settings.api_keys_file,
        "KAIROS_TRIGGERS_FILE": api.settings.triggers_file,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "serving", "api", "--port", str(port), "--workers", str(workers)],
        env=env,
        stderr=subprocess.PIPE,
    )


@contextmanager
def running(api: Api, workers: int = 2) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """The API in its own process on a free port, every worker listening."""
    port = free_port()
    process = start(api, port, workers)
    try:
        wait_until(
            lambda: listening_sockets(port) == workers and healthy(port),
            what=f"{workers} workers listening on {port}",
        )
        yield process, port
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(30)


def test_each_worker_accepts_on_its_own_socket(api: Api) -> None:
    """uvicorn's --workers shares one socket among its workers (one listener here, whatever
    the count); each worker now binds its own in the port's SO_REUSEPORT group."""
    with running(api) as (_, port):
        assert listening_sockets(port) == 2


def test_new_connections_are_spread_over_both_workers(api: Api) -> None:
    """32 keep-alive connections opened at once: the kernel hashes each to one of two
    sockets, so each worker gets 16 on average; fewer than 6 has a probability of 1e-4."""
    with running(api) as (_, port):
        taken = spread(port)
    assert len(taken) == 2, f"one worker took every connection: {dict(taken)}"
    assert min(taken.values()) >= 6, dict(taken)


def test_a_second_api_on_the_same_port_is_refused_and_takes_no_connections(api: Api) -> None:
    """The attack SO_REUSEPORT opens: a second server of the same user joining the port's
    group would take half of the new connections. The second API checks the port with a
    plain bind first, which fails while any listener holds it, and exits."""
    with running(api) as (_, port):
        before = set(spread(port))
        intruder = start(api, port)
        try:
            _, err = intruder.communicate(timeout=60)
        finally:
            if intruder.poll() is None:
                intruder.kill()
        assert intruder.returncode == 1
        assert f"cannot serve on 127.0.0.1:{port}" in err.decode()
        assert listening_sockets(port) == 2
        assert set(spread(port)) == before


def test_a_dead_worker_is_replaced_and_sigterm_stops_them_all(api: Api) -> None:
    """A connection landing on the killed worker's socket as it dies is reset (as with any
    server whose process is killed); the survivor takes every other until the replacement
    listens, about 3 s later here."""
    with running(api) as (process, port):
        workers = set(spread(port))
        victim = min(workers)
        os.kill(victim, signal.SIGKILL)
        answering: set[int] = set()

        def replaced() -> bool:
            answering.clear()
            answering.update(spread(port))
            return len(answering) == 2 and victim not in answering

        wait_until(replaced, what="a replacement worker taking connections")
        assert workers - {victim} <= answering and listening_sockets(port) == 2
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
        assert listening_sockets(port) == 0
        for pid in answering:
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)


def segments_received(connection: socket.socket) -> int:
    """``tcpi_segs_in`` of the connection's ``struct tcp_info`` (linux/tcp.h, since 4.2):
    every TCP segment it has received, pure ACKs included."""
    info = connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
    return struct.unpack_from("I", info, 140)[0]


def test_a_small_answer_arrives_in_one_tcp_segment(api: Api) -> None:
    """uvicorn wrote a response's head and body separately: two segments per answer on the
    loopback (2 in every one of 40 requests before; serving.api.protocol)."""
    with running(api, workers=1) as (_, port):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
            received = []
            for _ in range(25):
                before = segments_received(connection)
                connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: kairos\r\n\r\n")
                answer = b""
                while not answer.endswith(b"}"):
                    answer += connection.recv(65536)
                assert answer.startswith(b"HTTP/1.1 200 OK") and b'"ok"' in answer, answer
                time.sleep(0.01)  # the answer's segments all in before counting
                received.append(segments_received(connection) - before)
        # The first few carry the kernel's quick ACKs; later, an answer slower than the
        # delayed-ACK timer (40 ms) on a busy machine may too. Before, no answer came in one.
        assert received[5:].count(1) >= 15, received
        # A large answer on a kept-alive connection still arrives whole, after a small one.
        kept = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        for path in ("/healthz", "/openapi.json", "/healthz"):
            kept.request("GET", path)
            response = kept.getresponse()
            body = response.read()
            assert response.status == 200 and len(body) == int(response.headers["content-length"])
        kept.close()
