"""The server over Celery: `BRUSHWORK_BROKER_URL` set, real redis-server, one real worker process.

The same seed request and job routes as in-process, answered by a worker in another process.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator

import pytest

pytest.importorskip("celery", reason="the distributed extra is not installed (pip install -e .[dev])")
pytest.importorskip("fastapi", reason="the server extra is not installed (pip install -e .[dev])")
if shutil.which("redis-server") is None:
    pytest.skip("redis-server is not installed (Debian package redis-server; `make setup` installs it)",
                allow_module_level=True)

from fastapi.testclient import TestClient  # noqa: E402

from brushwork.distributed import CeleryQueue  # noqa: E402
from brushwork.distributed.local import RedisServer, WorkerProcess, wait_for_workers  # noqa: E402
from brushwork.server import create_app  # noqa: E402
from brushwork.server.settings import ServerSettings  # noqa: E402
from tests.server.conftest import decode_png, seed_body  # noqa: E402


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    redis = RedisServer(tmp_path_factory.mktemp("redis")).start()
    worker = WorkerProcess("solo", redis.url, tmp_path_factory.mktemp("worker") / "solo.log",
                           "--concurrency", "1", "--device", "cpu", "--threads", "1")
    probe = CeleryQueue(redis.url)
    try:
        wait_for_workers(probe, {worker.name}, [worker], timeout=90)
        yield redis.url
    finally:
        probe.close()
        worker.stop()
        redis.stop()


@pytest.fixture
def client(broker: str) -> Iterator[TestClient]:
    app = create_app(ServerSettings(broker_url=broker, device="cpu"))
    with TestClient(app) as test_client:
        assert not hasattr(app.state, "stylizer")  # the server itself loads no network
        yield test_client


def test_seed_request_is_answered_by_a_worker(client: TestClient) -> None:
    response = client.post("/stylize", json=seed_body())
    assert response.status_code == 200, response.text
    assert decode_png(response.json()["result"]).size == (32, 24)


def test_job_routes_over_celery(client: TestClient) -> None:
    created = client.post("/jobs", json=seed_body())
    assert created.status_code == 202, created.text
    job = created.json()["id"]
    deadline = time.monotonic() + 90
    while (state := client.get(f"/jobs/{job}").json()["state"]) not in ("done", "failed", "cancelled"):
        assert time.monotonic() < deadline, "job did not finish"
        time.sleep(0.3)
    assert state == "done"
    result = client.get(f"/jobs/{job}/result")
    assert result.status_code == 200 and decode_png(result.content).size == (32, 24)
    assert client.get("/jobs/no-such-job").status_code == 404
