-- flag_usage_daily: each flag's evaluations per UTC day, environment and app, kept for good.
-- Grain: one row per (day, flag, environment, app name) with any evaluations (yes + no > 0), in
-- the months asked for (snapshots: one row per day of them, up to each month's snapshot day).
-- yes / no = evaluation counts, from the day's hourly rows where the lake has any, else from its
-- daily rows, never both. project / type = the flag's at the end of that day (its newest
-- incarnation created by then; null for a name no flag had yet). environment_type = the
-- environment's type (null for a name Unleash does not know).
-- Inputs: snapshots(key = day), daily_usage, flag_projects_at, environments (newest snapshot).
WITH final AS (
    SELECT
        strftime(u.day, '%Y-%m') AS month,
        u.day,
        u.feature_name AS flag,
        u.environment,
        v.type AS environment_type,
        u.app_name,
        f.project,
        f.type,
        u.yes,
        u.no
    FROM daily_usage AS u
    JOIN snapshots AS s ON s.key = u.day::VARCHAR
    LEFT JOIN flag_projects_at AS f ON f.key = s.key AND f.flag = u.feature_name
    LEFT JOIN environments AS v ON v.name = u.environment
    WHERE u.yes + u.no > 0
)

SELECT * FROM final
ORDER BY month, day, flag, environment, app_name
