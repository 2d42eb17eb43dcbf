"""Private PostgreSQL and Kafka instances that one test owns and may restart or crash.

The shared services (``make services``) must never be restarted by a test: other tests, and
other engineers, use them at the same time. A test that needs a restart starts its own
instance here, with the same scripts and hence the same configuration as the shared one
(``infra/postgres.sh``, ``infra/kafka.sh``), pointed by environment variables at a temporary
folder and at free ports:

- ``PrivatePostgres``: ``initdb`` into the folder, role and database ``compliance`` as the
  product expects; ``restart("fast")`` is a clean ``pg_ctl restart``, ``restart("immediate")``
  is a crash (no shutdown checkpoint, crash recovery on the next start).
- ``PrivateKafka``: a single-node KRaft broker from the jars ``make services`` resolved;
  ``restart()`` stops it with SIGTERM (clean) or SIGKILL (crash) and starts it again on the
  same ports and data, ready when the admin client answers.

Nothing is installed here: when the PostgreSQL binaries or the broker jars are missing,
``ServiceMissing`` says to run ``make services``. Ports are taken below the kernel's ephemeral
range, so no client's outgoing connection can take a port while its server is down.
"""

from __future__ import annotations

import base64
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Literal

from compliance.config import PROJECT_ROOT

INFRA: Path = PROJECT_ROOT / "infra"
SHARED_KAFKA_LIB: Path = PROJECT_ROOT / ".services" / "kafka" / "lib"
APP_ROLE = APP_PASSWORD = APP_DATABASE = "compliance"
StopMode = Literal["smart", "fast", "immediate"]


class ServiceMissing(RuntimeError):
    """What a private service needs is not on this machine."""


class ServiceFailed(RuntimeError):
    """A private service did not start or stop as asked."""


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def free_port(taken: frozenset[int] = frozenset()) -> int:
    """A TCP port on 127.0.0.1 nobody listens on, outside the ephemeral range (a server
    restarted on it later cannot find it held by some client's outgoing connection)."""
    low, high = _ephemeral_range()
    ranges = [(r0, r1) for r0, r1 in ((10_000, low - 1), (high + 1, 65_000)) if r1 - r0 > 500]
    ranges = ranges or [(low, high)]  # the whole range is ephemeral: no better choice
    rng = random.Random()
    for _ in range(200):
        r0, r1 = rng.choice(ranges)
        port = rng.randint(r0, r1)
        if port in taken:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        with socket.socket() as client:
            client.settimeout(0.2)
            if client.connect_ex(("127.0.0.1", port)) != 0:
                return port
    raise ServiceFailed("no free TCP port found outside the ephemeral range")


