"""CeleryQueue end to end with real parts: a redis-server on a loopback port and two real
`brushwork worker` processes (prefork, one job each). Jobs are tiny (32 px, a few steps).

The tests run in file order and share the workers: spread, previews and results; cancel; a full
queue; a pool process SIGKILLed mid-job (its job runs again, or fails with a clear error when
out of attempts); a whole worker SIGKILLed mid-job (its job is noticed within a heartbeat and
sent to the other worker; never stuck "running"); Redis restarted (BrokerUnavailable, then
recovery with the surviving worker).
"""

from __future__ import annotations

import io
import os
import shutil
import signal
import time
from collections.abc import Iterator

import pytest
from PIL import Image

pytest.importorskip("celery", reason="the distributed extra is not installed (pip install -e .[dev])")
if shutil.which("redis-server") is None:
    pytest.skip("redis-server is not installed (Debian package redis-server; `make setup` installs it)",
                allow_module_level=True)

from brushwork.distributed import CeleryQueue  # noqa: E402
from brushwork.distributed.local import RedisServer, WorkerProcess, wait_for_workers  # noqa: E402
from brushwork.distributed.store import key  # noqa: E402
from brushwork.errors import BrokerUnavailable, JobNotFound, JobNotReady, QueueFull  # noqa: E402
from brushwork.jobs import JobRequest, JobState  # noqa: E402

from tests.conftest import make_content, make_style  # noqa: E402

QUICK = {"size": 32, "epochs": 2, "steps_per_epoch": 2, "scales": 1, "preview_every": 2}
#: Runs until stopped: minutes even on a fast machine, so a limit of a few seconds always cuts it short.
LONG = {"size": 32, "epochs": 4, "steps_per_epoch": 5000, "scales": 1}
LONG_STEPS = 4 * 5000
HEARTBEAT = 2.0
WORKER_FLAGS = ("--concurrency", "1", "--device", "cpu", "--threads", "1")  # visibility timeout: 1 h


def _png(image: Image.Image, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def request(options: dict) -> JobRequest:
    return JobRequest(content=_png(make_content(40)), styles=(_png(make_style(40), "JPEG"),), options=options)


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def workers(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, WorkerProcess]]:
    logs = tmp_path_factory.mktemp("workers")
    started = {name: WorkerProcess(name, redis_server.url, logs / f"{name}.log", *WORKER_FLAGS)
               for name in ("alpha", "beta")}
    probe = CeleryQueue(redis_server.url)
    try:
        wait_for_workers(probe, {w.name for w in started.values()}, list(started.values()), timeout=90)
        yield started
    finally:
        probe.close()
        for worker in started.values():
            worker.stop()


@pytest.fixture
def queue(redis_server: RedisServer) -> Iterator[CeleryQueue]:
    jobs = CeleryQueue(redis_server.url, heartbeat=HEARTBEAT, max_queued=8, result_ttl=60, time_limit=120)
    yield jobs
    jobs.close()


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_jobs_run_on_both_workers_with_progress_previews_and_results(queue: CeleryQueue, workers) -> None:
    jobs = [queue.submit(request(QUICK)) for _ in range(4)]
    assert all(job.state == JobState.QUEUED and job.total == 4 for job in jobs)
    events = list(queue.events(jobs[0].id, timeout=60))
    assert events[-1].status.state == JobState.DONE
    steps = [e.status.step for e in events if e.status.state == JobState.RUNNING]
    assert steps == sorted(steps) and steps[-1] == 4
    previews = [Image.open(io.BytesIO(e.preview)) for e in events if e.preview]
    assert previews and all(p.format == "JPEG" and max(p.size) <= 256 for p in previews)
    finals = [queue.wait(job.id, timeout=60) for job in jobs]
    assert [f.state for f in finals] == [JobState.DONE] * 4, [f.error for f in finals]
    assert {f.worker for f in finals} == {w.name for w in workers.values()}  # spread over both
    image = Image.open(io.BytesIO(queue.result(jobs[1].id)))
    assert image.format == "PNG" and image.size == (32, 24)
    assert finals[0].elapsed > 0 and finals[0].finished >= finals[0].created
    with pytest.raises(JobNotFound):
        queue.status("0" * 32)
    with pytest.raises(JobNotFound):
        queue.status("../etc/passwd")


def test_video_jobs_run_on_workers_and_answer_an_mp4(queue: CeleryQueue, workers, tmp_path) -> None:
    av = pytest.importorskip("av")
    pytest.importorskip("cv2")
    from brushwork.video.sample import write_sample_clip

    clip = write_sample_clip(tmp_path / "clip.mp4", width=64, height=48, frames=6, fps=6).read_bytes()
    style = io.BytesIO()
    make_style(48).save(style, format="PNG")
    job = queue.submit(JobRequest(content=clip, styles=(style.getvalue(),), options={"mode": "fast", "size": 48},
                                  video={}, frames=6))
    assert job.kind == "video" and job.total == 6
    events = list(queue.events(job.id, timeout=90))
    assert events[-1].status.state == JobState.DONE and events[-1].status.kind == "video"
    assert [e.status.step for e in events if e.status.state == JobState.RUNNING][-1] == 6
    assert any(e.preview for e in events)
    (tmp_path / "out.mp4").write_bytes(queue.result(job.id))
    with av.open(str(tmp_path / "out.mp4")) as out:
        assert sum(1 for _ in out.decode(video=0)) == 6


