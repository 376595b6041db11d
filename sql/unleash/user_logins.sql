-- user_logins: each user's last login (users.seen_at) as an activity instant. Grain: one row per user seen.
-- Reads: users(id, seen_at)
SELECT u.id::BIGINT AS user_id, u.seen_at AT TIME ZONE 'UTC' AS seen_at, 'login' AS kind
FROM users AS u
WHERE u.seen_at IS NOT NULL
