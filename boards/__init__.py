"""Board registry: one TOML file per board, loaded and validated."""
