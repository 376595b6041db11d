-- features: every flag as it stands now, archived ones included. Grain: one row per flag.
-- Reads: features(name, project, type, stale, potentially_stale, created_at, archived_at)
SELECT
    f.name AS name,
    f.project AS project,
    f.type AS type,
    coalesce(f.stale, false) AS stale,
    coalesce(f.potentially_stale, false) AS potentially_stale,
    f.created_at AS created_at,
    f.archived_at AS archived_at
FROM features AS f
