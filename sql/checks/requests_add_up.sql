-- severity: error
-- requests_add_up: metrics rows where total_requests is not total_yes + total_no, or a count is below zero.
SELECT week, project, total_requests, total_yes, total_no
FROM metrics_summary_trends
WHERE total_requests <> total_yes + total_no
   OR least(total_requests, total_yes, total_no, total_apps, total_flags, total_environments) < 0
