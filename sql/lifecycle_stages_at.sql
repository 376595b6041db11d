-- lifecycle_stages_at: every lifecycle stage the lake has landed for a flag name, entered by each
-- snapshot moment. Grain: (snapshot key, flag, stage, entered_at); instants are UTC.
-- stage_order ranks Unleash's stages (initial, pre-live, live, completed, archived; any other
-- last), which decides between stages entered at one instant.
-- Inputs: snapshots(key, window_start, snapshot_at), feature_lifecycles (every snapshot).
SELECT DISTINCT
    s.key,
    l.feature AS flag,
    l.stage,
    l.created_at AS entered_at,
    CASE l.stage
        WHEN 'initial' THEN 0 WHEN 'pre-live' THEN 1 WHEN 'live' THEN 2 WHEN 'completed' THEN 3 WHEN 'archived' THEN 4
        ELSE 5
    END AS stage_order
FROM snapshots AS s
JOIN feature_lifecycles AS l ON l.created_at <= s.snapshot_at
