"""The DAG folder: scheduling and wiring only (a package so the layer rules can check it)."""
