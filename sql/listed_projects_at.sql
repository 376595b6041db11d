-- listed_projects_at: the projects listed at each snapshot moment, and those seen in its window.
-- Grain: (snapshot key, project). Instants are UTC.
-- `listed` = the project exists and is not archived at snapshot_at (projectFlagTrends keeps only
-- these). `present` = it was listed at some moment of [window_start, snapshot_at]: the other
-- per-project weekly arrays keep a project up to the week it was archived in, and from the week
-- it is revived in.
-- Inputs: snapshots(key, window_start, snapshot_at), project_history.
WITH projects_known AS (
    SELECT project, min(changed_at) AS created_at
    FROM project_history
    GROUP BY project
),

at_start AS (
    SELECT s.key, s.window_start, s.snapshot_at, p.project, h.listed AS listed_at_start
    FROM snapshots AS s
    JOIN projects_known AS p ON p.created_at <= s.snapshot_at
    ASOF LEFT JOIN project_history AS h ON h.project = p.project AND h.changed_at <= s.window_start
),

at_end AS (
    SELECT a.*, h.listed
    FROM at_start AS a
    ASOF JOIN project_history AS h ON h.project = a.project AND h.changed_at <= a.snapshot_at
),

listed_within AS (
    SELECT DISTINCT a.key, a.project
    FROM at_end AS a
    JOIN project_history AS h
        ON h.project = a.project AND h.changed_at > a.window_start AND h.changed_at <= a.snapshot_at AND h.listed
),

final AS (
    SELECT
        a.key,
        a.project,
        a.listed,
        a.listed OR coalesce(a.listed_at_start, false) OR w.project IS NOT NULL AS present
    FROM at_end AS a
    LEFT JOIN listed_within AS w ON w.key = a.key AND w.project = a.project
)

SELECT * FROM final
