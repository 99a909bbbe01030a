"""Fast (feed-forward) mode: the networks' math, Stylizer(mode="fast"), the CLI flag, and training."""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import brushwork
from brushwork.cli import main
from brushwork.fast import network
from brushwork.fast.model import default_decoder_path, load_decoder
from brushwork.metrics import score

from tests.conftest import EXAMPLES, make_content, make_style
from tests.fast.conftest import training_folders


def test_adain_gives_content_features_the_style_statistics():
    generator = torch.Generator().manual_seed(0)
    content = torch.randn(2, 8, 5, 6, generator=generator) * 3 + 1
    style = torch.randn(2, 8, 7, 4, generator=generator) * 0.5 - 2
    out = network.adain(content, network.stats_vector([network.mean_std(style)]))
    mean_o, std_o = network.mean_std(out)
    mean_s, std_s = network.mean_std(style)
    assert torch.allclose(mean_o, mean_s, atol=1e-4) and torch.allclose(std_o, std_s, atol=1e-3)
    # the content's own vector gives the content back: strength 0 is the identity
    assert torch.allclose(network.adain(content, network.stats_vector([network.mean_std(content)])), content, atol=1e-3)


def test_adain_is_linear_in_the_vector():
    """Blending style vectors = blending AdaIN outputs, which is what strength and blends rely on."""
    generator = torch.Generator().manual_seed(1)
    content = torch.randn(1, 4, 6, 6, generator=generator)
    a, b = (network.stats_vector([network.mean_std(torch.randn(1, 4, 6, 6, generator=generator) * s)]) for s in (1.0, 4.0))
    mixed = network.adain(content, 0.3 * a + 0.7 * b)
    assert torch.allclose(mixed, 0.3 * network.adain(content, a) + 0.7 * network.adain(content, b), atol=1e-5)


def test_decoder_upsamples_by_resize_convolution():
    decoder = network.Decoder()
    kinds = {type(m).__name__ for m in decoder.modules()}
    assert "ConvTranspose2d" not in kinds and "Upsample" in kinds and "ReflectionPad2d" in kinds
    out = decoder(torch.rand(1, 512, 3, 5))
    assert out.shape == (1, 3, 24, 40)


def test_pad_to_multiple_keeps_size_information():
    image = torch.rand(1, 3, 37, 50)
    padded, size = network.pad_to_multiple(image)
    assert padded.shape[-2:] == (40, 56) and size == (37, 50)
    assert torch.equal(padded[..., :37, :50], image)


def test_shipped_decoder_is_small_fp16_and_loads_safely():
    path = default_decoder_path()
    assert path.is_file() and path.stat().st_size < 8 * 2**20
    payload = torch.load(path, map_location="cpu", weights_only=True)
    assert all(t.dtype == torch.float16 for t in payload["decoder"].values())
    load_decoder(path)


