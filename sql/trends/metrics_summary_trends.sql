-- metrics_summary_trends: flag evaluations per project and ISO week.
-- Grain: one row per (ISO week, project) with any metrics; date = the week's snapshot moment.
-- Counts the week's hourly metric rows up to that moment (a snapshot moment is always the end of a
-- day, so days are summed first, then weeks); a day the lake has no hourly rows for counts its
-- daily rows instead. total_yes / total_no = evaluations (sums); total_requests =
-- total_yes + total_no; total_apps / total_flags / total_environments = distinct app names,
-- flags and environment names (unknown environments included). A flag counts in its project at
-- the snapshot moment; projects archived before the week are left out.
-- Inputs: snapshots(key = week), client_metrics, client_metrics_daily (the weeks' days),
--         flag_projects_at, listed_projects_at.
WITH hourly_days AS (
    SELECT DISTINCT timestamp::DATE AS day
    FROM client_metrics
),

usage AS (
    SELECT feature_name, app_name, environment, timestamp AS bucket_at, yes, no
    FROM client_metrics
    UNION ALL
    SELECT feature_name, app_name, environment, date::TIMESTAMPTZ AS bucket_at, yes, no
    FROM client_metrics_daily
    WHERE date NOT IN (SELECT day FROM hourly_days)
),

by_day AS (
    SELECT bucket_at::DATE AS day, feature_name, app_name, environment, sum(yes) AS yes, sum(no) AS no
    FROM usage
    GROUP BY bucket_at::DATE, feature_name, app_name, environment
),

by_week AS (
    SELECT s.key, d.feature_name, d.app_name, d.environment, sum(d.yes) AS yes, sum(d.no) AS no
    FROM by_day AS d
    JOIN snapshots AS s ON s.window_start::DATE = date_trunc('week', d.day)::DATE AND d.day <= s.snapshot_at::DATE
    GROUP BY s.key, d.feature_name, d.app_name, d.environment
),

final AS (
    SELECT
        s.key AS week,
        s.snapshot_at AS date,
        f.project,
        sum(w.yes + w.no)::BIGINT AS total_requests,
        sum(w.yes)::BIGINT AS total_yes,
        sum(w.no)::BIGINT AS total_no,
        count(DISTINCT w.app_name) AS total_apps,
        count(DISTINCT w.feature_name) AS total_flags,
        count(DISTINCT w.environment) AS total_environments
    FROM by_week AS w
    JOIN snapshots AS s ON s.key = w.key
    JOIN flag_projects_at AS f ON f.key = w.key AND f.flag = w.feature_name
    JOIN listed_projects_at AS p ON p.key = w.key AND p.project = f.project AND p.present
    GROUP BY s.key, s.snapshot_at, f.project
)

SELECT * FROM final
ORDER BY week, project
