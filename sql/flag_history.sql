-- flag_history: one row per change to a flag incarnation's state, with the whole state after it.
-- Grain: (flag, incarnation, changed_at, seq). Instants are UTC.
-- Each incarnation starts from the first state `flag_incarnations` gives it; values an event does not
-- carry are carried forward. A state holds from `changed_at` until the incarnation's next change,
-- `until` ('infinity' for its latest).
-- Continued from a history's last state, `events` holds only the events after it: each
-- incarnation's latest row before (`flag_history_open_before`) is replayed with them, so it comes
-- out again with its new `until`, followed by the new rows; incarnations `flag_incarnations_before`
-- already held get no first row again. With both empty, this is the full history.
-- Inputs: flag_events, flag_incarnations, flag_incarnations_before, flag_history_open_before.
WITH incarnations AS (
    SELECT i.*, b.flag IS NULL AS is_new
    FROM flag_incarnations AS i
    LEFT JOIN flag_incarnations_before AS b
        ON b.flag = i.flag AND b.incarnation = i.incarnation AND b.created_at IS NOT NULL
    WHERE i.created_at IS NOT NULL
),

creations AS (
    SELECT
        flag, incarnation, created_at, first_seen_at AS changed_at, -1 AS seq, 'created' AS change,
        project, type, stale, false AS archived, false AS deleted
    FROM incarnations
    WHERE is_new
),

changes AS (
    SELECT
        n.flag, n.incarnation, i.created_at, n.changed_at, n.id AS seq, n.type AS change,
        CASE WHEN n.type = 'feature-project-change' THEN coalesce(n.new_project, n.project) END AS project,
        CASE WHEN n.type = 'feature-metadata-updated' THEN n.flag_type END AS type,
        CASE n.type
            WHEN 'feature-stale-on' THEN true
            WHEN 'feature-stale-off' THEN false
            WHEN 'feature-metadata-updated' THEN n.stale
        END AS stale,
        CASE n.type WHEN 'feature-archived' THEN true WHEN 'feature-revived' THEN false END AS archived,
        CASE WHEN n.type = 'feature-deleted' THEN true END AS deleted
    FROM flag_events AS n
    JOIN incarnations AS i ON i.flag = n.flag AND i.incarnation = n.incarnation
    WHERE NOT n.is_creation
),

snapshot_archives AS (
    SELECT
        flag, incarnation, created_at, snapshot_archived_at AS changed_at, 0 AS seq, 'archived (snapshot)' AS change,
        NULL AS project, NULL AS type, NULL::BOOLEAN AS stale, true AS archived, NULL::BOOLEAN AS deleted
    FROM incarnations
    WHERE snapshot_archived_at IS NOT NULL AND is_new
),

all_changes AS (
    SELECT * FROM creations
    UNION ALL BY NAME SELECT * FROM changes
    UNION ALL BY NAME SELECT * FROM snapshot_archives
    UNION ALL BY NAME SELECT * EXCLUDE (until) FROM flag_history_open_before
)

SELECT
    flag,
    incarnation,
    created_at,
    changed_at,
    seq,
    change,
    last_value(project IGNORE NULLS) OVER history AS project,
    last_value(type IGNORE NULLS) OVER history AS type,
    last_value(stale IGNORE NULLS) OVER history AS stale,
    last_value(archived IGNORE NULLS) OVER history AS archived,
    coalesce(last_value(deleted IGNORE NULLS) OVER history, false) AS deleted,
    lead(changed_at, 1, 'infinity'::TIMESTAMPTZ) OVER history AS until
FROM all_changes
WINDOW history AS (PARTITION BY flag, incarnation ORDER BY changed_at, seq ROWS UNBOUNDED PRECEDING)
ORDER BY flag, incarnation, changed_at, seq
