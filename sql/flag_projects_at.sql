-- flag_projects_at: the project and type of a flag name at each snapshot moment.
-- Grain: (snapshot key, flag). The newest incarnation created by then decides, archived or
-- deleted alike, so usage and lifecycle counts of any flag Unleash has known land in a project.
-- Inputs: flag_states_at.
SELECT key, flag, arg_max(project, incarnation) AS project, arg_max(type, incarnation) AS type
FROM flag_states_at
GROUP BY key, flag
