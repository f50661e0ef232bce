"""The HTML page of one pod: served by the pod at GET /docs and written into the static site.

Jinja with autoescaping: every value from a spec is text of the page, never markup; the only
HTML passed through is the long description, which markdown.py rendered without raw HTML. The
page holds no script or style of its own: app.js and style.css beside it (templates/pod/docs/)
do the form, so a Content-Security-Policy without 'unsafe-inline' holds.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlencode

import jinja2
import markupsafe

from ..assets import templates_dir
from .model import ParameterDoc, PodDocs

# What the page may load and call (its <meta>; the servers add frame-ancestors, which a meta
# cannot): its own files only; the pod's page calls its own pod. The site's pages call pods
# elsewhere (the URL typed into the form), hence its connect-src.
POD_POLICY = "default-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'"
SITE_POLICY = POD_POLICY + "; connect-src 'self' http: https:"
NO_FRAMING = "; frame-ancestors 'none'"
# Stands for the pod's URL in the calls shown; app.js puts the real one in its place.
URL_PLACEHOLDER = "https://POD-URL"
# The bearer token in the calls of a pod with auth: an environment variable's name ($TOKEN
# in curl), so a copied command never holds a token.
TOKEN_PLACEHOLDER = "TOKEN"
_JAVASCRIPT_END = (
    "const body = await response.json();\n"
    "if (!response.ok) throw new Error(body.error);\n"
    "console.table(body);"
)
_NUMERIC = {"integer", "number"}


@dataclass(frozen=True, slots=True, kw_only=True)
class PageLinks:
    """Where the page's links and files are: in a pod (at /docs) or in the static site."""

    assets: str  # prefix of app.js and style.css
    policy: str
    index: str | None = None  # the site's index page, None in a pod
    pod_url: str | None = None  # the site's form: prefilled pod URL ("" asks for one)
    pods: Mapping[str, str] = field(default_factory=dict)  # pod name -> its page, in the site
    used_by: Sequence[str] = ()  # pods of the site that depend on this one


IN_POD = PageLinks(assets="docs/", policy=POD_POLICY)


@functools.cache
def environment() -> jinja2.Environment:
    """The Jinja environment of the docs pages: autoescaped HTML, undefined is an error."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir() / "docs")),
        undefined=jinja2.StrictUndefined,
        autoescape=True,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def pod_page(docs: PodDocs, links: PageLinks = IN_POD, header: str = "") -> str:
    """The pod's page as HTML text; `header` is an HTML comment line to open it with."""
    return (
        environment()
        .get_template("pod.html.jinja")
        .render(
            header=markupsafe.Markup(header),  # an HTML comment the compiler wrote
            pod=docs,
            links=links,
            long_description=markupsafe.Markup(docs.long_description_html),
            calls=calls(docs),
            url_placeholder=URL_PLACEHOLDER,
        )
    )


def calls(docs: PodDocs) -> dict[str, str]:
    """Copy-ready calls of the pod with the example values, keyed by language; each holds the
    URL placeholder once."""
    shown = [p for p in docs.parameters if p.required or p.default is not None]
    pairs = [pair for p in shown for pair in query_pairs(p)]
    path = f"{URL_PLACEHOLDER}/get_data" + (f"?{urlencode(pairs)}" if pairs else "")
    arguments = ", ".join(f"{p.name}={_python_value(p)}" for p in shown)
    javascript_url = f"{URL_PLACEHOLDER}/get_data?" + urlencode([*pairs, ("format", "json")])
    if docs.auth:  # the token from the environment: never written into a copied command
        return {
            "curl": f"curl -H \"Authorization: Bearer ${TOKEN_PLACEHOLDER}\" '{path}'",
            "Python": (
                "import os\n\nfrom datapic.client import Pod\n\n"
                f'pod = Pod("{URL_PLACEHOLDER}", token=os.environ["{TOKEN_PLACEHOLDER}"])\n'
                f"table = pod.get_data({arguments})\n"
                "print(table.to_pandas())"
            ),
            "JavaScript": (
                f'const response = await fetch("{javascript_url}", {{\n'
                f"  headers: {{ Authorization: `Bearer ${{{TOKEN_PLACEHOLDER}}}` }},\n"
                "});\n" + _JAVASCRIPT_END
            ),
        }
    return {
        "curl": f"curl '{path}'",
        "Python": (
            "from datapic.client import Pod\n\n"
            f'table = Pod("{URL_PLACEHOLDER}").get_data({arguments})\n'
            "print(table.to_pandas())"
        ),
        "JavaScript": f'const response = await fetch("{javascript_url}");\n' + _JAVASCRIPT_END,
    }


def query_pairs(parameter: ParameterDoc) -> list[tuple[str, str]]:
    """The example as query-string pairs: a list's values repeated (an encoded comma would be
    part of one value)."""
    if parameter.type.endswith("[]"):
        return [(parameter.name, item) for item in parameter.example.split(",")]
    return [(parameter.name, parameter.example)]


def _python_value(parameter: ParameterDoc) -> str:
    """The example value as a Python literal of the parameter's type."""
    items = parameter.example.split(",") if parameter.type.endswith("[]") else [parameter.example]
    element = parameter.type.removesuffix("[]")
    if element in _NUMERIC:
        values = items
    elif element == "boolean":
        values = ["True" if item == "true" else "False" for item in items]
    else:
        values = [json.dumps(item, ensure_ascii=False) for item in items]
    return f"[{', '.join(values)}]" if parameter.type.endswith("[]") else values[0]
