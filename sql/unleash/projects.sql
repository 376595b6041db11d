-- projects: every project. projects.created_at is a timestamp without time zone, stored in UTC.
-- Reads: projects(id, created_at, archived_at)
SELECT p.id AS id, p.created_at AT TIME ZONE 'UTC' AS created_at, p.archived_at AS archived_at
FROM projects AS p
