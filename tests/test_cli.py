from pathlib import Path

import pytest
from PIL import Image

from brushwork.cli import main

FAST = ["--size", "48", "--epochs", "1", "--steps-per-epoch", "3", "-q"]


def run(capsys, *argv: str) -> tuple[int, str]:
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err


def test_stylize_writes_output(capsys, image_files):
    out = image_files["dir"] / "out.jpg"
    code, err = run(capsys, "stylize", image_files["content"], image_files["style"], "-o", out, *FAST)
    assert code == 0, err
    assert Image.open(out).size == (48, 36) and "wrote" in err


def test_batch_folder_and_save_every(capsys, image_files, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("a.png", "b.png"):
        Image.open(image_files["content"]).save(photos / name)
    out = tmp_path / "results"
    code, err = run(capsys, "stylize", photos, image_files["style"], "-o", out, "--save-every", "3", *FAST)
    assert code == 0, err
    assert sorted(p.name for p in out.glob("*.png")) == ["a_stylized.png", "b_stylized.png"]
    assert [p.name for p in (out / "a_stylized_steps").iterdir()] == ["step_0003.png"]


def test_extra_content_flags(capsys, image_files, tmp_path):
    out = tmp_path / "many"
    code, err = run(capsys, "stylize", "-c", image_files["content"], "-c", image_files["content"],
                    image_files["style"], "-o", out, *FAST)
    assert code == 0, err and len(list(out.glob("*.png"))) == 1


@pytest.mark.parametrize("argv, message", [
    (["stylize", "missing.png", "{style}", "-o", "{out}"], "no such file"),
    (["stylize", "{content}", "missing.png", "-o", "{out}"], "no such file"),
    (["stylize", "{content}", "-o", "{out}"], "at least one style"),
    (["stylize", "{content}", "{style}", "-o", "{dir}/out.xyz"], "unknown extension"),
    (["stylize", "{content}", "{style}", "-o", "{dir}/no/out.png"], "does not exist"),
    (["stylize", "{content}", "{style}", "-o", "{out}", "--size", "big"], "invalid size"),
    (["stylize", "{content}", "{style}", "-o", "{out}", "--epochs", "0"], "epochs"),
    (["stylize", "{content}", "{style}", "-o", "{out}", "--optimizer", "sgd"], "invalid choice"),
    (["stylize", "{content}", "{notimage}", "-o", "{out}"], "not an image"),
    (["stylize", "{content}", "{style}", "-o", "{out}", "--weights", "{notimage}"], "could not be read"),
    (["stylize", "{content}", "{style}", "-o", "{out}", "--device", "cuda:7"], "CUDA|cuda"),
    (["stylize", "{content}", "{style}", "-o", "{out}", "--max-memory", "64MB"], "^brushwork: error: max_memory: "
                                                                                  "a budget of 64 MB cannot hold"),
    (["stylize", "{content}", "{style}", "-o", "{out}", "--max-memory", "lots"], "invalid memory size 'lots'"),
    (["stylize", "{content}", "{style}", "-o", "{out}", "--size", "9000"], "size: .*8192"),
])
def test_errors_are_one_line_with_exit_2(capsys, image_files, argv, message):
    import re

    notimage = image_files["dir"] / "notes.png"
    notimage.write_text("not an image")
    values = {"content": image_files["content"], "style": image_files["style"], "dir": image_files["dir"],
              "out": image_files["dir"] / "out.png", "notimage": notimage}
    argv = [a.format(**values) for a in argv]
    code, err = run(capsys, argv[0], *FAST, *argv[1:])  # the case's own flags come last and win
    assert code == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and re.search(message, lines[0]), err
    assert not (image_files["dir"] / "out.png").exists()
    assert not list(Path(image_files["dir"]).glob("*.part"))


def test_interrupt_leaves_no_file(capsys, image_files, monkeypatch):
    from brushwork import engine

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(engine, "optimize_whole", interrupted)
    out = image_files["dir"] / "out.png"
    code, err = run(capsys, "stylize", image_files["content"], image_files["style"], "-o", out, *FAST)
    assert code == 130 and not out.exists() and "interrupted" in err


def test_score_command(capsys, image_files):
    code = main(["score", str(image_files["content"]), str(image_files["content"]), str(image_files["style"]),
                 "--json"])
    out = capsys.readouterr().out
    assert code == 0 and '"content_distance": 0.0' in out


def test_help_lists_every_option(capsys):
    assert main(["stylize", "--help"]) == 0
    text = capsys.readouterr().out
    for flag in ("--style-weight", "--preserve-colour", "--style-scale", "--init-image", "--save-every"):
        assert flag in text


def test_the_plan_is_printed_before_the_run(capsys, image_files):
    out = image_files["dir"] / "out.png"
    code, err = run(capsys, "stylize", image_files["content"], image_files["style"], "-o", out, "--size", "48",
                    "--scales", "1", "--epochs", "1", "--steps-per-epoch", "2", "--max-memory", "8GB")
    assert code == 0, err
    head, level = err.splitlines()[:2]
    assert head.startswith("plan: peak ~") and "of a 8.0 GB budget" in head
    assert level.split()[:4] == ["level", "1/1", "48x36", "2"] and "whole image" in level
