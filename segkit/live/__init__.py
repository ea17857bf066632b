"""Following a folder or a growing file without widgets: the feed, its page snapshot and the refresher process."""
