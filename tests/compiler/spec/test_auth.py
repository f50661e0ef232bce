"""The auth block: claims paths, the IR it builds, datapic.yaml's defaults under the spec's
own keys, and what the compiled pod's documents say of it (read back by the runtime)."""

from __future__ import annotations

import json

import pytest
import yaml
from datapic_runtime.config import parse_config
from podkit import POD_SCHEMA

from compiler.pipeline import compile_spec
from compiler.spec.auth import parse_claim_path
from compiler.spec.ir import Auth, CallerLimits, ClaimBinding, ClaimRequirement, Jwt

SPEC = """\
resource_name: my-orders
depends_on: [{namespace: sales, table: orders}]
select: [order_id, region]
filters: [region = :region, order_id > :after]
parameters:
  - {name: region, type: string}
  - {name: after, type: integer, default: 0}
order_by: [order_id]
deploy: false
"""


@pytest.mark.parametrize(
    ("text", "keys"),
    [
        ("claims.region", ("region",)),
        ("claims.a.b", ("a", "b")),
        ('claims["https://example.com/region"]', ("https://example.com/region",)),
        ("claims['x y'].z", ("x y", "z")),
        (' claims [ "a" ] ', None),
        ("claims", None),
        ("claims.", None),
        ("claims.a..b", None),
        ("claims.1a", None),
        ('claims[""]', None),
        ("token.region", None),
        ("claims.region; drop", None),
    ],
)
def test_claims_paths(text, keys):
    assert parse_claim_path(text) == keys


def compiled(tmp_path, auth: str, project: str | None = None):
    if project is not None:
        (tmp_path / "datapic.yaml").write_text(project)
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC + auth)
    return compile_spec(spec)


def test_the_issue_s_block_builds_its_ir(tmp_path):
    result = compiled(
        tmp_path,
        """\
auth:
  jwt:
    issuer: https://login.example.com/
    audience: orders-api
  require:
    scope: orders:read
  bind:
    region: claims.region
""",
    )
    assert result.ok, [d.message for d in result.diagnostics]
    assert result.pod.auth == Auth(
        jwt=Jwt(issuer="https://login.example.com/", audience="orders-api"),
        require=(ClaimRequirement(claim=("scope",), value="orders:read"),),
        bind=(ClaimBinding(parameter="region", claim=("region",)),),
        limits=CallerLimits(requests_per_minute=600, concurrent_queries=8),
    )


def test_datapic_yaml_gives_defaults_the_spec_overrides_key_by_key(tmp_path):
    project = """\
auth:
  jwt: {issuer: "https://accounts.google.com", audience: project-aud}
  require: {hd: example.com}
  limits: {requests_per_minute: 60, concurrent_queries: 2}
"""
    result = compiled(
        tmp_path,
        "auth:\n  require: {email_verified: true}\n  bind: {region: claims.region}\n",
        project,
    )
    assert result.ok, [d.message for d in result.diagnostics]
    auth = result.pod.auth
    assert auth.jwt == Jwt(issuer="https://accounts.google.com", audience="project-aud")
    # A spec's requirement adds to the project's: any Google account with a verified e-mail
    # must not become a caller because a spec asked for email_verified.
    assert auth.require == (
        ClaimRequirement(claim=("hd",), value="example.com"),
        ClaimRequirement(claim=("email_verified",), value=True),
    )
    assert auth.limits == CallerLimits(requests_per_minute=60, concurrent_queries=2)
    assert compiled(tmp_path, "auth: false\n", project).pod.auth is None
    assert compiled(tmp_path, "", project).pod.auth.bind == ()


def test_a_spec_sets_one_limit_and_one_claim_over_the_projects(tmp_path):
    project = """\
auth:
  jwt: {issuer: "https://login.example.com", audience: orders-api}
  require: {scope: orders:read, hd: example.com}
  limits: {requests_per_minute: 60, concurrent_queries: 2}
"""
    spec = "auth:\n  require: {hd: other.example}\n  limits: {concurrent_queries: 1}\n"
    result = compiled(tmp_path, spec, project)
    assert result.ok, [d.message for d in result.diagnostics]
    assert result.pod.auth.require == (
        ClaimRequirement(claim=("scope",), value="orders:read"),
        ClaimRequirement(claim=("hd",), value="other.example"),
    )
    # Not the built-in 600 a minute: the project's 60 stays.
    assert result.pod.auth.limits == CallerLimits(requests_per_minute=60, concurrent_queries=1)
    bad = compiled(tmp_path, "auth:\n  require: {claims..x: 1}\n", project)
    (problem,) = [d for d in bad.diagnostics if d.code.value == "DP0704"]
    assert problem.span.file.endswith("spec.yaml")


def test_an_empty_auth_block_without_a_projects_is_an_error_not_an_open_pod(tmp_path):
    result = compiled(tmp_path, "auth: {}\n")
    assert not result.ok
    assert [d.code.value for d in result.diagnostics if d.severity.value == "error"] == ["DP0701"]
    project = "auth:\n  jwt: {issuer: https://login.example.com, audience: a}\n"
    assert compiled(tmp_path, "auth: {}\n", project).pod.auth.jwt.audience == "a"


