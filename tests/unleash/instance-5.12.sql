-- What the same instance holds on Unleash 5.12, beyond instance.sql: no lifecycle stages (5.12
-- records them only with UNLEASH_EXPERIMENTAL_FEATURE_LIFECYCLE set), potentially_stale left null
-- (5.12 fills it in only when its scheduler has run), and metrics for a flag it never knew (an SDK
-- asking for a flag that does not exist; 5.12 stores those too).
DELETE FROM feature_lifecycles;
UPDATE features SET potentially_stale = NULL WHERE name IN ('dark-mode', 'kill-payments');
INSERT INTO client_metrics_env (feature_name, app_name, environment, timestamp, yes, no) VALUES
    ('ghost-flag', 'web-shop', 'production', '2025-03-03 10:00+00', 7, 1);
