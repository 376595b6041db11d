-- flag_states_at: every flag incarnation created by a snapshot moment, in its state at that moment.
-- Grain: (snapshot key, flag, incarnation). Instants are UTC.
-- `exists` = created at or before snapshot_at, not archived and not deleted then. Archived and
-- deleted incarnations stay in (with their last project and type) so that counts of things that
-- happened to them can still be attributed to a project.
-- Inputs: snapshots(key, window_start, snapshot_at), flag_history, type_lifetimes.
WITH states AS (
    SELECT s.key, s.window_start, s.snapshot_at, h.* EXCLUDE (until)
    FROM snapshots AS s
    JOIN flag_history AS h ON h.changed_at <= s.snapshot_at AND h.until > s.snapshot_at
),

lifetimes_at AS (
    SELECT s.key, l.flag_type, arg_max(l.lifetime_days, (l.changed_at, l.seq)) AS lifetime_days
    FROM snapshots AS s
    JOIN type_lifetimes AS l ON l.changed_at <= s.snapshot_at
    GROUP BY s.key, l.flag_type
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
    LEFT JOIN lifetimes_at AS l ON l.key = s.key AND l.flag_type = s.type
)

SELECT * FROM final
