-- severity: error
-- users_add_up: user rows where inactive is not total - active, or a count is below zero.
SELECT day, total, active, inactive
FROM user_trends
WHERE inactive <> total - active
   OR least(total, active, inactive) < 0
