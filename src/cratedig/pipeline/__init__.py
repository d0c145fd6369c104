"""cratedig.pipeline: retrain end to end, the model registry, precomputed lists.

Entry points (imported from their modules, to keep ``import cratedig`` light):

- :func:`cratedig.pipeline.train.train` ``(engine, settings, ...) -> ModelVersion``:
  matrix -> model -> holdout evaluation -> registry -> precomputed lists -> promotion;
- :mod:`cratedig.pipeline.registry`: ``active_version``, ``list_versions``,
  ``promote``, ``should_promote``.
"""
