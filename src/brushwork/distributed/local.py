"""A Redis server and `brushwork worker` processes on this machine, for tests, benchmarks and
trying the distributed mode without a deployment. Not used by the server or the workers."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from ..errors import BrushworkError


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class RedisServer:
    """`redis-server` on a free loopback port, without persistence, in `folder`."""

    def __init__(self, folder: Path, port: int | None = None) -> None:
        if shutil.which("redis-server") is None:
            raise BrushworkError("redis-server is not installed (Debian: apt-get install redis-server)")
        self.folder, self.port = Path(folder), port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10.0) -> "RedisServer":
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.folder)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise BrushworkError(f"redis-server did not answer on port {self.port} within {timeout:g} s")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


class WorkerProcess:
    """A real `brushwork worker` subprocess in its own process group (so it can be killed whole)."""

    def __init__(self, name: str, broker_url: str, log: Path, *extra: str) -> None:
        self.name, self.log = f"{name}@local", Path(log)
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "brushwork", "worker", "--broker-url", broker_url, "--hostname", self.name, *extra],
            stdout=self.log.open("wb"), stderr=subprocess.STDOUT, env=env, start_new_session=True)

    def pool_processes(self) -> list[int]:
        """Pids of the worker's pool (job) processes."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in children.read_text().split()] if children.exists() else []

    def kill_all(self) -> None:
        """SIGKILL the worker and its pool at once, as a power cut or the OOM killer would."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self, timeout: float = 15.0) -> None:
        """Warm shutdown (SIGTERM), then SIGKILL if it takes too long."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)


def wait_for_workers(queue: object, names: set[str], processes: list[WorkerProcess], timeout: float = 90.0) -> None:
    """Block until every named worker answers a Celery ping through `queue` (a CeleryQueue)."""
    deadline = time.monotonic() + timeout
    while set(queue.workers(timeout=0.5)) != names:  # type: ignore[attr-defined]
        dead = [w for w in processes if w.process.poll() is not None]
        if dead or time.monotonic() > deadline:
            tails = " | ".join(w.log.read_text(errors="replace")[-300:] for w in processes)
            raise BrushworkError(f"workers did not come up ({'exited' if dead else 'timed out'}): {tails}")
