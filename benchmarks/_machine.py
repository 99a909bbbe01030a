"""Describe the machine a benchmark ran on (for docs/benchmarks.md)."""

from __future__ import annotations

import os
import platform

import torch


def machine_line() -> str:
    cpu = platform.processor() or "cpu"
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    from brushwork.device import cpu_has_fast_bf16

    return (f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads, "
            f"native bf16: {'yes' if cpu_has_fast_bf16() else 'no'}"
            + (f", GPU {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""))
