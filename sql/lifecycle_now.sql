-- lifecycle_now: the flags in each lifecycle stage at one moment, by category, with the stage's medians.
-- Grain: one row per stage, develop (`pre-live`), production (`live`), cleanup (`completed`);
-- snapshots holds the one moment. Days are whole days (floored); instants are UTC.
-- A flag is in the latest stage the lake has landed for it by the moment (stages of one instant in
-- Unleash's order), counted where it exists in a listed project asked for (lifecycle_projects; no
-- rows there: every listed project), by its type then: experimental = experiment, release =
-- release, permanent = any other type.
-- new_* = entered the stage in the 7 days up to the moment, older_* = before. median_current =
-- median days since the flags now in the stage entered it; median_historical = median days that
-- flags of the projects asked for (archived ones too) spent in the stage before entering the next
-- one by the moment, 0 where none has left it.
-- Inputs: snapshots (one row), feature_lifecycles (every snapshot), flag_states_at,
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
    SELECT DISTINCT
        l.feature AS flag,
        l.stage,
        l.created_at AS entered_at,
        CASE l.stage
            WHEN 'initial' THEN 0 WHEN 'pre-live' THEN 1 WHEN 'live' THEN 2 WHEN 'completed' THEN 3 WHEN 'archived' THEN 4
            ELSE 5
        END AS stage_order
    FROM feature_lifecycles AS l
    WHERE l.created_at <= (SELECT snapshot_at FROM moment)
),

sequenced AS (
    SELECT *, lead(entered_at) OVER (PARTITION BY flag ORDER BY entered_at, stage_order) AS left_at
    FROM stages
),

existing AS (
    SELECT
        f.flag,
        CASE f.type WHEN 'experiment' THEN 'experimental' WHEN 'release' THEN 'release' ELSE 'permanent' END AS category
    FROM flag_states_at AS f
    WHERE f.exists AND f.project IN (SELECT project FROM asked)
),

current AS (
    SELECT
        s.stage,
        e.category,
        s.entered_at > m.snapshot_at - INTERVAL 7 DAY AS is_new,
        floor(epoch(m.snapshot_at - s.entered_at) / 86400) AS days
    FROM sequenced AS s
    JOIN existing AS e ON e.flag = s.flag
    CROSS JOIN moment AS m
    WHERE s.left_at IS NULL
),

departed AS (
    SELECT s.stage, floor(epoch(s.left_at - s.entered_at) / 86400) AS days
    FROM sequenced AS s
    JOIN flag_projects_at AS p ON p.flag = s.flag
    WHERE s.left_at IS NOT NULL AND s.left_at <= (SELECT snapshot_at FROM moment)
      AND p.project IN (SELECT project FROM asked)
),

named AS (
    SELECT * FROM (VALUES ('develop', 'pre-live'), ('production', 'live'), ('cleanup', 'completed')) AS n(name, stage)
),

final AS (
    SELECT
        n.name,
        count(c.stage) AS total_flags,
        count(c.stage) FILTER (WHERE c.category = 'experimental' AND c.is_new) AS experimental_new,
        count(c.stage) FILTER (WHERE c.category = 'experimental' AND NOT c.is_new) AS experimental_older,
        count(c.stage) FILTER (WHERE c.category = 'release' AND c.is_new) AS release_new,
        count(c.stage) FILTER (WHERE c.category = 'release' AND NOT c.is_new) AS release_older,
        count(c.stage) FILTER (WHERE c.category = 'permanent' AND c.is_new) AS permanent_new,
        count(c.stage) FILTER (WHERE c.category = 'permanent' AND NOT c.is_new) AS permanent_older,
        coalesce(median(c.days), 0) AS median_current,
        coalesce((SELECT median(d.days) FROM departed AS d WHERE d.stage = n.stage), 0) AS median_historical
    FROM named AS n
    LEFT JOIN current AS c ON c.stage = n.stage
    GROUP BY n.name, n.stage
)

SELECT * FROM final
