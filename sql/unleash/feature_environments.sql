-- feature_environments: whether each flag is enabled in each environment now. No variants.
-- Reads: feature_environments(feature_name, environment, enabled)
SELECT fe.feature_name AS feature_name, fe.environment AS environment, fe.enabled AS enabled
FROM feature_environments AS fe
