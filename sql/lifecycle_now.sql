-- lifecycle_now: the flags in each lifecycle stage at one moment, by category, with the stage's medians.
-- Grain: one row per (stage, project): the stages develop (`pre-live`), production (`live`) and
-- cleanup (`completed`), for all the projects asked for together (project null) and for each of
-- them; snapshots holds the one moment. Days are whole days (floored); instants are UTC.
-- A flag is in the latest stage the lake has landed for it by the moment (stages of one instant in
-- Unleash's order), counted where it exists in a listed project asked for (lifecycle_projects; no
-- rows there: every listed project), by its type then: experimental = experiment, release =
-- release, permanent = any other type.
-- new_* = entered the stage in the 7 days up to the moment, older_* = before. median_current =
-- median days since the flags now in the stage entered it; median_historical = median days that
-- flags of the projects asked for (archived ones too) spent in the stage before entering the next
-- one by the moment, 0 where none has left it.
-- Inputs: snapshots (one row), lifecycle_stages_at, flag_states_at,
--         flag_projects_at, listed_projects_at, lifecycle_projects(project).
WITH moment AS (
    SELECT key, snapshot_at FROM snapshots
),

asked AS (
    SELECT l.project
    FROM listed_projects_at AS l
    WHERE l.listed
      AND (l.project IN (SELECT project FROM lifecycle_projects) OR NOT EXISTS (SELECT 1 FROM lifecycle_projects))
),

stages AS (
    SELECT flag, stage, entered_at, stage_order FROM lifecycle_stages_at
),

sequenced AS (
    SELECT *, lead(entered_at) OVER (PARTITION BY flag ORDER BY entered_at, stage_order) AS left_at
    FROM stages
),

existing AS (
    SELECT
        f.flag,
        f.project,
        CASE f.type WHEN 'experiment' THEN 'experimental' WHEN 'release' THEN 'release' ELSE 'permanent' END AS category
    FROM flag_states_at AS f
    WHERE f.exists AND f.project IN (SELECT project FROM asked)
),

current AS (
    SELECT
        s.stage,
        e.project,
        e.category,
        s.entered_at > m.snapshot_at - INTERVAL 7 DAY AS is_new,
        floor(epoch(m.snapshot_at - s.entered_at) / 86400) AS days
    FROM sequenced AS s
    JOIN existing AS e ON e.flag = s.flag
    CROSS JOIN moment AS m
    WHERE s.left_at IS NULL
),

departed AS (
    SELECT s.stage, p.project, floor(epoch(s.left_at - s.entered_at) / 86400) AS days
    FROM sequenced AS s
    JOIN flag_projects_at AS p ON p.flag = s.flag
    WHERE s.left_at IS NOT NULL AND s.left_at <= (SELECT snapshot_at FROM moment)
      AND p.project IN (SELECT project FROM asked)
),

current_by AS (
    SELECT
        stage,
        project,
        count(*) AS total_flags,
        count(*) FILTER (WHERE category = 'experimental' AND is_new) AS experimental_new,
        count(*) FILTER (WHERE category = 'experimental' AND NOT is_new) AS experimental_older,
        count(*) FILTER (WHERE category = 'release' AND is_new) AS release_new,
        count(*) FILTER (WHERE category = 'release' AND NOT is_new) AS release_older,
        count(*) FILTER (WHERE category = 'permanent' AND is_new) AS permanent_new,
        count(*) FILTER (WHERE category = 'permanent' AND NOT is_new) AS permanent_older,
        median(days) AS median_current
    FROM current
    GROUP BY GROUPING SETS ((stage), (stage, project))
),

departed_by AS (
    SELECT stage, project, median(days) AS median_historical
    FROM departed
    GROUP BY GROUPING SETS ((stage), (stage, project))
),

named AS (
    SELECT * FROM (VALUES ('develop', 'pre-live'), ('production', 'live'), ('cleanup', 'completed')) AS n(name, stage)
),

selections AS (
    SELECT NULL::VARCHAR AS project
    UNION ALL
    SELECT project FROM asked
),

final AS (
    SELECT
        n.name,
        s.project,
        coalesce(c.total_flags, 0) AS total_flags,
        coalesce(c.experimental_new, 0) AS experimental_new,
        coalesce(c.experimental_older, 0) AS experimental_older,
        coalesce(c.release_new, 0) AS release_new,
        coalesce(c.release_older, 0) AS release_older,
        coalesce(c.permanent_new, 0) AS permanent_new,
        coalesce(c.permanent_older, 0) AS permanent_older,
        coalesce(c.median_current, 0) AS median_current,
        coalesce(d.median_historical, 0) AS median_historical
    FROM named AS n
    CROSS JOIN selections AS s
    LEFT JOIN current_by AS c ON c.stage = n.stage AND c.project IS NOT DISTINCT FROM s.project
    LEFT JOIN departed_by AS d ON d.stage = n.stage AND d.project IS NOT DISTINCT FROM s.project
)

SELECT * FROM final
ORDER BY project NULLS FIRST, name
