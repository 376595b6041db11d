-- environment_enablement: the spans during which a flag incarnation was enabled in an environment.
-- Grain: (flag, incarnation, environment, enabled_from). Instants are UTC; enabled_until is null
-- while the span is open.
-- Replays feature-environment-enabled / -disabled; feature-revived disables the flag in every
-- environment (Unleash emits no event for that). An event belongs to the newest incarnation of its
-- flag created at or before it.
-- Continued from the spans before (only events after them are in `events`), each span still open
-- (`environment_enablement_open_before`) is replayed as the enable that opened it, so it comes out
-- again, closed where a new event closes it; the spans closed before are not returned. With it
-- empty, these are all the spans.
-- Inputs: events, flag_incarnations, environment_enablement_open_before.
WITH incarnations AS (
    SELECT flag, incarnation, created_at
    FROM flag_incarnations
    WHERE created_at IS NOT NULL
),

toggles AS (
    SELECT e.id, e.created_at AS changed_at, e.feature_name AS flag, e.environment, e.type
    FROM events AS e
    WHERE e.type IN ('feature-environment-enabled', 'feature-environment-disabled')
      AND e.feature_name IS NOT NULL AND e.environment IS NOT NULL AND e.created_at IS NOT NULL
),

toggled AS (
    SELECT DISTINCT flag, environment FROM toggles
    UNION
    SELECT DISTINCT flag, environment FROM environment_enablement_open_before
),

revives AS (
    SELECT r.id, r.created_at AS changed_at, r.feature_name AS flag, t.environment, 'feature-revived' AS type
    FROM events AS r
    JOIN toggled AS t ON t.flag = r.feature_name
    WHERE r.type = 'feature-revived' AND r.created_at IS NOT NULL
),

attributed AS (
    SELECT c.*, i.incarnation
    FROM (SELECT * FROM toggles UNION ALL SELECT * FROM revives) AS c
    ASOF JOIN incarnations AS i ON i.flag = c.flag AND i.created_at <= c.changed_at
    UNION ALL
    SELECT -1 AS id, enabled_from, flag, environment, 'feature-environment-enabled', incarnation
    FROM environment_enablement_open_before
),

states AS (
    SELECT
        flag, incarnation, environment, changed_at, id,
        type = 'feature-environment-enabled' AS enabled,
        lag(type = 'feature-environment-enabled', 1, false)
            OVER (PARTITION BY flag, incarnation, environment ORDER BY changed_at, id) AS was_enabled
    FROM attributed
),

changes AS (
    SELECT *, lead(changed_at) OVER (PARTITION BY flag, incarnation, environment ORDER BY changed_at, id) AS next_change_at
    FROM states
    WHERE enabled <> was_enabled
),

final AS (
    SELECT flag, incarnation, environment, changed_at AS enabled_from, next_change_at AS enabled_until
    FROM changes
    WHERE enabled
)

SELECT * FROM final
ORDER BY flag, incarnation, environment, enabled_from
