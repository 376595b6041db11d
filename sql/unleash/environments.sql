-- environments: every environment with its type. Grain: one row per environment.
SELECT v.name AS name, v.type AS type, v.enabled AS enabled
FROM environments AS v
