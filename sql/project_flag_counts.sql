-- project_flag_counts: flag counts of every listed project at each snapshot moment.
-- Grain: (snapshot key, project), listed projects only, zero-flag projects included.
-- total = flags that exist; stale = of those, marked stale; potentially_stale = not stale and
-- older than their type's lifetime; active = total - stale - potentially_stale.
-- Inputs: flag_states_at, listed_projects_at.
WITH counts AS (
    SELECT
        key,
        project,
        count(*) AS total,
        count(*) FILTER (WHERE stale) AS stale,
        count(*) FILTER (WHERE potentially_stale) AS potentially_stale
    FROM flag_states_at
    WHERE exists
    GROUP BY key, project
),

final AS (
    SELECT
        l.key,
        l.project,
        coalesce(c.total, 0) AS total,
        coalesce(c.total, 0) - coalesce(c.stale, 0) - coalesce(c.potentially_stale, 0) AS active,
        coalesce(c.stale, 0) AS stale,
        coalesce(c.potentially_stale, 0) AS potentially_stale
    FROM listed_projects_at AS l
    LEFT JOIN counts AS c ON c.key = l.key AND c.project = l.project
    WHERE l.listed
)

SELECT * FROM final
