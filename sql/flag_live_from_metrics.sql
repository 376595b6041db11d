-- flag_live_from_metrics: the moment each flag entered production, for a lake that never landed a
-- lifecycle stage (Unleash 5.12 records none unless its experimental lifecycle flag is on): its
-- first metrics (yes + no > 0) in a production-type environment while enabled there, at the later
-- of the bucket's start and the enable.
-- Grain: one row per flag name. Instants are UTC.
-- Inputs: client_metrics_history, environment_enablement, environments.
WITH production_spans AS (
    SELECT e.*
    FROM environment_enablement AS e
    JOIN environments AS v ON v.name = e.environment AND v.type = 'production'
),

final AS (
    SELECT u.feature_name AS flag, min(greatest(u.bucket_at, p.enabled_from)) AS live_at
    FROM client_metrics_history AS u
    JOIN production_spans AS p
        ON p.flag = u.feature_name
        AND p.environment = u.environment
        AND p.enabled_from < u.bucket_at + u.span
        AND (p.enabled_until IS NULL OR p.enabled_until > u.bucket_at)
    WHERE u.yes + u.no > 0
    GROUP BY u.feature_name
)

SELECT * FROM final
ORDER BY flag
