"""`datapic docs build`: one static site for every pod of a folder such as generated/.

    site/index.html          every pod, searchable (by name, description, columns, parameters)
    site/pods/<name>.html    each pod's page, from the renderer a pod's own /docs uses
    site/assets/             app.js and style.css, the pods' own (templates/pod/docs/)

The site is plain files: it opens from disk, any static host serves it, nothing in it is
fetched from elsewhere. A pod's page runs its form against the pod URL typed into it (prefilled
from --base-url); the pod must then be of the site's origin or allow the site's (CORS).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..assets import templates_dir
from .model import PodDocs, pod_docs
from .page import SITE_POLICY, PageLinks, environment, pod_page

ASSETS = ("app.js", "style.css")


@dataclass(frozen=True, slots=True)
class SiteProblem(Exception):
    """A folder the site cannot be built from (no pods, a pod whose files cannot be read)."""

    message: str


def load_pods(folder: Path) -> list[PodDocs]:
    """Every compiled pod directly under `folder` (a directory holding pod.json), by name."""
    pods = []
    for pod_json in sorted(folder.glob("*/pod.json")):
        try:
            pod = json.loads(pod_json.read_text(encoding="utf-8"))
            openapi_path = pod_json.with_name("openapi.json")
            openapi = json.loads(openapi_path.read_text(encoding="utf-8"))
            pods.append(pod_docs(pod, openapi))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise SiteProblem(f"{pod_json.parent}: not a readable pod ({exc})") from None
    if not pods:
        raise SiteProblem(f"{folder}: holds no compiled pod (run `datapic compile` first)")
    return sorted(pods, key=lambda docs: docs.name)


def pod_url(base_url: str, name: str) -> str:
    """A pod's URL from --base-url: `{name}` in it stands for the pod's name; else the pod is
    under <base>/<name>/ (as `datapic serve` mounts it); no base, no URL.

    >>> pod_url("http://127.0.0.1:8000", "a"), pod_url("https://{name}.example.com/", "a")
    ('http://127.0.0.1:8000/a/', 'https://a.example.com/')
    """
    if not base_url:
        return ""
    if "{name}" in base_url:
        return base_url.replace("{name}", name)
    return f"{base_url.rstrip('/')}/{name}/"


def site_files(pods: list[PodDocs], base_url: str = "") -> dict[str, bytes]:
    """Every file of the site, keyed by '/'-separated path."""
    pages = {docs.name: f"{docs.name}.html" for docs in pods}
    used_by = _used_by(pods)
    files = {"index.html": _index(pods).encode("utf-8")}
    for docs in pods:
        links = PageLinks(
            assets="../assets/",
            policy=SITE_POLICY,
            index="../index.html",
            pod_url=pod_url(base_url, docs.name),
            pods=pages,
            used_by=used_by.get(docs.name, ()),
        )
        files[f"pods/{docs.name}.html"] = pod_page(docs, links).encode("utf-8")
    for name in ASSETS:
        files[f"assets/{name}"] = (templates_dir() / "pod" / "docs" / name).read_bytes()
    return files


def build_site(folder: Path, out: Path, base_url: str = "") -> int:
    """Write the site of the pods in `folder` to `out` (replacing it); the number of pods."""
    pods = load_pods(folder)
    files = site_files(pods, base_url)
    if out.is_dir():
        shutil.rmtree(out)
    for relative, content in files.items():
        target = out / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    return len(pods)


def _used_by(pods: list[PodDocs]) -> Mapping[str, tuple[str, ...]]:
    """For each pod, the pods of the site that read it."""
    readers: dict[str, list[str]] = {}
    for docs in pods:
        for upstream in docs.depends_on:
            readers.setdefault(upstream, []).append(docs.name)
    return {name: tuple(sorted(names)) for name, names in readers.items()}


def _index(pods: list[PodDocs]) -> str:
    entries = [
        {
            "docs": docs,
            "href": f"pods/{docs.name}.html",
            # What the search matches, lower case: app.js compares each typed word with it.
            "search": " ".join(
                [
                    docs.name,
                    docs.description,
                    docs.table,
                    *(c.name for c in docs.columns),
                    *(p.name for p in docs.parameters),
                ]
            ).lower(),
        }
        for docs in pods
    ]
    return (
        environment().get_template("index.html.jinja").render(entries=entries, policy=SITE_POLICY)
    )
