"""The `datapic` command: compile, validate, schema; per-spec lines, summary, exit codes, and
the same bytes whatever the working directory."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from factories import HEADER, SPEC_SCHEMA_PATH

from compiler import __version__
from compiler.cli import main

DATAPIC = str(Path(sys.executable).parent / "datapic")
GOOD = "select: [a]\n"
BAD = "select: [a]\nfilters: [read_csv('/etc/passwd') IS NOT NULL]\n"


def spec(folder, name: str, body: str = GOOD, resource: str | None = None):
    """A spec file whose resource_name defaults to its file name; without warnings (not
    deployed, not paging) unless the body asks, so only the diagnostics under test print."""
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    resource = resource or name.split("/")[-1].split(".")[0]
    quiet = "" if "deploy" in body else "deploy: false\n"
    quiet += "" if "order_by" in body or "limit" in body else "limit: 1000\n"
    header = HEADER.replace("resource_name: t", f"resource_name: {resource}")
    path.write_text(header + body + quiet)
    return path


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def tree(folder):
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_compile_writes_every_good_spec_and_reports_the_bad_one(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec(tmp_path, "one.yaml")
    spec(tmp_path, "two.yaml", BAD)
    spec(tmp_path, "three.yaml")
    result = run("compile", "one.yaml", "two.yaml", "three.yaml", "-o", "out")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0].startswith("wrote   out/one/ (") and lines[0].endswith(" files) from one.yaml")
    assert lines[1] == "FAILED  two.yaml"
    assert lines[2].startswith("wrote   out/three/ (")
    assert lines[3] == "3 spec(s): 2 compiled, 1 failed"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["one", "three"]
    assert result.stderr.startswith("two.yaml:4:11: error[DP0304] function 'read_csv'")
    assert "Traceback" not in result.output


def test_compile_succeeds_when_every_spec_does(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec(tmp_path, "one.yaml")
    result = run("compile", "one.yaml")
    assert result.exit_code == 0 and result.stderr == ""
    assert result.stdout.splitlines()[-1] == "1 spec(s): 1 compiled, 0 failed"
    files = tree(tmp_path / "generated" / "one")  # the default output folder
    assert len(files) > 5 and "pod.json" in files
    assert f"({len(files)} files)" in result.stdout


def test_all_problems_of_a_spec_are_printed_in_file_order_with_a_caret(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec(tmp_path, "s.yaml", "select: [a, a]\nfilters: ['t.a = 1']\norder_by: zzz\n")
    result = run("validate", "s.yaml")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "s.yaml:3:13: error[DP0202] duplicate output column 'a' (first at line 3)",
        "    select: [a, a]",
        "                ^",
        # Lowering's problems come in the same run as building's.
        "s.yaml:4:12: error[DP0303] column 't.a': use the bare column name",
        "    filters: ['t.a = 1']",
        "               ^",
        "s.yaml:5:11: error[DP0204] order_by 'zzz' is not an output column (outputs: a, a)",
        "    order_by: zzz",
        "              ^",
    ]


def test_validate_checks_without_writing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec(tmp_path, "specs/one.yaml")
    spec(tmp_path, "specs/two.yaml", BAD)
    before = sorted(p.as_posix() for p in tmp_path.rglob("*"))
    result = run("validate", "specs")
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        "ok      specs/one.yaml",
        "FAILED  specs/two.yaml",
        "2 spec(s): 1 valid, 1 invalid",
    ]
    assert sorted(p.as_posix() for p in tmp_path.rglob("*")) == before
    assert run("validate", "specs/one.yaml").exit_code == 0


def test_a_directory_stands_for_the_specs_directly_inside_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec(tmp_path, "specs/b.yml")
    spec(tmp_path, "specs/a.yaml")
    (tmp_path / "specs" / "notes.txt").write_text("not a spec")
    spec(tmp_path, "specs/nested/c.yaml")
    result = run("validate", "specs")
    assert result.stdout.splitlines() == [
        "ok      specs/a.yaml",
        "ok      specs/b.yml",
        "2 spec(s): 2 valid, 0 invalid",
    ]


def test_a_folder_argument_skips_the_project_files(tmp_path, monkeypatch, no_pyiceberg_config):
    """`datapic compile .` at a dataPi project root: config.yml and datapic.yaml are settings,
    not specs, and config.yml's credential must not reach stderr as an excerpt."""
    monkeypatch.chdir(tmp_path)
    datapi_project(tmp_path)
    spec(tmp_path, "orders.yaml", FITS)
    (tmp_path / "datapic.yaml").write_text("deploy:\n  region: europe-west1\n")
    result = run("compile", ".", "-o", "out")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == "1 spec(s): 1 compiled, 0 failed"
    assert SECRET not in result.output


