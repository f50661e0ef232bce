"""ASGI entry point of a datapic pod: run `python -m uvicorn app:app` from this directory."""

from pathlib import Path

from datapic_runtime.server import app_or_exit

# pod.json and openapi.json sit next to this file, wherever the pod directory was copied. A pod
# that cannot serve (no catalog configured, a broken pod.json) exits with one line instead.
app = app_or_exit(Path(__file__).resolve().parent)
