-- unknown_flags: the flag names SDKs evaluated that the instance does not know at one moment (the
-- end of a run's date): never created, or deleted (every incarnation of the name deleted).
-- Grain: one row per name evaluated while unknown in the 90 days up to the moment's day.
-- Days are UTC days; evaluations are counts (yes + no, every environment).
-- A name is evaluated while unknown on a day when its rows were set aside at landing as of a flag
-- the lake did not know (quarantine reason 'unknown flag'; hourly rows where the lake has hourly
-- metrics that day, or set aside any, else daily rows; the latest landing of each row), or when it has usage that
-- day and the newest incarnation created by the day's end was deleted before the day began.
-- status: 'deleted' (deleted_at: when its newest incarnation was deleted) or 'never_created'.
-- first_evaluated_day / last_evaluated_day, evaluations_7d / evaluations_30d and apps (sorted):
-- of its evaluations while unknown in the 90 days up to the moment's day.
-- Inputs: snapshots (one row), flag_history, flag_states_at, usage_history(day, flag, app_name,
--         yes, no; at least the 90 days), quarantined_hourly / quarantined_daily(reason, row,
--         filename: the quarantine files of client_metrics / client_metrics_daily that can hold
--         those days), hourly_days(day: the days the lake has hourly metrics of).
WITH moment AS (
    SELECT snapshot_at, snapshot_at::DATE AS as_of, snapshot_at::DATE - 89 AS since FROM snapshots
),

set_aside AS (  -- each row as last landed; an hour's `timestamp` or a day's `date` is its instant
    SELECT
        grain,
        json_extract_string(row, '$.feature_name') AS flag,
        json_extract_string(row, '$.app_name') AS app_name,
        json_extract_string(row, '$.environment') AS environment,
        coalesce(json_extract_string(row, '$.timestamp'), json_extract_string(row, '$.date'))::TIMESTAMPTZ AS instant,
        arg_max(json_extract(row, '$.yes')::BIGINT + json_extract(row, '$.no')::BIGINT, filename) AS evaluations
    FROM (
        SELECT 'hour' AS grain, * FROM quarantined_hourly
        UNION ALL
        SELECT 'day', * FROM quarantined_daily
    )
    WHERE reason = 'unknown flag'
    GROUP BY ALL
),

spans AS (
    SELECT
        flag,
        incarnation,
        min(created_at) AS created_at,
        min(changed_at) FILTER (WHERE change = 'feature-deleted') AS deleted_at
    FROM flag_history
    GROUP BY flag, incarnation
),

newest AS (
    SELECT *, lead(created_at) OVER (PARTITION BY flag ORDER BY created_at, incarnation) AS next_created_at
    FROM spans
),

unknown_usage AS (
    SELECT instant::DATE AS day, flag, app_name, evaluations
    FROM set_aside
    WHERE grain = 'hour' OR instant::DATE NOT IN (
        SELECT day FROM hourly_days UNION SELECT instant::DATE FROM set_aside WHERE grain = 'hour'
    )
    UNION ALL
    SELECT u.day, u.flag, u.app_name, u.yes + u.no
    FROM usage_history AS u
    JOIN newest AS i ON i.flag = u.flag AND i.created_at < (u.day + 1)::TIMESTAMPTZ
        AND (i.next_created_at IS NULL OR i.next_created_at >= (u.day + 1)::TIMESTAMPTZ)
    WHERE i.deleted_at < u.day::TIMESTAMPTZ
),

evaluated AS (
    SELECT
        u.flag,
        min(u.day) AS first_evaluated_day,
        max(u.day) AS last_evaluated_day,
        coalesce(sum(u.evaluations) FILTER (WHERE u.day > m.as_of - 7), 0)::BIGINT AS evaluations_7d,
        coalesce(sum(u.evaluations) FILTER (WHERE u.day > m.as_of - 30), 0)::BIGINT AS evaluations_30d,
        list(DISTINCT u.app_name ORDER BY u.app_name) AS apps
    FROM unknown_usage AS u
    CROSS JOIN moment AS m
    WHERE u.day BETWEEN m.since AND m.as_of AND u.evaluations > 0
    GROUP BY u.flag
),

known AS (
    SELECT flag, bool_or(NOT deleted) AS known, max(deleted_at) AS deleted_at
    FROM flag_states_at AS s
    JOIN spans AS p USING (flag, incarnation)
    GROUP BY flag
)

SELECT
    m.as_of,
    e.flag,
    CASE WHEN k.flag IS NULL THEN 'never_created' ELSE 'deleted' END AS status,
    k.deleted_at,
    e.first_evaluated_day,
    e.last_evaluated_day,
    e.evaluations_7d,
    e.evaluations_30d,
    e.apps
FROM evaluated AS e
CROSS JOIN moment AS m
LEFT JOIN known AS k ON k.flag = e.flag
WHERE k.known IS NOT TRUE
ORDER BY e.flag
