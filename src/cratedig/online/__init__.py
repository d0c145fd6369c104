"""Online measurement: attribution of events to served lists, metrics, daily rollups.

``online`` reads the store (events, impressions, feedback) and writes its own rollup
tables (:mod:`cratedig.store.schema.rollups`); ``serving`` shows the results.
"""
