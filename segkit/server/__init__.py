"""Serving the page: the Voila configuration and its kernel pool."""
