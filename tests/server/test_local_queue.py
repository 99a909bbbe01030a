"""LocalQueue on its own (no HTTP): the JobQueue protocol, waiting, events, closing."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from brushwork.errors import JobNotFound, JobNotReady, QueueFull
from brushwork.jobs import JobQueue, JobRequest, JobState
from brushwork.server.local_queue import LocalQueue
from tests.conftest import make_content, make_style

from .conftest import FAST, decode_png, encode


def _request(**options: Any) -> JobRequest:
    return JobRequest(content=encode(make_content(64)), styles=(encode(make_style(48)),),
                      options={**FAST, **options})


@pytest.fixture
def queue(stylizer: Any) -> LocalQueue:
    queue = LocalQueue(stylizer, workers=1, queue_size=1)
    yield queue
    queue.close()


def test_it_is_a_job_queue(queue: LocalQueue) -> None:
    assert isinstance(queue, JobQueue)


def test_submit_wait_result(queue: LocalQueue) -> None:
    status = queue.submit(_request(preview_every=1))
    assert status.state is JobState.QUEUED and status.total == 2
    final = queue.wait(status.id, timeout=60)
    assert final.state is JobState.DONE and final.worker == "brushwork-worker-1"
    assert final.finished is not None and final.finished >= final.created
    assert decode_png(queue.result(status.id)).size == (32, 24)


def test_wait_times_out_and_events_end_with_the_final_status(queue: LocalQueue) -> None:
    status = queue.submit(_request(epochs=2, steps_per_epoch=3, preview_every=2))
    assert not queue.wait(status.id, timeout=0.0).state.final
    events = list(queue.events(status.id, timeout=60))
    assert events[-1].status.state is JobState.DONE
    assert [e.status.step for e in events] == sorted(e.status.step for e in events)
    assert any(e.preview and e.preview[:2] == b"\xff\xd8" for e in events)  # JPEG previews


def test_bounded_queue_and_cancel_of_a_queued_job(queue: LocalQueue) -> None:
    running = queue.submit(_request(steps_per_epoch=5000))
    waiting = queue.submit(_request())
    with pytest.raises(QueueFull) as full:
        queue.submit(_request())
    assert full.value.retry_after >= 1
    assert queue.cancel(waiting.id).state is JobState.CANCELLED
    with pytest.raises(JobNotReady, match="it was cancelled"):
        queue.result(waiting.id)
    queue.cancel(running.id)
    assert queue.wait(running.id, timeout=30).state is JobState.CANCELLED


def test_unknown_ids(queue: LocalQueue) -> None:
    for call in (queue.status, queue.result, queue.cancel, queue.wait):
        with pytest.raises(JobNotFound):
            call("missing")
    with pytest.raises(JobNotFound):
        next(queue.events("missing"))


def test_failures_are_one_line(queue: LocalQueue) -> None:
    status = queue.submit(JobRequest(content=b"not an image", styles=(encode(make_style(48)),), options=FAST))
    final = queue.wait(status.id, timeout=30)
    assert final.state is JobState.FAILED
    assert final.error == "image data is not an image in a format brushwork can read"


def test_close_cancels_everything_and_refuses_new_work(stylizer: Any) -> None:
    queue = LocalQueue(stylizer, workers=1, queue_size=4)
    running = queue.submit(_request(steps_per_epoch=5000))
    queued = queue.submit(_request())
    while queue.status(running.id).state is JobState.QUEUED:
        time.sleep(0.02)
    closer = threading.Thread(target=queue.close)
    closer.start()
    closer.join(timeout=30)
    assert not closer.is_alive()
    assert queue.status(queued.id).state is JobState.CANCELLED
    assert queue.status(running.id).state is JobState.CANCELLED
    with pytest.raises(QueueFull, match="shutting down"):
        queue.submit(_request())
