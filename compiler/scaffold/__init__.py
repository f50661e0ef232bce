"""New projects and converted ones: what `datapic init` writes (project.py, from the Jinja
templates in files/), how a dataPi project becomes a datapic one (datapi.py), and where the
demo catalog of a project lives (catalog.py).

Owns only the files a project starts with. It must not compile (the pipeline does) nor build
the demo lakehouse (compiler/lakehouse.py does). Only commands.py (the click commands) prints;
the rest returns what to write and what it changed.
"""
