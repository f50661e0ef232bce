"""Google Cloud: `datapic deploy` and `datapic status`.

Needs the Google client libraries (the `deploy` extra), imported only when those commands
run. Reads compiled pods from disk; never compiles.
"""
