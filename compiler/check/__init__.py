"""`--check`: a spec compared with its table's live schema in the Iceberg catalog.

Needs pyiceberg (the `check` extra); nothing else in the compiler imports this package unless
`--check` is given, so compiling works without a catalog or pyiceberg.
"""
