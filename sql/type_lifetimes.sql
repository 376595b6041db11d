-- type_lifetimes: the expected lifetime (days) of each flag type from each instant on.
-- Grain: (flag_type, at). Instants are UTC; '-infinity' opens each type's history.
-- Before a type's first feature-type-updated event its lifetime is the one that event replaced
-- (pre_data), else the snapshot's; each event sets the lifetime from its instant on. A null
-- lifetime (Unleash stores 0 as null) means flags of the type never become potentially stale.
-- Inputs: events, feature_types (newest snapshot).
WITH updates AS (
    SELECT id, created_at AS changed_at, flag_type, lifetime_days, previous_lifetime_days
    FROM events
    WHERE type = 'feature-type-updated' AND flag_type IS NOT NULL AND created_at IS NOT NULL
),

first_updates AS (
    SELECT flag_type, arg_min(previous_lifetime_days, changed_at) AS lifetime_days
    FROM updates
    GROUP BY flag_type
),

openings AS (
    SELECT
        coalesce(t.id, f.flag_type) AS flag_type,
        '-infinity'::TIMESTAMPTZ AS changed_at,
        0 AS seq,
        CASE WHEN f.flag_type IS NOT NULL THEN f.lifetime_days ELSE t.lifetime_days END AS lifetime_days
    FROM feature_types AS t
    FULL OUTER JOIN first_updates AS f ON f.flag_type = t.id
),

final AS (
    SELECT flag_type, changed_at, seq, nullif(lifetime_days, 0) AS lifetime_days FROM openings
    UNION ALL
    SELECT flag_type, changed_at, id, nullif(lifetime_days, 0) FROM updates
)

SELECT * FROM final
ORDER BY flag_type, changed_at, seq
