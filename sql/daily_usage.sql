-- daily_usage: flag evaluations per UTC day, flag, app and environment.
-- Grain: (day, feature_name, app_name, environment); yes / no are evaluation counts.
-- Each day counts from one source: its hourly rows where the lake has any for it, else its daily
-- rows (never both; the metrics views hold exactly the days asked for, each from one of them).
-- Inputs: client_metrics, client_metrics_daily (see pipeline/trends/inputs.py).
SELECT day, feature_name, app_name, environment, sum(yes)::BIGINT AS yes, sum(no)::BIGINT AS no
FROM client_metrics
GROUP BY ALL
UNION ALL
SELECT day, feature_name, app_name, environment, sum(yes)::BIGINT, sum(no)::BIGINT
FROM client_metrics_daily
GROUP BY ALL
