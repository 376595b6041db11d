-- feature_lifecycles: every lifecycle stage each flag has entered. Grain: (flag, stage).
-- Reads: feature_lifecycles(feature, stage, created_at)
SELECT l.feature AS feature, l.stage AS stage, l.created_at AS created_at
FROM feature_lifecycles AS l
WHERE l.stage IS NOT NULL
