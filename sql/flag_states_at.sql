-- flag_states_at: every flag incarnation created by a snapshot moment, in its state at that moment.
-- Grain: (snapshot key, flag, incarnation). Instants are UTC.
-- `exists` = created at or before snapshot_at, not archived and not deleted then. Archived and
-- deleted incarnations stay in (with their last project and type) so that counts of things that
-- happened to them can still be attributed to a project.
-- Inputs: snapshots(key, window_start, snapshot_at), flag_history, type_lifetimes.
WITH incarnations AS (
    SELECT DISTINCT flag, incarnation, created_at
    FROM flag_history
),

candidates AS (
    SELECT s.key, s.window_start, s.snapshot_at, i.flag, i.incarnation
    FROM snapshots AS s
    JOIN incarnations AS i ON i.created_at <= s.snapshot_at
),

states AS (
    SELECT c.key, c.window_start, c.snapshot_at, h.*
    FROM candidates AS c
    ASOF JOIN flag_history AS h
        ON h.flag = c.flag AND h.incarnation = c.incarnation AND h.changed_at <= c.snapshot_at
),

final AS (
    SELECT
        s.key,
        s.window_start,
        s.snapshot_at,
        s.flag,
        s.incarnation,
        s.created_at,
        s.project,
        s.type,
        coalesce(s.stale, false) AS stale,
        coalesce(s.archived, false) AS archived,
        s.deleted,
        NOT coalesce(s.archived, false) AND NOT s.deleted AS exists,
        l.lifetime_days,
        NOT coalesce(s.stale, false)
            AND l.lifetime_days IS NOT NULL
            AND s.snapshot_at > s.created_at + to_days(l.lifetime_days::INTEGER) AS potentially_stale
    FROM states AS s
    ASOF LEFT JOIN type_lifetimes AS l ON l.flag_type = s.type AND l.changed_at <= s.snapshot_at
)

SELECT * FROM final