def test_bad_decoder_file_is_one_clear_error(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(brushwork.WeightsError, match="not a brushwork fast-mode decoder"):
        load_decoder(bad)


def test_fast_mode_stylizes_towards_the_style(stylizer, photo, strokes):
    result = stylizer(photo, strokes, mode="fast", size=128)
    assert result.image.size == (128, 128) and result.options.mode == "fast"
    ours = score(stylizer, result.image, photo, strokes)
    plain = score(stylizer, photo.resize((128, 128)), photo, strokes)
    assert ours.style < 0.8 * plain.style      # moved towards the painting ...
    # ... and still the photo: its light and dark places line up with the photo's (the painting's
    # correlate ~0). The VGG content distance says little here: the optimizer's defaults land near 0.96.
    def luma(image: Image.Image) -> torch.Tensor:
        return torch.from_numpy(np.asarray(image.resize((128, 128)).convert("L"), dtype=np.float64)).flatten()

    assert torch.corrcoef(torch.stack([luma(result.image), luma(photo)]))[0, 1] > 0.2


def test_the_optimizer_can_start_from_the_fast_picture(stylizer, photo, strokes, tmp_path, capsys):
    steps = {"size": 96, "epochs": 1, "steps_per_epoch": 3, "scales": 1}
    from_content = stylizer(photo, strokes, init="content", **steps)
    from_fast = stylizer(photo, strokes, init="fast", **steps)
    fast_only = stylizer(photo, strokes, mode="fast", size=96).image
    # it starts at the fast picture (step 0's loss is far lower than the photo's) and optimizes on
    assert from_fast.history[0]["style"] < 0.5 * from_content.history[0]["style"]
    assert from_fast.history[-1]["total"] < from_fast.history[0]["total"]
    assert not np.array_equal(np.asarray(from_fast.image), np.asarray(fast_only))
    assert score(stylizer, from_fast.image, photo, strokes).style < score(stylizer, from_content.image, photo,
                                                                            strokes).style
    out = tmp_path / "out.png"
    assert main(["stylize", str(EXAMPLES / "astronaut.jpg"), str(EXAMPLES / "strokes.png"), "-o", str(out),
                 "--init", "fast", "--size", "64", "--epochs", "1", "--steps-per-epoch", "2", "-q"]) == 0
    assert Image.open(out).size == (64, 64)
    capsys.readouterr()


def test_strength_zero_approximately_reconstructs_the_photo(stylizer, photo, strokes):
    none = stylizer(photo, strokes, mode="fast", size=128, style_strength=0.0).image
    full = stylizer(photo, strokes, mode="fast", size=128, style_strength=1.0).image
    target = photo.resize((128, 128))
    s_none, s_full = score(stylizer, none, photo, strokes), score(stylizer, full, photo, strokes)
    assert s_none.content < s_full.content and s_none.style > s_full.style
    assert abs(float(np.asarray(none, dtype=np.float64).mean()) - float(np.asarray(target, dtype=np.float64).mean())) < 40


def test_a_coarse_pass_paints_closer_to_the_painting_and_further_from_the_photo(stylizer, photo, strokes):
    # (at 128 px the half-size pass has little to add: 0.95-0.97x; at 192 px 0.94x in int8, bf16 and fp32)
    one = stylizer(photo, strokes, mode="fast", size=192).image
    two = stylizer(photo, strokes, mode="fast", size=192, coarse_pass=0.5).image
    assert two.size == one.size
    s_one, s_two = score(stylizer, one, photo, strokes), score(stylizer, two, photo, strokes)
    assert s_two.style < 0.97 * s_one.style and s_two.content > s_one.content    # the benchmark's trade
    assert stylizer(photo, strokes, mode="fast", size=16, coarse_pass=0.5).image.size == (16, 16)


def test_coarse_pass_blends_a_half_size_painting_into_the_photo():
    from brushwork.fast.model import with_coarse_pass

    content = torch.rand(1, 3, 40, 30)
    seen = []

    def paint(small: torch.Tensor) -> torch.Tensor:
        seen.append(small.shape)
        return torch.full_like(small, 2.0)           # out of range: clamped to 1 before the blend

    blended = with_coarse_pass(content, paint, 0.25)
    assert seen == [(1, 3, 20, 15)]
    assert torch.allclose(blended, 0.75 * content + 0.25)


def test_blend_and_colour_options(stylizer, photo, strokes):
    other = make_style(128)
    blended = stylizer(photo, [strokes, other], mode="fast", size=96, style_blend_weights=(1, 3)).image
    only_strokes = stylizer(photo, strokes, mode="fast", size=96).image
    assert blended.size == only_strokes.size and not np.array_equal(np.asarray(blended), np.asarray(only_strokes))
    kept = stylizer(photo, strokes, mode="fast", size=96, preserve_colour="luminance").image
    # luminance mode keeps the photo's chroma (YIQ's I and Q) and takes only the result's luminance
    from brushwork.colour import rgb_to_yiq
    from brushwork.imaging import to_tensor

    chroma = lambda im: rgb_to_yiq(to_tensor(im))[:, 1:].mean((0, 2, 3))
    target = chroma(photo.resize(kept.size))
    assert (chroma(kept) - target).abs().max() < 0.02     # (clamping to [0, 1] moves it a little)
    assert (chroma(only_strokes) - target).abs().max() > 0.05   # without it the painting's colours come in


def test_odd_sizes_and_alpha(stylizer, strokes):
    content = make_content(75).convert("RGBA")
    result = stylizer(content, strokes, mode="fast", size=None)
    assert result.image.size == content.size


def test_fast_mode_rejects_init_image(stylizer, photo, strokes):
    with pytest.raises(brushwork.InvalidInputError, match="fast mode"):
        stylizer(photo, strokes, mode="fast", size=64, init_image=photo)


def test_cli_fast_flag(image_files, capsys):
    out = image_files["dir"] / "fast.png"
    code = main(["stylize", str(image_files["content"]), str(image_files["style"]), "-o", str(out),
                 "--fast", "--size", "64", "--style-strength", "0.5", "-q", "--device", "cpu"])
    assert code == 0 and Image.open(out).size == (64, 48)
    assert main(["stylize", str(image_files["content"]), str(image_files["style"]), "-o", str(out),
                 "--fast", "--style-strength", "2"]) == 2
    assert "style_strength" in capsys.readouterr().err
    assert main(["stylize", str(image_files["content"]), str(image_files["style"]), "-o", str(out),
                 "--fast", "--coarse-pass", "1.5"]) == 2
    assert "coarse_pass" in capsys.readouterr().err


# -- training ----------------------------------------------------------------------------------------


def test_tiny_training_run_logs_checkpoints_resumes_and_exports(tmp_path, capsys):
    content, style = training_folders(tmp_path)
    out = tmp_path / "run"
    args = ["train-fast", "--content", str(content), "--style", str(style), "-o", str(out), "--batch-size", "2",
            "--crop", "32", "--style-crops", "1", "--log-every", "1", "--checkpoint-every", "2",
            "--device", "cpu", "--precision", "fp32", "--perceptual-every", "2"]
    assert main([*args, "--steps", "4", "--keep-checkpoints"]) == 0
    rows = list(csv.DictReader((out / "loss.csv").open()))
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4]
    kept = sorted(p.name for p in out.glob("checkpoint-[0-9]*.pt"))
    assert kept == ["checkpoint-2.pt", "checkpoint-4.pt"]
    assert torch.load(out / "checkpoint-2.pt", weights_only=True)["step"] == 2 and load_decoder(out / kept[0])
    assert all(float(r["total"]) > 0 for r in rows)
    assert (out / "loss.png").is_file() and Image.open(out / "loss.png").size == (800, 450)
    assert (out / "checkpoint-best.pt").is_file()
    # resume: continues from step 4, does not start over
    assert main([*args, "--steps", "6", "--export", str(tmp_path / "dec.pt")]) == 0
    rows = list(csv.DictReader((out / "loss.csv").open()))
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4, 5, 6]
    assert load_decoder(tmp_path / "dec.pt") is not None
    assert "int8" in torch.load(tmp_path / "dec.pt", weights_only=True)   # calibrated for int8 on export
    capsys.readouterr()


