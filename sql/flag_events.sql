-- flag_events: the events that change a flag incarnation's state, each numbered with its incarnation.
-- Grain: one row per event. Instants are UTC.
-- A flag name's incarnations are numbered by the creation events (feature-created, feature-import)
-- seen so far, counting on from the newest incarnation `flag_incarnations_before` holds (a history
-- continued from its last state: only events after it are in `events`; empty for a full replay). A
-- flag with no creation event is incarnation 0.
-- Inputs: events, flag_incarnations_before.
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

counted_before AS (
    SELECT flag, max(incarnation) AS incarnation
    FROM flag_incarnations_before
    GROUP BY flag
)

SELECT
    e.*,
    e.type IN ('feature-created', 'feature-import') AS is_creation,
    (coalesce(b.incarnation, 0) + sum(CASE WHEN e.type IN ('feature-created', 'feature-import') THEN 1 ELSE 0 END)
        OVER (PARTITION BY e.flag ORDER BY e.changed_at, e.id ROWS UNBOUNDED PRECEDING))::BIGINT AS incarnation
FROM flag_events AS e
LEFT JOIN counted_before AS b ON b.flag = e.flag
