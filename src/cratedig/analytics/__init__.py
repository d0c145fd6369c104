"""Analytics of a store: visits, active users, listening hours, the event mix,
per-user profiles, the artist long tail, follow churn and retention cohorts, and an
HTML report with PNG plots (``cratedig report``). See ``docs/analytics.md``.

Every analysis runs on SQLite and PostgreSQL alike: aggregations are SQL
(SQLAlchemy Core, integer epoch-millisecond buckets) and the small results are
shaped in polars.
"""

from cratedig.analytics.artists import artist_popularity, gini, long_tail_summary, lorenz_curve
from cratedig.analytics.cohorts import retention
from cratedig.analytics.coverage import Coverage, measure_coverage
from cratedig.analytics.profile import user_profile
from cratedig.analytics.visits import SegmentRules, analyse_visits, visits_frame

__all__ = [
    "Coverage",
    "SegmentRules",
    "analyse_visits",
    "artist_popularity",
    "gini",
    "long_tail_summary",
    "lorenz_curve",
    "measure_coverage",
    "retention",
    "user_profile",
    "visits_frame",
]
