"""The datapic pod runtime: copied unchanged into every pod; the pod's query lives in pod.json.

One module per concern, in the order a request meets them:
- `server` (the HTTP routes), `params` and `values` (request values), `paging` (page tokens);
- `query` (the engine tying the rest together), `catalog` and `oauth` (the catalog client; a
  REST catalog's timeouts and OAuth2 tokens), `plan` (pruned files, per snapshot), `deletes`
  (which delete files apply to which data file), `columns` (what each column holds in each
  file), `predicates` and `pushdown` (the Iceberg row filter), `database`, `storage` and
  `objectstore` (the sandboxed DuckDB and how it reaches object storage), `source` (the SQL
  reading the planned files and applying their deletes), `texts` (its text, kept per plan and
  page), `reads` (its read_parquet pieces), `layouts` (which files read the same by name),
  `equality` (rows equality deletes remove), `ordering` (stable pages), `cache` (answers),
  `limits` (CPUs, memory, query slots), `idle` (memory given back once the pod is quiet),
  `answer` (answers as Arrow streams);
- `streaming` (an answer's body), `formats` and `serialize` (JSON, NDJSON, CSV, Arrow,
  Parquet);
- `requestlog` and `metrics` (the request's log line, /metrics), `errors` and `secrets` (what
  a client or a log may see), `features` (what a pod does not serve: a 501); `config`
  (pod.json, typed) is read once at start-up.
It must not write anywhere, reach anything but its catalog and storage, or depend on datapic.
"""
