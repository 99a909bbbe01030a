"""`brushwork video` and `brushwork score-video` from the command line."""

from __future__ import annotations

import json
from pathlib import Path

from brushwork.cli import main


def test_video_command_writes_an_mp4_and_score_video_reads_it(clip: Path, style_file: Path, tmp_path: Path,
                                                               capsys):
    target = tmp_path / "painted.mp4"
    assert main(["video", str(clip), str(style_file), "-o", str(target), "--fast", "--size", "64", "-q"]) == 0
    assert target.is_file() and "wrote" in capsys.readouterr().err
    assert main(["score-video", str(target), str(clip), str(style_file), "--every", "4", "--json"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert scores["frames"] == 12 and scores["warping_error"] > scores["input_warping_error"] >= 0
    assert 0 < scores["style_distance"] < 2


def test_video_refusals_are_one_line_with_exit_2(clip: Path, style_file: Path, tmp_path: Path, capsys):
    text = tmp_path / "notes.mp4"
    text.write_text("hello")
    cases = [
        [str(text), str(style_file), "-o", str(tmp_path / "a.mp4")],                      # not a video
        [str(clip), "-o", str(tmp_path / "a.mp4")],                                       # no painting
        [str(clip), str(tmp_path / "none.png"), "-o", str(tmp_path / "a.mp4")],          # missing painting
        [str(clip), str(style_file), "-o", str(tmp_path / "a.avi")],                      # output kind
        [str(clip), str(style_file), "-o", str(tmp_path / "a.mp4"), "--start", "9"],       # past the end
        [str(clip), str(style_file), "-o", str(tmp_path / "a.mp4"), "--blend", "2"],       # out of range
    ]
    for args in cases:
        assert main(["video", *args, "--fast", "-q"]) == 2, args
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and "Traceback" not in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.mp4"]
