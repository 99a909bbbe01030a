"""`brushwork serve` serves the on-device page at /phone/: built on first use, files only, no escapes."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("onnx")


def test_phone_page_is_built_once_and_served(make_client, tmp_path: Path) -> None:
    from brushwork.fast.phone_app import ort_dir

    if not (ort_dir() / "ort.wasm.min.js").is_file():
        pytest.fail("onnxruntime-web is not vendored: run `bash deps/install-npm.sh` (make setup does)")
    folder = tmp_path / "phone"
    client = make_client(phone_dir=str(folder))
    assert client.get("/phone", follow_redirects=False).headers["location"] == "/phone/"
    page = client.get("/phone/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert (folder / "build.json").is_file() and not folder.with_name("phone.partial").exists()
    wasm = client.get("/phone/ort/ort-wasm-simd-threaded.wasm")
    assert wasm.headers["content-type"] == "application/wasm"
    model = client.get("/phone/models/transfer.onnx")
    assert model.status_code == 200 and model.content == (folder / "models" / "transfer.onnx").read_bytes()
    assert client.get("/phone/manifest.webmanifest").headers["content-type"].startswith("application/manifest+json")
    missing = client.get("/phone/nothing-here.js")
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    assert client.get("/phone/..%2F..%2Fetc%2Fpasswd").status_code == 404


def test_phone_page_without_runtime_says_what_is_missing(make_client, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("BRUSHWORK_ORT_WEB_DIR", str(tmp_path / "empty"))
    client = make_client(phone_dir=str(tmp_path / "phone"))
    answer = client.get("/phone/")
    assert answer.status_code == 503
    assert answer.json()["error"] == "phone_page_unavailable"
    assert "install-npm.sh" in answer.json()["detail"]
    assert not (tmp_path / "phone").exists()


def test_a_page_built_from_other_weights_is_rebuilt(make_client, tmp_path: Path) -> None:
    """An upgrade that ships a new decoder keeps the version number: the cached page must not stay."""
    import json

    from brushwork.fast.phone_app import ort_dir, source_digest

    if not (ort_dir() / "ort.wasm.min.js").is_file():
        pytest.fail("onnxruntime-web is not vendored: run `bash deps/install-npm.sh` (make setup does)")
    folder = tmp_path / "phone"
    folder.mkdir()
    (folder / "build.json").write_text(json.dumps({"source": "older-build"}))
    (folder / "index.html").write_text("stale page")
    client = make_client(phone_dir=str(folder))
    page = client.get("/phone/")
    assert page.status_code == 200 and "stale page" not in page.text
    assert json.loads((folder / "build.json").read_text())["source"] == source_digest()
