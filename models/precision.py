"""Whether a device computes bfloat16 natively, for training (autocast) and serving (weights)."""

from __future__ import annotations

import torch


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bfloat16 dot products in hardware (avx512_bf16 or AMX)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as info:
            flags = next((line for line in info if line.startswith("flags")), "").split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def native_bf16(device: torch.device) -> bool:
    """bfloat16 is faster than float32 on `device`: a CUDA GPU that supports it, or a CPU
    with avx512_bf16 or AMX (elsewhere it is emulated, and slower)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return device.type == "cpu" and cpu_has_native_bf16()
