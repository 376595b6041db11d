-- events: Unleash events after the watermark, with only the fields of data / pre_data the trends need.
-- Grain: one row per event, in id order. Instants are timestamptz (UTC on the wire).
-- Never selects created_by, ip, tags, or anything else of data / pre_data (strategy parameters,
-- constraint values): those never leave the database.
-- Watermark: current_setting('insights.since') = the last landed id minus the overlap.
-- Reads: events(id, created_at, type, feature_name, project, environment, created_by_user_id, data, pre_data)
SELECT
    e.id::BIGINT AS id,
    e.created_at AS created_at,
    e.type AS type,
    e.feature_name AS feature_name,
    e.project AS project,
    e.environment AS environment,
    e.created_by_user_id::BIGINT AS created_by_user_id,
    CASE
        WHEN e.type IN ('feature-created', 'feature-import', 'feature-metadata-updated') THEN e.data ->> 'type'
        WHEN e.type = 'feature-type-updated' THEN e.data ->> 'id'
    END AS flag_type,
    CASE
        WHEN e.type IN ('feature-created', 'feature-import', 'feature-metadata-updated')
            AND (e.data ->> 'stale') IN ('true', 'false') THEN (e.data ->> 'stale')::BOOLEAN
    END AS stale,
    CASE WHEN e.type = 'feature-project-change' THEN e.data ->> 'oldProject' END AS old_project,
    CASE WHEN e.type = 'feature-project-change' THEN e.data ->> 'newProject' END AS new_project,
    CASE
        WHEN e.type = 'feature-type-updated' AND (e.data ->> 'lifetimeDays') ~ '^[0-9]{1,9}$'
            THEN (e.data ->> 'lifetimeDays')::BIGINT
    END AS lifetime_days,
    CASE
        WHEN e.type = 'feature-type-updated' AND (e.pre_data ->> 'lifetimeDays') ~ '^[0-9]{1,9}$'
            THEN (e.pre_data ->> 'lifetimeDays')::BIGINT
    END AS previous_lifetime_days
FROM events AS e
WHERE e.id > current_setting('insights.since')::BIGINT
ORDER BY e.id