def test_training_loss_falls_on_a_tiny_problem(tmp_path):
    from brushwork.fast.train import TrainConfig, train

    content, style = training_folders(tmp_path)
    config = TrainConfig(str(content), str(style), str(tmp_path / "run"), steps=30, batch_size=2, crop=32,
                         style_crops=1, learning_rate=2e-3, log_every=1, checkpoint_every=30,
                         device="cpu", precision="fp32")
    train(config)
    losses = [float(r["total"]) for r in csv.DictReader((tmp_path / "run" / "loss.csv").open())]
    assert sum(losses[-5:]) / 5 < 0.7 * sum(losses[:5]) / 5


def test_gram_loss_is_the_relative_squared_gram_error():
    from brushwork.fast.train import gram_loss
    from brushwork.losses import gram_matrix

    torch.manual_seed(0)
    found = {"relu1_1": torch.rand(2, 4, 6, 6), "relu2_1": torch.rand(2, 8, 3, 3)}
    same = {n: gram_matrix(f) for n, f in found.items()}
    assert float(gram_loss(found, same)) == pytest.approx(0.0, abs=1e-7)
    doubled = {n: 2 * g for n, g in same.items()}       # ||G - 2G||^2 / ||2G||^2 = 1/4 on every layer
    assert float(gram_loss(found, doubled)) == pytest.approx(0.25, rel=1e-5)


