"""Every generated pod against its own openapi.json, by an independent fuzzer (schemathesis):
requests the document allows, and some it does not, over real HTTP to the pod over the demo
lakehouse. No 5xx, every status, header and body as documented, valid data accepted.

Page tokens are the one value the document cannot make valid: the pod signs the ones it
issues (the document says so and links the next page to the response header), so a generated
token is rightly refused with a 400 and only that check is left out for it.
"""

from __future__ import annotations

import contextlib
import json
import shutil
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from podkit import ROOT
from podrun import running_pod
from schemathesis.specs.openapi.checks import positive_data_acceptance

pytestmark = pytest.mark.pod

GENERATED = ROOT / "generated"
PODS = sorted(p.name for p in GENERATED.iterdir() if (p / "openapi.json").is_file())
# Requests per operation: enough to reach every parameter and format, bounded for CI.
EXAMPLES = 60


@pytest.fixture(scope="module", params=PODS)
def pod_schema(request, tmp_path_factory, pod_env):
    """The generated pod, as committed, served on 127.0.0.1; its schema as the pod serves it."""
    work = tmp_path_factory.mktemp("fuzz")
    pod_dir = work / request.param
    shutil.copytree(GENERATED / request.param, pod_dir)
    env = dict(pod_env)
    upstream = json.loads((pod_dir / "pod.json").read_text()).get("upstream")
    with contextlib.ExitStack() as running:
        if upstream is not None:  # a pod reading a pod: its upstream runs beside it
            up_dir = work / upstream["resource"]
            shutil.copytree(GENERATED / upstream["resource"], up_dir)
            up_log = work / "upstream.log"
            env[upstream["env"]] = running.enter_context(
                running_pod(up_dir, dict(pod_env), timeout=60, log_path=up_log)
            )
        url = running.enter_context(
            running_pod(pod_dir, env, timeout=60, log_path=work / "pod.log")
        )
        yield schemathesis.openapi.from_url(f"{url}/openapi.json"), work / "pod.log"


def test_the_pod_holds_to_its_openapi_document(pod_schema):
    schema, log = pod_schema
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/get_data", "/healthz", "/metrics"}
    for operation in operations:
        _fuzz(operation)
    assert "Traceback" not in Path(log).read_text()


def _fuzz(operation) -> None:
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,  # the same requests every run: a failure reproduces
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def check(case) -> None:
        forged_token = "page_token" in (case.query or {})
        excluded = [positive_data_acceptance] if forged_token else []
        case.call_and_validate(excluded_checks=excluded)

    check()
