"""The Keras engine against the PyTorch one: same losses and gradients, same steps, close results."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from PIL import Image

from brushwork import (BackendUnavailable, Cancelled, DeviceError, LossHistory, Progress, StyleOptions, imaging,
                       make_options)
from brushwork.cli import main
from brushwork.engine import loss_terms as _loss_terms
from brushwork.features import VGG19Features as TorchVGG
from brushwork.losses import gram_matrix, normalized_weights
from brushwork.metrics import score
from brushwork.weights import VGGWeights

from tests.conftest import EXAMPLES, make_content, make_style

tf = pytest.importorskip("tensorflow")  # the dev extra installs it; CI runs these
brushwork_tf = pytest.importorskip("brushwork.tf")

#: Both engines in fp32, contiguous layout: the numbers must agree, not just look alike.
FP32 = dict(size=64, device="cpu", precision="fp32", scales=1)


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Both engines side by side on a shared 2-core machine: torch's OpenMP barriers stall badly
    when TensorFlow's pool (and everyone else) holds the cores, so torch gets one thread here."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def model(stylizer):
    return brushwork_tf.StyleTransferModel(stylizer.weights)


def _nhwc(t: torch.Tensor) -> tf.Tensor:
    return tf.constant(t.detach().permute(0, 2, 3, 1).numpy())


def _nchw(t: tf.Tensor) -> np.ndarray:
    return t.numpy().transpose(0, 3, 1, 2)


def _relative(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-12))


@pytest.mark.parametrize("input_format,pooling", [("caffe", "avg"), ("caffe", "max"), ("torchvision", "avg")])
def test_losses_and_gradients_match_torch(stylizer, input_format, pooling):
    weights = VGGWeights(stylizer.weights.convs, input_format, "test")
    torch_net = TorchVGG(weights, "relu5_1", pooling)
    keras_model = brushwork_tf.StyleTransferModel(weights)
    opts = make_options(pooling=pooling, **FP32)
    content = imaging.to_tensor(make_content(64))                       # (1, 3, 48, 64)
    style = imaging.to_tensor(make_style(56))                           # another size than the content
    image = (content + 0.1 * torch.randn(content.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    with torch.no_grad():
        content_targets = torch_net(content, opts.content_layers)
        style_targets = {k: gram_matrix(v) for k, v in torch_net(style, opts.style_layers).items()}
    tf_content, tf_style = keras_model.targets(_nhwc(content), _nhwc(style), opts)
    layer_weights = normalized_weights(opts.style_layers, None)
    for name in ("content", "style", "tv"):
        # each term and its gradient on its own (a sum could hide one term's error behind another's)
        single = opts.replace(content_weight=float(name == "content"), style_weight=float(name == "style"),
                              tv_weight=float(name == "tv"))
        pixels = image.clone().requires_grad_(True)
        terms = _loss_terms(torch_net, pixels, content_targets, style_targets, single, layer_weights)
        terms["total"].backward()
        variable = tf.Variable(_nhwc(image))
        with tf.GradientTape() as tape:
            tf_terms = keras_model.loss_terms(variable, tf_content, tf_style, single)
        gradient = _nchw(tape.gradient(tf_terms["total"], variable))
        expected = float(terms[name].detach())
        assert expected > 0
        assert abs(float(tf_terms[name]) - expected) <= 1e-3 * expected, name
        assert _relative(gradient, pixels.grad.numpy()) < 1e-3, name


def test_gram_targets_match_torch(stylizer, model):
    style = imaging.to_tensor(make_style(40))
    torch_net = TorchVGG(stylizer.weights, "relu5_1", "avg")
    with torch.no_grad():
        expected = {k: gram_matrix(v).numpy() for k, v in torch_net(style, StyleOptions().style_layers).items()}
    _, grams = model.targets(_nhwc(style), _nhwc(style), make_options(**FP32))
    for name, value in expected.items():
        assert _relative(grams[name].numpy(), value) < 1e-4, name


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_same_steps_as_torch(stylizer, model, content_image, style_image, optimizer):
    """Step for step the same optimizer: the loss histories of a short run agree closely."""
    run = dict(FP32, epochs=2, steps_per_epoch=4, optimizer=optimizer)
    torch_result = stylizer(content_image, style_image, **run)
    tf_result = model.stylize(content_image, style_image, **run)
    assert len(tf_result.history) == len(torch_result.history) == 8
    for ours, theirs in zip(tf_result.history, torch_result.history):
        assert ours["total"] == pytest.approx(theirs["total"], rel=1e-3)
    assert tf_result.history[-1]["style"] < tf_result.history[0]["style"] * 0.9


def test_short_runs_score_alike(stylizer, model):
    content, style = Image.open(EXAMPLES / "astronaut.jpg"), Image.open(EXAMPLES / "strokes.png")
    run = dict(size=64, epochs=2, steps_per_epoch=6, scales=2, min_scale_size=40, precision="fp32")
    torch_scores = score(stylizer, stylizer(content, style, **run).image, content, style)
    tf_image = stylizer(content, style, backend="tensorflow", **run).image  # via the shared options
    tf_scores = score(stylizer, tf_image, content, style)
    assert tf_scores.style == pytest.approx(torch_scores.style, rel=0.1)
    assert tf_scores.content == pytest.approx(torch_scores.content, rel=0.1)
    photo = score(stylizer, content, content, style)
    assert tf_scores.style < photo.style * 0.7


def test_keras_call_with_tensors_styles_colour_and_progress(model):
    """`model(content, style)` trains inside the call: several styles, two scales, colour kept."""
    content = tf.constant(np.asarray(make_content(64), np.float32)[None] / 255.0)   # (1, 48, 64, 3)
    styles = [make_style(48, seed=1), make_style(48, seed=2)]
    seen: list[Progress] = []
    opts = make_options(size=64, epochs=2, steps_per_epoch=3, scales=2, min_scale_size=32,
                        preserve_colour="luminance", style_blend_weights=(3, 1), preview_every=3,
                        backend="tensorflow")
    out = model(content, styles, options=opts, callback=seen.append)
    assert tuple(out.shape) == (1, 48, 64, 3) and out.dtype == tf.float32
    assert [p.step for p in seen] == list(range(1, 7)) and {p.scale for p in seen} == {1, 2}
    assert [p.step for p in seen if p.preview is not None] == [3, 6]
    # luminance transfer keeps the content's chroma: the mean colour stays the photo's
    assert np.abs(out.numpy().mean(axis=(0, 1, 2)) - content.numpy().mean(axis=(0, 1, 2))).max() < 0.08


def test_noise_init_adam_and_cancel(model, content_image, style_image):
    history = LossHistory()
    result = model.stylize(content_image, style_image, size=48, epochs=1, steps_per_epoch=4, scales=1,
                           init="noise", optimizer="adam", callback=history)
    assert result.device == "/CPU:0" and result.precision == "fp32" and len(history.steps) == 4

    def stop(progress: Progress) -> None:
        if progress.step == 2:
            raise Cancelled("stop")

    with pytest.raises(Cancelled):
        model.stylize(content_image, style_image, size=48, epochs=1, steps_per_epoch=5, scales=1, callback=stop)


def test_device_and_precision_errors(model, content_image, style_image):
    with pytest.raises(DeviceError, match="fp32 only"):
        model.stylize(content_image, style_image, precision="bf16", size=32)
    with pytest.raises(DeviceError, match="mps"):
        model.stylize(content_image, style_image, device="mps", size=32)
    if not tf.config.list_logical_devices("GPU"):
        with pytest.raises(DeviceError, match="not available to TensorFlow"):
            model.stylize(content_image, style_image, device="cuda:0", size=32)


def test_cli_backend_tensorflow(capsys, image_files):
    out = image_files["dir"] / "tf.png"
    code = main(["stylize", str(image_files["content"]), str(image_files["style"]), "-o", str(out), "-q",
                 "--backend", "tensorflow", "--size", "48", "--epochs", "1", "--steps-per-epoch", "3",
                 "--init-image", str(image_files["style"]), "--threads", "2"])
    assert code == 0 and Image.open(out).size == (48, 36)
    # started from the stripes, not the photo: the result is nearer the init image than the content
    result = np.asarray(Image.open(out), float)
    stripes = np.asarray(Image.open(image_files["style"]).resize((48, 36)), float)
    photo = np.asarray(Image.open(image_files["content"]).resize((48, 36)), float)
    assert np.abs(result - stripes).mean() < np.abs(result - photo).mean()


def test_missing_extra_is_one_clear_line(monkeypatch, capsys, image_files):
    for name in [m for m in sys.modules if m == "brushwork.tf" or m.startswith("brushwork.tf.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "tensorflow", None)   # as if the extra were not installed
    with pytest.raises(BackendUnavailable, match=r"pip install 'brushwork\[tensorflow\]'"):
        import brushwork.tf  # noqa: F401
    code = main(["stylize", str(image_files["content"]), str(image_files["style"]), "-o",
                 str(image_files["dir"] / "x.png"), "--backend", "tensorflow"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "brushwork[tensorflow]" in err
    assert not (image_files["dir"] / "x.png").exists()


@pytest.mark.parametrize("shape", [(40, 40, 64, 64), (37, 53, 100, 71)])
def test_upsampling_between_levels_is_torchs_bicubic(shape):
    from brushwork.tf.model import bicubic_resize

    h, w, height, width = shape
    image = torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(1))
    expected = torch.nn.functional.interpolate(image, size=(height, width), mode="bicubic", align_corners=False)
    assert np.abs(_nchw(bicubic_resize(_nhwc(image), height, width)) - expected.numpy()).max() < 1e-5


def test_tiny_and_very_thin_images_still_stylize(stylizer):
    """A side already 1 px long stays 1 px through the poolings, as in the torch network."""
    for content_size, style_size in (((1, 40), (64, 64)), ((2, 2), (3, 3))):
        content, style = Image.new("RGB", content_size, "red"), Image.new("RGB", style_size, "blue")
        result = stylizer(content, style, size=None, epochs=1, steps_per_epoch=2, backend="tensorflow")
        assert result.image.size == content_size
