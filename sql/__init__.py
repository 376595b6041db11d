"""One query per file: DuckDB queries over the lake and its trends, PostgreSQL queries (unleash/) against an Unleash database."""
