"""The spec: a YAML file read into the frozen IR.

Owns loading with positions kept (load), schema validation (validate), dataPi's legacy
spellings (legacy), project settings (project: the root and datapic.yaml; datapi: config.yml)
and the deploy block (deployment), and building the IR (build, ir). Must not know SQL text,
files written or catalogs: later stages take the IR from here and never reach back.
"""
