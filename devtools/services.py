"""Local services of the embedded stack: Spark Connect, Redis, Airflow, the MLflow UI, the API.

``python -m devtools.services up|down|status`` backs ``make up`` / ``make down``. The test
suite uses :class:`RedisProcess` directly to run a throw-away redis-server on a free port.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from kairos.jars import spark_home
from kairos.settings import Settings, get_settings
from kairos.spark_conf import connect_server_args


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


CLUSTER_BUS_OFFSET = 10_000  # a cluster node also listens on port + 10000 (its bus)


def cluster_port(tries: int = 100) -> int:
    """A free port for a Redis Cluster node whose bus port (``port + 10000``) is a port at all
    and free too. An ephemeral port above 55535 has no bus port: redis-server exits at once
    (about one port in five of Linux's ephemeral range)."""
    for _ in range(tries):
        port = free_port()
        bus = port + CLUSTER_BUS_OFFSET
        if bus <= 65535 and not _port_open(bus):
            return port
    raise RuntimeError(f"no free port with a free cluster bus port in {tries} tries")


def _port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def _wait_port(port: int, proc: subprocess.Popen[bytes], name: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"{name} exited with code {proc.returncode} before listening on {port}"
            )
        if _port_open(port):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{name} did not listen on port {port} within {timeout:.0f}s")


@dataclass
class RedisProcess:
    """One redis-server on loopback with AOF on, its data in ``data_dir``."""

    data_dir: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    extra_args: tuple[str, ...] = ()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> RedisProcess:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server not found on PATH; run `make setup`")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.data_dir),
                "--appendonly",
                "yes",
                "--save",
                "",
                "--daemonize",
                "no",
                "--logfile",
                str(self.data_dir / "redis.log"),
                *self.extra_args,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        _wait_port(self.port, self.proc, "redis-server", timeout)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout)


@dataclass
class RedisClusterProcess:
    """A Redis Cluster on loopback: ``masters`` redis-servers in cluster mode (no replicas),
    the 16,384 slots split evenly between them, each node's data under ``data_dir/<port>``.
    Its URL is the ``redis+cluster://`` form of :mod:`serving.connection`."""

    data_dir: Path
    masters: int = 3
    nodes: list[RedisProcess] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"redis+cluster://127.0.0.1:{self.nodes[0].port}"

    def start(self, timeout: float = 20.0) -> RedisClusterProcess:
        import redis

        self.nodes = []
        try:
            for _ in range(self.masters):
                self.nodes.append(self._node())
        except RuntimeError:  # the nodes already started must not outlive the failure
            self.stop()
            raise
        ports = [node.port for node in self.nodes]
        clients = [redis.Redis(port=p, host="127.0.0.1") for p in ports]
        share = 16384 // self.masters
        for n, client in enumerate(clients):
            last = 16383 if n == self.masters - 1 else (n + 1) * share - 1
            client.execute_command("CLUSTER ADDSLOTSRANGE", n * share, last)
            if n:
                client.execute_command("CLUSTER MEET", "127.0.0.1", ports[0])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            states = [c.cluster("info")["cluster_state"] for c in clients]
            known = [int(c.cluster("info")["cluster_known_nodes"]) for c in clients]
            if all(s == "ok" for s in states) and min(known) == self.masters:
                break
            time.sleep(0.05)
        else:
            self.stop()
            raise RuntimeError(f"the local Redis Cluster was not ready within {timeout:.0f}s")
        for client in clients:
            client.close()
        return self

    def _node(self, attempts: int = 3) -> RedisProcess:
        """One cluster-mode redis-server on a free port (another if that port was taken)."""
        for attempt in range(attempts):
            port = cluster_port()
            node = RedisProcess(
                self.data_dir / str(port),
                port,
                extra_args=(
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    str(self.data_dir / str(port) / "nodes.conf"),
                ),
            )
            try:
                return node.start()
            except RuntimeError:
                if attempt == attempts - 1:
                    raise
        raise AssertionError("unreachable")

    def stop(self, timeout: float = 10.0) -> None:
        for node in self.nodes:
            node.stop(timeout)


