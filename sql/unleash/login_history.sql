-- login_history: successful logins since the watermark, matched to the user id inside the database.
-- Grain: one row per login. The username (or e-mail) and IP of login_history never leave the database.
-- Watermark: current_setting('insights.since') = a timestamptz (the last landed activity minus a day).
-- Reads: login_history(username, created_at, successful), users(id, username, email)
SELECT u.id::BIGINT AS user_id, l.created_at AS seen_at, 'login' AS kind
FROM login_history AS l
JOIN users AS u ON lower(l.username) = lower(u.username) OR lower(l.username) = lower(u.email)
WHERE l.successful
  AND l.created_at >= current_setting('insights.since')::TIMESTAMPTZ
ORDER BY l.created_at
