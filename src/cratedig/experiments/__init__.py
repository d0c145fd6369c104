"""A/B experiments: pure assignment, statistics and interleaving.

* :mod:`~cratedig.experiments.assignment`: hash (salt, user id) -> bucket -> variant;
  ramps and layers (pure, so serving may import it).
* :mod:`~cratedig.experiments.estimates`: per-user data, delta method, CUPED.
* :mod:`~cratedig.experiments.inference`: z-tests, Welch's t, lifts, bootstrap, Holm/BH.
* :mod:`~cratedig.experiments.planning`: power, MDE, duration, SRM.
* :mod:`~cratedig.experiments.sequential`: always-valid confidence sequences.
* :mod:`~cratedig.experiments.decision`: the decision in words.
* :mod:`~cratedig.experiments.interleaving`: team-draft interleaving and its test.

See ``docs/experiments.md`` for the methods and their papers.
"""
