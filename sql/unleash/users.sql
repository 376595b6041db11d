-- users: every account, with no name, username, e-mail, image or password hash.
-- users.created_at and seen_at are timestamps without time zone, stored in UTC.
-- Reads: users(id, created_at, seen_at, deleted_at, is_service, is_system)
SELECT
    u.id::BIGINT AS id,
    u.created_at AT TIME ZONE 'UTC' AS created_at,
    u.seen_at AT TIME ZONE 'UTC' AS seen_at,
    u.deleted_at AS deleted_at,
    coalesce(u.is_service, false) AS is_service,
    coalesce(u.is_system, false) AS is_system
FROM users AS u
