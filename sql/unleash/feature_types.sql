-- feature_types: every flag type and its expected lifetime in days (null: never potentially stale).
-- Reads: feature_types(id, lifetime_days)
SELECT t.id AS id, t.lifetime_days::BIGINT AS lifetime_days
FROM feature_types AS t
