"""The spec: a YAML file read into the IR.

Owns loading (positions kept), schema validation, project settings (`datapic.yaml`, dataPi's
`config.yml`) and building the frozen IR in `ir`. Knows nothing of SQL text, files written or
catalogs: later stages take the IR from here and never reach back.
"""
