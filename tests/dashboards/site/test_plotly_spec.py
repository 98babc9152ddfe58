"""dashboards/site/plotly_spec.py: figures as plain dicts hold to plotly.py. The same drawing
through go.Figure and through plotly_spec gives the same JSON, key order included; what
go.Figure rejects (a property it does not know, a value its validator refuses) fails
``figures.to_spec`` too. The whole site drawn both ways: tests/dashboards/site/test_site.py
(test_pages_draw_what_go_figure_draws)."""

from __future__ import annotations

import json
import re
from types import SimpleNamespace

import plotly.graph_objects as go
import pytest
from plotly.subplots import make_subplots

from dashboards.site import figures, plotly_spec

GO = SimpleNamespace(
    figure=lambda: go.Figure(layout={"template": {}}),
    subplots=lambda **kw: make_subplots(figure=go.Figure(layout={"template": {}}), **kw),
    Scatter=go.Scatter,
    Bar=go.Bar,
    Heatmap=go.Heatmap,
    Sankey=go.Sankey,
)
SPEC = SimpleNamespace(
    figure=plotly_spec.Figure,
    subplots=plotly_spec.subplots,
    Scatter=figures.Scatter,
    Bar=figures.Bar,
    Heatmap=figures.Heatmap,
    Sankey=figures.Sankey,
)


