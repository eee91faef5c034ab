"""Pure geo code: CRS, raster I/O, registry I/O and the synthetic world (no orchestration)."""