def test_training_with_the_gram_loss_logs_and_plots_it(tmp_path, capsys):
    content, style = training_folders(tmp_path)
    out = tmp_path / "run"
    assert main(["train-fast", "--content", str(content), "--style", str(style), "-o", str(out), "--batch-size", "2",
                 "--crop", "32", "--style-crops", "1", "--log-every", "1", "--checkpoint-every", "3", "--steps", "3",
                 "--device", "cpu", "--precision", "fp32", "--gram-weight", "20"]) == 0
    rows = list(csv.DictReader((out / "loss.csv").open()))
    assert len(rows) == 3 and all(float(r["gram"]) > 0 for r in rows)
    total, parts = float(rows[0]["total"]), ["content", "style", "gram", "identity"]
    weights = {"content": 1, "style": 10, "gram": 20, "identity": 50}
    assert total == pytest.approx(sum(weights[k] * float(rows[0][k]) for k in parts), rel=1e-4)
    assert "gram" in capsys.readouterr().err


def _trained_change(tmp_path, name: str, clip: float | None) -> tuple[float, list[dict[str, str]]]:
    """How far two steps from the shipped decoder move its weights (max abs change), and the log."""
    from brushwork.fast.train import TrainConfig, train

    (tmp_path / name).mkdir()
    content, style = training_folders(tmp_path / name)
    config = TrainConfig(str(content), str(style), str(tmp_path / name / "run"), steps=2, batch_size=2, crop=32,
                         style_crops=1, learning_rate=1e-3, log_every=1, checkpoint_every=2,
                         init=str(default_decoder_path()), skips=True, modulated=True, clip_grad_norm=clip, device="cpu",
                         precision="fp32")
    train(config)
    before = load_decoder().state_dict()
    after = load_decoder(tmp_path / name / "run" / "checkpoint-last.pt").state_dict()
    change = max(float((after[k] - before[k]).abs().max()) for k in before)
    return change, list(csv.DictReader((tmp_path / name / "run" / "loss.csv").open()))


def test_gradient_clipping_bounds_the_steps_and_the_norm_is_logged(tmp_path):
    free, rows = _trained_change(tmp_path, "free", None)
    clipped, clipped_rows = _trained_change(tmp_path, "clipped", 1e-12)
    assert all(float(r["grad_norm"]) > 1e-3 for r in rows + clipped_rows)   # the norm before clipping
    # Adam steps ~lr per weight; a gradient clipped far below Adam's eps barely moves anything
    assert free > 1e-4 and clipped < 1e-3 * free


def test_resumed_log_keeps_its_columns(tmp_path):
    from brushwork.fast.training.checkpoints import log_row

    log_row(tmp_path, {"step": 1, "total": 2.0})
    log_row(tmp_path, {"step": 2, "total": 1.5, "grad_norm": 3.0})      # e.g. a newer brushwork resuming
    log_row(tmp_path, {"step": 3})
    rows = list(csv.DictReader((tmp_path / "loss.csv").open()))
    assert rows == [{"step": "1", "total": "2.0"}, {"step": "2", "total": "1.5"}, {"step": "3", "total": ""}]


