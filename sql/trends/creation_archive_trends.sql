-- creation_archive_trends: flags created and archived per project and ISO week.
-- Grain: one row per (ISO week, project) from the project's first flag creation on; date = the
-- week's snapshot moment.
-- created_flags = {flag type: flags created in the week up to that moment}, by each flag's type
-- at the snapshot moment, with every type the project has created by then present (zeros
-- allowed, never empty). A creation is a flag incarnation (feature-created / feature-import; a
-- revive is not one). archived_flags = feature-archived events in the week. Flags count in their
-- project at the snapshot moment; projects archived before the week are left out.
-- Inputs: snapshots(key = week), flag_states_at, flag_history, listed_projects_at.
WITH created AS (
    SELECT
        key,
        project,
        coalesce(type, 'unknown') AS flag_type,
        count(*) FILTER (WHERE created_at >= window_start) AS created
    FROM flag_states_at
    GROUP BY key, project, coalesce(type, 'unknown')
),

archived AS (
    SELECT f.key, f.project, count(*) AS archived
    FROM flag_history AS h
    JOIN flag_states_at AS f ON f.flag = h.flag AND f.incarnation = h.incarnation
    WHERE h.change = 'feature-archived' AND h.changed_at >= f.window_start AND h.changed_at <= f.snapshot_at
    GROUP BY f.key, f.project
),

by_project AS (
    SELECT key, project, map_from_entries(list((flag_type, created) ORDER BY flag_type)) AS created_flags
    FROM created
    GROUP BY key, project
),

final AS (
    SELECT
        s.key AS week,
        s.snapshot_at AS date,
        b.project,
        b.created_flags,
        coalesce(a.archived, 0) AS archived_flags
    FROM by_project AS b
    JOIN snapshots AS s ON s.key = b.key
    JOIN listed_projects_at AS p ON p.key = b.key AND p.project = b.project AND p.present
    LEFT JOIN archived AS a ON a.key = b.key AND a.project = b.project
)

SELECT * FROM final
ORDER BY week, project
