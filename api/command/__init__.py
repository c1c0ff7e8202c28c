"""The `proposals-api` command: serve, migrate, seed, import, export, tokens; the embedded Postgres."""
