"""segkit.dashboard.widgets: the page's own widgets."""
from __future__ import annotations


def test_figure_widget_class_loads_the_served_bundle():
    import plotly.graph_objects as go

    from segkit.dashboard import figure_widget_class

    assert figure_widget_class("") is go.FigureWidget
    served = figure_widget_class("templates/segkit/static/plotly-widget.js")
    assert issubclass(served, go.FigureWidget)
    widget = served()
    assert len(widget._esm) < 1000 and "templates/segkit/static/plotly-widget.js" in widget._esm
