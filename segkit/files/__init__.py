"""Plumbing shared by every layer: atomic writes, file locks and the cache key."""
