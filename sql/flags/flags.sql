-- flags: every flag incarnation the lake knows, as it stands at one moment (the end of a run's date).
-- Grain: one row per (flag, incarnation) created by the moment; snapshots holds the one moment.
-- Instants are UTC; days are UTC days; evaluations are counts (yes + no).
-- project, type, stale, potentially_stale: the incarnation's at the moment (an archived or deleted
-- one keeps its last). archived_at / deleted_at: when it was archived or deleted, where it is at
-- the moment. lifecycle_stage: the latest stage landed for it by the moment (a stage belongs to the
-- newest incarnation created by then). first_production_enabled_at: its first enable in a
-- production-type environment. enabled_environments: where it is enabled at the moment (none once
-- deleted). Usage belongs to the newest incarnation created by the end of its day: the last day
-- with evaluations in any environment and in a production-type one, and the evaluations of the 7,
-- 30 and 90 days up to the moment's day. cleanup_reason, for an incarnation that exists: the first
-- of stale, potentially_stale, completed (lifecycle stage), not_evaluated_30_days (created over 30
-- days before the moment and not evaluated in the last 30 days), always_on / always_off (created
-- over cleanup_settings.constant_days before the moment; in the last constant_days days evaluated
-- in production-type environments at least constant_evaluations times, only with yes / only with
-- no; and no event in those days changed its enablement, strategies or variants in a
-- production-type environment) that applies, else null.
-- Inputs: snapshots (one row), flag_history, flag_states_at, environment_enablement, environments,
--         lifecycle_stages_at, usage_history(day, flag, environment_type, yes, no; the days up to the
--         moment's: every day, or those from a start on), flags_before(flag, incarnation,
--         last_evaluated_day, last_evaluated_production_day: an earlier flags table whose last days
--         stand for the days before usage_history's start; empty when usage_history holds every day),
--         recent_events (the events of the 90 days up to the moment, at least), cleanup_settings(constant_days,
--         constant_evaluations: one row).
WITH moment AS (
    SELECT s.snapshot_at, s.snapshot_at::DATE AS as_of, c.constant_days, c.constant_evaluations
    FROM snapshots AS s
    CROSS JOIN cleanup_settings AS c
),

incarnations AS (
    SELECT DISTINCT flag, incarnation, created_at
    FROM flag_history
    WHERE created_at <= (SELECT snapshot_at FROM moment)
),

endings AS (
    SELECT
        flag,
        incarnation,
        max(changed_at) FILTER (WHERE change IN ('feature-archived', 'archived (snapshot)')) AS archived_at,
        min(changed_at) FILTER (WHERE change = 'feature-deleted') AS deleted_at
    FROM flag_history
    WHERE changed_at <= (SELECT snapshot_at FROM moment)
    GROUP BY flag, incarnation
),

stages AS (
    SELECT flag, stage, entered_at, stage_order FROM lifecycle_stages_at
),

latest_stages AS (
    SELECT i.flag, i.incarnation, arg_max(s.stage, (s.entered_at, s.stage_order)) AS stage, max(s.entered_at) AS entered_at
    FROM stages AS s
    ASOF JOIN incarnations AS i ON i.flag = s.flag AND i.created_at <= s.entered_at
    GROUP BY i.flag, i.incarnation
),

first_production AS (
    SELECT e.flag, e.incarnation, min(e.enabled_from) AS enabled_at
    FROM environment_enablement AS e
    JOIN environments AS v ON v.name = e.environment AND v.type = 'production'
    WHERE e.enabled_from <= (SELECT snapshot_at FROM moment)
    GROUP BY e.flag, e.incarnation
),

enabled_now AS (
    SELECT e.flag, e.incarnation, list(DISTINCT e.environment ORDER BY e.environment) AS environments
    FROM environment_enablement AS e
    CROSS JOIN moment AS m
    WHERE e.enabled_from <= m.snapshot_at AND (e.enabled_until IS NULL OR e.enabled_until > m.snapshot_at)
    GROUP BY e.flag, e.incarnation
),

usage AS (
    SELECT
        u.flag,
        u.day,
        sum(u.yes + u.no) AS evaluations,
        bool_or(coalesce(u.environment_type = 'production', false)) AS in_production,
        sum(u.yes) FILTER (WHERE u.environment_type = 'production') AS production_yes,
        sum(u.no) FILTER (WHERE u.environment_type = 'production') AS production_no
    FROM usage_history AS u
    WHERE u.yes + u.no > 0
    GROUP BY u.flag, u.day
),

spans AS (
    SELECT
        flag,
        incarnation,
        created_at,
        lead(created_at) OVER (PARTITION BY flag ORDER BY created_at, incarnation) AS next_created_at
    FROM incarnations
),

usage_of AS (
    SELECT
        i.flag,
        i.incarnation,
        max(u.day) AS last_day,
        max(u.day) FILTER (WHERE u.in_production) AS last_production_day,
        sum(u.evaluations) FILTER (WHERE u.day > m.as_of - 7) AS evaluations_7d,
        sum(u.evaluations) FILTER (WHERE u.day > m.as_of - 30) AS evaluations_30d,
        sum(u.evaluations) FILTER (WHERE u.day > m.as_of - 90) AS evaluations_90d,
        sum(u.production_yes) FILTER (WHERE u.day > m.as_of - m.constant_days) AS constant_yes,
        sum(u.production_no) FILTER (WHERE u.day > m.as_of - m.constant_days) AS constant_no
    FROM usage AS u
    JOIN spans AS i ON i.flag = u.flag AND i.created_at < (u.day + 1)::TIMESTAMPTZ
        AND (i.next_created_at IS NULL OR i.next_created_at >= (u.day + 1)::TIMESTAMPTZ)
    CROSS JOIN moment AS m
    GROUP BY i.flag, i.incarnation
),

reconfigured AS (
    SELECT DISTINCT e.feature_name AS flag
    FROM recent_events AS e
    JOIN environments AS v ON v.name = e.environment AND v.type = 'production'
    CROSS JOIN moment AS m
    WHERE e.type IN ('feature-environment-enabled', 'feature-environment-disabled', 'feature-strategy-add',
                     'feature-strategy-update', 'feature-strategy-remove', 'strategy-order-changed',
                     'feature-environment-variants-updated')
      AND e.created_at > m.snapshot_at - to_days(m.constant_days) AND e.created_at <= m.snapshot_at
    UNION
    SELECT e.feature_name  -- variants of every environment, as Unleash before environment variants kept them
    FROM recent_events AS e
    CROSS JOIN moment AS m
    WHERE e.type = 'feature-variants-updated'
      AND e.created_at > m.snapshot_at - to_days(m.constant_days) AND e.created_at <= m.snapshot_at
),

final AS (
    SELECT
        m.as_of,
        i.flag,
        i.incarnation,
        s.project,
        s.type,
        i.created_at,
        CASE WHEN s.archived THEN e.archived_at END AS archived_at,
        CASE WHEN s.deleted THEN e.deleted_at END AS deleted_at,
        s.stale,
        s.potentially_stale,
        l.stage AS lifecycle_stage,
        l.entered_at AS lifecycle_stage_at,
        p.enabled_at AS first_production_enabled_at,
        CASE WHEN s.deleted THEN []::VARCHAR[] ELSE coalesce(n.environments, []::VARCHAR[]) END AS enabled_environments,
        coalesce(u.last_day, b.last_evaluated_day) AS last_evaluated_day,
        coalesce(u.last_production_day, b.last_evaluated_production_day) AS last_evaluated_production_day,
        coalesce(u.evaluations_7d, 0)::BIGINT AS evaluations_7d,
        coalesce(u.evaluations_30d, 0)::BIGINT AS evaluations_30d,
        coalesce(u.evaluations_90d, 0)::BIGINT AS evaluations_90d,
        CASE
            WHEN NOT s.exists THEN NULL
            WHEN s.stale THEN 'stale'
            WHEN s.potentially_stale THEN 'potentially_stale'
            WHEN l.stage = 'completed' THEN 'completed'
            WHEN m.snapshot_at > i.created_at + INTERVAL 30 DAY AND coalesce(u.evaluations_30d, 0) = 0
                THEN 'not_evaluated_30_days'
            WHEN m.snapshot_at > i.created_at + to_days(m.constant_days) AND r.flag IS NULL
                AND coalesce(u.constant_yes, 0) + coalesce(u.constant_no, 0) >= m.constant_evaluations
                AND (coalesce(u.constant_yes, 0) = 0 OR coalesce(u.constant_no, 0) = 0)
                THEN CASE WHEN coalesce(u.constant_no, 0) = 0 THEN 'always_on' ELSE 'always_off' END
        END AS cleanup_reason
    FROM incarnations AS i
    CROSS JOIN moment AS m
    JOIN flag_states_at AS s ON s.flag = i.flag AND s.incarnation = i.incarnation
    LEFT JOIN endings AS e ON e.flag = i.flag AND e.incarnation = i.incarnation
    LEFT JOIN latest_stages AS l ON l.flag = i.flag AND l.incarnation = i.incarnation
    LEFT JOIN first_production AS p ON p.flag = i.flag AND p.incarnation = i.incarnation
    LEFT JOIN enabled_now AS n ON n.flag = i.flag AND n.incarnation = i.incarnation
    LEFT JOIN usage_of AS u ON u.flag = i.flag AND u.incarnation = i.incarnation
    LEFT JOIN flags_before AS b ON b.flag = i.flag AND b.incarnation = i.incarnation
    LEFT JOIN reconfigured AS r ON r.flag = i.flag
)

SELECT * FROM final
ORDER BY flag, incarnation
