-- severity: error
-- flag_counts_add_up: flag rows whose parts do not add up to their total, or that count below zero.
-- Offending rows: (trend, key, project, total, active, stale, potentially_stale).
WITH flag_rows AS (
    SELECT 'flag_trends' AS trend, day::VARCHAR AS key, NULL AS project, total, active, stale, potentially_stale
    FROM flag_trends
    UNION ALL
    SELECT 'project_flag_trends', week, project, total, active, stale, potentially_stale
    FROM project_flag_trends
)

SELECT *
FROM flag_rows
WHERE active + stale + potentially_stale <> total
   OR least(total, active, stale, potentially_stale) < 0
