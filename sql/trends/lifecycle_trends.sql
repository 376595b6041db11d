-- lifecycle_trends: flags entering production per project and ISO week.
-- Grain: one row per (ISO week, project) from the week the project's first flag entered
-- production on (zero rows included); date = the week's snapshot moment.
-- new_production_flags = flags whose `live` stage began in the week (flag_live: the earliest landed
-- lifecycle stage; in a lake without lifecycles, the first production metrics while enabled). A flag counts in its
-- project at the snapshot moment; projects archived before the week are left out.
-- Inputs: snapshots(key = week), flag_live, flag_projects_at, listed_projects_at.
WITH final AS (
    SELECT
        s.key AS week,
        s.snapshot_at AS date,
        f.project,
        count(*) FILTER (WHERE l.live_at >= s.window_start) AS new_production_flags
    FROM flag_live AS l
    JOIN flag_projects_at AS f ON f.flag = l.flag
    JOIN snapshots AS s ON s.key = f.key AND l.live_at <= s.snapshot_at
    JOIN listed_projects_at AS p ON p.key = f.key AND p.project = f.project AND p.present
    GROUP BY s.key, s.snapshot_at, f.project
)

SELECT * FROM final
ORDER BY week, project
