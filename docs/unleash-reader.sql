-- A read-only role for open Unleash Insights, with SELECT on only the columns it reads.
-- Run as the owner of Unleash's tables (psql -v password=... -f docs/unleash-reader.sql unleash).
-- users.username and users.email are readable only to match login_history rows to user ids inside
-- the database; the pipeline never selects them. Works on every supported Unleash (5.12 and later).
-- The pipeline checks these grants before it reads: without the optional ones (personal_access_tokens,
-- login_history, group_user and group_role, client_metrics_env_daily) it carries on and says what
-- it did without; without any other, it stops and names the columns.
CREATE ROLE unleash_insights LOGIN PASSWORD :'password';
GRANT USAGE ON SCHEMA public TO unleash_insights;
GRANT SELECT (id, created_at, type, feature_name, project, environment, created_by_user_id, data, pre_data)
    ON events TO unleash_insights;
GRANT SELECT (name, project, type, stale, potentially_stale, created_at, archived_at) ON features TO unleash_insights;
GRANT SELECT (id, lifetime_days) ON feature_types TO unleash_insights;
GRANT SELECT (feature_name, environment, enabled) ON feature_environments TO unleash_insights;
GRANT SELECT (name, type, enabled) ON environments TO unleash_insights;
GRANT SELECT (id, created_at) ON projects TO unleash_insights;
DO $$
BEGIN  -- projects.archived_at came with Unleash 6 (Unleash 5 cannot archive a project)
    IF EXISTS (SELECT FROM pg_attribute WHERE attrelid = to_regclass('projects') AND attname = 'archived_at') THEN
        GRANT SELECT (archived_at) ON projects TO unleash_insights;
    END IF;
END
$$;
GRANT SELECT (id, created_at, seen_at, deleted_at, is_service, is_system, username, email) ON users TO unleash_insights;
GRANT SELECT (user_id, seen_at) ON personal_access_tokens TO unleash_insights;
GRANT SELECT (username, created_at, successful) ON login_history TO unleash_insights;
GRANT SELECT (id, type) ON roles TO unleash_insights;
GRANT SELECT (role_id, user_id, project, created_at) ON role_user TO unleash_insights;
GRANT SELECT (group_id, user_id, created_at) ON group_user TO unleash_insights;
GRANT SELECT (group_id, project, created_at) ON group_role TO unleash_insights;
GRANT SELECT (feature, stage, created_at) ON feature_lifecycles TO unleash_insights;
GRANT SELECT (feature_name, app_name, environment, timestamp, yes, no) ON client_metrics_env TO unleash_insights;
GRANT SELECT (feature_name, app_name, environment, date, yes, no) ON client_metrics_env_daily TO unleash_insights;