def test_an_excerpt_never_shows_a_secret_value(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec(tmp_path, "s.yaml", "select: [a]\nmetastore_credentials: id:SECRET\n")
    result = run("validate", "s.yaml")
    assert result.exit_code == 1
    assert "metastore_credentials: ***" in result.stderr
    assert "SECRET" not in result.output


def test_an_unwritable_output_fails_each_spec_and_goes_on(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec(tmp_path, "one.yaml")
    spec(tmp_path, "two.yaml")
    (tmp_path / "file").write_text("a file where the output folder should go")
    result = run("compile", "one.yaml", "two.yaml", "-o", "file/out")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "file/out/one: cannot write: Not a directory",
        "file/out/two: cannot write: Not a directory",
    ]
    assert result.stdout.splitlines() == [
        "FAILED  one.yaml",
        "FAILED  two.yaml",
        "2 spec(s): 0 compiled, 2 failed",
    ]


def test_a_file_named_like_the_pod_is_replaced_without_leftovers(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec(tmp_path, "one.yaml")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "one").write_text("not a pod")
    for _ in range(2):
        result = run("compile", "one.yaml", "-o", "out")
        assert result.exit_code == 0, result.output
        assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["one"]


def test_a_spec_named_twice_is_compiled_once(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec(tmp_path, "specs/a.yaml")
    result = run("compile", "specs", "specs/a.yaml", "./specs/a.yaml", "-o", "out")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == "1 spec(s): 1 compiled, 0 failed"


def test_a_folder_without_specs_is_a_usage_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty").mkdir()
    result = run("compile", "empty")
    assert result.exit_code == 2
    assert "Error: empty: no .yaml or .yml spec in this folder" in result.stderr
    assert not (tmp_path / "generated").exists()


def test_a_missing_spec_is_a_located_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run("compile", "nope.yaml", "-o", "out")
    assert result.exit_code == 1
    assert result.stderr == (
        "nope.yaml:1:1: error[DP0001] cannot read spec: No such file or directory\n"
    )
    assert result.stdout.splitlines() == ["FAILED  nope.yaml", "1 spec(s): 0 compiled, 1 failed"]


@pytest.mark.parametrize("command", ["compile", "validate"])
def test_two_specs_with_the_same_resource_name(tmp_path, monkeypatch, command):
    monkeypatch.chdir(tmp_path)
    for name in ("one.yaml", "two.yaml"):
        path = spec(tmp_path, name, resource="same")
        path.write_text("# a comment first\n" + path.read_text())
    result = run(command, "one.yaml", "two.yaml", *(["-o", "out"] if command == "compile" else []))
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "two.yaml:2:16: error[DP0004] resource_name 'same' is already used by one.yaml; "
        "each pod needs its own name",
        "    resource_name: same",
        "                   ^",
    ]
    if command == "compile":
        assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["same"]
        assert json.loads((tmp_path / "out/same/pod.json").read_text())["spec"]["path"] == (
            "one.yaml"
        )


def test_two_resource_names_for_the_same_cloud_run_service(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec(tmp_path, "one.yaml", resource="Big_Orders")
    spec(tmp_path, "two.yaml", resource="big-orders")
    result = run("validate", "one.yaml", "two.yaml")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == (
        "two.yaml:1:16: error[DP0004] resource_name 'big-orders' is Cloud Run service "
        "'big-orders', like 'Big_Orders' in one.yaml; each pod needs its own name"
    )


def test_schema_prints_the_spec_schema(tmp_path):
    result = run("schema")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == json.loads(SPEC_SCHEMA_PATH.read_text(encoding="utf-8"))


def test_version():
    result = run("--version")
    assert result.exit_code == 0 and result.stdout == f"datapic, version {__version__}\n"


def test_help_lists_the_commands():
    result = run("--help")
    assert result.exit_code == 0
    assert all(name in result.stdout for name in ("compile", "validate", "schema"))


def test_recompiling_replaces_the_pod_exactly(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec(tmp_path, "p.yaml")
    assert run("compile", "p.yaml", "-o", "out").exit_code == 0
    first = tree(tmp_path / "out" / "p")
    (tmp_path / "out" / "p" / "stale.txt").write_text("left over")
    assert run("compile", "p.yaml", "-o", "out").exit_code == 0
    assert tree(tmp_path / "out" / "p") == first
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["p"]


def test_same_spec_same_bytes_from_any_working_directory(tmp_path, monkeypatch):
    project = tmp_path / "project"
    (project / "specs").mkdir(parents=True)
    (project / "pyproject.toml").write_text("")  # marks the project root
    spec(
        project,
        "specs/p.yaml",
        "select: [a]\nfilters: a = :x\nparameters: [{name: x, type: date}]\n",
    )
    outputs = []
    for index, (cwd, argument) in enumerate(
        [
            (project, "specs/p.yaml"),
            (project / "specs", "p.yaml"),
            (tmp_path, "project/specs/p.yaml"),
            (tmp_path, project / "specs" / "p.yaml"),
        ]
    ):
        monkeypatch.chdir(cwd)
        out = tmp_path / f"out{index}"
        assert run("compile", argument, "-o", out).exit_code == 0
        outputs.append(tree(out / "p"))
    assert outputs[0] == outputs[1] == outputs[2] == outputs[3]
    document = json.loads(outputs[0]["pod.json"])
    assert document["spec"]["path"] == "specs/p.yaml"  # relative to the project root
    assert all(content.endswith(b"\n") for content in outputs[0].values())
    assert not any(str(tmp_path).encode() in content for content in outputs[0].values())


def test_the_installed_command_never_shows_a_traceback(tmp_path):
    spec(tmp_path, "bad.yaml", "select: [a]\nfilters: ['a = 1; DROP TABLE x', 'NOT :b']\n")
    (tmp_path / "broken.yaml").write_text("a: [\n")
    (tmp_path / "merge.yaml").write_text("base: &b {x: 1}\nspec:\n  <<: *b\n")
    result = subprocess.run(
        [DATAPIC, "compile", "bad.yaml", "broken.yaml", "merge.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "bad.yaml:4:11: error[DP0302]" in result.stderr
    assert "broken.yaml:2:1: error[DP0002]" in result.stderr
    assert "merge.yaml:1:1: error[DP0102] unknown field 'base'" in result.stderr
    assert result.stdout.splitlines()[-1] == "3 spec(s): 0 compiled, 3 failed"


# --- --check and dataPi's config.yml ----------------------------------------------------------

SECRET = "Zq9-client-secret-7f3a"
CLIENT = "datapic-ci-client"
CONFIG_YML = f"""\
# datapi configuration file
metastore_type: POLARIS
metastore_uri: 'https://polaris.example.com/api/catalog'
metastore_credentials: '{CLIENT}:{SECRET}'
metastore_catalog: 'prod_lake'

deployment:
  deployment_target: GCP_CLOUD_RUN
  build_service: GCP_CLOUD_BUILD
  project_id: legacy-proj
  region: us-east1
"""


@pytest.fixture
def no_pyiceberg_config(tmp_path, monkeypatch):
    """No catalog settings from the machine running the tests: no PYICEBERG_* variables, no
    .pyiceberg.yaml in the home folder."""
    for name in list(os.environ):
        if name.upper().startswith("PYICEBERG_"):
            monkeypatch.delenv(name)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("PYICEBERG_HOME", str(home))


@pytest.fixture
def sqlite_catalog(tmp_path, monkeypatch, no_pyiceberg_config):
    """A real SQL catalog with sales.orders (region string, sales decimal, day date), reached
    through PYICEBERG_CATALOG__DEFAULT__* as a pod would."""
    from pyiceberg.catalog.sql import SqlCatalog
    from pyiceberg.schema import Schema
    from pyiceberg.types import DateType, DecimalType, NestedField, StringType

    uri, warehouse = f"sqlite:///{tmp_path / 'catalog.db'}", (tmp_path / "wh").as_uri()
    (tmp_path / "wh").mkdir()
    catalog = SqlCatalog("default", uri=uri, warehouse=warehouse)
    catalog.create_namespace("sales")
    fields = [("region", StringType()), ("sales", DecimalType(10, 2)), ("day", DateType())]
    catalog.create_table(
        "sales.orders",
        Schema(*(NestedField(i, n, t) for i, (n, t) in enumerate(fields, start=1))),
    )
    monkeypatch.setenv("PYICEBERG_CATALOG__DEFAULT__URI", uri)
    monkeypatch.setenv("PYICEBERG_CATALOG__DEFAULT__WAREHOUSE", warehouse)


FITS = "select: [region, day]\nfilters: [\"day >= '2024-01-01'\"]\n"
UNKNOWN = "select: [region, amount]\n"
MISTYPED = "aggregate: {total: sum(region)}\nfilters: [day > 20240101]\n"


def test_check_reports_before_anything_is_written(tmp_path, monkeypatch, sqlite_catalog):
    monkeypatch.chdir(tmp_path)
    spec(tmp_path, "good.yaml", FITS)
    spec(tmp_path, "unknown.yaml", UNKNOWN)
    spec(tmp_path, "mistyped.yaml", MISTYPED)
    result = run("compile", "--check", "good.yaml", "unknown.yaml", "mistyped.yaml", "-o", "out")
    assert result.exit_code == 1
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["good"]
    assert result.stdout.splitlines()[1:] == [
        "FAILED  unknown.yaml",
        "FAILED  mistyped.yaml",
        "3 spec(s): 1 compiled, 2 failed",
    ]
    headlines = [line for line in result.stderr.splitlines() if not line.startswith("    ")]
    assert headlines == [
        "unknown.yaml:3:18: error[DP0502] column 'amount' does not exist in sales.orders "
        "(its columns: region, sales, day)",
        "mistyped.yaml:3:20: error[DP0503] sum() needs number or boolean, but column 'region' "
        "(string) is not one",
        "mistyped.yaml:4:11: error[DP0503] column 'day' (date) is compared with number 20240101",
    ]


def test_without_check_the_catalog_is_not_asked(tmp_path, monkeypatch, no_pyiceberg_config):
    """The same specs compile without --check, even with a catalog that cannot be reached."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PYICEBERG_CATALOG__DEFAULT__URI", "http://127.0.0.1:9")
    spec(tmp_path, "unknown.yaml", UNKNOWN)
    spec(tmp_path, "mistyped.yaml", MISTYPED)
    assert run("compile", "unknown.yaml", "mistyped.yaml", "-o", "out").exit_code == 0
    assert run("validate", "unknown.yaml").exit_code == 0


def test_validate_check(tmp_path, monkeypatch, sqlite_catalog):
    monkeypatch.chdir(tmp_path)
    spec(tmp_path, "good.yaml", FITS)
    spec(tmp_path, "gone.yaml", FITS, resource="gone").write_text(
        (tmp_path / "good.yaml").read_text().replace("table: orders", "table: order")
    )
    result = run("validate", "--check", "good.yaml", "gone.yaml")
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        "ok      good.yaml",
        "FAILED  gone.yaml",
        "2 spec(s): 1 valid, 1 invalid",
    ]
    assert result.stderr.splitlines()[0] == (
        "gone.yaml:2:40: error[DP0501] table 'sales.order' does not exist in catalog 'default' "
        "(did you mean 'orders'?)"
    )


def datapi_project(tmp_path, config: str = CONFIG_YML, body: str = FITS):
    """A dataPi project: config.yml at the root, specs under resources/."""
    (tmp_path / "config.yml").write_text(config)
    return spec(tmp_path, "resources/orders.yaml", body)


def every_byte(folder) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())


def service_env(pod_dir) -> list[dict]:
    from ruamel.yaml import YAML

    service = YAML(typ="safe").load((pod_dir / "service.yaml").read_text())
    return service["spec"]["template"]["spec"]["containers"][0]["env"]


def test_datapi_config_yml_gives_the_pod_its_catalog_but_never_the_credential(
    tmp_path, monkeypatch, no_pyiceberg_config
):
    monkeypatch.chdir(tmp_path)
    datapi_project(tmp_path)
    result = run("compile", "resources", "-o", "out")
    assert result.exit_code == 0, result.output
    assert service_env(tmp_path / "out" / "orders") == [
        {"name": "PYICEBERG_CATALOG__DEFAULT__SCOPE", "value": "PRINCIPAL_ROLE:ALL"},
        {
            "name": "PYICEBERG_CATALOG__DEFAULT__URI",
            "value": "https://polaris.example.com/api/catalog",
        },
        {"name": "PYICEBERG_CATALOG__DEFAULT__WAREHOUSE", "value": "prod_lake"},
        {
            "name": "DATAPIC_PAGE_TOKEN_SECRET",
            "valueFrom": {"secretKeyRef": {"name": "orders-page-token", "key": "latest"}},
        },
        {
            "name": "PYICEBERG_CATALOG__DEFAULT__CREDENTIAL",
            "valueFrom": {"secretKeyRef": {"name": "datapic-catalog-credential", "key": "latest"}},
        },
    ]
    written = every_byte(tmp_path / "out")
    assert SECRET.encode() not in written and CLIENT.encode() not in written
    assert SECRET not in result.output
    assert b'_REGION: "us-east1"' in (tmp_path / "out/orders/cloudbuild.yaml").read_bytes()


def test_the_catalog_secret_name_and_catalog_name_can_be_chosen(
    tmp_path, monkeypatch, no_pyiceberg_config
):
    monkeypatch.chdir(tmp_path)
    datapi_project(tmp_path)
    (tmp_path / "datapic.yaml").write_text(
        "deploy:\n  secrets:\n    PYICEBERG_CATALOG__LAKE__CREDENTIAL: polaris-reader:3\n"
    )
    path = tmp_path / "resources/orders.yaml"
    path.write_text(path.read_text().replace("table: orders}", "table: orders, catalog: lake}"))
    assert run("compile", "resources", "-o", "out").exit_code == 0
    env = {e["name"]: e for e in service_env(tmp_path / "out" / "orders")}
    assert sorted(env) == [
        "DATAPIC_PAGE_TOKEN_SECRET",
        "PYICEBERG_CATALOG__LAKE__CREDENTIAL",
        "PYICEBERG_CATALOG__LAKE__SCOPE",
        "PYICEBERG_CATALOG__LAKE__URI",
        "PYICEBERG_CATALOG__LAKE__WAREHOUSE",
    ]
    assert env["PYICEBERG_CATALOG__LAKE__CREDENTIAL"]["valueFrom"]["secretKeyRef"] == {
        "name": "polaris-reader",
        "key": "3",
    }


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ("metastore_type: POLARIS", "metastore_type: HIVE"),
            "config.yml:2:17: error[DP0203] metastore_type 'HIVE' is not supported: only Iceberg "
            "REST catalogs (POLARIS, or REST for any other)",
        ),
        (
            ("'https://polaris", "'https://admin:pw@polaris"),
            "config.yml:3:16: error[DP0401] metastore_uri holds a user name, password or token: "
            "put the credential in metastore_credentials (or ${VARIABLE} there) instead",
        ),
        (
            ("/api/catalog'", "/api/catalog?token=abc'"),
            "config.yml:3:16: error[DP0401] metastore_uri holds a user name, password or token: "
            "put the credential in metastore_credentials (or ${VARIABLE} there) instead",
        ),
        (
            ("metastore_uri: 'https://polaris.example.com/api/catalog'", "metastore_uri: polaris"),
            'config.yml:3:16: error[DP0103] metastore_uri: "polaris" does not match ^https?://',
        ),
        (
            ("table: orders}", "table: orders, catalog: my_lake}"),
            "resources/orders.yaml:2:57: error[DP0402] catalog 'my_lake' cannot be configured "
            "through PYICEBERG_CATALOG__ environment variables",
        ),
    ],
)
def test_config_yml_metastore_problems_are_located(
    tmp_path, monkeypatch, no_pyiceberg_config, change, expected
):
    monkeypatch.chdir(tmp_path)
    path = datapi_project(tmp_path, CONFIG_YML.replace(*change))
    path.write_text(path.read_text().replace(*change))
    result = run("compile", "resources", "-o", "out")
    assert result.exit_code == 1
    assert result.stderr.startswith(expected), result.stderr
    assert SECRET not in result.output


def test_check_with_config_yml_uses_its_catalog_and_hides_its_secret(
    tmp_path, monkeypatch, no_pyiceberg_config
):
    """config.yml names a catalog nobody listens on: one located line, no traceback, no
    secret, nothing written."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.chdir(tmp_path)
    datapi_project(
        tmp_path, CONFIG_YML.replace("https://polaris.example.com", f"http://127.0.0.1:{port}")
    )
    result = run("compile", "--check", "resources", "-o", "out")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == (
        "resources/orders.yaml:2:14: error[DP0504] catalog 'default' (from config.yml) cannot be "
        f"reached at http://127.0.0.1:{port}/api/catalog: connection refused"
    )
    assert "Traceback" not in result.output and SECRET not in result.output
    assert not (tmp_path / "out").exists()


def test_check_says_what_it_waits_for_when_the_catalog_is_slow(
    tmp_path, monkeypatch, no_pyiceberg_config
):
    """A REST catalog that accepts the connection and never answers: before giving up, --check
    names the catalog, its address and the table it waits for on stderr, never the secret."""
    monkeypatch.chdir(tmp_path)
    with socket.socket() as silent:  # listening, never reading: every request hangs
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        uri = f"http://127.0.0.1:{silent.getsockname()[1]}/catalog"
        monkeypatch.setenv("PYICEBERG_CATALOG__DEFAULT__TYPE", "rest")
        monkeypatch.setenv("PYICEBERG_CATALOG__DEFAULT__URI", uri)
        monkeypatch.setenv("PYICEBERG_CATALOG__DEFAULT__TOKEN", "s3cr3t-token-value")
        spec(tmp_path, "t.yaml")
        result = run("compile", "--check", "--check-timeout", "3", "t.yaml", "-o", "out")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[:2] == [
        f"--check: waiting for catalog 'default' at {uri} (at most 3 s)",
        f"t.yaml:2:14: error[DP0504] catalog 'default' did not answer within 3 s at {uri}",
    ]
    assert "s3cr3t" not in result.output


def test_only_check_pays_for_importing_pyiceberg():
    """pyiceberg takes about a second to import; compiling without --check must not wait for it."""
    probe = "import sys, compiler.cli; print(any(m.startswith('pyiceberg') for m in sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


def test_the_check_timeout_default_is_the_lookups():
    from compiler.check.catalog import DEFAULT_TIMEOUT_SECONDS
    from compiler.cli import CHECK_TIMEOUT_SECONDS

    assert CHECK_TIMEOUT_SECONDS == DEFAULT_TIMEOUT_SECONDS


def test_a_whole_number_float_in_datapic_yaml_is_refused(tmp_path, monkeypatch):
    """YAML reads 80.0 as a float; service.yaml would carry containerConcurrency: 80.0."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "datapic.yaml").write_text("deploy:\n  concurrency: 80.0\n")
    spec(tmp_path, "t.yaml")
    result = run("compile", "t.yaml", "-o", "out")
    assert result.exit_code == 1
    assert result.stderr.startswith(
        "datapic.yaml:2:16: error[DP0103] deploy.concurrency: expected integer, got number"
    )
