"""Train, score and save: the steps from a log to a saved, reloadable model."""
