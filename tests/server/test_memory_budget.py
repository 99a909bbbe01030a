"""The memory budget over HTTP: the `max_memory` field and setting, refusals, and the plan in job status."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from brushwork.cli import main
from brushwork.jobs import JobState, JobStatus
from brushwork.server.intake import build_job
from brushwork.server.settings import ServerSettings
from tests.conftest import make_content, make_style
from tests.server.conftest import encode, seed_body

GB, MB = 2**30, 2**20


def test_the_setting_reads_sizes_from_flags_and_the_environment(monkeypatch: pytest.MonkeyPatch,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert ServerSettings(max_memory="3GB").max_memory == 3 * GB
    monkeypatch.setenv("BRUSHWORK_MAX_MEMORY", "1500MB")
    assert ServerSettings().max_memory == 1500 * MB
    monkeypatch.setenv("BRUSHWORK_MAX_MEMORY", "")
    assert ServerSettings().max_memory is None                   # unset: 70 % of free memory per job
    assert main(["serve", "--max-memory", "lots"]) == 2
    assert capsys.readouterr().err.startswith("brushwork: error: max_memory: invalid memory size 'lots'")
    assert main(["serve", "--help"]) == 0
    assert "--max-memory" in capsys.readouterr().out


@pytest.mark.parametrize("asked, kept", [(None, 1 * GB), (4 * GB, 1 * GB), (512 * MB, 512 * MB)])
def test_a_request_may_lower_the_servers_budget_but_not_raise_it(asked: int | None, kept: int) -> None:
    options = {"size": 32} if asked is None else {"size": 32, "max_memory": asked}
    job = build_job(encode(make_content(64)), [encode(make_style(48))], options,
                    ServerSettings(max_memory="1GB"))
    assert job.options["max_memory"] == kept


def test_a_budget_too_small_is_a_422_naming_max_memory(client: TestClient) -> None:
    response = client.post("/stylize", json=seed_body(max_memory="64MB"))
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "max_memory" and "cannot hold one tile" in body["detail"]
    assert "\n" not in body["detail"]
    assert client.post("/stylize", json=seed_body(max_memory="lots")).status_code == 422


def test_job_status_carries_the_plan(client: TestClient) -> None:
    created = client.post("/jobs", json=seed_body(max_memory="8GB"))
    assert created.status_code == 202, created.text
    job = created.json()["id"]
    deadline = time.monotonic() + 120
    while (status := client.get(f"/jobs/{job}").json())["state"] not in ("done", "failed", "cancelled"):
        assert time.monotonic() < deadline, "job did not finish"
        time.sleep(0.2)
    assert status["state"] == "done", status
    plan = status["plan"]
    assert plan["budget"] == 8 * GB and plan["tiled"] is False and plan["levels"][0]["width"] == 32
    assert status["tile"] is None


def test_config_shows_the_servers_budget(make_client: Callable[..., TestClient]) -> None:
    assert make_client(max_memory="2GB").get("/config").json()["limits"]["max_memory"] == 2 * GB


def test_tile_and_plan_survive_the_redis_round_trip() -> None:
    from brushwork.distributed.store import from_fields, status_from_json, status_json, to_fields

    status = JobStatus(id="j", state=JobState.RUNNING, step=3, total=9, tile=(2, 8),
                       plan={"budget": GB, "levels": [{"core": 96, "tiles": 4}]})
    fields = {name.encode(): value.encode() for name, value in to_fields(status).items()}
    assert from_fields("j", fields) == status
    assert status_from_json(status_json(status)) == status
