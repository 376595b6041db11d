-- user_trends: Unleash users at the end of each day.
-- Grain: one row per day (UTC); date = the end of that day.
-- total = users created by then, not deleted by then, neither service accounts nor system users;
-- active = those with any recorded activity (login or personal-access-token use) in the 60 days
-- up to the snapshot, i.e. seen in (date - 60 days, date]; inactive = total - active.
-- Inputs: snapshots(key = day), users (newest snapshot), user_activity.
WITH population AS (
    SELECT s.key, s.snapshot_at, u.id AS user_id
    FROM snapshots AS s
    JOIN users AS u
        ON u.created_at <= s.snapshot_at
        AND (u.deleted_at IS NULL OR u.deleted_at > s.snapshot_at)
    WHERE NOT coalesce(u.is_service, false) AND NOT coalesce(u.is_system, false)
),

last_seen AS (
    SELECT p.key, p.snapshot_at, p.user_id, a.seen_at
    FROM population AS p
    ASOF LEFT JOIN user_activity AS a ON a.user_id = p.user_id AND a.seen_at <= p.snapshot_at
),

counts AS (
    SELECT
        key,
        count(*) AS total,
        count(*) FILTER (WHERE seen_at > snapshot_at - INTERVAL 60 DAY) AS active
    FROM last_seen
    GROUP BY key
),

final AS (
    SELECT
        s.key::DATE AS day,
        s.snapshot_at AS date,
        coalesce(c.total, 0) AS total,
        coalesce(c.active, 0) AS active,
        coalesce(c.total, 0) - coalesce(c.active, 0) AS inactive
    FROM snapshots AS s
    LEFT JOIN counts AS c ON c.key = s.key
)

SELECT * FROM final
ORDER BY day
