"""ASGI entry point of a datapic pod: run `python -m uvicorn app:app` from this directory."""

import os
from pathlib import Path

# Arrow's buffers from the system allocator, whose freed pages go back to the system once the
# pod is idle (datapic_runtime/idle.py); set before pyarrow picks its allocator, at first use.
os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")

from datapic_runtime.server import app_or_exit  # noqa: E402 - after the allocator choice

# pod.json and openapi.json sit next to this file, wherever the pod directory was copied. A pod
# that cannot serve (no catalog configured, a broken pod.json) exits with one line instead.
app = app_or_exit(Path(__file__).resolve().parent)
