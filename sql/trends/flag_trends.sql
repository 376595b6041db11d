-- flag_trends: flags of listed projects at the end of each day.
-- Grain: one row per day (UTC); date = the end of that day.
-- The sums over listed projects of project_flag_counts, so on a Sunday it equals the sum of that
-- week's project_flag_trends.
-- Inputs: snapshots(key = day), project_flag_counts.
WITH final AS (
    SELECT
        s.key::DATE AS day,
        s.snapshot_at AS date,
        coalesce(sum(c.total), 0)::BIGINT AS total,
        coalesce(sum(c.active), 0)::BIGINT AS active,
        coalesce(sum(c.stale), 0)::BIGINT AS stale,
        coalesce(sum(c.potentially_stale), 0)::BIGINT AS potentially_stale
    FROM snapshots AS s
    LEFT JOIN project_flag_counts AS c ON c.key = s.key
    GROUP BY s.key, s.snapshot_at
)

SELECT * FROM final
ORDER BY day
