-- Turns schema-8.sql into the tables as Unleash 5.12's migrations (src/migrations/ at v5.12.8)
-- leave them: checked column by column (name, type, nullability) against a database that
-- unleash-server 5.12.8 migrated itself. What differs, for what the pipeline reads:
--   * projects has no archived_at: Unleash 5 cannot archive a project;
--   * features.potentially_stale may be null (8: NOT NULL DEFAULT false);
--   * client_metrics_env_daily counts yes and no as INTEGER (8: BIGINT);
--   * feature_lifecycles exists (since 5.12; 5.11 and older have none) but stays empty unless
--     UNLEASH_EXPERIMENTAL_FEATURE_LIFECYCLE is set, and has no status columns;
-- and, unread by the pipeline, the columns dropped last.
ALTER TABLE projects DROP COLUMN archived_at;
ALTER TABLE features ALTER COLUMN potentially_stale DROP NOT NULL, ALTER COLUMN potentially_stale DROP DEFAULT;
ALTER TABLE client_metrics_env_daily ALTER COLUMN yes TYPE INTEGER, ALTER COLUMN no TYPE INTEGER;
ALTER TABLE feature_lifecycles DROP COLUMN status, DROP COLUMN status_value;

ALTER TABLE users DROP COLUMN email_hash, DROP COLUMN first_seen_at, DROP COLUMN seat_type, DROP COLUMN company_role,
    DROP COLUMN product_updates_email_consent, DROP COLUMN updated_at;
ALTER TABLE events DROP COLUMN group_type, DROP COLUMN group_id;
ALTER TABLE environments DROP COLUMN required_approvals;
ALTER TABLE login_history DROP COLUMN type, DROP COLUMN user_agent;
ALTER TABLE personal_access_tokens DROP COLUMN selector, DROP COLUMN verifier, ALTER COLUMN secret SET NOT NULL;