def test_train_fast_rejects_a_zero_clip(tmp_path, capsys):
    content, style = training_folders(tmp_path)
    assert main(["train-fast", "--content", str(content), "--style", str(style), "-o", str(tmp_path / "o"),
                 "--clip-grad-norm", "0"]) == 2
    assert "--clip-grad-norm must be positive" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_a_run_stopped_by_the_clock_checkpoints_its_last_step(tmp_path):
    from brushwork.fast.train import LAST, TrainConfig, train

    content, style = training_folders(tmp_path)
    config = TrainConfig(str(content), str(style), str(tmp_path / "run"), steps=10_000, batch_size=2, crop=32,
                         style_crops=1, log_every=1, checkpoint_every=1000, max_minutes=0.02,
                         device="cpu", precision="fp32")
    train(config)
    logged = len(list(csv.DictReader((tmp_path / "run" / "loss.csv").open())))
    saved = torch.load(tmp_path / "run" / LAST, weights_only=True)["step"]
    assert 0 < logged < 1000 and saved == logged


def test_weight_average_is_what_a_run_writes_and_resumes_exactly(tmp_path):
    """--ema: the decoders a run writes hold the average of its weights step by step; training itself is
    unchanged, and a resumed run carries the average on as if it had never stopped."""
    from brushwork.fast.train import LAST, TrainConfig, export_decoder, train

    content, style = training_folders(tmp_path)
    base = TrainConfig(str(content), str(style), "", steps=1, batch_size=2, crop=32, style_crops=1,
                       learning_rate=1e-3, log_every=1, checkpoint_every=1, device="cpu", precision="fp32")
    start = export_decoder(train(replace(base, output_dir=str(tmp_path / "start"))), tmp_path / "start.pt")
    plain = replace(base, output_dir=str(tmp_path / "plain"), init=str(start), steps=6, keep_checkpoints=True)
    train(plain)
    averaged = replace(plain, output_dir=str(tmp_path / "averaged"), ema=0.5, checkpoint_every=2)
    train(replace(averaged, steps=4))
    train(averaged)                                          # resumes at step 4

    def weights(path: Path, key: str = "decoder") -> dict[str, torch.Tensor]:
        return torch.load(path, weights_only=True)[key]

    expected = {k: v.float() for k, v in weights(start).items()}
    for step in range(1, 7):                                 # EMA with decay 0.5 over the plain run's steps
        expected = {k: 0.5 * v + 0.5 * weights(tmp_path / "plain" / f"checkpoint-{step}.pt")[k]
                    for k, v in expected.items()}
    last = torch.load(tmp_path / "averaged" / LAST, weights_only=True)
    assert last["averaged"] == 7
    for key, value in expected.items():
        assert torch.allclose(last["decoder"][key], value, atol=1e-6), key
        assert torch.allclose(weights(tmp_path / "averaged" / "checkpoint-6.pt")[key], value, atol=1e-6), key
        assert torch.allclose(last["training_decoder"][key], weights(tmp_path / "plain" / LAST)[key], atol=1e-6), key
    assert any(not torch.allclose(last["decoder"][k], last["training_decoder"][k]) for k in expected)


@pytest.mark.parametrize("decay", ["1", "-0.1", "nan"])
def test_train_fast_rejects_a_decay_outside_0_to_1(tmp_path, capsys, decay):
    content, style = training_folders(tmp_path)
    assert main(["train-fast", "--content", str(content), "--style", str(style), "-o", str(tmp_path / "run"),
                 "--ema", decay]) == 2
    assert "--ema is a decay per step" in capsys.readouterr().err and not (tmp_path / "run").exists()


