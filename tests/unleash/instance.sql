-- A small Unleash instance, with the personal data a real one holds; it fits the schema of every
-- supported Unleash (schema-8.sql, and as-5.12.sql over it). Expected values in tests/test_postgres.py are worked out by
-- hand from these rows.
INSERT INTO users (id, name, username, email, image_url, password_hash, created_at, seen_at, deleted_at,
                   is_service, is_system, scim_id) VALUES
    (1, 'Ada Admin', 'admin', 'admin@example.com', 'https://img.example.com/ada.png',
     '$2b$10$adahashadahashadahashada', '2025-01-01 08:00', '2025-03-03 09:00', NULL, false, false,
     '5f4dcc3b5aa765d61d8327deb882cf99'),
    (2, 'Alice Liddell', 'alice', 'alice@example.com', NULL, '$2b$10$alicehashalicehashalice',
     '2025-01-02 09:00', '2025-03-02 15:00', NULL, false, false, 'scim-alice-77'),
    (3, 'Bob Builder (Deleted)', NULL, NULL, NULL, NULL, '2025-01-03 09:00', '2025-01-10 12:00',
     '2025-02-15 10:00+00', false, false, NULL),
    (4, 'CI robot', NULL, NULL, NULL, NULL, '2025-01-01 08:00', NULL, NULL, true, false, NULL),
    (5, 'Unleash System', 'unleash_system_user', NULL, NULL, NULL, '2025-01-01 08:00', NULL, NULL, false, true,
     NULL),
    (6, 'Carol Danvers', 'carol', 'carol@example.com', NULL, '$2b$10$carolhashcarolhashcarol',
     '2024-12-01 09:00', NULL, NULL, false, false, NULL),
    (7, 'Dave Lister', 'dave', 'dave@example.com', NULL, '$2b$10$davehashdavehashdaveha',
     '2025-01-04 09:00', NULL, NULL, false, false, NULL);
SELECT setval('users_id_seq', 7);

INSERT INTO login_history (username, auth_type, created_at, successful, ip, failure_reason) VALUES
    ('alice', 'password', '2025-01-20 10:00+00', true, '10.1.2.3', NULL),
    ('alice', 'password', '2025-03-01 10:00+00', false, '10.1.2.3', 'wrong password'),
    ('admin@example.com', 'oidc', '2025-03-03 09:00+00', true, '192.168.7.7', NULL),
    ('dave', 'password', '2025-02-01 10:00+00', false, '172.16.0.9', 'account locked');

INSERT INTO personal_access_tokens (secret, description, user_id, expires_at, seen_at, created_at) VALUES
    ('user:carol-pat-0f9e8d7c6b5a', 'carol laptop', 6, '2027-01-01 00:00+00', '2024-12-20 10:00+00', '2024-12-02 10:00+00'),
    ('user:admin-pat-1a2b3c4d5e6f', 'admin scripts', 1, '2027-01-01 00:00+00', NULL, '2025-01-02 10:00+00');

INSERT INTO projects (id, name, description, created_at) VALUES
    ('default', 'Default', 'Default project', '2024-12-01 00:00'),
    ('web', 'Web shop', 'Customer-facing web shop', '2025-01-01 08:00');

INSERT INTO environments (name, type, sort_order) VALUES
    ('development', 'development', 1),
    ('production', 'production', 2);

INSERT INTO feature_types (id, name, description, lifetime_days) VALUES
    ('release', 'Release', 'Trunk-based development', 40),
    ('experiment', 'Experiment', 'A/B testing', 40),
    ('operational', 'Operational', 'Operational aspects', 7),
    ('kill-switch', 'Kill switch', 'Graceful degradation', NULL),
    ('permission', 'Permission', 'Entitlements', NULL);

INSERT INTO features (created_at, name, description, type, project, stale, archived_at, potentially_stale) VALUES
    ('2025-01-06 10:00+00', 'checkout-v2', 'New checkout flow for alice@example.com''s team', 'release', 'web', false, NULL, true),
    ('2025-01-07 10:00+00', 'dark-mode', 'Dark mode test', 'experiment', 'web', true, NULL, false),
    ('2025-01-02 09:00+00', 'legacy-banner', 'Old banner', 'release', 'default', false, '2025-01-15 09:00+00', false),
    ('2025-01-03 09:00+00', 'kill-payments', 'Payments kill switch', 'kill-switch', 'default', false, NULL, false);

INSERT INTO feature_environments (environment, feature_name, enabled) VALUES
    ('development', 'checkout-v2', true), ('production', 'checkout-v2', true),
    ('development', 'dark-mode', true), ('production', 'kill-payments', true);

