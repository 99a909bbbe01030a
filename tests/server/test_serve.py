"""Settings from flags and environment, and `brushwork serve` as a real process answering the seed request."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
import pytest

from brushwork.cli import main
from brushwork.server.settings import ServerSettings

from .conftest import decode_png, free_port, seed_body


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BRUSHWORK_WORKERS", "3")
    monkeypatch.setenv("BRUSHWORK_CORS_ORIGINS", "https://a.example, https://b.example")
    monkeypatch.setenv("BRUSHWORK_API_KEY", "k")
    settings = ServerSettings()
    assert settings.workers == 3 and settings.cors_origins == ("https://a.example", "https://b.example")
    assert settings.api_key is not None and settings.api_key.get_secret_value() == "k"
    assert ServerSettings(workers=2).workers == 2  # a flag beats the environment


def test_serve_flags(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--workers" in out and "--max-steps" in out and "BRUSHWORK_PORT" in out
    assert main(["serve", "--workers", "0"]) == 2
    assert capsys.readouterr().err.strip() == "brushwork: error: workers: Input should be greater than or equal to 1"
    assert main(["serve", "--device", "tpu"]) == 2
    assert "device must be auto, cpu, cuda, cuda:N or mps" in capsys.readouterr().err


def test_brushwork_serve_answers_the_seed_request() -> None:
    port = free_port()
    env = {**os.environ, "BRUSHWORK_DEVICE": "cpu", "BRUSHWORK_LOG_LEVEL": "warning"}
    server = subprocess.Popen([sys.executable, "-m", "brushwork", "serve", "--port", str(port)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None, server.stdout.read().decode()
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.2)
        response = httpx.post(base + "/stylize", json=seed_body(), timeout=60)
        assert response.status_code == 200, response.text
        assert decode_png(response.json()["result"]).size == (32, 24)
    finally:
        server.terminate()  # uvicorn shuts down gracefully, then re-raises SIGTERM
        output = server.communicate(timeout=30)[0].decode()
    assert server.returncode in (0, -15) and "Traceback" not in output, output
