"""Pure processing stages: ingest, tiling, detection, merge, diff, cases, outputs (no Prefect)."""
