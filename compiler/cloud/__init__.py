"""Google Cloud: `datapic deploy` and `datapic status`.

Owns the two commands (deploy, status), their shared options and error printing (options) and
the thin wrappers over Google's clients (clients). Needs the Google client libraries (the
`deploy` extra), imported only when those commands run; `status` lists the local pods without
them. Reads compiled pods from disk; must never compile.
"""