def spark_connect_command(
    settings: Settings, port: int, extra_conf: Mapping[str, str] | None = None
) -> tuple[list[str], dict[str, str]]:
    """argv and environment of a Spark Connect server with Kairos's configuration, bound to
    loopback (:func:`kairos.spark_conf.connect_server_args`).

    The server runs on ``KAIROS_SPARK_MASTER`` (``local[*]`` here; a standalone master makes it
    a cluster). Its Python workers run this interpreter, which has Kairos installed.
    """
    home = spark_home()
    argv = [str(home / "bin" / "spark-submit"), *connect_server_args(settings, port, extra_conf)]
    bin_dir = str(Path(sys.executable).parent)
    env = {
        "SPARK_HOME": str(home),
        "PYSPARK_PYTHON": sys.executable,
        "PYSPARK_DRIVER_PYTHON": sys.executable,
        "SPARK_LOCAL_IP": "127.0.0.1",
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    return argv, env


@dataclass
class SparkConnectProcess:
    """A Spark Connect server on loopback for the demo and the tests (``make up`` runs one too)."""

    settings: Settings
    log_path: Path
    port: int = field(default_factory=free_port)
    extra_conf: Mapping[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"sc://127.0.0.1:{self.port}"

    def start(self, timeout: float = 180.0) -> SparkConnectProcess:
        argv, env = spark_connect_command(self.settings, self.port, self.extra_conf)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env={**os.environ, **env},
            )
        _wait_port(self.port, self.proc, f"Spark Connect server (log: {self.log_path})", timeout)
        return self

    def stop(self, timeout: float = 30.0) -> None:
        if self.proc is not None and self.proc.poll() is None:
            stop_group(self.proc.pid, timeout)
            self.proc.wait(timeout)


@dataclass
class SparkStandalone:
    """A Spark standalone cluster on loopback: a master and ``workers`` workers, each a JVM of
    its own started with the pyspark distribution's ``spark-class``.

    A Spark Connect server on :attr:`master_url` then runs its executors in other processes,
    as on a cluster: code, jars and Python have to reach them. The end-to-end tests use it.
    """

    work_dir: Path
    workers: int = 2
    cores: int = 1
    memory: str = "2g"
    port: int = field(default_factory=free_port)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def master_url(self) -> str:
        return f"spark://127.0.0.1:{self.port}"

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        home = spark_home()
        env = {
            **os.environ,
            "SPARK_HOME": str(home),
            "SPARK_LOCAL_IP": "127.0.0.1",
            "PYSPARK_PYTHON": sys.executable,
        }
        self.work_dir.mkdir(parents=True, exist_ok=True)
        with (self.work_dir / f"{name}.log").open("ab") as log:
            proc = subprocess.Popen(
                [str(home / "bin" / "spark-class"), *args],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=env,
            )
        self.procs.append(proc)
        return proc

    def registered_workers(self) -> int:
        """Workers the master has registered so far (its log has a line for each)."""
        log = self.work_dir / "master.log"
        return log.read_text(errors="replace").count("Registering worker") if log.exists() else 0

    def start(self, timeout: float = 120.0) -> SparkStandalone:
        """Start the master, then the workers; returns once every worker has registered (what
        was started is stopped again if that fails)."""
        try:
            self._start(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self, timeout: float) -> None:
        master = self._spawn(
            "master",
            [
                "org.apache.spark.deploy.master.Master",
                *("--host", "127.0.0.1", "--port", str(self.port)),
                *("--webui-port", str(free_port())),
            ],
        )
        _wait_port(self.port, master, f"Spark master (log: {self.work_dir}/master.log)", timeout)
        for n in range(self.workers):
            self._spawn(
                f"worker-{n}",
                [
                    "org.apache.spark.deploy.worker.Worker",
                    *("--host", "127.0.0.1", "--cores", str(self.cores)),
                    *("--memory", self.memory, "--webui-port", str(free_port())),
                    *("--work-dir", str(self.work_dir / f"worker-{n}")),
                    self.master_url,
                ],
            )
        deadline = time.monotonic() + timeout
        while self.registered_workers() < self.workers:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{self.workers} Spark workers did not register within {timeout:.0f}s "
                    f"(logs: {self.work_dir})"
                )
            time.sleep(0.5)

    def stop(self, timeout: float = 30.0) -> None:
        for proc in reversed(self.procs):  # workers first, the master last
            if proc.poll() is None:
                stop_group(proc.pid, timeout)
                proc.wait(timeout)
        self.procs.clear()


# --- make up / make down --------------------------------------------------------------------


def _run_dir(settings: Settings) -> Path:
    path = Path(settings.local_dir) / "run"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def _pid(settings: Settings, name: str) -> int | None:
    pidfile = _run_dir(settings) / f"{name}.pid"
    if not pidfile.exists():
        return None
    pid = int(pidfile.read_text().strip() or 0)
    return pid if pid and _alive(pid) else None


def running(settings: Settings, name: str) -> bool:
    """Whether ``make up`` has the service ``name`` running."""
    return _pid(settings, name) is not None


def redis_data_dir(settings: Settings) -> Path:
    """Where ``make up``'s redis-server keeps its data (AOF)."""
    return Path(settings.local_dir) / "redis"


def _spawn(
    settings: Settings,
    name: str,
    argv: list[str],
    port: int | None,
    timeout: float,
    env: dict[str, str] | None = None,
) -> None:
    """Start a service in its own session, logging to ``logs/<name>.log``; wait until it
    listens on ``port`` (a service without one, e.g. the scheduler: until it logs its
    :data:`READY_LINE`)."""
    if _pid(settings, name):
        print(f"{name}: already running (pid {_pid(settings, name)})")
        return
    if port is not None and _port_open(port):
        raise RuntimeError(
            f"{name}: port {port} is taken by another process; free it or change the port setting"
        )
    logs = Path(settings.local_dir) / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log_path = logs / f"{name}.log"
    offset = log_path.stat().st_size if log_path.exists() else 0
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **(env or {})},
        )
    (_run_dir(settings) / f"{name}.pid").write_text(str(proc.pid))
    if port is not None:
        _wait_port(port, proc, name, timeout)
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with code {proc.returncode}; see {log_path}")
        with open(log_path, "rb") as written:
            written.seek(offset)
            if READY_LINE.encode() in written.read():
                return
        time.sleep(0.1)
    raise RuntimeError(f"{name} did not report ready within {timeout:.0f}s; see {log_path}")


