-- projects_never_archived: every project, for an Unleash without project archiving (Unleash 5:
-- projects.archived_at came with Unleash 6), where no project is ever archived.
-- projects.created_at is a timestamp without time zone, stored in UTC.
-- Reads: projects(id, created_at)
SELECT p.id AS id, p.created_at AT TIME ZONE 'UTC' AS created_at, NULL::TIMESTAMPTZ AS archived_at
FROM projects AS p