INSERT INTO events (created_at, type, created_by, created_by_user_id, ip, project, environment, feature_name, data, pre_data) VALUES
    ('2025-01-01 08:00+00', 'project-created', 'admin@example.com', 1, '192.168.7.7', 'web', NULL, NULL,
     '{"id": "web", "name": "Web shop"}', NULL),
    ('2025-01-02 09:00+00', 'feature-created', 'admin@example.com', 1, '192.168.7.7', 'default', NULL, 'legacy-banner',
     '{"name": "legacy-banner", "type": "release", "project": "default", "stale": false, "description": "Old banner"}', NULL),
    ('2025-01-03 09:00+00', 'feature-created', 'alice@example.com', 2, '10.1.2.3', 'default', NULL, 'kill-payments',
     '{"name": "kill-payments", "type": "kill-switch", "project": "default", "stale": false}', NULL),
    ('2025-01-03 10:00+00', 'feature-strategy-add', 'alice@example.com', 2, '10.1.2.3', 'default', 'production', 'kill-payments',
     '{"name": "flexibleRollout", "parameters": {"rollout": "100", "stickiness": "default", "groupId": "kill-payments"},
       "constraints": [{"contextName": "userId", "operator": "IN", "values": ["carol@example.com", "dave@example.com"]}]}', NULL),
    ('2025-01-03 10:00:05+00', 'feature-environment-enabled', 'alice@example.com', 2, '10.1.2.3', 'default', 'production', 'kill-payments', NULL, NULL),
    ('2025-01-06 10:00+00', 'feature-created', 'alice@example.com', 2, '10.1.2.3', 'web', NULL, 'checkout-v2',
     '{"name": "checkout-v2", "type": "release", "project": "web", "stale": false}', NULL),
    ('2025-01-06 11:00+00', 'feature-environment-enabled', 'alice@example.com', 2, '10.1.2.3', 'web', 'development', 'checkout-v2', NULL, NULL),
    ('2025-01-07 10:00+00', 'feature-created', 'admin@example.com', 1, '192.168.7.7', 'web', NULL, 'dark-mode',
     '{"name": "dark-mode", "type": "experiment", "project": "web", "stale": false}', NULL),
    ('2025-01-07 10:30+00', 'feature-environment-enabled', 'admin@example.com', 1, '192.168.7.7', 'web', 'development', 'dark-mode', NULL, NULL),
    ('2025-01-09 12:00+00', 'feature-environment-enabled', 'alice@example.com', 2, '10.1.2.3', 'web', 'production', 'checkout-v2', NULL, NULL),
    ('2025-01-15 09:00+00', 'feature-archived', 'admin@example.com', 1, '192.168.7.7', 'default', NULL, 'legacy-banner', NULL, NULL),
    ('2025-01-20 10:00+00', 'feature-stale-on', 'alice@example.com', 2, '10.1.2.3', 'web', NULL, 'dark-mode', NULL, NULL),
    ('2025-02-05 10:00+00', 'feature-strategy-update', 'alice@example.com', 2, '10.1.2.3', 'web', 'production', 'checkout-v2',
     '{"name": "flexibleRollout", "parameters": {"rollout": "50"},
       "constraints": [{"contextName": "email", "operator": "IN", "values": ["alice@example.com"]}]}',
     '{"name": "flexibleRollout", "parameters": {"rollout": "10"}, "constraints": []}'),
    ('2025-02-06 10:00+00', 'api-token-created', 'admin@example.com', 1, '192.168.7.7', NULL, '*', NULL,
     '{"tokenName": "ci-token", "secret": "*:*.6e1c0ffee0ddba11"}', NULL);

INSERT INTO feature_lifecycles (feature, stage, created_at) VALUES
    ('checkout-v2', 'initial', '2025-01-06 10:00+00'), ('checkout-v2', 'pre-live', '2025-01-06 11:05+00'),
    ('checkout-v2', 'live', '2025-01-09 12:05+00'), ('kill-payments', 'initial', '2025-01-03 09:00+00'),
    ('kill-payments', 'live', '2025-01-03 10:06+00'), ('legacy-banner', 'initial', '2025-01-02 09:00+00'),
    ('legacy-banner', 'archived', '2025-01-15 09:00+00'), ('dark-mode', 'initial', '2025-01-07 10:00+00'),
    ('dark-mode', 'pre-live', '2025-01-07 10:35+00');

INSERT INTO roles (id, name, description, type) VALUES
    (1, 'Admin', 'Superuser', 'root'), (2, 'Member', 'Project member', 'project'), (3, 'Owner', 'Project owner', 'project');
SELECT setval('roles_id_seq', 3);
INSERT INTO role_user (role_id, user_id, created_at, project) VALUES
    (1, 1, '2025-01-01 08:00+00', 'default'),
    (3, 1, '2025-01-01 08:00+00', 'web'),
    (2, 2, '2025-01-02 10:00+00', 'web');
INSERT INTO groups (id, name, description, created_by, created_at) VALUES
    (1, 'Platform team', 'Ada, Carol and friends', 'admin@example.com', '2025-01-05 09:00+00');
SELECT setval('groups_id_seq', 1);
INSERT INTO group_user (group_id, user_id, created_by, created_at) VALUES (1, 6, 'admin@example.com', '2025-01-06 09:00+00');
INSERT INTO group_role (group_id, role_id, created_by, created_at, project) VALUES
    (1, 2, 'admin@example.com', '2025-01-05 09:00+00', 'web');

INSERT INTO client_metrics_env (feature_name, app_name, environment, timestamp, yes, no) VALUES
    ('checkout-v2', 'web-shop', 'production', '2025-03-03 10:00+00', 100, 20),
    ('checkout-v2', 'web-shop', 'development', '2025-03-03 10:00+00', 5, 5);
INSERT INTO client_metrics_env_daily (feature_name, app_name, environment, date, yes, no) VALUES
    ('checkout-v2', 'web-shop', 'production', '2025-03-02', 1000, 200);
