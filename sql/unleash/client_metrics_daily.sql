-- client_metrics_daily: daily evaluation counts from the watermark on, in date order.
-- Grain: (flag, app, environment, date). Watermark: current_setting('insights.since') = a date.
-- Reads: client_metrics_env_daily(feature_name, app_name, environment, date, yes, no)
SELECT
    m.feature_name AS feature_name,
    m.app_name AS app_name,
    m.environment AS environment,
    m.date AS date,
    m.yes::BIGINT AS yes,
    m.no::BIGINT AS no
FROM client_metrics_env_daily AS m
WHERE m.date >= current_setting('insights.since')::DATE
ORDER BY m.date
