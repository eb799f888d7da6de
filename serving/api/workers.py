"""The API in several worker processes, each accepting on its own socket.

uvicorn's ``--workers`` binds one listening socket in the parent and every worker accepts
from it. Whichever worker wakes first takes what is waiting, so a burst of new keep-alive
connections can all land on one worker while the other idles, for as long as they stay open
(issue 22: at saturation, one run in five served 4,000 req/s with one worker at 8 s of CPU
and the other at 0.1 s, where the others served 6,200 with both busy).

Here, on Linux, each worker binds its own socket to the same address with ``SO_REUSEPORT``
and the kernel spreads new connections between the sockets by a hash of their addresses. A
worker listens only once its app has started, so no connection waits on one still starting.
The parent listens on nothing; it checks the port is free (a plain bind, then closed: it
fails where any listener holds the port, so a second API on the same port is refused at
start instead of joining the group and taking half the traffic), starts the workers,
restarts one that dies, and stops them all on SIGINT or SIGTERM. Elsewhere (no such
balancing) it is uvicorn's own.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import socket
import sys
import threading
from multiprocessing.process import BaseProcess
from typing import Any

import uvicorn
from uvicorn.config import STARTUP_FAILURE

from serving.api.protocol import OneWriteHttpProtocol

log = logging.getLogger("kairos.api")
APP = "serving.api:create_app"
STOP_SECONDS = 10.0


class PortInUse(RuntimeError):
    """Another listener holds the API's address."""


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def check_free(host: str, port: int) -> None:
    """Raise :class:`PortInUse` if ``host:port`` cannot be bound without ``SO_REUSEPORT``."""
    with socket.socket(_family(host), socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind((host, port))
        except OSError as err:
            raise PortInUse(f"cannot serve on {host}:{port}: {err.strerror}") from None


def reuse_port_socket(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` in the port's ``SO_REUSEPORT`` group, not listening
    yet (uvicorn listens once the app has started)."""
    sock = socket.socket(_family(host), socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


OPTIONS: dict[str, Any] = {
    "factory": True,
    "log_level": "warning",
    "access_log": False,
    "http": OneWriteHttpProtocol,  # a response's head and body in one write (issue 22)
}


def _config(host: str, port: int) -> uvicorn.Config:
    return uvicorn.Config(APP, host=host, port=port, **OPTIONS)


def _worker(host: str, port: int) -> None:
    """One worker process: its own socket, one uvicorn server on it."""
    config = _config(host, port)
    config.configure_logging()
    try:
        sock = reuse_port_socket(host, port)
    except OSError as err:
        log.error("worker cannot bind %s:%s: %s", host, port, err.strerror)
        sys.exit(STARTUP_FAILURE)
    server = uvicorn.Server(config)
    server.run(sockets=[sock])
    if not server.started:
        sys.exit(STARTUP_FAILURE)


class Workers:
    """``count`` worker processes on ``host:port``, kept alive until told to stop."""

    def __init__(self, host: str, port: int, count: int):
        if port == 0:
            raise ValueError("several workers need a fixed port (each binds it), not 0")
        self.host, self.port, self.count = host, port, count
        self._spawn = multiprocessing.get_context("spawn")
        self._stop = threading.Event()
        self.processes: list[BaseProcess] = []

    def _start_one(self) -> BaseProcess:
        process = self._spawn.Process(
            target=_worker, args=(self.host, self.port), name="kairos-api-worker"
        )
        process.start()
        return process

    def stop(self, *_: Any) -> None:
        self._stop.set()

    def run(self) -> int:
        """Serve until SIGINT/SIGTERM (0) or a worker fails to start (3, as uvicorn)."""
        check_free(self.host, self.port)
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self.stop)
        self.processes = [self._start_one() for _ in range(self.count)]
        code = 0
        while not self._stop.wait(0.5):
            for n, process in enumerate(self.processes):
                if process.is_alive():
                    continue
                if process.exitcode == STARTUP_FAILURE:
                    log.error("an API worker failed to start; stopping the others")
                    code = STARTUP_FAILURE
                    self._stop.set()
                    break
                log.warning(
                    "API worker %s exited (%s); starting another", process.pid, process.exitcode
                )
                self.processes[n] = self._start_one()
        self._terminate()
        return code

    def _terminate(self) -> None:
        for process in self.processes:
            if process.is_alive():
                process.terminate()
        for process in self.processes:
            process.join(STOP_SECONDS)
            if process.is_alive():
                process.kill()
                process.join()


def serve(host: str, port: int, workers: int) -> int:
    """Run the API until stopped: in this process with one worker, else in ``workers``
    processes (uvicorn's own supervisor where ``SO_REUSEPORT`` does not balance)."""
    if workers > 1 and sys.platform != "linux":
        uvicorn.run(APP, host=host, port=port, workers=workers, **OPTIONS)
        return 0
    if workers == 1:
        server = uvicorn.Server(_config(host, port))
        server.run()
        return 0 if server.started else STARTUP_FAILURE
    try:
        return Workers(host, port, workers).run()
    except PortInUse as err:
        print(f"serving api: {err}", file=sys.stderr)
        return 1
