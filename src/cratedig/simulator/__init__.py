"""The site simulator: a seeded world of artists and users, their tastes, their events
and the ground truth to score recommendations against.

Start at :mod:`cratedig.simulator.site` (``SimulationConfig``, ``write_files``,
``simulate_to_store``). ``simulator`` never imports ``serving``.
"""
