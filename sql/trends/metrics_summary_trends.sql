-- metrics_summary_trends: flag evaluations per project and ISO week.
-- Grain: one row per (ISO week, project) with any metrics; date = the week's snapshot moment.
-- Counts the metrics of the week's days up to its snapshot day (a snapshot moment is always the
-- end of a day): a day's hourly rows, or its daily rows when the lake has no hourly rows for it.
-- The metrics views hold exactly those days (see pipeline/trends/inputs.py). total_yes /
-- total_no = evaluations (sums); total_requests = total_yes + total_no; total_apps /
-- total_flags / total_environments = distinct app names, flags and environment names (unknown
-- environments included). A flag counts in its project at the snapshot moment; projects
-- archived before the week are left out.
-- Inputs: snapshots(key = week), client_metrics, client_metrics_daily (the weeks' counted days),
--         flag_projects_at, listed_projects_at.
WITH usage AS (
    SELECT feature_name, app_name, environment, day, yes, no
    FROM client_metrics
    UNION ALL
    SELECT feature_name, app_name, environment, day, yes, no
    FROM client_metrics_daily
),

by_week AS (
    SELECT date_trunc('week', day)::DATE AS monday, feature_name, app_name, environment,
        sum(yes) AS yes, sum(no) AS no
    FROM usage
    GROUP BY ALL
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
    JOIN snapshots AS s ON s.window_start::DATE = w.monday
    JOIN flag_projects_at AS f ON f.key = s.key AND f.flag = w.feature_name
    JOIN listed_projects_at AS p ON p.key = s.key AND p.project = f.project AND p.present
    GROUP BY s.key, s.snapshot_at, f.project
)

SELECT * FROM final
ORDER BY week, project
