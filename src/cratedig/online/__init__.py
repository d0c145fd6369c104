"""Online measurement: attribution of events to served lists, metrics, daily rollups.

``online`` reads the store (events, impressions, feedback) and writes its own rollup
tables (:mod:`cratedig.store.online_schema`); ``serving`` shows the results.
"""
