"""Device and precision resolution, checked on the CPU by pretending the hardware is there."""

import pytest
import torch

from brushwork.device import resolve, resolve_device, resolve_precision
from brushwork.errors import DeviceError


@pytest.fixture
def fake_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    return monkeypatch


def test_auto_prefers_cuda(fake_cuda):
    assert resolve_device("auto") == torch.device("cuda")
    assert resolve_device("cuda:1") == torch.device("cuda", 1)


def test_missing_cuda_index_is_refused(fake_cuda):
    with pytest.raises(DeviceError, match="only 2 CUDA"):
        resolve_device("cuda:2")


def test_gpu_precision_is_bf16_where_supported_else_fp16(fake_cuda):
    fake_cuda.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert resolve_precision("auto", torch.device("cuda")) is torch.bfloat16
    fake_cuda.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert resolve_precision("auto", torch.device("cuda")) is torch.float16
    assert resolve_precision("fp32", torch.device("cuda")) is torch.float32


def test_cpu_precision_follows_native_bf16(monkeypatch):
    monkeypatch.setattr("brushwork.device.cpu_has_fast_bf16", lambda: True)
    assert resolve("cpu").dtype is torch.bfloat16
    monkeypatch.setattr("brushwork.device.cpu_has_fast_bf16", lambda: False)
    assert resolve("cpu").dtype is torch.float32
    assert resolve("cpu", "bf16").precision == "bf16"


def test_fp16_on_cpu_is_refused():
    with pytest.raises(DeviceError, match="fp16"):
        resolve("cpu", "fp16")


def test_mps_refused_where_absent(monkeypatch):
    monkeypatch.setattr("brushwork.device._mps_available", lambda: False)
    with pytest.raises(DeviceError, match="mps"):
        resolve_device("mps")