# What a service without a port logs once it is running (serving.scheduler.serve).
READY_LINE = "ready:"


AIRFLOW_PORT = 8080
# `airflow standalone` on loopback only, and without a login: every local user is admin.
AIRFLOW_ENV = {
    "AIRFLOW__API__HOST": "127.0.0.1",
    "AIRFLOW__API__PORT": str(AIRFLOW_PORT),
    "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
}
STARTUP_SECONDS = {"airflow": 240.0, "mlflow": 180.0, "spark": 180.0}


def _services(settings: Settings) -> dict[str, tuple[list[str], int | None, str]]:
    redis_dir = redis_data_dir(settings)
    redis_dir.mkdir(parents=True, exist_ok=True)
    Path(settings.mlflow_artifact_root).mkdir(parents=True, exist_ok=True)
    bin_dir = Path(sys.executable).parent
    spark_argv, _ = spark_connect_command(settings, settings.spark_connect_port)
    return {
        "spark": (
            spark_argv,
            settings.spark_connect_port,
            f"sc://127.0.0.1:{settings.spark_connect_port}",
        ),
        "redis": (
            [
                "redis-server",
                "--port",
                str(settings.redis_port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(redis_dir),
                "--appendonly",
                "yes",
                "--daemonize",
                "no",
            ],
            settings.redis_port,
            f"redis://127.0.0.1:{settings.redis_port}/0",
        ),
        "airflow": (
            [str(bin_dir / "airflow"), "standalone"],
            AIRFLOW_PORT,
            f"http://127.0.0.1:{AIRFLOW_PORT}",
        ),
        "mlflow": (
            [
                str(bin_dir / "mlflow"),
                "server",
                "--host",
                "127.0.0.1",
                "--port",
                "5000",
                "--backend-store-uri",
                settings.mlflow_tracking_uri,
                "--default-artifact-root",
                settings.mlflow_artifact_root,
            ],
            5000,
            "http://127.0.0.1:5000",
        ),
        "api": (
            [sys.executable, "-m", "serving", "api"],
            settings.api_port,
            f"http://{settings.api_host}:{settings.api_port}/docs",
        ),
        "scheduler": (
            [sys.executable, "-m", "serving", "scheduler"],
            None,
            "fires journey timers, delivers due sends (feature_defs/delivery.yaml)",
        ),
    }


def up(settings: Settings) -> None:
    _, spark_env = spark_connect_command(settings, settings.spark_connect_port)
    for name, (argv, port, url) in _services(settings).items():
        print(f"{name:8s} starting ...", flush=True)
        env = {"airflow": AIRFLOW_ENV, "spark": spark_env}.get(name)
        _spawn(settings, name, argv, port, STARTUP_SECONDS.get(name, 60.0), env)
        print(f"{name:8s} {url}   (log: {Path(settings.local_dir) / 'logs' / (name + '.log')})")
    if not Path(settings.api_keys_file).exists():
        print(
            "api      no API keys yet: python -m serving keys add --name me --role admin "
            "(roles: marketing, ingest, admin)"
        )


def _group_alive(pgid: int) -> bool:
    with contextlib.suppress(ChildProcessError):  # our own child stays a zombie until reaped
        os.waitpid(pgid, os.WNOHANG)
    try:
        os.killpg(pgid, 0)
    except OSError:
        return False
    return True


def stop_group(pgid: int, timeout: float = 30.0) -> None:
    """SIGTERM a process group, then SIGKILL whatever is left after ``timeout`` seconds.

    ``airflow standalone``'s scheduler and executor workers share its group and may take
    their time (or ignore SIGTERM while a task runs).
    """
    try:
        os.killpg(pgid, signal.SIGTERM)
    except OSError:
        return
    deadline = time.monotonic() + timeout
    while _group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if _group_alive(pgid):
        os.killpg(pgid, signal.SIGKILL)


def down(settings: Settings) -> None:
    for name in _services(settings):
        pid = _pid(settings, name)
        if pid is None:
            print(f"{name}: not running")
            continue
        stop_group(pid)
        (_run_dir(settings) / f"{name}.pid").unlink(missing_ok=True)
        print(f"{name}: stopped (pid {pid})")


def status(settings: Settings) -> None:
    for name, (_, _, url) in _services(settings).items():
        pid = _pid(settings, name)
        print(f"{name:8s} {'running, pid ' + str(pid) if pid else 'stopped'}  {url}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.services", description="Start, stop or list the local services."
    )
    parser.add_argument("command", choices=["up", "down", "status"])
    args = parser.parse_args(argv)
    settings = get_settings()
    try:
        {"up": up, "down": down, "status": status}[args.command](settings)
    except RuntimeError as exc:
        print(f"services: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
