-- columns: whether each column the pipeline reads, and its table, exist (in the search path), and
-- whether the column may be read.
-- Grain: one row per (table, column) asked for in $1, a JSON array of {"table": …, "column": …}.
-- Reads only the system catalogs, which every role may read.
SELECT
    n.table_name AS table_name,
    n.column_name AS column_name,
    to_regclass(quote_ident(n.table_name)) IS NOT NULL AS table_present,
    a.attname IS NOT NULL AS present,
    a.attname IS NOT NULL AND has_column_privilege(a.attrelid, a.attnum, 'SELECT') AS readable
FROM json_to_recordset($1::JSON) AS n(table_name TEXT, column_name TEXT)
LEFT JOIN pg_attribute AS a
    ON a.attrelid = to_regclass(quote_ident(n.table_name))
    AND a.attname = n.column_name
    AND a.attnum > 0
    AND NOT a.attisdropped
