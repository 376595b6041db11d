-- lifecycle_trends: flags entering production per project and ISO week.
-- Grain: one row per (ISO week, project) from the week the project's first flag entered
-- production on (zero rows included); date = the week's snapshot moment.
-- new_production_flags = flags whose `live` stage began in the week. A flag's live moment is the
-- earliest `live` stage the lake ever landed from feature_lifecycles (Unleash deletes stages on
-- revive and delete); a flag the lake has no live stage for falls back to its first metrics
-- (yes + no > 0) in a production-type environment while enabled there. A flag counts in its
-- project at the snapshot moment; projects archived before the week are left out.
-- Inputs: snapshots(key = week), feature_lifecycles (every snapshot), client_metrics_history,
--         environment_enablement, environments, flag_projects_at, listed_projects_at.
WITH landed_live AS (
    SELECT feature AS flag, min(created_at) AS live_at
    FROM feature_lifecycles
    WHERE stage = 'live'
    GROUP BY feature
),

production_spans AS (
    SELECT e.*
    FROM environment_enablement AS e
    JOIN environments AS v ON v.name = e.environment AND v.type = 'production'
),

metrics_live AS (
    SELECT u.feature_name AS flag, min(greatest(u.bucket_at, p.enabled_from)) AS live_at
    FROM client_metrics_history AS u
    JOIN production_spans AS p
        ON p.flag = u.feature_name
        AND p.environment = u.environment
        AND p.enabled_from < u.bucket_at + u.span
        AND (p.enabled_until IS NULL OR p.enabled_until > u.bucket_at)
    WHERE u.yes + u.no > 0
      AND u.feature_name NOT IN (SELECT flag FROM landed_live)
    GROUP BY u.feature_name
),

live AS (
    SELECT * FROM landed_live
    UNION ALL
    SELECT * FROM metrics_live
),

final AS (
    SELECT
        s.key AS week,
        s.snapshot_at AS date,
        f.project,
        count(*) FILTER (WHERE l.live_at >= s.window_start) AS new_production_flags
    FROM live AS l
    JOIN flag_projects_at AS f ON f.flag = l.flag
    JOIN snapshots AS s ON s.key = f.key AND l.live_at <= s.snapshot_at
    JOIN listed_projects_at AS p ON p.key = f.key AND p.project = f.project AND p.present
    GROUP BY s.key, s.snapshot_at, f.project
)

SELECT * FROM final
ORDER BY week, project