def test_fast_mode_works_inside_a_mirrored_border():
    from brushwork.fast.network import EDGE_MARGIN, add_margin

    image = torch.rand(1, 3, 40, 50)
    framed, margin = add_margin(image)
    assert margin == EDGE_MARGIN and framed.shape[-2:] == (40 + 2 * margin, 50 + 2 * margin)
    assert torch.equal(framed[..., margin:-margin, margin:-margin], image)
    assert torch.equal(framed[..., margin - 1, margin:-margin], image[..., 1, :])   # mirrored, not zeros
    small, margin = add_margin(torch.rand(1, 3, 5, 3))
    assert margin == 2 and small.shape[-2:] == (9, 7)
    assert add_margin(torch.rand(1, 3, 1, 4))[1] == 0


@pytest.mark.parametrize("size", [(1, 1), (3, 9), (13, 7)])
def test_fast_mode_keeps_tiny_and_odd_sizes(stylizer, strokes, size):
    content = make_content(64).resize(size)
    assert stylizer(content, strokes, mode="fast", size=None).image.size == size


def test_tuning_for_one_painting_file_starts_from_the_shipped_decoder(tmp_path, capsys):
    content, style = training_folders(tmp_path)
    out, tuned = tmp_path / "tuned", tmp_path / "tuned.pt"
    assert main(["train-fast", "--content", str(content), "--style", str(style / "b.jpg"), "-o", str(out),
                 "--init", str(default_decoder_path()), "--skips", "--modulate", "--objective", "gatys",
                 "--gram-weight", "10", "--identity-weight", "0", "--batch-size", "2", "--crop", "32",
                 "--style-whole", "64", "--steps", "2", "--checkpoint-every", "2", "--device", "cpu",
                 "--precision", "fp32", "--export", str(tuned)]) == 0
    shipped, result = load_decoder(), load_decoder(tuned)
    assert shipped.modulation is not None and result.modulation is not None
    # one painting leaves the modulation's input standardisation as shipped (one vector has no spread)
    assert torch.equal(result.modulation.spread, shipped.modulation.spread)
    moved = [not torch.equal(a, b) for a, b in zip(shipped.state_dict().values(), result.state_dict().values())]
    assert any(moved)
    capsys.readouterr()


def test_whole_painting_targets_are_the_paintings_as_score_reads_them(tmp_path):
    from brushwork.fast.network import Encoder
    from brushwork.fast.training.config import GRAM_LAYERS
    from brushwork.fast.training.data import whole_painting_features
    from brushwork.features import VGG19Features
    from brushwork.losses import gram_matrix
    from brushwork.weights import load_vgg19_weights

    _, style = training_folders(tmp_path)
    weights = load_vgg19_weights()
    painting = style / "a.png"                                     # 96 x 96
    found, seen = whole_painting_features(painting, 64, Encoder(weights), VGG19Features(weights, "relu5_1"),
                                          ("relu1_1",), GRAM_LAYERS, torch.device("cpu"))
    assert found["relu1_1"].shape[-1] == 320        # the vector as fast mode reads paintings (not below 320 px)
    assert seen["relu1_1"].shape[-1] == 64          # the Gram targets at the output's size
    assert set(seen) == set(GRAM_LAYERS) and gram_matrix(seen["relu5_1"]).shape == (1, 512, 512)


def test_style_whole_and_style_augment_are_refused_together(tmp_path, capsys):
    content, style = training_folders(tmp_path)
    assert main(["train-fast", "--content", str(content), "--style", str(style), "-o", str(tmp_path / "o"),
                 "--style-whole", "64", "--style-augment"]) == 2
    assert "--whole-share below 1" in capsys.readouterr().err


@pytest.mark.parametrize(("flags", "message"), [(["--style-whole", "64", "--whole-share", "1.5"], "between 0 and 1"),
                                                (["--whole-share", "0.5"], "give --style-whole PX too")])
