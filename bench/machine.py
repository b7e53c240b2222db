"""What every benchmark writes beside its figures: the machine they ran on, and percentiles."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import numpy as np
import psutil


def machine_description() -> dict:
    """CPU, cores, memory, GPU, torch, middleware and the load average before the run."""
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "host": platform.node(),
        "cpu": cpu,
        "logical_cores": psutil.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "rmw": os.environ.get("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp"),
        "fastdds_transports": os.environ.get("FASTDDS_BUILTIN_TRANSPORTS", "default"),
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
    }


def percentiles(values: list[float]) -> dict:
    if not values:
        return {"count": 0}
    array = np.asarray(values)
    return {
        "count": len(values),
        "p50": float(np.percentile(array, 50)),
        "p95": float(np.percentile(array, 95)),
        "p99": float(np.percentile(array, 99)),
        "max": float(array.max()),
        "mean": float(array.mean()),
    }
