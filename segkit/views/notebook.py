"""How the notebooks show their plotly charts: interactive, with a PNG beside.

A notebook cell that ends in a plotly figure carries only plotly's JSON by default, which
JupyterLab draws but ``nbconvert --to html``, GitHub and the documentation site do not.
``charts_everywhere`` makes every chart also carry a static PNG (kaleido, driving the
machine's Chromium), so the notebooks read the same everywhere.
"""
from __future__ import annotations

import warnings

__all__ = ["charts_everywhere", "STATIC_WIDTH", "STATIC_HEIGHT"]

#: Size of the static images, in pixels (about the width of a notebook's output area).
STATIC_WIDTH, STATIC_HEIGHT = 900, 480


def charts_everywhere(static: bool = True) -> str:
    """Set plotly's notebook output to the interactive chart plus, with ``static``, a PNG of
    it; returns the renderer set (``"plotly_mimetype+png"``, or ``"plotly_mimetype"``).

    The PNGs come from kaleido, which drives Chromium; one browser is kept running for the
    session, so a chart costs about 0.3 s after the first (about 3 s). Without kaleido or a
    Chromium the charts stay interactive only, and one sentence says why.

    Examples
    --------
    >>> charts_everywhere(static=False)
    'plotly_mimetype'
    """
    # optional: dashboard
    import plotly.io as pio

    renderer = "plotly_mimetype"
    if static:
        try:
            # optional: notebooks
            import kaleido

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                kaleido.start_sync_server(silence_warnings=True)
            png = pio.renderers["png"]
            png.width, png.height = STATIC_WIDTH, STATIC_HEIGHT
            renderer = "plotly_mimetype+png"
        except Exception as exc:  # kaleido missing, or no Chromium it can start
            print(f"Charts are interactive only (no static images for HTML exports): {str(exc).splitlines()[0][:160]}. "
                  "Install kaleido and Chromium to add them.")
    pio.renderers.default = renderer
    # plotly warns that kaleido's options are ignored with a running server: nothing to act on.
    warnings.filterwarnings("ignore", message="The kopts argument is ignored", category=UserWarning)
    return renderer
