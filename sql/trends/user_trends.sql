-- user_trends: Unleash users at the end of each day.
-- Grain: one row per day (UTC); date = the end of that day.
-- total = users created by then, not deleted by then, neither service accounts nor system users;
-- active = those with any recorded activity (login or personal-access-token use) in the 60 days
-- up to the snapshot, i.e. seen in (date - 60 days, date]; inactive = total - active.
-- Counted by sweeping time once, not per snapshot: a user counts over [created_at, deleted_at),
-- and each activity makes them active over [seen_at, seen_at + 60 days), cut short by their next
-- activity so that no user is counted twice; a snapshot reads the running sums at its moment.
-- Only activity that can reach a snapshot is read.
-- Inputs: snapshots(key = day), users (newest snapshot), user_activity.
WITH counted_users AS (
    SELECT id AS user_id, created_at AS joined_at, coalesce(deleted_at, 'infinity'::TIMESTAMPTZ) AS left_at
    FROM users
    WHERE NOT coalesce(is_service, false) AND NOT coalesce(is_system, false)
),

people AS (
    SELECT * FROM counted_users WHERE joined_at < left_at
),

activity AS (
    SELECT
        user_id,
        seen_at AS active_from,
        least(
            seen_at + INTERVAL 60 DAY,
            lead(seen_at, 1, 'infinity'::TIMESTAMPTZ) OVER (PARTITION BY user_id ORDER BY seen_at)
        ) AS active_until
    FROM user_activity
    WHERE seen_at > (SELECT min(snapshot_at) FROM snapshots) - INTERVAL 60 DAY
      AND seen_at <= (SELECT max(snapshot_at) FROM snapshots)
),

active_spans AS (
    SELECT greatest(a.active_from, p.joined_at) AS active_from, least(a.active_until, p.left_at) AS active_until
    FROM activity AS a
    JOIN people AS p ON p.user_id = a.user_id
    WHERE greatest(a.active_from, p.joined_at) < least(a.active_until, p.left_at)
),

changes AS (
    SELECT joined_at AS changed_at, 1 AS total, 0 AS active FROM people
    UNION ALL
    SELECT left_at, -1, 0 FROM people WHERE left_at < 'infinity'::TIMESTAMPTZ
    UNION ALL
    SELECT active_from, 0, 1 FROM active_spans
    UNION ALL
    SELECT active_until, 0, -1 FROM active_spans
),

running AS (
    SELECT
        changed_at,
        sum(sum(total)) OVER (ORDER BY changed_at) AS total,
        sum(sum(active)) OVER (ORDER BY changed_at) AS active
    FROM changes
    GROUP BY changed_at
),

final AS (
    SELECT
        s.key::DATE AS day,
        s.snapshot_at AS date,
        coalesce(r.total, 0)::BIGINT AS total,
        coalesce(r.active, 0)::BIGINT AS active,
        coalesce(r.total - r.active, 0)::BIGINT AS inactive
    FROM snapshots AS s
    ASOF LEFT JOIN running AS r ON r.changed_at <= s.snapshot_at
)

SELECT * FROM final
ORDER BY day
