"""ASGI entry point of a datapic pod: run `python -m uvicorn app:app` from this directory."""

from pathlib import Path

from datapic_runtime.server import create_app

# pod.json and openapi.json sit next to this file, wherever the pod directory was copied.
app = create_app(Path(__file__).resolve().parent)
