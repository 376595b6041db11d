-- flag_lifecycle: each flag's lifecycle stages at one moment (the end of a run's date), what the
-- lifecycle figures of any set of projects are made of (a median of several projects cannot be
-- made from each project's median, so the rows are kept per flag).
-- Grain: one row per (flag, stage, entered_at) of the stages develop (`pre-live`), production
-- (`live`) and cleanup (`completed`), in a project listed at the moment; snapshots holds the one
-- moment. Days are whole days (floored); instants are UTC.
-- current: the flag exists and this is the latest stage the lake has landed for it by the moment
-- (stages of one instant in Unleash's order); project and category are then the flag's at the
-- moment (experimental = experiment, release = release, permanent = any other type), is_new = it
-- entered the stage in the 7 days up to the moment, days = days since it entered it. Otherwise the
-- flag has left the stage by the moment (archived flags too): days = days it spent in the stage,
-- project = its project at the moment, category and is_new null. lifecycle_now.sql gives the
-- same figures for one set of projects.
-- Inputs: snapshots (one row), lifecycle_stages_at, flag_states_at, flag_projects_at, listed_projects_at.
WITH moment AS (
    SELECT snapshot_at, snapshot_at::DATE AS as_of FROM snapshots
),

listed AS (
    SELECT project FROM listed_projects_at WHERE listed
),

sequenced AS (
    SELECT
        flag,
        stage,
        entered_at,
        lead(entered_at) OVER (PARTITION BY flag ORDER BY entered_at, stage_order) AS left_at
    FROM lifecycle_stages_at
),

current AS (
    SELECT
        s.flag,
        f.project,
        CASE f.type WHEN 'experiment' THEN 'experimental' WHEN 'release' THEN 'release' ELSE 'permanent' END AS category,
        s.stage,
        s.entered_at,
        TRUE AS current,
        s.entered_at > m.snapshot_at - INTERVAL 7 DAY AS is_new,
        floor(epoch(m.snapshot_at - s.entered_at) / 86400)::BIGINT AS days
    FROM sequenced AS s
    JOIN flag_states_at AS f ON f.flag = s.flag AND f.exists
    CROSS JOIN moment AS m
    WHERE s.left_at IS NULL AND f.project IN (SELECT project FROM listed)
),

departed AS (
    SELECT
        s.flag,
        p.project,
        NULL::VARCHAR AS category,
        s.stage,
        s.entered_at,
        FALSE AS current,
        NULL::BOOLEAN AS is_new,
        floor(epoch(s.left_at - s.entered_at) / 86400)::BIGINT AS days
    FROM sequenced AS s
    JOIN flag_projects_at AS p ON p.flag = s.flag
    WHERE s.left_at IS NOT NULL AND s.left_at <= (SELECT snapshot_at FROM moment)
      AND p.project IN (SELECT project FROM listed)
),

final AS (
    SELECT (SELECT as_of FROM moment) AS as_of, flag, project, category, stage, entered_at, current, is_new, days
    FROM (SELECT * FROM current UNION ALL SELECT * FROM departed)
    WHERE stage IN ('pre-live', 'live', 'completed')
)

SELECT * FROM final
ORDER BY flag, entered_at, stage
