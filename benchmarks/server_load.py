"""Load check: 20 concurrent clients against a freshly started 1-worker `brushwork serve` on 127.0.0.1.

    python benchmarks/server_load.py [--clients 20] [--rounds 3] [--requests 2] [--size 64]

Each client sends `--requests` seed-shaped `POST /stylize` requests per round (bounded: no retry
loops, a 300 s client timeout). Every answer must be 200 with an image of the right size, or 503
with a Retry-After header; anything else, a timeout ("hang"), or a dead server fails the check.
The server's resident memory is sampled all along and after each round, so growth across rounds
shows up. Only loopback traffic; the script stops the server itself.
"""

from __future__ import annotations

import argparse
import base64
import io
import os
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psutil
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
ROOT = Path(__file__).resolve().parent.parent
CLIENT_TIMEOUT = 300.0


def _b64(path: Path) -> tuple[str, tuple[int, int]]:
    """A 512 px JPEG of the image as base64, and its size."""
    image = Image.open(path).convert("RGB")
    image.thumbnail((512, 512))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return base64.b64encode(buffer.getvalue()).decode("ascii"), image.size


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(port: int, queue_size: int) -> subprocess.Popen:
    env = {**os.environ, "BRUSHWORK_LOG_LEVEL": "warning"}
    command = [sys.executable, "-m", "brushwork", "serve", "--port", str(port), "--workers", "1",
               "--queue-size", str(queue_size)]
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"server exited: {server.stderr.read().decode()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.3)
    server.kill()
    raise SystemExit("server did not start within 120 s")


class MemorySampler(threading.Thread):
    """Resident memory of the server process, every 0.25 s."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.process = psutil.Process(pid)
        self.samples: list[float] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self.samples.append(self.process.memory_info().rss / 2**20)
            except psutil.Error:
                return
            time.sleep(0.25)

    def now(self) -> float:
        return self.process.memory_info().rss / 2**20


def one_client(base: str, body: dict, requests: int, expected: tuple[int, int]) -> list[tuple[str, float]]:
    """`requests` calls; returns (outcome, seconds) for each."""
    outcomes = []
    with httpx.Client(timeout=CLIENT_TIMEOUT) as client:
        for _ in range(requests):
            started = time.perf_counter()
            try:
                response = client.post(base + "/stylize", json=body)
            except httpx.TimeoutException:
                outcomes.append(("hang", time.perf_counter() - started))
                continue
            except httpx.TransportError as error:
                outcomes.append((f"transport error {type(error).__name__}", time.perf_counter() - started))
                continue
            seconds = time.perf_counter() - started
            if response.status_code == 200:
                image = Image.open(io.BytesIO(base64.b64decode(response.json()["result"])))
                outcomes.append(("200" if image.size == expected else f"200 wrong size {image.size}", seconds))
            elif response.status_code == 503 and response.headers.get("retry-after", "").isdigit():
                outcomes.append(("503+Retry-After", seconds))
                time.sleep(min(2.0, int(response.headers["retry-after"])))  # bounded politeness, no retry
            else:
                outcomes.append((f"{response.status_code} {response.text[:80]}", seconds))
    return outcomes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=2, help="requests per client per round")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--steps", type=int, nargs=2, default=(5, 2), metavar=("EPOCHS", "STEPS_PER_EPOCH"))
    parser.add_argument("--queue-size", type=int, default=8)
    args = parser.parse_args()
    from _machine import machine_line

    shared = ROOT.parent / "shared" / "images"
    content, style = ((shared / "content" / "tubingen.jpg", shared / "style" / "starry_night.jpg")
                      if shared.is_dir() else (ROOT / "examples" / "astronaut.jpg", ROOT / "examples" / "strokes.png"))
    content_b64, (width, height) = _b64(content)
    body = {"content_img": content_b64, "style_img": _b64(style)[0], "epochs": args.steps[0],
            "steps_per_epoch": args.steps[1], "size": args.size}
    scale = args.size / max(width, height)
    expected = (round(width * scale), round(height * scale))

    port = _free_port()
    server = start_server(port, args.queue_size)
    base = f"http://127.0.0.1:{port}"
    sampler = MemorySampler(server.pid)
    sampler.start()
    rss_start = sampler.now()
    print(f"machine: {machine_line()}")
    print(f"server: 1 worker, queue {args.queue_size}; {args.clients} clients x {args.requests} requests x "
          f"{args.rounds} rounds; {args.size} px, {args.steps[0] * args.steps[1]} steps; RSS at start "
          f"{rss_start:.0f} MiB")
    counts: Counter[str] = Counter()
    ok_seconds: list[float] = []
    busy_seconds: list[float] = []
    rss_rounds = []
    try:
        for number in range(1, args.rounds + 1):
            started = time.perf_counter()
            with ThreadPoolExecutor(args.clients) as pool:
                results = list(pool.map(lambda _: one_client(base, body, args.requests, expected),
                                        range(args.clients)))
            flat = [item for result in results for item in result]
            counts.update(outcome for outcome, _ in flat)
            ok_seconds += [s for o, s in flat if o == "200"]
            busy_seconds += [s for o, s in flat if o == "503+Retry-After"]
            alive = httpx.get(base + "/healthz", timeout=5).status_code == 200
            rss_rounds.append(sampler.now())
            round_counts = Counter(o for o, _ in flat)
            print(f"round {number}: {time.perf_counter() - started:.1f} s, {dict(round_counts)}, "
                  f"server alive: {alive}, RSS {rss_rounds[-1]:.0f} MiB")
    finally:
        sampler.stop.set()
        server.terminate()
        server.wait(timeout=60)
    peak = max(sampler.samples)
    bad = {k: v for k, v in counts.items() if k not in ("200", "503+Retry-After")}
    print(f"answers: {dict(counts)}")
    if ok_seconds:
        print(f"200 latency: median {statistics.median(ok_seconds):.1f} s, max {max(ok_seconds):.1f} s")
    if busy_seconds:
        print(f"503 latency: median {statistics.median(busy_seconds) * 1000:.0f} ms, "
              f"max {max(busy_seconds) * 1000:.0f} ms")
    print(f"server RSS: start {rss_start:.0f} MiB, after each round "
          f"{', '.join(f'{r:.0f}' for r in rss_rounds)} MiB, peak {peak:.0f} MiB")
    print("PASS" if not bad else f"FAIL: {bad}")
    return 0 if not bad else 1


if __name__ == "__main__":
    sys.exit(main())
