-- project_history: one row per change to a project's state, with the state after it.
-- Grain: (project, at, seq). Instants are UTC.
-- A project exists from its creation (the projects snapshot, else its project-created event)
-- until project-deleted; it is listed while it exists and is not archived. Archive history comes
-- from project-archived / project-revived events, else from the snapshot's archived_at.
-- Inputs: events, projects (newest snapshot).
WITH project_events AS (
    SELECT id, created_at AS changed_at, type, project
    FROM events
    WHERE project IS NOT NULL
      AND created_at IS NOT NULL
      AND type IN ('project-created', 'project-archived', 'project-revived', 'project-deleted')
),

event_facts AS (
    SELECT
        project,
        min(changed_at) FILTER (WHERE type = 'project-created') AS created_event_at,
        bool_or(type IN ('project-archived', 'project-revived')) AS has_archive_events
    FROM project_events
    GROUP BY project
),

known AS (
    SELECT
        coalesce(p.id, e.project) AS project,
        coalesce(p.created_at, e.created_event_at) AS created_at,
        p.archived_at AS snapshot_archived_at,
        coalesce(e.has_archive_events, false) AS has_archive_events
    FROM projects AS p
    FULL OUTER JOIN event_facts AS e ON e.project = p.id
    WHERE coalesce(p.created_at, e.created_event_at) IS NOT NULL
),

all_changes AS (
    SELECT project, created_at AS changed_at, -1 AS seq, false AS deleted, false AS archived
    FROM known
    UNION ALL
    SELECT project, snapshot_archived_at, 0, NULL, true
    FROM known
    WHERE snapshot_archived_at IS NOT NULL AND NOT has_archive_events
    UNION ALL
    SELECT
        e.project, e.changed_at, e.id,
        CASE WHEN e.type = 'project-deleted' THEN true END,
        CASE e.type WHEN 'project-archived' THEN true WHEN 'project-revived' THEN false END
    FROM project_events AS e
    JOIN known AS k ON k.project = e.project
    WHERE e.type <> 'project-created'
),

final AS (
    SELECT
        project,
        changed_at,
        seq,
        coalesce(last_value(archived IGNORE NULLS) OVER history, false) AS archived,
        coalesce(last_value(deleted IGNORE NULLS) OVER history, false) AS deleted
    FROM all_changes
    WINDOW history AS (PARTITION BY project ORDER BY changed_at, seq ROWS UNBOUNDED PRECEDING)
)

SELECT project, changed_at, seq, archived, deleted, NOT archived AND NOT deleted AS listed
FROM final
ORDER BY project, changed_at, seq
