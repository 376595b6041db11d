-- severity: error
-- usage_counts_in_range: usage rows with a negative or no count, and flags rows whose evaluation
-- counts are negative or do not grow with their window (7 <= 30 <= 90 days), and unknown_flags
-- rows evaluated outside their 90 days or whose counts do not grow with their window.
SELECT 'flag_usage_daily' AS dataset, day::VARCHAR || ' ' || flag AS key
FROM flag_usage_daily
WHERE yes < 0 OR no < 0 OR yes + no = 0
UNION ALL
SELECT 'flags', flag || ' ' || incarnation::VARCHAR
FROM flags
WHERE evaluations_7d < 0 OR evaluations_30d < evaluations_7d OR evaluations_90d < evaluations_30d
UNION ALL
SELECT 'unknown_flags', flag
FROM unknown_flags
WHERE evaluations_7d < 0 OR evaluations_30d < evaluations_7d OR first_evaluated_day > last_evaluated_day
   OR first_evaluated_day < as_of - 89 OR last_evaluated_day > as_of OR cardinality(apps) = 0
