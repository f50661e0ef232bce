"""SQL: the spec's expressions checked, typed and lowered to DuckDB SQL plus a pushdown tree.

Owns reading one fragment (parsing), the allow-list of expressions (expressions: filters and
computed outputs), aggregates and having conditions (aggregates), parameter usage
(parameters), the one table of type families (types), the shared sqlglot helpers (nodes),
lowering (lower) and the Iceberg pushdown predicate (pushdown). Must not write files or contact
a catalog, and keeps sqlglot trees out of the IR: the lowered query is stored as text.
"""
