"""What the figures were measured on: the device block of a benchmark report (see schema.py).

The same block describes a Linux server, a Mac or an iPhone (the Swift benchmark writes it from sysctl and
ProcessInfo): hardware model, chip, OS, cores, memory and the compute units the device offers. A Python run
adds what only it has: CPU vector extensions, the Python version and the packages that ran.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib import metadata

PACKAGES = ("numpy", "onnxruntime", "coremltools", "torch", "transformers", "edgetam-dimos", "edgetam-export")


def _sysctl(key: str) -> str:
    """A macOS sysctl value, or "" where there is none."""
    try:
        return subprocess.run(["sysctl", "-n", key], capture_output=True, text=True).stdout.strip()
    except OSError:
        return ""


def cpu_name() -> str:
    mac = _sysctl("machdep.cpu.brand_string") if sys.platform == "darwin" else ""
    if mac:
        return mac
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_features() -> list[str]:
    """The vector extensions that decide GEMM speed on x86 (empty elsewhere)."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:
        return []
    wanted = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_fp16", "amx_bf16", "amx_tile")
    return [f for f in wanted if f in flags]


def memory_gb() -> float | None:
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        return None


def versions() -> dict[str, str]:
    found = {}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def hardware_model() -> str:
    """The hardware model identifier: hw.model on a Mac (e.g. "Mac14,3"), the DMI product name on a PC or
    virtual machine, else the architecture."""
    mac = _sysctl("hw.model") if sys.platform == "darwin" else ""
    if mac:
        return mac
    try:
        with open("/sys/class/dmi/id/product_name") as f:
            name = f.read().strip()
        if name:
            return name
    except OSError:
        pass
    return f"{platform.machine()} {platform.system()} machine"


def compute_units() -> list[str]:
    """What the device offers: every Apple-silicon Mac has a GPU and a Neural Engine Core ML can use; this
    toolkit runs nothing but the CPU elsewhere."""
    if sys.platform == "darwin" and platform.machine() == "arm64":
        return ["CPU", "GPU", "Neural Engine"]
    return ["CPU"]


def describe() -> dict:
    """The report's device block (schema.py lists the fields)."""
    darwin = sys.platform == "darwin"
    return {
        "kind": "mac" if darwin else platform.system().lower(),
        "model": hardware_model(),
        "chip": cpu_name(),
        "os": platform.platform(),
        "cores": os.cpu_count() or 1,
        "memory_gb": memory_gb(),
        "compute_units": compute_units(),
        "cpu_features": cpu_features(),
        "python": platform.python_version(),
        "packages": versions(),
    }
