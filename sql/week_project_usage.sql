-- week_project_usage: this build's flag_usage_daily evaluations per ISO week and project, each flag
-- in its project at the week's snapshot, as metrics_summary_trends counts it: what the
-- usage_matches_metrics_summary check compares with that trend.
-- Grain: (week, project); yes / no are evaluation counts.
-- Inputs: snapshots(key = week), flag_usage_daily_rows, flag_projects_at.
SELECT s.key AS week, f.project, sum(u.yes)::BIGINT AS yes, sum(u.no)::BIGINT AS no
FROM flag_usage_daily_rows AS u
JOIN snapshots AS s ON s.window_start::DATE = date_trunc('week', u.day)::DATE AND u.day <= s.snapshot_at::DATE
JOIN flag_projects_at AS f ON f.key = s.key AND f.flag = u.flag
GROUP BY s.key, f.project
