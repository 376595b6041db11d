-- environment_type_trends: configuration updates per environment type and ISO week.
-- Grain: one row per (ISO week, environment type) with at least one update; date = the week's
-- snapshot moment. total_updates = events in the week up to that moment whose environment names
-- a known environment, whatever their type (what Unleash's stat_environment_updates counts).
-- Only the events between the first week's start and the last snapshot moment are read.
-- Inputs: snapshots(key = week), events, environments (newest snapshot).
WITH updates AS (
    SELECT environment, created_at
    FROM events
    WHERE created_at >= (SELECT min(window_start) FROM snapshots)
      AND created_at <= (SELECT max(snapshot_at) FROM snapshots)
),

final AS (
    SELECT
        s.key AS week,
        s.snapshot_at AS date,
        v.type AS environment_type,
        count(*) AS total_updates
    FROM updates AS e
    JOIN environments AS v ON v.name = e.environment
    JOIN snapshots AS s ON s.window_start = date_trunc('week', e.created_at) AND e.created_at <= s.snapshot_at
    GROUP BY s.key, s.snapshot_at, v.type
)

SELECT * FROM final
ORDER BY week, environment_type
