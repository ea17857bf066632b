"""What the page, the report and the notebooks show, as plain DataFrames, figures and words (no widgets)."""
