-- flag_live: the moment each flag entered production, from its landed lifecycle stages.
-- Grain: one row per flag name. Instants are UTC.
-- The earliest `live` stage the lake ever landed from feature_lifecycles: Unleash deletes a flag's
-- stages when it is revived or deleted, and the lake keeps every snapshot it took.
-- Inputs: feature_lifecycles (every snapshot).
SELECT feature AS flag, min(created_at) AS live_at
FROM feature_lifecycles
WHERE stage = 'live'
GROUP BY feature
ORDER BY flag
