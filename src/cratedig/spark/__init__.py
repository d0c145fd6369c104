"""Optional Spark training (``pip install cratedig[spark]``): the same matrix and ALS on Spark.

Nothing here is imported by the service; commands import it lazily. The package's
modules that need pyspark (:mod:`.session`, :mod:`.render`, :mod:`.engagement`,
:mod:`.als`, :mod:`.train`) import it at module level, so import them only when a
Spark run is asked for. :mod:`.export` (events to day-partitioned Parquet) needs only
pyarrow.

The rules are not written twice: the per-event weight and the unfollow plan come from
:mod:`cratedig.matrix.rules` (rendered to Spark columns by :mod:`.render`), and the
finishing steps (clip, minimum-interaction filters, id maps, transform, blocked pairs)
are :func:`cratedig.matrix.engagement.assemble`, the very function ``build_engagement``
ends with.
"""
