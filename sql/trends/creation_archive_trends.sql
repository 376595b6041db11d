-- creation_archive_trends: flags created and archived per project and ISO week.
-- Grain: one row per (ISO week, project) from the first week in which a creation counts for the
-- project on; date = the week's snapshot moment.
-- A creation is a flag incarnation (feature-created / feature-import; a revive is not one). It
-- counts in its own week, under the project and type the flag has at that week's snapshot moment
-- (a flag moved into a project later is not a creation there). created_flags = {flag type:
-- creations counted in the week}; its keys are every type under which a creation has counted for
-- the project in this or an earlier week, fixed when it counted: a later type change or move of
-- that flag neither adds nor removes one (zeros allowed, never empty). archived_flags =
-- feature-archived events in the week, by each flag's project at the snapshot moment. Projects
-- archived before the week are left out.
-- Inputs: snapshots(key = week), flag_states_at, flag_history, listed_projects_at.
WITH in_week AS (
    SELECT key, project, coalesce(type, 'unknown') AS flag_type, count(*) AS created
    FROM flag_states_at
    WHERE created_at >= window_start
    GROUP BY key, project, coalesce(type, 'unknown')
),

creations AS (
    SELECT DISTINCT
        flag,
        incarnation,
        date_trunc('week', created_at) AS monday,
        date_trunc('week', created_at) + INTERVAL 7 DAY - INTERVAL 1 MILLISECOND AS counted_at
    FROM flag_history
    WHERE change = 'created'
),

counted AS (
    SELECT c.monday, h.project, coalesce(h.type, 'unknown') AS flag_type
    FROM creations AS c
    JOIN (SELECT * FROM flag_history WHERE changed_at <= created_at + INTERVAL 7 DAY) AS h  -- the states of creation weeks
        ON h.flag = c.flag AND h.incarnation = c.incarnation AND h.changed_at <= c.counted_at AND h.until > c.counted_at
),

first_counted AS (
    SELECT project, flag_type, min(monday) AS first_monday
    FROM counted
    GROUP BY project, flag_type
),

created_keys AS (
    SELECT s.key, f.project, f.flag_type
    FROM snapshots AS s
    JOIN first_counted AS f ON f.first_monday < s.window_start
    UNION
    SELECT key, project, flag_type
    FROM in_week
),

archived AS (
    SELECT f.key, f.project, count(*) AS archived
    FROM flag_history AS h
    JOIN flag_states_at AS f ON f.flag = h.flag AND f.incarnation = h.incarnation
    WHERE h.change = 'feature-archived' AND h.changed_at >= f.window_start AND h.changed_at <= f.snapshot_at
    GROUP BY f.key, f.project
),

by_project AS (
    SELECT
        k.key,
        k.project,
        map_from_entries(list((k.flag_type, coalesce(w.created, 0)) ORDER BY k.flag_type)) AS created_flags
    FROM created_keys AS k
    LEFT JOIN in_week AS w ON w.key = k.key AND w.project = k.project AND w.flag_type = k.flag_type
    WHERE k.project IS NOT NULL
    GROUP BY k.key, k.project
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
