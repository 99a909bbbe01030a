"""Memory budgets: parse them, find the default one, and estimate what a pass of VGG-19 costs.

A budget covers the whole process on the compute device: on the CPU the resident set (what the
operating system sees), on a GPU the memory torch has allocated there. The estimates are simple
linear models (bytes per pixel of a network pass, bytes of each image-sized buffer), fitted to
measurements on the CPU (docs/tiling.md) with some headroom; `brushwork.tiling` plans levels and
tiles with them so that a run stays within its budget whatever its size.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

import torch

from .errors import InvalidInputError

#: Share of the memory that is free now which the default budget may use (the rest is left to the
#: operating system, other programs and the allocator's own slack).
DEFAULT_SHARE = 0.7
#: The smallest budget anyone can ask for; below it not even the network fits.
MIN_BUDGET = 64 * 2**20

_UNITS = {"": 1, "B": 1, "K": 2**10, "KB": 2**10, "KIB": 2**10, "M": 2**20, "MB": 2**20, "MIB": 2**20,
          "G": 2**30, "GB": 2**30, "GIB": 2**30, "T": 2**40, "TB": 2**40, "TIB": 2**40}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")


def parse_size(value: str | int | float) -> int:
    """'3GB', '1500MB', '2.5g', '800M' or a number of bytes -> bytes (binary units: 1 GB = 2^30)."""
    if isinstance(value, bool):
        raise InvalidInputError(f"invalid memory size {value!r}")
    if isinstance(value, (int, float)):
        if value <= 0:
            raise InvalidInputError(f"memory size must be positive, not {value}")
        return int(value)
    match = _SIZE.match(str(value))
    unit = match.group(2).upper() if match else None
    if match is None or unit not in _UNITS:
        raise InvalidInputError(f"invalid memory size {value!r}: use a number with a unit, like 3GB or 1500MB")
    size = int(float(match.group(1)) * _UNITS[unit])
    if size <= 0:
        raise InvalidInputError(f"memory size must be positive, not {value!r}")
    return size


def format_size(size: float) -> str:
    """Bytes -> '2.9 GB', '640 MB' (binary units, as `parse_size` reads them)."""
    if size >= 2**30:
        return f"{size / 2**30:.1f} GB"
    return f"{size / 2**20:.0f} MB"


def release_freed_memory() -> None:
    """Hand the heap's freed pages back to the operating system (glibc `malloc_trim`), so that the
    resident set, which budgets are measured against, drops after large temporaries are freed
    (a painting read at 3000 px leaves ~170 MB of freed heap behind otherwise). No-op elsewhere."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def memory_left(budget: int, device: torch.device) -> int:
    """What `budget` leaves now, after the freed heap has gone back to the system."""
    if device.type == "cpu":
        release_freed_memory()
    return budget - used_memory(device)


def used_memory(device: torch.device) -> int:
    """What the process holds now on `device`: resident set on the CPU, allocated memory on CUDA."""
    if device.type == "cuda":
        return int(torch.cuda.memory_allocated(device))
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):       # not Linux: the peak so far is an upper bound
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return int(peak if os.uname().sysname == "Darwin" else peak * 1024)


def free_memory(device: torch.device) -> int:
    """Memory that could still be had on `device`: available RAM on the CPU, free memory on CUDA."""
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    pages = os.sysconf("SC_AVPHYS_PAGES") if hasattr(os, "sysconf") else 0
    return int(pages * os.sysconf("SC_PAGE_SIZE")) if pages > 0 else 8 * 2**30


def default_budget(device: torch.device) -> int:
    """What a run may use when no budget is given: what it holds already plus a safe share of the rest."""
    return used_memory(device) + int(DEFAULT_SHARE * free_memory(device))


@dataclass(frozen=True)
class PassCost:
    """Bytes one VGG-19 pass needs per input pixel, and a fixed part (allocator slack, workspaces)."""

    per_pixel: float
    fixed: float

    def bytes(self, pixels: int) -> int:
        return int(self.fixed + self.per_pixel * pixels)


#: Measured on the CPU in fp32 (peak RSS growth of one pass to relu5_1 at 256-1024 px, channels-last):
#: forward + backward 2.1-2.3 KB per pixel, forward alone 0.60-0.73 KB; rounded up for headroom.
#: bf16 was measured at 0.77x of that with the backward pass, but *more* without it (oneDNN's
#: reorders), so one model serves every dtype: on a GPU in 16 bits it errs on the safe side.
GRAD_PASS = PassCost(per_pixel=2400.0, fixed=96 * 2**20)
FORWARD_PASS = PassCost(per_pixel=1250.0, fixed=64 * 2**20)


def pass_cost(backward: bool) -> PassCost:
    """The memory model of one network pass to relu5_1, with or without the backward pass."""
    return GRAD_PASS if backward else FORWARD_PASS


def image_bytes(width: int, height: int, channels: int = 3) -> int:
    """One fp32 image-sized buffer (the image, its gradient, one L-BFGS vector...)."""
    return 4 * channels * width * height


__all__ = ["DEFAULT_SHARE", "FORWARD_PASS", "GRAD_PASS", "MIN_BUDGET", "PassCost", "default_budget", "format_size", "free_memory",
           "image_bytes", "parse_size", "pass_cost", "used_memory"]