def draw_with_go_figure(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make dashboards/site/figures.py (and so every page) draw with go.Figure and plotly.py's
    trace classes, as the site did before plotly_spec: validated on every assignment, its
    template dropped on the way out."""
    for name in ("Scatter", "Bar", "Heatmap", "Sankey"):
        monkeypatch.setattr(figures, name, getattr(GO, name))
    monkeypatch.setattr(figures, "Figure", GO.figure)
    monkeypatch.setattr(figures, "subplots", GO.subplots)

    def without_template(spec: dict) -> dict:
        spec["layout"].pop("template", None)
        return spec

    monkeypatch.setattr(figures, "validate", without_template)


def _json(fig) -> str:
    if isinstance(fig, go.Figure):
        spec = fig.to_plotly_json()
        spec["layout"].pop("template", None)
    else:
        spec = plotly_spec.validate(fig.to_plotly_json())
    return json.dumps(spec)


def _grid(api):
    """Subplots with titles and shared axes, traces in cells, magic underscores, updates of
    what exists and of what does not, None removing a property, shapes and annotations."""
    fig = api.subplots(
        rows=2, cols=2, subplot_titles=["a", "b", "", "d"], shared_xaxes=True, vertical_spacing=0.1
    )
    fig.add_trace(
        api.Scatter(
            x=["2024Q1", "2024Q2"],
            y=[None, 3.5],
            mode="lines+markers",
            marker={"symbol": ["circle", "circle-open"], "line": {"width": 2}, "size": 7},
            error_y={"type": "data", "array": [1, None], "arrayminus": [1, None], "width": 5},
            line={"width": 2, "color": "#0072B2"},
            hovertext=["x", "y"],
            hoverinfo="text",
            name="n",
            marker_color="#000000",
            connectgaps=False,
        ),
        row=2,
        col=2,
    )
    fig.add_trace(api.Bar(x=[1, 2], y=[3, 4], marker={"color": "red"}), row=1, col=1)
    fig.add_shape(
        {"type": "line", "x0": 0, "x1": 1, "xref": "x2 domain", "y0": 95, "y1": 95, "yref": "y2"},
        line={"color": "#D55E00", "dash": "dash", "width": 2},
        name="target",
        showlegend=True,
    )
    fig.add_annotation(text="no pairs", xref="x3 domain", yref="y3 domain", x=0.5, y=0.5)
    fig.update_yaxes(range=[80, 101], ticksuffix="%", title_text="agreement")
    fig.update_xaxes(title_text="quarter", row=2)
    fig.update_xaxes(type="category", categoryorder="array", categoryarray=["2024Q1", "2024Q2"])
    fig.update_layout(
        title={"text": "T", "subtitle": {"text": "s", "font": {"size": 12}}},
        height=620,
        margin={"b": 110},
        legend_x=0.2,
        xaxis={"title": "a title as a string"},
    )
    fig.update_layout(height=None, showlegend=True, margin={"t": 90})
    return fig


def _plain(api):
    """A figure without subplots: heatmap (a named colour scale), sankey, bar, axes made by
    update_xaxes, a second update of the same axis."""
    fig = api.figure()
    fig.update_layout(title={"text": "t"}, height=440, barmode="stack")
    fig.add_trace(
        api.Heatmap(
            z=[[1, 2], [3, 4]],
            x=["0", "1+"],
            y=["a", "b"],
            text=[["1", "2"], ["3", "4"]],
            texttemplate="%{text}",
            colorscale="Cividis",
            colorbar={"title": {"text": "n"}, "thickness": 12},
            xgap=2,
            zmin=0,
        )
    )
    fig.add_trace(
        api.Sankey(
            arrangement="fixed",
            node={"label": ["a", "b"], "pad": 12, "color": ["red", "blue"]},
            link={"source": [0], "target": [1], "value": [3], "hovertemplate": "%{value}"},
        )
    )
    fig.update_xaxes(side="bottom", showgrid=False, title_text="x")
    fig.update_xaxes(title_font_size=11, range=[0, 1])
    fig.update_yaxes(autorange="reversed", type="category")
    return fig


@pytest.mark.parametrize("draw", [_grid, _plain])
def test_specs_are_what_go_figure_writes_key_for_key(draw):
    assert _json(draw(SPEC)) == _json(draw(GO))


def test_every_object_is_validated_by_plotly():
    fig = plotly_spec.Figure()
    fig.add_trace(figures.Scatter(x=[1], y=[2], line={"dash": "dot"}))
    plotly_spec.validate(fig.to_plotly_json())  # valid: passes

    def broken(change) -> plotly_spec.Figure:
        fig = figures.new_figure("t")
        fig.add_trace(figures.Scatter(x=[1], y=[2]))
        change(fig)
        return fig

    for change, what in (
        (lambda f: f.add_trace(figures.Scatter(x=[1], colour="red")), "colour"),
        (lambda f: f.add_trace(figures.Scatter(x=[1], line={"dash": "wiggly"})), "wiggly"),
        (lambda f: f.add_trace(figures.Scatter(x=[1], marker={"size": "big"})), "size"),
        (lambda f: f.add_trace(figures.Bar(x=[1], marker_colour="red")), "colour"),
        (lambda f: f.update_layout(heigth=400), "heigth"),
        (lambda f: f.update_xaxes(ticksufix="%"), "ticksufix"),
        (lambda f: f.update_yaxes(rangemode="from_zero"), "from_zero"),
        (lambda f: f.add_shape(figures.line_shape(95, name="t") | {"colour": "red"}), "colour"),
        (lambda f: f.add_annotation(text="a", xanchor="middle"), "middle"),
        (lambda f: f.data[0].update(mode="lines+dots"), "lines+dots"),
    ):
        with pytest.raises(ValueError, match=re.escape(what)):
            figures.to_spec(broken(change))
        with pytest.raises(ValueError):  # go.Figure rejects the same spec
            go.Figure(broken(change).to_plotly_json())


def test_an_unknown_trace_type_or_cell_fails():
    with pytest.raises(ValueError):
        figures.to_spec(plotly_spec.Figure().add_trace(plotly_spec.trace("scatterr", x=[1])))
    with pytest.raises(Exception, match="row"):
        plotly_spec.subplots(rows=1, cols=2).add_trace(figures.Scatter(x=[1]), row=2, col=1)
    with pytest.raises(Exception, match="make_subplots"):
        plotly_spec.Figure().update_xaxes(row=1, title_text="x")
    with pytest.raises(TypeError):
        plotly_spec.Figure().add_trace(go.Scatter(x=[1]))
