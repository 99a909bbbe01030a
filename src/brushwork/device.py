"""Choosing where and in what precision the network runs.

On CPUs with native bf16 (AVX512-BF16 or AMX, as on the 2-core AMD EPYC machines this project
is developed on) bf16 with channels-last is the fast path (a full default run ~1.6x faster than
fp32); where bf16 is only emulated it runs several times *slower*, so "auto" picks bf16 on the CPU
only where the processor has it natively and channels-last fp32 otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .errors import DeviceError

#: "int8" (fast mode on the CPU only) computes in uint8 x int8; it is named by torch's qint8.
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16, "int8": torch.qint8}


@dataclass(frozen=True)
class Placement:
    """A resolved device and compute dtype (the image and losses always stay fp32)."""

    device: torch.device
    dtype: torch.dtype

    @property
    def precision(self) -> str:
        return next(name for name, dtype in DTYPES.items() if dtype == self.dtype)


def resolve_device(name: str = "auto") -> torch.device:
    """'auto' -> CUDA if present, then Apple MPS, else CPU; explicit names are checked."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(f"device {name!r} asked for, but CUDA is not available on this machine")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise DeviceError(f"device {name!r} asked for, but only {torch.cuda.device_count()} CUDA device(s) exist")
    if device.type == "mps" and not _mps_available():
        raise DeviceError("device 'mps' asked for, but Apple MPS is not available on this machine")
    return device


def cpu_has_fast_bf16() -> bool:
    """True where the CPU computes bf16 natively (AVX512-BF16 or AMX), so bf16 beats fp32."""
    cpu = getattr(torch, "cpu", None)
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(cpu, check, lambda: False)()) for check in checks)


def cpu_has_fast_int8() -> bool:
    """True where the CPU has VNNI (AVX512-VNNI or AVX-VNNI): int8 multiply-adds at twice bf16's rate."""
    return bool(getattr(getattr(torch, "cpu", None), "_is_vnni_supported", lambda: False)())


def resolve_precision(precision: str, device: torch.device) -> torch.dtype:
    """'auto' -> bf16 on CUDA that supports it (else fp16), bf16 on CPUs with native bf16, else fp32.

    (Fast mode goes further on CPUs with VNNI: int8, see `Stylizer`.)"""
    if precision != "auto":
        if precision == "fp16" and device.type == "cpu":
            raise DeviceError("fp16 is not supported on the CPU; use fp32 or bf16")
        if precision == "int8" and device.type != "cpu":
            raise DeviceError(f"int8 runs on the CPU only, not on {device.type}; use auto, bf16 or fp16 there")
        if precision == "int8" and not cpu_has_fast_int8():
            raise DeviceError("int8 needs a CPU with VNNI (AVX512-VNNI or AVX-VNNI), which this one lacks; "
                              "use bf16 or fp32")
        return DTYPES[precision]
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "cpu" and cpu_has_fast_bf16():
        return torch.bfloat16
    return torch.float32


def resolve(device: str = "auto", precision: str = "auto") -> Placement:
    """Both at once: the device, then the fastest sensible dtype on it."""
    resolved = resolve_device(device)
    return Placement(resolved, resolve_precision(precision, resolved))


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend and backend.is_available())
