"""datapic: compile a YAML query spec over an Iceberg table into a deployable data pod.

One package per concern: spec/ (the YAML read into the IR), sql/ (its expressions lowered to
DuckDB SQL), artifacts/ (the pod's files), check/ (`--check` against the live catalog) and
cloud/ (`deploy`, `status`). At the top: pipeline (the stages in order), cli (the `datapic`
command: wiring only), diagnostics, secrets (what is a secret, and masking) and assets.
"""

__version__ = "0.1.0"
