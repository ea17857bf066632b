"""The page's data without widgets: which customers it shows, its snapshots and its large-log windows."""
