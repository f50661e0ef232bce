"""Warnings about a well-formed pod: it compiles and answers correctly here, but something is
probably not what its author wants (--fail-on-warning makes them fail the spec).

Judged on a pod built without errors only: a partial pod would give advice about what the
errors left out.
"""

from __future__ import annotations

from ..diagnostics import Code, Diagnostic, warning
from .ir import Pod, Projection
from .load import Document


def advice(pod: Pod, document: Document) -> list[Diagnostic]:
    """Every warning about the pod as a whole."""
    return [
        *_no_catalog_for_deployment(pod, document),
        *_unordered_pages(pod, document),
        *_public_without_auth(pod, document),
    ]


def catalog_prefix(catalog: str) -> str:
    """The environment variables pyiceberg configures catalog `catalog` from.

    >>> catalog_prefix("default")
    'PYICEBERG_CATALOG__DEFAULT__'
    """
    return f"PYICEBERG_CATALOG__{catalog.upper()}__"


def _no_catalog_for_deployment(pod: Pod, document: Document) -> list[Diagnostic]:
    """A deployed pod that Cloud Run would give no catalog settings: every request would fail.

    Its catalog settings come from deploy.env and deploy.secrets (the spec's or datapic.yaml's)
    or from the project's dataPi config.yml; a pod started by hand may use .pyiceberg.yaml, but
    the image has none.
    """
    deployment = pod.deployment
    if pod.upstream is not None:
        return []  # it reads another pod's answer, never a catalog
    prefix = catalog_prefix(pod.source.catalog)
    names = [name for name, _ in deployment.env] + [s.env for s in deployment.secrets]
    if not deployment.enabled or any(name.upper().startswith(prefix) for name in names):
        return []
    where = ("deploy",) if "deploy" in document.data else ("resource_name",)
    message = (
        f"on Cloud Run this pod would fail every request: nothing configures its catalog "
        f"'{pod.source.catalog}' (set {prefix}URI under deploy.env and the credential under "
        "deploy.secrets, or metastore_uri in the project's dataPi config.yml; or deploy: false)"
    )
    return [warning(Code.NO_CATALOG_FOR_DEPLOYMENT, message, document.span(where, key=True))]


def _unordered_pages(pod: Pod, document: Document) -> list[Diagnostic]:
    """A projection whose answers page, without order_by: its rows come in no useful order."""
    if not isinstance(pod.query, Projection) or pod.order_by:
        return []
    if pod.limit is not None and pod.limit <= pod.max_page_size:
        return []
    columns = pod.query.columns
    first = columns[0].name if columns else "a_column"  # (select "*" without --check)
    message = (
        f"a PROJECTION without order_by whose answers page (up to {pod.max_page_size} rows a "
        "page): its rows come in no meaningful order, and to keep pages from overlapping the pod "
        f"sorts every answer by all its columns; say which order you mean, e.g. order_by: [{first}]"
    )
    return [warning(Code.UNORDERED_PAGES, message, document.span(("select",), key=True))]


def _public_without_auth(pod: Pod, document: Document) -> list[Diagnostic]:
    """A public pod with no auth block: anyone on the internet may read what it answers."""
    deployment = pod.deployment
    if not deployment.enabled or not deployment.public or pod.auth is not None:
        return []
    block = document.data.get("deploy")
    # public: true in the spec, or else from datapic.yaml: then the pod's name is the place.
    own = isinstance(block, dict) and "public" in block
    where = ("deploy", "public") if own else ("resource_name",)
    message = (
        "a public pod without auth: anyone who finds its URL may call it; add an auth: block "
        "(auth.jwt: the pod verifies callers' tokens) or leave public false (Cloud Run IAM)"
    )
    return [warning(Code.PUBLIC_WITHOUT_AUTH, message, document.span(where, key=True))]
