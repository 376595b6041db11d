"""The insights server: Unleash's insights endpoints, health, readiness and metrics over the warehouse.

It only reads: it never lands, never builds and never takes the run lock; each answer comes from
one committed warehouse state (``app``). Tokens guard every route but health and readiness
(``tokens``); ``metrics`` are for operators. It imports no Prefect.
"""
