"""The datapic pod runtime: copied unchanged into every pod; the pod's query lives in pod.json.

One module per concern: `config` (pod.json, typed), `values` and `params` (request values),
`predicates` and `pushdown` (the Iceberg row filter), `plan` (pruned files, per snapshot),
`database` (the sandboxed DuckDB), `ordering` (stable pages), `cache` (answers), `limits`
(CPUs, memory, query slots), `catalog` and `storage` (the catalog client, object storage for
DuckDB), `query` (the engine tying them together), `source` (the SQL reading the planned
files), `answer` (pages asked for, answers as Arrow streams), `serialize` and `formats` (JSON,
NDJSON, CSV, Arrow, Parquet), `paging` (page tokens), `metrics` (/metrics and the request log
line), `errors` and `secrets` (what a client or a log may see), `server` (the HTTP routes),
`streaming` (an answer's body) and `requestlog` (what a request's log line records, the log
format).
It must not write anywhere, reach anything but its catalog and storage, or depend on datapic.
"""
