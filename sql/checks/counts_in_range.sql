-- severity: error
-- counts_in_range: weekly rows with a negative count, a health outside 0..100, or no created types.
SELECT 'project_flag_trends' AS trend, week, project AS key
FROM project_flag_trends
WHERE health NOT BETWEEN 0 AND 100 OR technical_debt <> 100 - health OR time_to_production < 0 OR users < 0
UNION ALL
SELECT 'environment_type_trends', week, environment_type FROM environment_type_trends WHERE total_updates <= 0
UNION ALL
SELECT 'lifecycle_trends', week, project FROM lifecycle_trends WHERE new_production_flags < 0
UNION ALL
SELECT 'creation_archive_trends', week, project
FROM creation_archive_trends
WHERE archived_flags < 0
   OR cardinality(created_flags) = 0
   OR list_min(map_values(created_flags)) < 0
