-- metrics_summary_trends: flag evaluations per project and ISO week.
-- Grain: one row per (ISO week, project) with any metrics; date = the week's snapshot moment.
-- Counts the daily usage of the week's days up to its snapshot day (a snapshot moment is always
-- the end of a day): a day's hourly rows, or its daily rows when the lake has no hourly rows for
-- it. total_yes / total_no = evaluations (sums); total_requests = total_yes + total_no;
-- total_apps / total_flags / total_environments = distinct app names, flags and environment names
-- (unknown environments included). A flag counts in its project at the snapshot moment; projects
-- archived before the week are left out.
-- Inputs: snapshots(key = week), daily_usage (the weeks' counted days among others),
--         flag_projects_at, listed_projects_at.
WITH by_week AS (
    SELECT
        s.key,
        s.snapshot_at,
        u.flag,
        u.app_name,
        u.environment,
        sum(u.yes) AS yes,
        sum(u.no) AS no
    FROM daily_usage AS u
    JOIN snapshots AS s ON s.window_start::DATE = date_trunc('week', u.day)::DATE AND u.day <= s.snapshot_at::DATE
    GROUP BY ALL
),

final AS (
    SELECT
        w.key AS week,
        w.snapshot_at AS date,
        f.project,
        sum(w.yes + w.no)::BIGINT AS total_requests,
        sum(w.yes)::BIGINT AS total_yes,
        sum(w.no)::BIGINT AS total_no,
        count(DISTINCT w.app_name) AS total_apps,
        count(DISTINCT w.flag) AS total_flags,
        count(DISTINCT w.environment) AS total_environments
    FROM by_week AS w
    JOIN flag_projects_at AS f ON f.key = w.key AND f.flag = w.flag
    JOIN listed_projects_at AS p ON p.key = w.key AND p.project = f.project AND p.present
    GROUP BY w.key, w.snapshot_at, f.project
)

SELECT * FROM final
ORDER BY week, project
