-- severity: error
-- one_row_per_key: keys that appear more than once in a dataset (its grain).
SELECT 'user_trends' AS trend, day::VARCHAR AS key, count(*) AS rows FROM user_trends GROUP BY day HAVING count(*) > 1
UNION ALL
SELECT 'flag_trends', day::VARCHAR, count(*) FROM flag_trends GROUP BY day HAVING count(*) > 1
UNION ALL
SELECT 'project_flag_trends', week || ' ' || project, count(*) FROM project_flag_trends
GROUP BY week, project HAVING count(*) > 1
UNION ALL
SELECT 'metrics_summary_trends', week || ' ' || project, count(*) FROM metrics_summary_trends
GROUP BY week, project HAVING count(*) > 1
UNION ALL
SELECT 'environment_type_trends', week || ' ' || environment_type, count(*) FROM environment_type_trends
GROUP BY week, environment_type HAVING count(*) > 1
UNION ALL
SELECT 'lifecycle_trends', week || ' ' || project, count(*) FROM lifecycle_trends
GROUP BY week, project HAVING count(*) > 1
UNION ALL
SELECT 'creation_archive_trends', week || ' ' || project, count(*) FROM creation_archive_trends
GROUP BY week, project HAVING count(*) > 1
UNION ALL
-- a month of usage holds millions of keys: its keys' hashes are grouped first (a number a row, half
-- the time and memory of grouping its strings), then only the rows of a hash seen twice by their keys
SELECT 'flag_usage_daily', day::VARCHAR || ' ' || flag || ' ' || environment || ' ' || app_name, count(*)
FROM flag_usage_daily
WHERE hash(day, flag, environment, app_name) IN (SELECT hash(day, flag, environment, app_name) FROM flag_usage_daily
                                                 GROUP BY ALL HAVING count(*) > 1)
GROUP BY day, flag, environment, app_name HAVING count(*) > 1
UNION ALL
SELECT 'flags', flag || ' ' || incarnation::VARCHAR, count(*) FROM flags GROUP BY flag, incarnation HAVING count(*) > 1
UNION ALL
SELECT 'unknown_flags', flag, count(*) FROM unknown_flags GROUP BY flag HAVING count(*) > 1
