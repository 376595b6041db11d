-- flag_history: one row per change to a flag incarnation's state, with the whole state after it.
-- Grain: (flag, incarnation, at, seq). Instants are UTC.
-- A flag name's incarnations are numbered by the creation events (feature-created,
-- feature-import) seen so far; a flag with no creation event in the lake is incarnation 0,
-- known only from the features snapshot. Values an event does not carry are carried forward;
-- the first values come from the creation event, falling back to the snapshot. A state holds
-- from `changed_at` until the incarnation's next change, `until` ('infinity' for its latest).
-- Inputs: events, features (newest snapshot).
WITH flag_events AS (
    SELECT id, created_at AS changed_at, type, feature_name AS flag, project, flag_type, stale, old_project, new_project
    FROM events
    WHERE feature_name IS NOT NULL
      AND created_at IS NOT NULL
      AND type IN (
          'feature-created', 'feature-import', 'feature-archived', 'feature-revived', 'feature-deleted',
          'feature-stale-on', 'feature-stale-off', 'feature-metadata-updated', 'feature-project-change'
      )
),

numbered AS (
    SELECT
        *,
        type IN ('feature-created', 'feature-import') AS is_creation,
        sum(CASE WHEN type IN ('feature-created', 'feature-import') THEN 1 ELSE 0 END)
            OVER (PARTITION BY flag ORDER BY changed_at, id ROWS UNBOUNDED PRECEDING) AS incarnation
    FROM flag_events
),

newest_incarnation AS (
    SELECT flag, max(incarnation) AS incarnation
    FROM numbered
    GROUP BY flag
),

snapshot AS (
    SELECT
        f.name AS flag,
        coalesce(n.incarnation, 0) AS incarnation,
        f.project,
        f.type,
        f.stale,
        f.created_at,
        f.archived_at
    FROM features AS f
    LEFT JOIN newest_incarnation AS n ON n.flag = f.name
),

event_facts AS (
    SELECT
        flag,
        incarnation,
        min(changed_at) FILTER (WHERE is_creation) AS created_event_at,
        arg_min(project, changed_at) FILTER (WHERE is_creation) AS created_project,
        arg_min(flag_type, changed_at) FILTER (WHERE is_creation) AS created_type,
        arg_min(stale, changed_at) FILTER (WHERE is_creation) AS created_stale,
        arg_min(old_project, changed_at) FILTER (WHERE type = 'feature-project-change') AS first_old_project,
        arg_min(type = 'feature-stale-off', changed_at) FILTER (WHERE type IN ('feature-stale-on', 'feature-stale-off'))
            AS first_stale_change_is_off,
        bool_or(type IN ('feature-archived', 'feature-revived', 'feature-deleted')) AS has_archive_events
    FROM numbered
    GROUP BY flag, incarnation
),

incarnations AS (
    SELECT
        coalesce(e.flag, s.flag) AS flag,
        coalesce(e.incarnation, s.incarnation) AS incarnation,
        coalesce(s.created_at, e.created_event_at) AS created_at,
        least(s.created_at, e.created_event_at) AS first_seen_at,
        coalesce(e.created_project, e.first_old_project, s.project) AS project,
        coalesce(e.created_type, s.type) AS type,
        coalesce(e.created_stale, e.first_stale_change_is_off, s.stale, false) AS stale,
        s.archived_at AS snapshot_archived_at,
        coalesce(e.has_archive_events, false) AS has_archive_events
    FROM event_facts AS e
    FULL OUTER JOIN snapshot AS s ON s.flag = e.flag AND s.incarnation = e.incarnation
    WHERE coalesce(s.created_at, e.created_event_at) IS NOT NULL
),

creations AS (
    SELECT
        flag, incarnation, created_at, first_seen_at AS changed_at, -1 AS seq, 'created' AS change,
        project, type, stale, false AS archived, false AS deleted
    FROM incarnations
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
    FROM numbered AS n
    JOIN incarnations AS i ON i.flag = n.flag AND i.incarnation = n.incarnation
    WHERE NOT n.is_creation
),

snapshot_archives AS (
    SELECT
        flag, incarnation, created_at, snapshot_archived_at AS changed_at, 0 AS seq, 'archived (snapshot)' AS change,
        NULL AS project, NULL AS type, NULL::BOOLEAN AS stale, true AS archived, NULL::BOOLEAN AS deleted
    FROM incarnations
    WHERE snapshot_archived_at IS NOT NULL AND NOT has_archive_events
),

all_changes AS (
    SELECT * FROM creations
    UNION ALL BY NAME SELECT * FROM changes
    UNION ALL BY NAME SELECT * FROM snapshot_archives
),

final AS (
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
)

SELECT * FROM final
ORDER BY flag, incarnation, changed_at, seq
