-- group_roles: users holding a project role through a group. Grain: (project, user).
-- since = when both the user was in the group and the group held the role.
-- Reads: group_role(group_id, project, created_at), group_user(group_id, user_id, created_at)
SELECT gr.project AS project, gu.user_id::BIGINT AS user_id, min(greatest(gr.created_at, gu.created_at)) AS since
FROM group_role AS gr
JOIN group_user AS gu ON gu.group_id = gr.group_id
WHERE gr.project IS NOT NULL
GROUP BY gr.project, gu.user_id
