"""cratedig: artist recommendations for small music-streaming sites."""

__version__ = "0.1.0"
