"""segkit: customer segmentation for retail transaction logs.

The path of the data, one module per stage: ``load`` -> ``clean`` -> ``features`` ->
``model`` -> ``label`` -> ``artifacts``; ``plots`` and ``dashboard`` show the result,
``workflow`` strings the stages together, ``cli`` is the command line.
"""
from segkit.errors import SegkitArtifactError, SegkitDataError, SegkitError

__version__ = "0.1.0"
__all__ = ["SegkitError", "SegkitDataError", "SegkitArtifactError", "__version__"]
