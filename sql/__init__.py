"""One DuckDB query per file, named after what it returns."""
