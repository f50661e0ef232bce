"""Artifacts: the files of a pod, rendered from the IR and the compiled query, then written.

Owns pod.json, openapi.json, the Jinja-rendered deploy files, the pod's content hash and the
atomic write into `generated/`. Decides nothing about the query: it prints what it is given.
"""
