-- project_flag_trends: each listed project's flags, health, time to production and members.
-- Grain: one row per (ISO week, listed project), zero-flag projects included; date = the week's
-- snapshot moment (end of its Sunday, or of the as-of day while the week is not over).
-- health = round-half-up(100 * active / total), 100 for no flags; technical_debt = 100 - health.
-- time_to_production (days) = mean over the project's release flags (archived ones included)
-- first enabled in a production-type environment by then, of the whole days from creation to
-- that first enable, rounded half up to 0.1; 0.1 when that rounds to 0; 0 when no flag qualifies.
-- users = distinct project members then (direct non-root role or through a group).
-- Inputs: snapshots(key = week), project_flag_counts, flag_states_at, environment_enablement,
--         environments, project_members (every snapshot).
WITH first_production AS (
    SELECT e.flag, e.incarnation, min(e.enabled_from) AS enabled_at
    FROM environment_enablement AS e
    JOIN environments AS v ON v.name = e.environment AND v.type = 'production'
    GROUP BY e.flag, e.incarnation
),

days_to_production AS (
    SELECT
        f.key,
        f.project,
        (epoch_ms(p.enabled_at) - epoch_ms(f.created_at)) // 86400000 AS days
    FROM flag_states_at AS f
    JOIN first_production AS p ON p.flag = f.flag AND p.incarnation = f.incarnation
    WHERE f.type = 'release'
      AND NOT f.deleted
      AND p.enabled_at > f.created_at
      AND p.enabled_at <= f.snapshot_at
),

time_to_production AS (
    SELECT key, project, count(*) AS flags, sum(days) AS days
    FROM days_to_production
    GROUP BY key, project
),

member_snapshots AS (
    SELECT DISTINCT snapshot_at AS taken_at
    FROM project_members
),

members_in_force AS (
    SELECT
        s.key,
        s.snapshot_at,
        coalesce(max(m.taken_at) FILTER (WHERE m.taken_at <= s.snapshot_at), min(m.taken_at)) AS taken_at
    FROM snapshots AS s
    CROSS JOIN member_snapshots AS m
    GROUP BY s.key, s.snapshot_at
),

members AS (
    SELECT f.key, m.project, count(DISTINCT m.user_id) AS users
    FROM members_in_force AS f
    JOIN project_members AS m ON m.snapshot_at = f.taken_at AND m.since <= f.snapshot_at
    GROUP BY f.key, m.project
),

final AS (
    SELECT
        s.key AS week,
        s.snapshot_at AS date,
        c.project,
        c.total,
        c.active,
        c.stale,
        c.potentially_stale,
        CASE WHEN c.total = 0 THEN 100 ELSE (200 * c.active + c.total) // (2 * c.total) END AS health,
        100 - CASE WHEN c.total = 0 THEN 100 ELSE (200 * c.active + c.total) // (2 * c.total) END AS technical_debt,
        CASE
            WHEN t.flags IS NULL THEN 0.0
            ELSE greatest(((20 * t.days + t.flags) // (2 * t.flags)) / 10.0, 0.1)
        END AS time_to_production,
        coalesce(m.users, 0) AS users
    FROM project_flag_counts AS c
    JOIN snapshots AS s ON s.key = c.key
    LEFT JOIN time_to_production AS t ON t.key = c.key AND t.project = c.project
    LEFT JOIN members AS m ON m.key = c.key AND m.project = c.project
)

SELECT * FROM final
ORDER BY week, project
