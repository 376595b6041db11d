-- severity: error
-- usage_matches_metrics_summary: weeks whose flag_usage_daily evaluations, summed over each
-- project's flags (their project at the week's snapshot: week_project_usage), differ from the
-- week's metrics_summary_trends row. Only weeks built together with the usage of every day they
-- count (built_usage_days), and only projects with a metrics row (an archived project has none).
WITH weeks AS (
    SELECT DISTINCT week, date_trunc('week', date)::DATE AS monday, date::DATE AS snapshot_day
    FROM metrics_summary_trends
),

covered AS (
    SELECT w.*
    FROM weeks AS w
    WHERE (SELECT count(*) FROM built_usage_days AS d WHERE d.day BETWEEN w.monday AND w.snapshot_day)
        = datediff('day', w.monday, w.snapshot_day) + 1
)

SELECT m.week, m.project, m.total_yes, u.yes AS usage_yes, m.total_no, u.no AS usage_no
FROM metrics_summary_trends AS m
JOIN covered AS c ON c.week = m.week
LEFT JOIN week_project_usage AS u ON u.week = m.week AND u.project = m.project
WHERE m.total_yes IS DISTINCT FROM u.yes OR m.total_no IS DISTINCT FROM u.no
