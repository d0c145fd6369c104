"""cratedig.serving: the Flask service (JSON API, pages, cache, impressions)."""

from cratedig.serving.app import create_app

__all__ = ["create_app"]
