-- flag_usage_of_day: one day's evaluations per flag, environment and app, summed from the day's file.
-- Grain: (flag, environment, app_name) of one day, every row with metrics (zero counts included),
-- sorted by flag, environment, app name. $file is the day's hourly file where the lake has one,
-- else its daily file (never both); yes / no = evaluation counts. Run once a day file, several at
-- a time; pipeline/trends/usage.py adds the day, the flag's project and type at its end, and the
-- environment's type.
-- Inputs: $file.
SELECT feature_name AS flag, environment, app_name, sum(yes)::BIGINT AS yes, sum(no)::BIGINT AS no
FROM read_parquet($file)
GROUP BY ALL
ORDER BY flag, environment, app_name
