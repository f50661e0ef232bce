"""SQL: the spec's expressions checked, typed and lowered to DuckDB SQL plus a pushdown tree.

Owns the allow-list of expressions, the one table of type families, the sqlglot helpers and
the Iceberg pushdown predicate. Writes no files and contacts no catalog.
"""
