-- flags_before_holds: whether a stored flags table can stand for the usage before $since, so that
-- the new one reads only the usage from $since on (see _flag_usage_history in pipeline/trends).
-- It can where each of its last evaluated days (any environment; production-type) on or after
-- $since still has evaluations in usage_history; where one has none (the day was landed again
-- with fewer rows), the true last day may lie before $since, which only the whole history gives.
-- Grain: one row, one boolean. Inputs: flags_before, usage_history (the days from $since on).
WITH evaluated AS (
    SELECT flag, day, bool_or(coalesce(environment_type = 'production', false)) AS in_production
    FROM usage_history
    WHERE yes + no > 0
    GROUP BY flag, day
)

SELECT count(*) = 0 AS holds
FROM flags_before AS b
LEFT JOIN evaluated AS e ON e.flag = b.flag AND e.day = b.last_evaluated_day
LEFT JOIN evaluated AS p ON p.flag = b.flag AND p.day = b.last_evaluated_production_day AND p.in_production
WHERE (b.last_evaluated_day >= $since AND e.flag IS NULL)
    OR (b.last_evaluated_production_day >= $since AND p.flag IS NULL)
