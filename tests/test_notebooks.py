"""The two notebooks: committed clean, in step with their generator, and running top to bottom.

They are executed in a real Jupyter kernel (nbclient, the venv's `python3` kernel) at a tiny
size, with small values injected after the parameter cell the way papermill does it.
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbformat.v4 import new_code_cell
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
NAMES = ("ModelRunDefinition.ipynb", "QuickRunModel.ipynb")
# matplotlib's inline backend renders figures to PNG outputs and never opens a window
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"


def _read(name: str) -> nbformat.NotebookNode:
    return nbformat.read(NOTEBOOKS / name, as_version=4)


def _parameter_index(notebook: nbformat.NotebookNode) -> int:
    tagged = [i for i, cell in enumerate(notebook.cells) if "parameters" in cell.metadata.get("tags", [])]
    assert len(tagged) == 1, "exactly one cell must be tagged 'parameters'"
    return tagged[0]


def _parameter_names(notebook: nbformat.NotebookNode) -> set[str]:
    tree = ast.parse(notebook.cells[_parameter_index(notebook)].source)
    return {target.id for node in tree.body if isinstance(node, ast.Assign)
            for target in node.targets if isinstance(target, ast.Name)}


def execute(name: str, timeout: int | None = 180, **parameters: Any) -> nbformat.NotebookNode:
    """Run a notebook top to bottom with `parameters` overriding its parameter cell."""
    notebook = _read(name)
    unknown = set(parameters) - _parameter_names(notebook)
    assert not unknown, f"{name} has no parameters {unknown}"
    if parameters:
        injected = new_code_cell("\n".join(f"{key} = {value!r}" for key, value in parameters.items()),
                                 metadata={"tags": ["injected-parameters"]})
        notebook.cells.insert(_parameter_index(notebook) + 1, injected)
    from nbclient import NotebookClient

    NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    return notebook


def _outputs(notebook: nbformat.NotebookNode, mime: str) -> list[tuple[int, Any]]:
    """(cell index, data) for every output of the given MIME type."""
    return [(i, output["data"][mime]) for i, cell in enumerate(notebook.cells) if cell.cell_type == "code"
            for output in cell.outputs if mime in output.get("data", {})]


def _text(notebook: nbformat.NotebookNode) -> str:
    return "".join(output.get("text", "") for cell in notebook.cells if cell.cell_type == "code"
                   for output in cell.outputs)


@pytest.fixture
def inline_matplotlib(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MPLBACKEND", INLINE_BACKEND)
    # tiny images gain nothing from a second thread, and on a busy machine threads waiting for
    # each other make a run several times slower
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


@pytest.mark.parametrize("name", NAMES)
def test_committed_without_outputs(name):
    notebook = _read(name)
    nbformat.validate(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{name}: outputs not stripped"
    assert notebook.metadata.kernelspec.name == "python3"


@pytest.mark.parametrize("name", NAMES)
def test_generator_matches_committed(name):
    """Edit notebooks/make_notebooks.py, then run it: the committed files must be what it writes."""
    spec = importlib.util.spec_from_file_location("make_notebooks", NOTEBOOKS / "make_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    expected = nbformat.writes(module.build(module.NOTEBOOKS[name]))
    assert (NOTEBOOKS / name).read_text().rstrip("\n") == expected.rstrip("\n")


@pytest.mark.parametrize("name", NAMES)
def test_parameter_cell_comes_first_and_uses_bundled_examples(name):
    notebook = _read(name)
    index = _parameter_index(notebook)
    assert index == next(i for i, cell in enumerate(notebook.cells) if cell.cell_type == "code")
    assert {"CONTENT", "STYLE", "SIZE", "DEVICE"} <= _parameter_names(notebook)
    namespace: dict[str, Any] = {}
    exec(notebook.cells[index].source, namespace)  # plain assignments only
    for key in ("CONTENT", "STYLE"):
        assert (NOTEBOOKS / namespace[key]).resolve().is_file()
        assert (NOTEBOOKS / namespace[key]).resolve().parent == ROOT / "examples"


@pytest.mark.slow
def test_model_run_definition_runs(inline_matplotlib):
    notebook = execute("ModelRunDefinition.ipynb", SIZE=48, STEPS=3, CONTENT_WEIGHTS=(1.0,),
                       STYLE_WEIGHTS=(1.0, 100.0))
    # every cell that draws a figure shows exactly one picture: inputs, feature maps, Gram
    # matrices, optimizer curves, their images, the result, loss curves, intermediate grid,
    # trade-off grid, colour preservation
    drawing = [i for i, cell in enumerate(notebook.cells) if cell.cell_type == "code" and "fig = " in cell.source]
    assert len(drawing) == 10
    assert [i for i, _ in _outputs(notebook, "image/png")] == drawing
    text = _text(notebook)
    assert "content cost of the content          0.000" in text
    assert "style cost of the style image  0.000" in text
    assert "3 steps in" in text


@pytest.mark.slow
def test_quick_run_model_runs_and_saves(inline_matplotlib, tmp_path):
    output = tmp_path / "result.png"
    notebook = execute("QuickRunModel.ipynb", SIZE=48, EPOCHS=2, STEPS_PER_EPOCH=2, OUTPUT=str(output))
    assert len(_outputs(notebook, "image/png")) == 2          # the result, then optimizer beside fast mode
    text = _text(notebook)
    assert "epoch 2/2" in text and f"saved {output}" in text and "fast mode: " in text
    with Image.open(output) as saved:
        assert max(saved.size) == 48 and saved.mode == "RGB"
