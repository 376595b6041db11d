-- project_roles: users holding a project role directly (root roles excluded). Grain: (project, user).
-- Reads: role_user(role_id, user_id, project, created_at), roles(id, type)
SELECT ru.project AS project, ru.user_id::BIGINT AS user_id, min(ru.created_at) AS since
FROM role_user AS ru
JOIN roles AS r ON r.id = ru.role_id
WHERE r.type <> 'root' AND ru.project IS NOT NULL
GROUP BY ru.project, ru.user_id
