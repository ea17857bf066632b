"""The page's data without widgets: which customers it shows, its page cache and its large-log date ranges."""
