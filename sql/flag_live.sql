-- flag_live: the moment each flag entered production, from its landed lifecycle stages.
-- Grain: one row per flag name. Instants are UTC.
-- The earliest `live` stage the lake ever landed from feature_lifecycles: Unleash deletes a flag's
-- stages when it is revived or deleted, and the lake keeps every snapshot it took. Continued from
-- an earlier run, `feature_lifecycles` holds only the snapshots after it, and `flag_live_before`
-- the moments it found (empty for a full replay).
-- Inputs: feature_lifecycles (every snapshot, or those since flag_live_before), flag_live_before.
SELECT flag, min(live_at) AS live_at
FROM (
    SELECT feature AS flag, created_at AS live_at FROM feature_lifecycles WHERE stage = 'live'
    UNION ALL
    SELECT flag, live_at FROM flag_live_before
)
GROUP BY flag
ORDER BY flag
