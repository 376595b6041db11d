-- flag_live: the moment each flag entered production (its `live` lifecycle stage).
-- Grain: one row per flag name. Instants are UTC.
-- The earliest `live` stage the lake ever landed from feature_lifecycles (Unleash deletes stages on
-- revive and delete); a flag the lake has no live stage for falls back to its first metrics
-- (yes + no > 0) in a production-type environment while enabled there, at the later of the
-- bucket's start and the enable.
-- Inputs: feature_lifecycles (every snapshot), client_metrics_history, environment_enablement,
--         environments.
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

final AS (
    SELECT * FROM landed_live
    UNION ALL
    SELECT * FROM metrics_live
)

SELECT * FROM final
ORDER BY flag
