"""The README must keep naming every user option (docs that drift are worse than none)."""

from pathlib import Path

from brushwork import StyleOptions
from brushwork.cli import HIDDEN_OPTIONS

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_readme_names_every_option():
    missing = [name for name in StyleOptions.model_fields if name not in HIDDEN_OPTIONS and f"`{name}" not in README]
    assert not missing, f"README options table lacks {missing}"


def test_readme_commands_exist():
    assert "make demo" in README and "make test" in README
    makefile = (Path(__file__).resolve().parent.parent / "Makefile").read_text()
    assert "\ndemo:" in makefile and "\ntest:" in makefile
