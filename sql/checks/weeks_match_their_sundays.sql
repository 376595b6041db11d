-- severity: error
-- weeks_match_their_sundays: a week's project_flag_trends whose sums differ from flag_trends on the
-- week's snapshot day (its Sunday, or the as-of day), where both were built together.
WITH week_sums AS (
    SELECT week, date, sum(total) AS total, sum(active) AS active, sum(stale) AS stale,
           sum(potentially_stale) AS potentially_stale
    FROM project_flag_trends
    GROUP BY week, date
)

SELECT w.week, d.day, w.total AS week_total, d.total AS day_total, w.stale AS week_stale, d.stale AS day_stale
FROM week_sums AS w
JOIN flag_trends AS d ON d.date = w.date
WHERE (w.total, w.active, w.stale, w.potentially_stale) <> (d.total, d.active, d.stale, d.potentially_stale)
