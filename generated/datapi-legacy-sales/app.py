"""ASGI entry point of a datapic pod: run `python -m uvicorn app:app` from this directory."""

import os
import sys
from pathlib import Path

# Arrow's buffers from the system allocator, whose freed pages go back to the system once the
# pod is idle (datapic_runtime/idle.py); set before pyarrow picks its allocator, at first use.
os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
# The pod runs without NumPy, as in its image (requirements.txt has none, nothing here uses it):
# where one is installed anyway (a developer's or the bench's environment) pyarrow would import
# it at start-up, a tenth of a CPU second of every cold start, and could hide a use of it that
# the image would refuse. None in sys.modules makes `import numpy` fail as if it were absent.
sys.modules.setdefault("numpy", None)

from datapic_runtime.server import app_or_exit  # noqa: E402 - after the allocator choice

# pod.json and openapi.json sit next to this file, wherever the pod directory was copied. A pod
# that cannot serve (no catalog configured, a broken pod.json) exits with one line instead.
app = app_or_exit(Path(__file__).resolve().parent)
