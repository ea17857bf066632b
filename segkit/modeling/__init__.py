"""Scaling, clustering and naming segments: the scikit-learn model, segment labels and validation."""
