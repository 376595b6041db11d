-- client_metrics: hourly evaluation counts from the watermark on, in time order.
-- Grain: (flag, app, environment, hour start). The current and previous hour still grow: re-read.
-- Watermark: current_setting('insights.since') = a timestamptz (the last landed hour minus one hour).
-- Reads: client_metrics_env(feature_name, app_name, environment, timestamp, yes, no)
SELECT
    m.feature_name AS feature_name,
    m.app_name AS app_name,
    m.environment AS environment,
    m.timestamp AS timestamp,
    m.yes::BIGINT AS yes,
    m.no::BIGINT AS no
FROM client_metrics_env AS m
WHERE m.timestamp >= current_setting('insights.since')::TIMESTAMPTZ
ORDER BY m.timestamp
