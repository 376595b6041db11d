-- flag_incarnations: each flag incarnation's facts from its events and the features snapshot, and
-- the first state its history starts from.
-- Grain: one row per (flag, incarnation). Instants are UTC.
-- The facts are aggregates of the incarnation's events that later events cannot change once set
-- (its creation's instant, project, type and stale mark; its first project change and stale change;
-- whether any archive event came): those `flag_incarnations_before` holds (from a history's last
-- state; empty for a full replay) are kept, the new events' fill the rest. The first state comes
-- from the creation event, falling back to the snapshot (only the newest incarnation is in it); the
-- snapshot's archived_at counts only where no archive event came. An incarnation with no creation
-- instant anywhere (created_at null) has no history, but its facts are kept for the next run.
-- Inputs: flag_events, flag_incarnations_before, features (newest snapshot).
WITH new_facts AS (
    SELECT
        flag,
        incarnation,
        min(changed_at) FILTER (WHERE is_creation) AS created_event_at,
        arg_min(project, changed_at) FILTER (WHERE is_creation) AS created_project,
        arg_min(flag_type, changed_at) FILTER (WHERE is_creation) AS created_type,
        arg_min(stale, changed_at) FILTER (WHERE is_creation) AS created_stale,
        min(changed_at) FILTER (WHERE type = 'feature-project-change') AS first_project_change_at,
        arg_min(old_project, changed_at) FILTER (WHERE type = 'feature-project-change') AS first_old_project,
        arg_min(type = 'feature-stale-off', changed_at) FILTER (WHERE type IN ('feature-stale-on', 'feature-stale-off'))
            AS first_stale_change_is_off,
        bool_or(type IN ('feature-archived', 'feature-revived', 'feature-deleted')) AS has_archive_events
    FROM flag_events
    GROUP BY flag, incarnation
),

facts AS (
    SELECT
        coalesce(b.flag, n.flag) AS flag,
        coalesce(b.incarnation, n.incarnation) AS incarnation,
        CASE WHEN b.created_event_at IS NOT NULL THEN b.created_event_at ELSE n.created_event_at END
            AS created_event_at,
        CASE WHEN b.created_event_at IS NOT NULL THEN b.created_project ELSE n.created_project END AS created_project,
        CASE WHEN b.created_event_at IS NOT NULL THEN b.created_type ELSE n.created_type END AS created_type,
        CASE WHEN b.created_event_at IS NOT NULL THEN b.created_stale ELSE n.created_stale END AS created_stale,
        CASE WHEN b.first_project_change_at IS NOT NULL THEN b.first_project_change_at
             ELSE n.first_project_change_at END AS first_project_change_at,
        CASE WHEN b.first_project_change_at IS NOT NULL THEN b.first_old_project ELSE n.first_old_project END
            AS first_old_project,
        coalesce(b.first_stale_change_is_off, n.first_stale_change_is_off) AS first_stale_change_is_off,
        coalesce(b.has_archive_events, false) OR coalesce(n.has_archive_events, false) AS has_archive_events
    FROM (SELECT * FROM flag_incarnations_before WHERE has_events) AS b
    FULL OUTER JOIN new_facts AS n ON n.flag = b.flag AND n.incarnation = b.incarnation
),

newest AS (
    SELECT flag, max(incarnation) AS incarnation
    FROM facts
    GROUP BY flag
),

snapshot AS (
    SELECT f.name AS flag, coalesce(n.incarnation, 0) AS incarnation, f.project, f.type, f.stale, f.created_at, f.archived_at
    FROM features AS f
    LEFT JOIN newest AS n ON n.flag = f.name
)

SELECT
    coalesce(e.flag, s.flag) AS flag,
    coalesce(e.incarnation, s.incarnation) AS incarnation,
    e.flag IS NOT NULL AS has_events,
    e.created_event_at,
    e.created_project,
    e.created_type,
    e.created_stale,
    e.first_project_change_at,
    e.first_old_project,
    e.first_stale_change_is_off,
    coalesce(e.has_archive_events, false) AS has_archive_events,
    coalesce(s.created_at, e.created_event_at) AS created_at,
    least(s.created_at, e.created_event_at) AS first_seen_at,
    coalesce(e.created_project, e.first_old_project, s.project) AS project,
    coalesce(e.created_type, s.type) AS type,
    coalesce(e.created_stale, e.first_stale_change_is_off, s.stale, false) AS stale,
    CASE WHEN NOT coalesce(e.has_archive_events, false) THEN s.archived_at END AS snapshot_archived_at
FROM facts AS e
FULL OUTER JOIN snapshot AS s ON s.flag = e.flag AND s.incarnation = e.incarnation
