"""Jobs over HTTP: lifecycle, multipart upload, progress events, queue full, cancel, limits, expiry."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import make_content, make_style

from .conftest import decode_png, encode, seed_body

#: A job that runs until cancelled (tiny images, many steps).
LONG = {"epochs": 1, "steps_per_epoch": 2000}


def _wait(client: TestClient, job_id: str, until: Callable[[dict[str, Any]], bool], limit: float = 60) -> dict:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        job = client.get(f"/jobs/{job_id}").json()
        if until(job):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} never got there: {job}")


def _final(client: TestClient, job_id: str) -> dict:
    return _wait(client, job_id, lambda job: job["state"] in ("done", "failed", "cancelled"))


def test_job_lifecycle_json(client: TestClient) -> None:
    response = client.post("/jobs", json=seed_body(size=40, steps_per_epoch=4))
    assert response.status_code == 202, response.text
    job = response.json()
    assert job["state"] in ("queued", "running") and job["total"] == 4
    assert response.headers["location"] == f"/jobs/{job['id']}"
    done = _final(client, job["id"])
    assert done["state"] == "done" and done["step"] == done["total"] == 4 and done["fraction"] == 1.0
    assert done["error"] is None and done["links"]["result"] == f"/jobs/{job['id']}/result"
    result = client.get(f"/jobs/{job['id']}/result")
    assert result.status_code == 200 and result.headers["content-type"] == "image/png"
    assert decode_png(result.content).size == (40, 30)


def test_unsent_epochs_and_steps_take_the_seed_defaults(client: TestClient) -> None:
    body = seed_body()
    del body["epochs"], body["steps_per_epoch"]
    job = client.post("/jobs", json=body).json()
    assert job["total"] == 5 * 25
    assert client.delete(f"/jobs/{job['id']}").json()["state"] == "cancelled"


def test_multipart_upload(client: TestClient) -> None:
    files = {"content_img": ("house.png", encode(make_content(64)), "image/png"),
             "style_img": ("stripes.jpg", encode(make_style(48), "JPEG"), "image/jpeg")}
    data = {"size": "36", "epochs": "1", "steps_per_epoch": "2", "scales": "1", "preserve_colour": "histogram"}
    response = client.post("/jobs", files=files, data=data)
    assert response.status_code == 202, response.text
    job = _final(client, response.json()["id"])
    assert job["state"] == "done", job
    assert decode_png(client.get(f"/jobs/{job['id']}/result").content).size == (36, 27)


def test_multipart_errors_name_the_field(client: TestClient) -> None:
    files = {"content_img": ("x.png", encode(make_content(64)), "image/png")}
    response = client.post("/jobs", files=files, data={"epochs": "2"})
    assert response.status_code == 422 and response.json()["detail"] == "style_img: Field required"
    files["style_img"] = ("y.png", b"GIF89a not really", "image/png")
    response = client.post("/jobs", files=files, data={"epochs": "zero"})
    assert response.status_code == 422 and response.json()["detail"].startswith("epochs: Input should be a valid integer")
    response = client.post("/jobs", files=files, data={"epochs": "1"})
    assert response.status_code == 400 and response.json()["detail"].startswith("style_img: image data")


def test_progress_events_with_previews(client: TestClient) -> None:
    job = client.post("/jobs", json=seed_body(size=40, steps_per_epoch=6)).json()
    events: list[tuple[str, dict]] = []
    with client.stream("GET", f"/jobs/{job['id']}/events") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        name = None
        for line in stream.iter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                events.append((name, json.loads(line[6:])))
    names = [name for name, _ in events]
    assert names[-1] == "done" and set(names[:-1]) == {"progress"}
    steps = [data["step"] for _, data in events]
    assert steps == sorted(steps) and steps[-1] == 6
    previews = [data["preview"] for _, data in events if "preview" in data]
    assert previews and all(p.startswith("data:image/jpeg;base64,") for p in previews)
    assert decode_png(previews[-1].split(",", 1)[1]).format == "JPEG"
    assert events[-1][1]["eta"] == 0.0


def test_queue_full_answers_503_with_retry_after(make_client: Callable[..., TestClient]) -> None:
    client = make_client(workers=1, queue_size=1)
    running = client.post("/jobs", json=seed_body(**LONG)).json()
    _wait(client, running["id"], lambda job: job["state"] == "running")
    waiting = client.post("/jobs", json=seed_body(**LONG))
    assert waiting.status_code == 202 and waiting.json()["state"] == "queued"
    for path in ("/jobs", "/stylize"):
        full = client.post(path, json=seed_body())
        assert full.status_code == 503, full.text
        assert int(full.headers["retry-after"]) >= 1
        assert full.json()["error"] == "queue_full" and "the job queue is full" in full.json()["detail"]
    assert client.get("/healthz").json()["queue"] == {"workers": 1, "queue_size": 1, "queued": 1, "running": 1,
                                                      "kept": 0}
    assert client.delete(f"/jobs/{waiting.json()['id']}").json()["state"] == "cancelled"
    assert client.delete(f"/jobs/{running['id']}").json()["state"] == "cancelled"


def test_cancel_stops_a_running_job_and_frees_the_worker(make_client: Callable[..., TestClient]) -> None:
    client = make_client(workers=1)
    job = client.post("/jobs", json=seed_body(**LONG)).json()
    _wait(client, job["id"], lambda j: j["state"] == "running" and j["step"] >= 2)
    started = time.monotonic()
    cancelled = client.delete(f"/jobs/{job['id']}")
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    assert cancelled.json()["step"] < 2000 and time.monotonic() - started < 10
    result = client.get(f"/jobs/{job['id']}/result")
    assert result.status_code == 409 and "it was cancelled" in result.json()["detail"]
    # the worker is free again: a small synchronous run goes straight through
    assert client.post("/stylize", json=seed_body()).status_code == 200
    assert client.delete(f"/jobs/{job['id']}").json()["state"] == "cancelled"  # again: a no-op


def test_result_of_a_running_job_is_409_and_unknown_jobs_are_404(client: TestClient) -> None:
    job = client.post("/jobs", json=seed_body(**LONG)).json()
    response = client.get(f"/jobs/{job['id']}/result")
    assert response.status_code == 409 and response.json()["error"] == "job_not_ready"
    client.delete(f"/jobs/{job['id']}")
    for method, path in (("GET", "/jobs/nope"), ("GET", "/jobs/nope/result"), ("DELETE", "/jobs/nope"),
                         ("GET", "/jobs/nope/events")):
        response = client.request(method, path)
        assert response.status_code == 404, (method, path)
        assert response.json() == {"error": "job_not_found",
                                   "detail": "no job 'nope' (it never existed, or its result expired)"}


def test_run_time_limit(make_client: Callable[..., TestClient]) -> None:
    client = make_client(max_seconds=0.5)
    job = client.post("/jobs", json=seed_body(**LONG)).json()
    failed = _final(client, job["id"])
    assert failed["state"] == "failed"
    assert failed["error"].startswith("the run was stopped after 0.5 s, this server's limit (max_seconds)")
    response = client.post("/stylize", json=seed_body(**LONG))
    assert response.status_code == 422 and "max_seconds" in response.json()["detail"]


def test_finished_results_expire_by_age(stylizer) -> None:
    """On the queue's own clock, moved by the test: a busy machine cannot make the result expire
    early or late."""
    from brushwork.server import create_app
    from brushwork.server.local_queue import LocalQueue
    from brushwork.server.settings import ServerSettings

    now = [1000.0]
    queue = LocalQueue(stylizer, result_ttl=60.0, clock=lambda: now[0])
    try:
        with TestClient(create_app(ServerSettings(device="cpu"), queue=queue)) as client:
            job = client.post("/jobs", json=seed_body()).json()
            _final(client, job["id"])
            now[0] += 59.0
            assert client.get(f"/jobs/{job['id']}/result").status_code == 200
            now[0] += 2.0
            response = client.get(f"/jobs/{job['id']}/result")
            assert response.status_code == 404 and "expired" in response.json()["detail"]
    finally:
        queue.close()


def test_finished_results_expire_by_count(make_client: Callable[..., TestClient]) -> None:
    client = make_client(result_max_count=1)
    first = client.post("/jobs", json=seed_body()).json()
    _final(client, first["id"])
    second = client.post("/jobs", json=seed_body()).json()
    _final(client, second["id"])
    assert client.get(f"/jobs/{second['id']}/result").status_code == 200
    assert client.get(f"/jobs/{first['id']}").status_code == 404
