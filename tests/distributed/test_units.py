"""The distributed part without Redis: settings, the worker command's errors, state encoding, and
an unreachable broker reported as BrokerUnavailable (not a traceback or a hang)."""

from __future__ import annotations

import time

import pytest

pytest.importorskip("celery", reason="the distributed extra is not installed (pip install -e .[dev])")

from brushwork.cli import main  # noqa: E402
from brushwork.distributed import CeleryQueue  # noqa: E402
from brushwork.distributed.celery_app import broker_url_from_env, make_app, redact  # noqa: E402
from brushwork.distributed.local import free_port  # noqa: E402
from brushwork.distributed.store import from_fields, status_from_json, status_json, to_fields  # noqa: E402
from brushwork.errors import BrokerUnavailable, InvalidInputError  # noqa: E402
from brushwork.jobs import JobRequest, JobState, JobStatus  # noqa: E402


def test_broker_url_comes_from_flag_then_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BRUSHWORK_BROKER_URL", "redis://env-host:6379/2")
    assert broker_url_from_env(None) == "redis://env-host:6379/2"
    assert broker_url_from_env("redis://flag:1/0") == "redis://flag:1/0"
    with pytest.raises(InvalidInputError, match="redis://"):
        broker_url_from_env("amqp://guest@rabbit//")


def test_passwords_never_reach_messages() -> None:
    assert redact("redis://:s3cret@host:6379/0") == "redis://***@host:6379/0"
    assert redact("rediss://user:s3cret@host/0") == "rediss://user:***@host/0"
    assert redact("redis://host:6379/0") == "redis://host:6379/0"


def test_app_settings_make_jobs_survive_a_dying_worker() -> None:
    app = make_app("redis://127.0.0.1:1/0", time_limit=60, visibility_timeout=120)
    conf = app.conf
    assert conf.task_acks_late and conf.task_reject_on_worker_lost
    assert conf.worker_prefetch_multiplier == 1
    assert conf.broker_transport_options["visibility_timeout"] == 120
    assert conf.task_soft_time_limit == 60 and conf.task_time_limit > 60
    assert conf.accept_content == ["json"]
    assert "brushwork.stylize" in app.tasks
    with pytest.raises(InvalidInputError, match="must exceed"):
        make_app("redis://127.0.0.1:1/0", time_limit=600, visibility_timeout=300)


def test_status_survives_the_trip_through_redis_fields_and_json() -> None:
    status = JobStatus(id="ab" * 16, state=JobState.RUNNING, step=3, total=10, elapsed=1.5, eta=2.25,
                       worker="gpu0@host")
    fields = {k.encode(): v.encode() for k, v in to_fields(status).items()}
    assert from_fields(status.id, fields) == status
    assert status_from_json(status_json(status)) == status
    failed = status.advanced(state=JobState.FAILED, error="boom", finished=5.0, eta=None)
    fields = {k.encode(): v.encode() for k, v in to_fields(failed).items()}
    assert from_fields(failed.id, fields) == failed


@pytest.mark.parametrize("argv, message", [
    (["worker", "--concurrency", "0"], "must be 1 or more"),
    (["worker", "--device", "tpu"], "device must be"),
    (["worker", "--device", "cuda:0"], "CUDA is not available"),
    (["worker", "--broker-url", "http://example.com"], "broker URL must be"),
    (["worker", "--pool", "gevent"], "invalid choice"),
])
def test_worker_command_bad_input_is_one_line_and_exit_2(argv, message, capsys) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_worker_help_names_its_settings(capsys) -> None:
    assert main(["worker", "--help"]) == 0
    out = capsys.readouterr().out
    for flag in ("--broker-url", "--concurrency", "--device", "--visibility-timeout", "BRUSHWORK_BROKER_URL"):
        assert flag in out


def test_unreachable_broker_is_reported_quickly() -> None:
    queue = CeleryQueue(f"redis://127.0.0.1:{free_port()}/0")
    request = JobRequest(content=b"x", styles=(b"y",), options={"size": 32})
    try:
        started = time.monotonic()
        with pytest.raises(BrokerUnavailable, match="unavailable") as error:
            queue.submit(request)
        with pytest.raises(BrokerUnavailable):
            queue.status("0" * 32)
        with pytest.raises(BrokerUnavailable):
            queue.ping()
        assert time.monotonic() - started < 10
        assert "127.0.0.1" in str(error.value)
    finally:
        queue.close()


def test_celery_queue_is_a_job_queue() -> None:
    from brushwork.jobs import JobQueue

    queue = CeleryQueue("redis://127.0.0.1:1/0")
    try:
        assert isinstance(queue, JobQueue)
    finally:
        queue.close()
