-- token_activity: each personal access token's last use, as an activity instant of its user.
-- Grain: one row per token seen. Never selects the token's secret or description.
-- Reads: personal_access_tokens(user_id, seen_at)
SELECT t.user_id::BIGINT AS user_id, t.seen_at AS seen_at, 'pat' AS kind
FROM personal_access_tokens AS t
WHERE t.seen_at IS NOT NULL