def _run(
    command: list[str], env: dict[str, str], what: str, timeout_s: float
) -> subprocess.CompletedProcess[str]:
    try:
        result = subprocess.run(
            command,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise ServiceFailed(f"{what}: no result within {timeout_s:g} s") from exc
    if result.returncode != 0:
        raise ServiceFailed(
            f"{what} failed (exit {result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    return result


def _alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _wait_gone(pid: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while _alive(pid):
        if time.monotonic() > deadline:
            raise ServiceFailed(f"process {pid} still alive after {timeout_s:g} s")
        time.sleep(0.05)


def _private_dir(prefix: str) -> Path:
    # Not under pytest's tmp_path: that is private to the user running the tests (0700),
    # and as root PostgreSQL runs as the `postgres` OS user, who must reach its own folder.
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    return path


# --------------------------------------------------------------------------- PostgreSQL


def postgres_bindir() -> Path:
    """Where the PostgreSQL server binaries are, found the way infra/postgres.sh does."""
    configured = os.environ.get("PG_BINDIR")
    candidates = [Path(configured)] if configured else []
    if not configured:
        candidates.append(Path("/usr/lib/postgresql/15/bin"))
        installed = sorted(
            Path("/usr/lib/postgresql").glob("*/bin"),
            key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else -1,
        )
        candidates.extend(reversed(installed))
    for bindir in candidates:
        if all((bindir / tool).is_file() for tool in ("postgres", "initdb", "pg_ctl")):
            return bindir
    raise ServiceMissing(
        "no PostgreSQL server binaries (postgres, initdb, pg_ctl) in "
        + (configured or "/usr/lib/postgresql/*/bin")
        + ": run `make services` first"
    )


class PrivatePostgres:
    """A PostgreSQL cluster of its own: folder, port, socket, role and database."""

    def __init__(self, root: Path, port: int, bindir: Path) -> None:
        self.root = root
        self.port = port
        self.bindir = bindir
        self.data = root / "data"
        self.log = root / "postgres.log"

    @property
    def url(self) -> str:
        return (
            f"postgresql+psycopg2://{APP_ROLE}:{APP_PASSWORD}@127.0.0.1:{self.port}/{APP_DATABASE}"
        )

    def _env(self) -> dict[str, str]:
        return os.environ | {
            "COMPLIANCE_PG_DIR": str(self.root),
            "COMPLIANCE_PG_PORT": str(self.port),
            "PG_BINDIR": str(self.bindir),
        }

    def _as_server_user(self) -> list[str]:
        # initdb and the server refuse to run as root; infra/postgres.sh uses `postgres` then.
        return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def start(self) -> None:
        """initdb on the first start; start; make sure role and database exist."""
        _run(
            [str(INFRA / "postgres.sh"), "start"],
            self._env(),
            f"private PostgreSQL start (log {self.log})",
            90,
        )

    def is_running(self) -> bool:
        status = subprocess.run(
            [*self._as_server_user(), str(self.bindir / "pg_ctl"), "status", "-D", str(self.data)],
            capture_output=True,
            check=False,
        )
        return status.returncode == 0

    def stop(self, mode: StopMode = "fast") -> None:
        """``fast``: clean shutdown; ``immediate``: every server process quits at once, as in a
        crash, and the next start runs crash recovery."""
        _run(
            [
                *self._as_server_user(),
                str(self.bindir / "pg_ctl"),
                "stop",
                "-D",
                str(self.data),
                "-m",
                mode,
                "-w",
                "-t",
                "60",
            ],
            self._env(),
            f"private PostgreSQL stop -m {mode}",
            90,
        )

    def restart(self, mode: StopMode = "fast", down_s: float = 0.0) -> None:
        """Stop with ``mode``, stay down ``down_s`` seconds, start again on the same port."""
        self.stop(mode)
        time.sleep(down_s)
        self.start()

    def close(self) -> None:
        with suppress(ServiceFailed, OSError):
            if self.data.exists() and self.is_running():
                self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    bindir = postgres_bindir()
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        raise ServiceMissing("running as root needs `runuser` to start PostgreSQL")
    server = PrivatePostgres(_private_dir("compliance-pg-"), free_port(), bindir)
    try:
        server.start()
        yield server
    finally:
        server.close()


# --------------------------------------------------------------------------- Kafka


def kafka_lib() -> Path:
    """The broker jars ``make services`` resolved for the shared broker."""
    if not any(SHARED_KAFKA_LIB.glob("kafka_2.13-*.jar")):
        raise ServiceMissing(f"no Kafka broker jars in {SHARED_KAFKA_LIB}: run `make services`")
    java_home = os.environ.get("JAVA_HOME")
    has_java = bool(java_home) and Path(java_home or "", "bin", "java").is_file()
    if not (os.environ.get("JAVA") or has_java or shutil.which("java")):
        raise ServiceMissing("no java (Java 17+) found: run `make services`")
    return SHARED_KAFKA_LIB


def new_cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, URL-safe base64 without padding, and (as Kafka's
    own ids) never starting with "-"."""
    while True:
        cluster_id = base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


class PrivateKafka:
    """A single-node KRaft broker (broker and controller in one JVM) of its own."""

    def __init__(self, root: Path, port: int, controller_port: int, lib: Path) -> None:
        self.root = root
        self.port = port
        self.controller_port = controller_port
        self.lib = lib
        self.pidfile = root / "kafka.pid"
        self.logs = root / "logs"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _env(self) -> dict[str, str]:
        return os.environ | {
            "COMPLIANCE_KAFKA_DIR": str(self.root),
            "COMPLIANCE_KAFKA_LIB_DIR": str(self.lib),
            "KAFKA_PORT": str(self.port),
            "KAFKA_CONTROLLER_PORT": str(self.controller_port),
            "KAFKA_HEAP_OPTS": "-Xms256m -Xmx512m",
            "KAFKA_START_TIMEOUT": "60",
        }

    def pid(self) -> int | None:
        try:
            pid = int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if _alive(pid) else None

    def start(self) -> None:
        """Format the storage on the first start; start; return once the admin client gets
        metadata from it (infra/kafka.sh's readiness check)."""
        cluster_id = self.root / "cluster.id"
        if not cluster_id.exists():
            # infra/kafka.sh would draw one itself, but 1 in 32 of its ids starts with "-",
            # which `kafka-storage format -t` takes for an option and refuses.
            cluster_id.write_text(new_cluster_id())
        _run(
            [str(INFRA / "kafka.sh"), "start"],
            self._env(),
            f"private Kafka start (logs in {self.logs})",
            90,
        )

    def stop(self) -> None:
        """SIGTERM: a clean shutdown (infra/kafka.sh stop; SIGKILL after 30 s)."""
        _run([str(INFRA / "kafka.sh"), "stop"], self._env(), "private Kafka stop", 60)

    def kill(self) -> None:
        """SIGKILL: no clean shutdown, as a crash would; the next start recovers the logs."""
        pid = self.pid()
        if pid is None:
            raise ServiceFailed("private Kafka is not running")
        os.kill(pid, signal.SIGKILL)
        _wait_gone(pid, 10)

    def restart(self, crash: bool = False, down_s: float = 0.0) -> None:
        """Stop (SIGKILL when ``crash``, else SIGTERM), stay down ``down_s`` seconds, start
        again on the same ports and data."""
        if crash:
            self.kill()
        else:
            self.stop()
        time.sleep(down_s)
        self.start()

    def close(self) -> None:
        pid = self.pid()
        if pid is not None:  # its data goes next: no need for a clean shutdown
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            with suppress(ServiceFailed):
                _wait_gone(pid, 10)
        shutil.rmtree(self.root, ignore_errors=True)


@contextmanager
def private_kafka() -> Iterator[PrivateKafka]:
    lib = kafka_lib()
    port = free_port()
    broker = PrivateKafka(
        _private_dir("compliance-kafka-"), port, free_port(frozenset({port})), lib
    )
    try:
        broker.start()
        yield broker
    finally:
        broker.close()