def test_cancel_stops_a_running_job_and_frees_its_worker(queue: CeleryQueue, workers) -> None:
    long_jobs = [queue.submit(request(LONG)) for _ in range(2)]  # one per worker
    wait_for(lambda: all(queue.status(j.id).step >= 1 for j in long_jobs), 60, "both long jobs to run")
    for job in long_jobs:
        assert queue.cancel(job.id).state == JobState.CANCELLED
    with pytest.raises(JobNotReady, match="cancelled"):
        queue.result(long_jobs[0].id)
    # Both workers are free again: a quick job finishes long before the long ones would have.
    quick = queue.submit(request(QUICK))
    assert queue.wait(quick.id, timeout=45).state == JobState.DONE
    for job in long_jobs:
        status = queue.status(job.id)
        assert status.state == JobState.CANCELLED and status.step < LONG_STEPS
    assert queue.cancel(quick.id).state == JobState.DONE  # a finished job stays as it was


def test_a_job_past_its_time_limit_fails_with_a_clear_error(redis_server, workers) -> None:
    hurried = CeleryQueue(redis_server.url, heartbeat=HEARTBEAT, time_limit=2)
    try:
        job = hurried.submit(request(LONG))
        final = hurried.wait(job.id, timeout=40)
        # the mechanism, whatever the machine's speed: stopped by the limit, before the end (on a busy
        # machine the first step may itself take the whole 2 s, so no lower bound on the steps done)
        assert final.state == JobState.FAILED and final.error == "the job ran past its time limit of 2 s"
        assert final.step < LONG_STEPS
    finally:
        hurried.close()


def test_full_queue_refuses_with_retry_after_and_queued_jobs_cancel(redis_server: RedisServer) -> None:
    idle = CeleryQueue(redis_server.url, queue="nobody-listens", max_queued=2)  # no worker takes these
    try:
        waiting = [idle.submit(request(QUICK)) for _ in range(2)]
        with pytest.raises(QueueFull) as refused:
            idle.submit(request(QUICK))
        assert refused.value.retry_after >= 1 and "full" in str(refused.value)
        assert idle.queued() == 2
        assert idle.cancel(waiting[0].id).state == JobState.CANCELLED
        assert idle.submit(request(QUICK)).state == JobState.QUEUED  # the cancelled one freed a place
        with pytest.raises(JobNotReady, match="queued"):
            idle.result(waiting[1].id)
    finally:
        idle.redis.delete(key("queued"))
        idle.close()


def _running_on(queue: CeleryQueue, job_id: str) -> str:
    return wait_for(lambda: (s := queue.status(job_id)).step >= 1 and s.worker, 60, "the job to run")


def test_pool_process_killed_mid_job_is_retried(queue: CeleryQueue, workers) -> None:
    job = queue.submit(request({**LONG, "epochs": 1, "steps_per_epoch": 10}))
    victim = next(w for w in workers.values() if w.name == _running_on(queue, job.id))
    for pid in victim.pool_processes():
        os.kill(pid, signal.SIGKILL)
    final = queue.wait(job.id, timeout=60)
    assert final.state == JobState.DONE, final.error
    assert queue.store.field(job.id, "attempts") == "2"
    assert Image.open(io.BytesIO(queue.result(job.id))).size == (32, 24)


def test_pool_process_killed_fails_cleanly_when_out_of_attempts(redis_server, workers) -> None:
    strict = CeleryQueue(redis_server.url, heartbeat=HEARTBEAT, max_attempts=1)
    try:
        job = strict.submit(request(LONG))
        victim = next(w for w in workers.values() if w.name == _running_on(strict, job.id))
        for pid in victim.pool_processes():
            os.kill(pid, signal.SIGKILL)
        final = strict.wait(job.id, timeout=30)
        assert final.state == JobState.FAILED
        assert "stopped" in final.error and "killed" in final.error, final.error
        time.sleep(HEARTBEAT + 1)  # the requeued message reaches a worker, which leaves the job alone
        assert strict.status(job.id).state == JobState.FAILED
        assert strict.store.field(job.id, "attempts") in ("1", "2")
    finally:
        strict.close()


def test_whole_worker_killed_mid_job_goes_to_the_other_worker(queue: CeleryQueue, workers) -> None:
    job = queue.submit(request({**LONG, "epochs": 1, "steps_per_epoch": 10}))
    first = _running_on(queue, job.id)
    victim = next(w for w in workers.values() if w.name == first)
    victim.kill_all()  # main process and pool: its message stays unacknowledged for the 1 h visibility timeout
    moved = wait_for(lambda: ((s := queue.status(job.id)).state != JobState.RUNNING or s.worker != first) and s,
                     HEARTBEAT + 5, "the dead worker to be noticed")
    assert moved.state in (JobState.QUEUED, JobState.RUNNING, JobState.DONE) and moved.worker != first
    final = queue.wait(job.id, timeout=45)  # sent again at once, not after the visibility timeout
    assert final.state == JobState.DONE, final.error
    assert final.worker != first and queue.store.field(job.id, "attempts") == "2"


def test_redis_restart_reports_unavailable_then_recovers(redis_server, workers, queue: CeleryQueue) -> None:
    redis_server.stop()
    with pytest.raises(BrokerUnavailable, match="unavailable"):
        queue.submit(request(QUICK))
    with pytest.raises(BrokerUnavailable):
        queue.status("0" * 32)
    redis_server.start()
    job = wait_for(lambda: _try_submit(queue), 10, "submit to succeed again")
    final = queue.wait(job.id, timeout=60)  # the surviving worker reconnects on its own
    assert final.state == JobState.DONE, final.error


def _try_submit(queue: CeleryQueue):
    try:
        return queue.submit(request(QUICK))
    except BrokerUnavailable:
        return None
