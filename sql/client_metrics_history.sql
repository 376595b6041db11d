-- client_metrics_history: every metrics bucket the lake holds, hourly where it has hours.
-- Grain: (feature_name, app_name, environment, at); `span` is the bucket's width (1 hour for
-- hourly rows, 1 day for a daily row of a day the lake has no hourly rows for). UTC.
-- Inputs: client_metrics_all, client_metrics_daily_all (every landed day, each from one of them).
SELECT feature_name, app_name, environment, timestamp AS bucket_at, INTERVAL 1 HOUR AS span, yes, no
FROM client_metrics_all
UNION ALL
SELECT feature_name, app_name, environment, date::TIMESTAMPTZ, INTERVAL 1 DAY, yes, no
FROM client_metrics_daily_all
