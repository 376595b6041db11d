-- The Unleash tables the pipeline reads, as Unleash 8's migrations (src/migrations/) leave them,
-- personal-data columns included: the tests fill these and check that none of it comes through.
-- Checked column by column (name, type, nullability) against a database that unleash-server 8.2.0
-- migrated itself. as-5.12.sql turns it into Unleash 5.12's.
CREATE TABLE users (
    id SERIAL PRIMARY KEY,
    name VARCHAR(255),
    username VARCHAR(255) UNIQUE,
    email VARCHAR(255) UNIQUE,
    image_url TEXT,
    password_hash VARCHAR(255),
    login_attempts INTEGER DEFAULT 0,
    created_at TIMESTAMP DEFAULT now(),
    seen_at TIMESTAMP,
    settings JSON,
    permissions JSON DEFAULT '[]',
    deleted_at TIMESTAMP WITH TIME ZONE,
    is_service BOOLEAN DEFAULT false,
    created_by_user_id INTEGER,
    is_system BOOLEAN NOT NULL DEFAULT false,
    scim_id TEXT,
    scim_external_id TEXT,
    first_seen_at TIMESTAMP,
    email_hash TEXT,
    seat_type TEXT,
    company_role TEXT,
    product_updates_email_consent BOOLEAN,
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now()
);

CREATE TABLE projects (
    id VARCHAR(255) PRIMARY KEY NOT NULL,
    name VARCHAR(255) NOT NULL,
    description VARCHAR(255),
    created_at TIMESTAMP DEFAULT now(),
    health INTEGER DEFAULT 100,
    updated_at TIMESTAMP WITH TIME ZONE DEFAULT now(),
    archived_at TIMESTAMP WITH TIME ZONE
);

CREATE TABLE environments (
    name VARCHAR(100) NOT NULL PRIMARY KEY,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT now(),
    sort_order INTEGER DEFAULT 9999,
    type TEXT NOT NULL,
    enabled BOOLEAN DEFAULT true,
    protected BOOLEAN DEFAULT false,
    required_approvals INTEGER
);

CREATE TABLE feature_types (
    id VARCHAR(255) PRIMARY KEY NOT NULL,
    name VARCHAR(255) NOT NULL,
    description VARCHAR(255),
    lifetime_days INTEGER,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT now(),
    created_by_user_id INTEGER
);

CREATE TABLE features (
    created_at TIMESTAMP WITH TIME ZONE DEFAULT now(),
    name VARCHAR(255) PRIMARY KEY NOT NULL,
    description TEXT,
    variants JSON DEFAULT '[]',
    type VARCHAR(255) DEFAULT 'release',
    project VARCHAR(255) DEFAULT 'default',
    stale BOOLEAN DEFAULT false,
    last_seen_at TIMESTAMP WITH TIME ZONE,
    impression_data BOOLEAN DEFAULT false,
    archived_at TIMESTAMP WITH TIME ZONE,
    potentially_stale BOOLEAN NOT NULL DEFAULT false,
    created_by_user_id INTEGER,
    archived BOOLEAN DEFAULT false
);

CREATE TABLE feature_environments (
    environment VARCHAR(100) NOT NULL DEFAULT 'default' REFERENCES environments (name) ON DELETE CASCADE,
    feature_name VARCHAR(255) NOT NULL REFERENCES features (name) ON DELETE CASCADE,
    enabled BOOLEAN NOT NULL,
    variants JSONB NOT NULL DEFAULT '[]'::JSONB,
    last_seen_at TIMESTAMP WITH TIME ZONE,
    PRIMARY KEY (environment, feature_name)
);

CREATE TABLE events (
    id SERIAL PRIMARY KEY,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT now(),
    type VARCHAR(255) NOT NULL,
    created_by VARCHAR(255) NOT NULL,
    data JSON,
    tags JSON DEFAULT '[]',
    project TEXT,
    environment TEXT,
    feature_name TEXT,
    pre_data JSONB,
    announced BOOLEAN NOT NULL DEFAULT false,
    created_by_user_id INTEGER,
    ip TEXT,
    group_type TEXT,
    group_id TEXT
);

CREATE TABLE roles (
    id SERIAL PRIMARY KEY,
    name TEXT NOT NULL,
    description TEXT,
    type TEXT NOT NULL DEFAULT 'custom',
    created_at TIMESTAMP WITH TIME ZONE DEFAULT now(),
    updated_at TIMESTAMP WITH TIME ZONE,
    created_by_user_id INTEGER
);

CREATE TABLE role_user (
    role_id INTEGER NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT now(),
    project VARCHAR(255) NOT NULL DEFAULT 'default',
    created_by_user_id INTEGER,
    PRIMARY KEY (role_id, user_id, project)
);

CREATE TABLE groups (
    id SERIAL PRIMARY KEY,
    name TEXT NOT NULL,
    description TEXT,
    created_by TEXT,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
    mappings_sso JSONB DEFAULT '[]'::JSONB,
    root_role_id INTEGER,
    scim_id TEXT,
    scim_external_id TEXT
);

CREATE TABLE group_user (
    group_id INTEGER NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_by TEXT,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, user_id)
);

CREATE TABLE group_role (
    group_id INTEGER NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    role_id INTEGER NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    created_by TEXT,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT now(),
    project TEXT NOT NULL,
    PRIMARY KEY (group_id, role_id, project)
);

CREATE TABLE personal_access_tokens (
    secret TEXT,
    description TEXT,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at TIMESTAMP WITH TIME ZONE NOT NULL,
    seen_at TIMESTAMP WITH TIME ZONE,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
    id SERIAL PRIMARY KEY,
    selector TEXT,
    verifier TEXT
);

CREATE TABLE login_history (
    id SERIAL PRIMARY KEY NOT NULL,
    username TEXT NOT NULL,
    auth_type TEXT NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
    successful BOOLEAN NOT NULL,
    ip INET,
    failure_reason TEXT,
    type TEXT NOT NULL DEFAULT 'login',
    user_agent TEXT
);

CREATE TABLE feature_lifecycles (
    feature VARCHAR(255) NOT NULL REFERENCES features (name) ON DELETE CASCADE,
    stage VARCHAR(255) NULL,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT now(),
    status TEXT,
    status_value TEXT,
    PRIMARY KEY (feature, stage)
);

CREATE TABLE client_metrics_env (
    feature_name VARCHAR(255),
    app_name VARCHAR(255),
    environment VARCHAR(100),
    timestamp TIMESTAMP WITH TIME ZONE,
    yes BIGINT DEFAULT 0,
    no BIGINT DEFAULT 0,
    PRIMARY KEY (feature_name, app_name, environment, timestamp)
);

CREATE TABLE client_metrics_env_daily (
    feature_name VARCHAR(255),
    app_name VARCHAR(255),
    environment VARCHAR(100),
    date DATE,
    yes BIGINT DEFAULT 0,
    no BIGINT DEFAULT 0,
    PRIMARY KEY (feature_name, app_name, environment, date)
);
