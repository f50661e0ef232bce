"""The router in front of `datapic serve`'s pods: each pod sees itself mounted at
/<name>/ (Starlette routes by root_path, as under Mount), pods swap between requests, and
anything else is a JSON 404 naming the pods served."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from compiler.serve.router import PodRouter


def pod(label: str) -> Starlette:
    """A stand-in pod answering where it thinks it is."""

    async def get_data(request: Request) -> JSONResponse:
        return JSONResponse(
            {"pod": label, "url": str(request.url), "root": request.scope["root_path"]}
        )

    return Starlette(routes=[Route("/get_data", get_data)])


def client(router: PodRouter) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=router), base_url="http://pods")


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_each_pod_answers_under_its_name_and_swaps_between_requests(anyio_backend):
    router = PodRouter()
    router.set("a", pod("a1"))
    router.set("b-2", pod("b"))
    async with client(router) as http:
        answer = (await http.get("/a/get_data?x=1")).json()
        assert answer == {"pod": "a1", "url": "http://pods/a/get_data?x=1", "root": "/a"}
        assert (await http.get("/b-2/get_data")).json()["pod"] == "b"
        router.set("a", pod("a2"))
        assert (await http.get("/a/get_data")).json()["pod"] == "a2"
        listing = await http.get("/")
        assert listing.status_code == 200 and listing.json() == {"pods": ["/a/", "/b-2/"]}
        router.remove("b-2")
        missing = await http.get("/b-2/get_data")
        assert missing.status_code == 404
        assert missing.json() == {"error": "no pod serves /b-2/get_data; pods: /a/"}
        # A prefix of a pod's name is not that pod.
        assert (await http.get("/a-/get_data")).status_code == 404
