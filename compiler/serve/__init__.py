"""`datapic serve`: compiled pods served together on one loopback port, each under
`/<resource_name>/`, recompiled when their spec changes.

router.py routes a request to its pod's ASGI app; pods.py compiles a spec into a temporary
folder and builds the pod's app with the runtime datapic ships (templates/pod/); catalog.py
gives it the catalog its deployed pod would get, where pyiceberg's configuration does not name
it; watch.py polls the specs and swaps a pod's app once it recompiled (a spec
that no longer compiles keeps the previous app serving). It must not change how a pod answers:
every request is the pod runtime's own.
"""