def test_a_bad_default_in_datapic_yaml_is_reported_at_its_line(tmp_path):
    result = compiled(
        tmp_path, "", "auth:\n  jwt: {issuer: http://login.example.com, audience: a}\n"
    )
    [problem] = result.diagnostics
    assert (problem.code.value, problem.span.line) == ("DP0702", 2)
    assert problem.span.file.endswith("datapic.yaml")


def test_a_loopback_issuer_may_be_plain_http(tmp_path):
    auth = 'auth:\n  jwt: {issuer: "http://127.0.0.1:8080", audience: a}\n'
    assert compiled(tmp_path, auth).ok


def test_pod_json_carries_the_block_the_runtime_reads_back(tmp_path):
    result = compiled(
        tmp_path,
        """\
auth:
  jwt: {secret_env: ORDERS_JWT_SECRET}
  require: {'https://example.com/roles': reader}
  bind: {region: 'claims["https://example.com/region"]'}
  limits: {requests_per_minute: 0}
""",
    )
    assert result.ok, [d.message for d in result.diagnostics]
    document = json.loads(result.files["pod.json"])
    POD_SCHEMA.validate(document)
    assert document["auth"] == {
        "jwt": {"secret_env": "ORDERS_JWT_SECRET"},
        "require": [{"claim": ["https://example.com/roles"], "value": "reader"}],
        "bind": [{"parameter": "region", "claim": ["https://example.com/region"]}],
        "limits": {"requests_per_minute": 0, "concurrent_queries": 8},
    }
    auth = parse_config(document).auth
    assert auth.bound == {"region"}
    assert auth.bind[0].path == ("https://example.com/region",)
    assert auth.limits.concurrent_queries == 8


def test_openapi_declares_the_scheme_and_bound_parameters(tmp_path):
    hs = compiled(tmp_path, "auth:\n  jwt: {secret_env: S}\n  bind: {region: claims.org.region}\n")
    document = json.loads(hs.files["openapi.json"])
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    operation = document["paths"]["/get_data"]["get"]
    assert operation["security"] == [{"bearer": []}]
    names = [p.get("name") for p in operation["parameters"]]
    assert "region" not in names and "after" in names
    assert operation["x-datapic-bound-parameters"] == {"region": "claims.org.region"}
    assert "claims.org.region" in operation["description"]
    assert "region" not in operation["responses"]["200"]["links"]["next"]["parameters"]
    assert {"401", "403", "429"} <= set(operation["responses"])
    oidc = compiled(tmp_path, "auth:\n  jwt: {issuer: 'https://login.example.com/', audience: a}\n")
    scheme = json.loads(oidc.files["openapi.json"])["components"]["securitySchemes"]["bearer"]
    assert (
        scheme["openIdConnectUrl"] == "https://login.example.com/.well-known/openid-configuration"
    )


def test_a_pod_without_auth_keeps_its_documents_as_they_were(tmp_path):
    result = compiled(tmp_path, "")
    assert "auth" not in json.loads(result.files["pod.json"])
    document = json.loads(result.files["openapi.json"])
    assert "securitySchemes" not in document["components"]
    assert "security" not in document["paths"]["/get_data"]["get"]


def test_a_public_pod_with_auth_mounts_its_secret_and_says_who_authenticates(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        SPEC.replace("deploy: false\n", "")
        + """\
auth:
  jwt: {secret_env: ORDERS_JWT_SECRET, audience: orders-api}
deploy:
  public: true
  env: {PYICEBERG_CATALOG__DEFAULT__URI: https://polaris.example.com/api/catalog}
  secrets: {ORDERS_JWT_SECRET: orders-jwt-secret:3}
"""
    )
    result = compile_spec(spec)
    assert result.ok and result.diagnostics == (), [d.message for d in result.diagnostics]
    service = yaml.safe_load(result.files["service.yaml"])
    assert service["metadata"]["annotations"]["run.googleapis.com/invoker-iam-disabled"] == "true"
    [container] = service["spec"]["template"]["spec"]["containers"]
    env = {item["name"]: item for item in container["env"]}
    assert env["ORDERS_JWT_SECRET"]["valueFrom"]["secretKeyRef"] == {
        "name": "orders-jwt-secret",
        "key": "3",
    }
    text = result.files["service.yaml"].decode()
    assert (
        "The pod authenticates callers itself: HS256 tokens signed with the secret in "
        "ORDERS_JWT_SECRET" in text
    )
    assert "Cloud Run lets anyone reach it (public)" in result.files["README.md"].decode()
    # Without auth, the same public pod is a warning (DP0707).
    spec.write_text(
        spec.read_text().split("auth:")[0] + "deploy:" + spec.read_text().split("deploy:")[1]
    )
    assert [d.code.value for d in compile_spec(spec).diagnostics] == ["DP0707"]


def test_the_docs_page_offers_no_input_for_a_bound_parameter(tmp_path):
    result = compiled(tmp_path, "auth:\n  jwt: {secret_env: S}\n  bind: {region: claims.region}\n")
    page = result.files["docs/index.html"].decode()
    assert 'name="after"' in page and 'name="region"' not in page
