"""Importers of public datasets: Last.fm HetRec 2011 (2K users) and Last.fm 1K.

- :mod:`cratedig.datasets.lastfm_hetrec`: HetRec 2K into the store (one parser of its
  files, also used by :mod:`cratedig.datasets.hetrec_arrays`);
- :mod:`cratedig.datasets.hetrec_arrays`: the same files as plain integer arrays, for
  code that builds matrices without a database (the accuracy benchmark);
- :mod:`cratedig.datasets.lastfm_1k`: Last.fm 1K (profiles and listening log);
- :mod:`cratedig.datasets.common`: what the importers share.

``datasets`` sits beside ``ingest`` (it writes through the ingest core and the store)
and imports nothing downstream of it.
"""
