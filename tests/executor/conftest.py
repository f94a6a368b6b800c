"""Executor tests run JAX on 8 emulated CPU devices. The flags must be set
before JAX is first imported; the two compiler flags only shorten XLA
compile times (the numbers computed are the same)."""

from __future__ import annotations

import os
import sys

FLAGS = (
    "--xla_force_host_platform_device_count=8",
    "--xla_backend_optimization_level=0",
    "--xla_llvm_disable_expensive_passes=true",
)

if "jax" not in sys.modules:
    current = os.environ.get("XLA_FLAGS", "")
    missing = [flag for flag in FLAGS if flag.split("=")[0] not in current]
    os.environ["XLA_FLAGS"] = " ".join([current, *missing]).strip()
