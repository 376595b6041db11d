-- environments: every environment with its type. Grain: one row per environment.
-- Reads: environments(name, type, enabled)
SELECT v.name AS name, v.type AS type, v.enabled AS enabled
FROM environments AS v
