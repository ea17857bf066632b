"""Following a folder or a growing file without widgets: the feed, its page cache and the refresher process."""
