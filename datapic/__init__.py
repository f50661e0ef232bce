"""datapic for the people who call pods: the Python client (`datapic.client`).

Owns what a program needs to read a deployed pod into Arrow. Must stay light: it never imports
the compiler (`compiler/`), the pod runtime, DuckDB or pyiceberg, so `pip install
'datapic[client]'` is enough to use it.
"""
