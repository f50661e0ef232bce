"""Docs: the HTML pages that describe pods, for people.

Owns the page of one pod (rendered at compile time into the pod, served at GET /docs), the
static site over every pod of a folder (`datapic docs build`) and its local server (`datapic
docs serve`). Reads only what a compiled pod holds (pod.json, openapi.json), so the page of a
pod and its page in the site come from the same data and the same renderer. Never runs a query.
"""
