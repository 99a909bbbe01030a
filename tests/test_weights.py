import pytest
import torch

from brushwork.errors import WeightsError
from brushwork.features import CAFFE_MEAN_BGR, IMAGENET_MEAN_RGB, IMAGENET_STD_RGB, Preprocess, VGG19Features
from brushwork.weights import CONV_NAMES, TORCHVISION_INDICES, VGGWeights, default_weights_path, load_vgg19_weights


@pytest.fixture(scope="module")
def oxford() -> VGGWeights:
    return load_vgg19_weights()


def test_embedded_weights_shapes_and_dequantization(oxford):
    assert oxford.input_format == "caffe"
    assert len(oxford.convs) == 16
    assert tuple(oxford.convs[0][0].shape) == (64, 3, 3, 3)
    assert tuple(oxford.convs[-1][0].shape) == (512, 512, 3, 3)
    raw = torch.load(default_weights_path(), weights_only=True)
    table, indices = raw["block3_conv2_W_table"], raw["block3_conv2_W_q"]
    assert torch.equal(oxford.convs[5][0], table[indices.long()])  # conv3_2 is the 6th conv
    # a dequantized layer uses at most 256 distinct values
    assert oxford.convs[5][0].unique().numel() <= 256


def test_known_activation_statistics(oxford):
    ramp = torch.linspace(0, 1, 64)
    image = torch.stack([ramp.view(1, 64).expand(64, 64), ramp.view(64, 1).expand(64, 64),
                         torch.full((64, 64), 0.5)]).unsqueeze(0)
    found = VGG19Features(oxford, "relu5_1", "avg")(image, ["relu1_1", "relu3_1", "relu5_1"])
    assert found["relu1_1"].mean().item() == pytest.approx(28.073, rel=1e-3)
    assert found["relu3_1"].mean().item() == pytest.approx(101.25, rel=1e-3)
    assert found["relu5_1"].mean().item() == pytest.approx(16.068, rel=2e-3)


def test_preprocess_round_trip():
    image = torch.rand(1, 3, 8, 8)
    for fmt in ("caffe", "torchvision"):
        pre = Preprocess(fmt)
        assert torch.allclose(pre.inverse(pre(image)), image, atol=1e-5)
    caffe = Preprocess("caffe")(torch.ones(1, 3, 1, 1))
    assert caffe.flatten().tolist() == pytest.approx([255 - m for m in CAFFE_MEAN_BGR])


def _as_torchvision(weights: VGGWeights) -> dict[str, torch.Tensor]:
    """The same network re-expressed for RGB input normalised with ImageNet mean/std."""
    state = {}
    mean, std = torch.tensor(IMAGENET_MEAN_RGB), torch.tensor(IMAGENET_STD_RGB)
    for index, (weight, bias) in zip(TORCHVISION_INDICES, weights.convs):
        if index == 0:
            rgb = weight.flip(1)  # BGR -> RGB input channels
            offset = (255 * mean - torch.tensor(CAFFE_MEAN_BGR).flip(0))
            bias = bias + (rgb.sum(dim=(2, 3)) * offset).sum(1)
            weight = rgb * (255 * std).view(1, 3, 1, 1)
        state[f"features.{index}.weight"], state[f"features.{index}.bias"] = weight.clone(), bias.clone()
    return state


def test_torchvision_format_detected_and_equivalent(oxford, tmp_path):
    path = tmp_path / "vgg19_torchvision.pth"
    torch.save(_as_torchvision(oxford), path)
    converted = load_vgg19_weights(path)
    assert converted.input_format == "torchvision"
    image = torch.rand(1, 3, 32, 32)
    a = VGG19Features(oxford, "relu1_1")(image, ["relu1_1"])["relu1_1"][..., 1:-1, 1:-1]
    b = VGG19Features(converted, "relu1_1")(image, ["relu1_1"])["relu1_1"][..., 1:-1, 1:-1]
    assert torch.allclose(a, b, rtol=1e-4, atol=1e-2)  # equal away from the zero-padded border


def test_caffe_conversion_in_torchvision_layout_detected(oxford, tmp_path):
    state = {f"features.{i}.{kind}": tensor for i, (w, b) in zip(TORCHVISION_INDICES, oxford.convs)
             for kind, tensor in (("weight", w), ("bias", b))}
    torch.save(state, tmp_path / "caffe.pth")
    assert load_vgg19_weights(tmp_path / "caffe.pth").input_format == "caffe"
    named = {f"{n}.{kind}": t for n, (w, b) in zip(CONV_NAMES, oxford.convs) for kind, t in (("weight", w), ("bias", b))}
    torch.save(named, tmp_path / "named.pth")
    assert load_vgg19_weights(tmp_path / "named.pth").input_format == "caffe"
    assert load_vgg19_weights(tmp_path / "caffe.pth", "torchvision").input_format == "torchvision"


@pytest.mark.parametrize("content, message", [
    (None, "does not exist"),
    (b"not a torch file", "could not be read"),
    ({"something": torch.zeros(1)}, "not a VGG-19 state dict"),
    ({"features.0.weight": torch.zeros(64, 3, 3, 3), "features.0.bias": torch.zeros(64)}, "lacks"),
])
def test_bad_weight_files(tmp_path, content, message):
    path = tmp_path / "weights.pth"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        torch.save(content, path)
    with pytest.raises(WeightsError, match=message):
        load_vgg19_weights(path)


def test_wrong_shapes_are_refused(oxford, tmp_path):
    state = _as_torchvision(oxford)
    state["features.2.weight"] = torch.zeros(32, 64, 3, 3)
    torch.save(state, tmp_path / "bad.pth")
    with pytest.raises(WeightsError, match="conv1_2 has shape"):
        load_vgg19_weights(tmp_path / "bad.pth")


def test_network_stops_at_deepest_needed_layer(oxford):
    net = VGG19Features(oxford, "relu4_2")
    assert len(net.convs) == 10 and net.names[-1] == "relu4_2"
    with pytest.raises(ValueError, match="deeper"):
        net(torch.rand(1, 3, 32, 32), ["relu5_1"])