def test_whole_share_needs_style_whole_and_a_fraction(tmp_path, capsys, flags, message):
    content, style = training_folders(tmp_path)
    assert main(["train-fast", "--content", str(content), "--style", str(style), "-o", str(tmp_path / "o"),
                 *flags]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_whole_share_mixes_whole_painting_targets_with_crops(tmp_path):
    import random

    from brushwork.fast.network import Encoder
    from brushwork.fast.train import TrainConfig, pick_styles
    from brushwork.fast.training.data import prepare_data
    from brushwork.weights import load_vgg19_weights

    content, style = training_folders(tmp_path)
    config = TrainConfig(str(content), str(style), str(tmp_path / "o"), crop=32, style_crops=3, batch_size=2,
                         style_whole=64, whole_share=0.5, gram_weight=10)
    encoder, paintings = Encoder(load_vgg19_weights(), "relu5_1"), len(list(style.iterdir()))
    data = prepare_data(config, encoder, None, ("relu4_1",), torch.device("cpu"), torch.float32, random.Random(0))
    assert data.whole_from == 3 * paintings and len(data.style_vectors) == 4 * paintings
    assert data.style_grams["relu1_1"].shape[0] == 4 * paintings
    # the whole-painting targets are those of whole paintings: same as --style-whole alone gives
    whole = prepare_data(replace(config, whole_share=1.0), encoder, None, ("relu4_1",), torch.device("cpu"),
                     torch.float32, random.Random(0))
    assert whole.whole_from == 0 and torch.allclose(whole.style_vectors, data.style_vectors[data.whole_from:])
    rng = random.Random(1)
    assert all(i >= data.whole_from for i in pick_styles(data, 50, 1.0, rng))
    assert all(i < data.whole_from for i in pick_styles(data, 50, 0.0, rng))
    half = pick_styles(data, 400, 0.5, rng)
    assert 120 < sum(i >= data.whole_from for i in half) < 280


def test_training_image_lists_take_one_file_but_not_a_non_image(tmp_path, capsys):
    from brushwork.fast.train import list_images

    _, style = training_folders(tmp_path)
    assert list_images(style / "a.png") == [style / "a.png"]
    (tmp_path / "notes.txt").write_text("not a painting")
    assert main(["train-fast", "--content", str(style), "--style", str(tmp_path / "notes.txt"),
                 "-o", str(tmp_path / "o")]) == 2
    assert "is not an image file" in capsys.readouterr().err


def test_random_crop_refuses_float_images():
    import random

    from brushwork.fast.train import random_crop

    with pytest.raises(TypeError, match="uint8"):
        random_crop(torch.rand(3, 40, 40), 32, random.Random(0), jitter=False)
    crop = random_crop(torch.full((3, 40, 40), 255, dtype=torch.uint8), 32, random.Random(0), jitter=False)
    assert crop.shape == (3, 32, 32) and float(crop.min()) == pytest.approx(1.0)


def test_train_fast_bad_folder_is_exit_2(tmp_path, capsys):
    assert main(["train-fast", "--content", str(tmp_path / "nope"), "--style", str(tmp_path),
                 "-o", str(tmp_path / "o")]) == 2
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.parametrize("long_side, style_scale, expected", [
    (128, 1.0, 320), (256, 1.0, 320), (512, 1.0, 384), (1024, 1.0, 768), (512, 2.0, 768), (64, 0.5, 320)])
def test_fast_mode_reads_paintings_at_three_quarters_but_not_below_320_px(long_side, style_scale, expected):
    from brushwork.fast.model import style_long_side
    from brushwork.options import StyleOptions

    opts = StyleOptions(style_scale=style_scale)
    assert style_long_side(opts, long_side, long_side * 3 // 4) == expected


def test_clear_caches_forgets_style_vectors_but_keeps_the_networks(stylizer, photo, strokes):
    stylizer(photo, strokes, mode="fast", size=64)
    models = list(stylizer._fast.values())                      # (one per precision asked for so far)
    assert any(model._cache for model in models)
    stylizer.clear_caches()
    assert not any(model._cache for model in models) and not stylizer._style_cache
    assert stylizer(photo, strokes, mode="fast", size=64).image.size == (64, 64)
    assert list(stylizer._fast.values()) == models              # same networks, not reloaded
