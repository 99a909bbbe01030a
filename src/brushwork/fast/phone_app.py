"""The on-device phone page: static files + the ONNX networks + onnxruntime-web, as one folder.

`build_phone_app(folder)` writes a self-contained static site (serve it from any web server,
or install it as a PWA); `mount_phone(app)` builds it once into a cache folder and mounts it on a
FastAPI/Starlette app at /phone. The model runs in the browser: the server only hands out files.

onnxruntime-web comes from the npm registry (`deps/npm/phone.txt`, unpacked by
`bash deps/install-npm.sh` into `src/brushwork/fast/phone/vendor/`), never from a CDN at run time.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
import os
import shutil
from importlib import resources
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from .. import __version__
from ..errors import BrushworkError

PAGE_FILES = ("index.html", "app.js", "style.css", "sw.js", "manifest.webmanifest")
ORT_FILES = ("ort.wasm.min.js", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")
MIME_TYPES = {".wasm": "application/wasm", ".mjs": "text/javascript", ".webmanifest": "application/manifest+json",
              ".onnx": "application/octet-stream"}


class PhoneAppError(BrushworkError):
    """The phone page cannot be built (onnxruntime-web or the ONNX exporter is missing)."""


def page_dir() -> Path:
    return Path(str(resources.files("brushwork.fast") / "phone"))


def ort_dir() -> Path:
    """Where onnxruntime-web's browser files are: $BRUSHWORK_ORT_WEB_DIR or the package's vendor folder."""
    override = os.environ.get("BRUSHWORK_ORT_WEB_DIR")
    return Path(override) if override else page_dir() / "vendor" / "onnxruntime-web"


def ort_files() -> list[Path]:
    """onnxruntime-web's browser files, checked first: a missing runtime is one clear error."""
    source = ort_dir()
    missing = [name for name in ORT_FILES if not (source / name).is_file()]
    if missing:
        raise PhoneAppError(f"onnxruntime-web files {', '.join(missing)} are missing in '{source}'; "
                            "run `bash deps/install-npm.sh` (it fetches them from the npm registry)")
    return [source / name for name in ORT_FILES]


def source_digest(precision: str = "fp32", decoder: str | Path | None = None) -> str:
    """A short hash of everything a build is made from (page files, onnxruntime-web, decoder weights,
    precision, version).

    It names the service worker's cache, so installed pages fetch a new model, page or runtime, and
    tells `phone_folder` when a page built earlier is stale."""
    from .model import default_decoder_path

    digest = hashlib.sha256(f"{__version__}:{precision}".encode())
    sources = [*(page_dir() / name for name in PAGE_FILES), *ort_files(), Path(decoder or default_decoder_path())]
    for path in sources:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def build_phone_app(folder: str | Path, *, precision: str = "fp32", decoder: str | Path | None = None) -> Path:
    """Write the whole page (HTML/JS, PWA manifest, service worker, icons, models, runtime) into `folder`."""
    return _build(Path(folder), precision, decoder, source_digest(precision, decoder))


def _build(target: Path, precision: str, decoder: str | Path | None, digest: str) -> Path:
    (target / "ort").mkdir(parents=True, exist_ok=True)
    for name in PAGE_FILES:
        shutil.copyfile(page_dir() / name, target / name)
    worker = target / "sw.js"
    worker.write_text(worker.read_text().replace('"brushwork-phone-dev"', f'"brushwork-phone-{digest}"'))
    for path in ort_files():
        shutil.copyfile(path, target / "ort" / path.name)
    _icons(target / "icons")
    from .export import export

    result = export("onnx", target / "models", precision, decoder=decoder)
    (target / "build.json").write_text(json.dumps({"brushwork": __version__, "precision": precision,
                                                   "source": digest, "models": result.manifest()}, indent=2))
    return target


def _icons(folder: Path) -> None:
    """App icons drawn here (a brush stroke on a canvas), so no binary art lives in the repository."""
    folder.mkdir(parents=True, exist_ok=True)
    for size in (192, 512):
        image = Image.new("RGB", (size, size), (43, 45, 66))
        draw = ImageDraw.Draw(image)
        unit = size / 16
        draw.rounded_rectangle((2 * unit, 2 * unit, 14 * unit, 14 * unit), radius=2 * unit, fill=(248, 245, 239))
        for i, colour in enumerate([(209, 73, 91), (237, 174, 73), (0, 121, 140)]):
            y = (5 + 3 * i) * unit
            draw.line((4 * unit, y + unit, 12 * unit, y - unit), fill=colour, width=int(1.6 * unit))
        image.save(folder / f"icon-{size}.png")


def phone_folder(cache_dir: str | Path | None = None, *, precision: str = "fp32") -> Path:
    """The built page in `cache_dir` (default ~/.cache/brushwork/phone-<version>-<precision>), built if
    absent or built from other page files or weights (an upgrade in place keeps the version)."""
    for suffix, kind in MIME_TYPES.items():
        mimetypes.add_type(kind, suffix)
    folder = Path(cache_dir) if cache_dir else Path.home() / ".cache" / "brushwork" / f"phone-{__version__}-{precision}"
    digest = source_digest(precision)
    if _built_from(folder) != digest:
        partial = folder.with_name(folder.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        _build(partial, precision, None, digest)
        shutil.rmtree(folder, ignore_errors=True)
        partial.rename(folder)  # a half-built page is never served
    return folder


def _built_from(folder: Path) -> str | None:
    try:
        return json.loads((folder / "build.json").read_text()).get("source")
    except (OSError, ValueError, AttributeError):
        return None


def phone_file(folder: Path, path: str) -> Path | None:
    """The file a request for `path` inside the page means (index.html for a folder), or None.

    Never a file outside `folder` (no `..` escapes)."""
    root = folder.resolve()
    target = (root / path).resolve()
    if target != root and root not in target.parents:
        return None
    if target.is_dir():
        target = target / "index.html"
    return target if target.is_file() else None


def mount_phone(app: Any, path: str = "/phone", cache_dir: str | Path | None = None, *,
                precision: str = "fp32") -> Path:
    """Build the page once (see `phone_folder`) and mount it as static files on a Starlette/FastAPI app."""
    from starlette.staticfiles import StaticFiles

    folder = phone_folder(cache_dir, precision=precision)
    app.mount(path, StaticFiles(directory=str(folder), html=True), name="phone")
    return folder
