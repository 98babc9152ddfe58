"""Figure specs as plain dicts, written the way plotly.py writes them and checked with
plotly.py's own validators, at a small part of go.Figure's cost.

Why: a go.Figure keeps a tree of validating objects; building one of the site's figures
with it took about 50 ms (update, path parsing, validator look-ups, deep copies), and a
nightly site draws about 190 (27 slots, a figure per lab view): 8 of the 9 s of the site
step, whatever the size of the warehouse. Only the JSON (``to_plotly_json``) ever reached
a page.

What: ``Figure`` has the part of go.Figure's interface the pages use (``add_trace`` and
``add_traces``, with row/col on a subplot grid; ``add_shape``, ``add_annotation``,
``update_layout``, ``update_xaxes``/``update_yaxes`` with row/col), ``trace`` makes a trace
as go.Scatter(...) etc. would, and ``subplots`` is plotly's make_subplots. The dicts are
those go.Figure's ``to_plotly_json()`` gives, key for key and in the same order (the page
bytes did not change when the site moved from go.Figure to this module):

* an object made in one go (a trace, a shape, an annotation, and every object inside it)
  lists its properties in the order of its plotly.py class's constructor (the parameters
  of its ``__init__``), a trace's ``type`` after them; an empty object is left out;
* an update merges into what is there: a property already set keeps its place, a new one
  comes after, in the order given; ``title_text`` is ``title.text`` (plotly's "magic
  underscores"); None removes a property;
* a subplot grid (its axes and titles), which axes a row/col selects, and which axes a
  trace in a cell refers to, come from plotly.py's own make_subplots, built once per grid.

Validation is plotly.py's, kept whole (``validate``, which ``figures.to_spec`` calls on every
figure): every property of every object must be one of its plotly.py class's, and every value
goes through the validator go.Figure would call on it (plotly.validator_cache, the same cache
go.Figure uses), which rejects what go.Figure rejects and coerces what it coerces (a named
colour scale becomes its list of colours). It walks a finished figure once instead of
checking on every assignment. tests/dashboards/site/test_units.py holds this module to
go.Figure (same JSON, same key order; the same errors), and a test loads every figure of a
built site into go.Figure.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Iterable
from functools import cache
from typing import Any

import plotly.graph_objects as go
from _plotly_utils.basevalidators import CompoundArrayValidator, CompoundValidator
from plotly.basedatatypes import BasePlotlyType
from plotly.subplots import make_subplots
from plotly.validator_cache import ValidatorCache

Spec = dict[str, Any]


# --- plotly.py's classes: which properties an object has, in which order, and their validators.
@cache
def _trace_class(kind: str) -> type[BasePlotlyType]:
    """The plotly.py class of a trace type ('scatter' -> go.Scatter); ValueError if none."""
    try:
        return ValidatorCache.get_validator("", "data").get_trace_class(kind)
    except KeyError:
        raise ValueError(f"Invalid trace type {kind!r}: plotly.py has no such trace") from None


@cache
def _order(cls: type[BasePlotlyType]) -> tuple[str, ...]:
    """The properties of ``cls`` in the order its constructor sets them (its parameters)."""
    params = inspect.signature(cls.__init__).parameters
    return tuple(p for p in params if p not in ("self", "arg", "kwargs"))


def _is_property(cls: type[BasePlotlyType], name: str) -> bool:
    if name in cls._valid_props:
        return True
    return cls is go.Layout and go.Layout._subplotid_prop_re.match(name) is not None  # xaxis2


def _validator(cls: type[BasePlotlyType], name: str) -> Any:
    return ValidatorCache.get_validator(cls._path_str, name)


@cache
def _child(cls: type[BasePlotlyType], name: str) -> type[BasePlotlyType] | None:
    """The class of the object property ``name`` of ``cls`` holds (or of each element of an
    object array such as layout.shapes); None for a plain value."""
    if not _is_property(cls, name):
        return None
    validator = _validator(cls, name)
    if isinstance(validator, CompoundValidator | CompoundArrayValidator):
        return validator.data_class
    return None


@cache
def _path(cls: type[BasePlotlyType], key: str) -> tuple[str, ...]:
    """A property name, or a "magic underscore" path ('title_text' -> ('title', 'text')); an
    unknown name is kept whole (``validate`` rejects it)."""
    if _is_property(cls, key):
        return (key,)
    for i, char in enumerate(key):
        if char == "_":
            head = key[:i]
            child = _child(cls, head)
            if child is not None:
                return (head, *_path(child, key[i + 1 :]))
    return (key,)


# --- writing objects the way plotly.py does.
def _object(cls: type[BasePlotlyType], name: str, value: object) -> object:
    """What plotly.py stores when the property ``name`` of ``cls`` is assigned ``value``:
    an object (or each of an array of objects) is made anew from a dict; any other value of
    an object property (a string for a title) is plotly.py's own coercion; a plain value as
    given (``validate`` checks it)."""
    child = _child(cls, name)
    if child is None:
        return value
    validator = _validator(cls, name)
    if isinstance(validator, CompoundArrayValidator):  # anything but a list: validate says no
        if not isinstance(value, list | tuple):
            return value
        return [_made(child, v) if isinstance(v, dict) else v for v in value]
    if isinstance(value, dict):
        return _made(child, value)
    return validator.validate_coerce(value).to_plotly_json()


def _made(cls: type[BasePlotlyType], props: Spec, kind: str | None = None) -> Spec:
    """An object made in one go (plotly.py's constructor): its properties in the
    constructor's order, None left out, the objects inside made the same way and left out
    when empty; a trace's ``type`` next; other keys (magic underscore paths) then assigned
    in the order given."""
    out: Spec = {}
    for name in _order(cls):
        value = props.get(name)
        if value is not None:
            _assign(cls, out, (name,), value)
    if kind is not None:
        out["type"] = kind
    known = _known(cls)
    for key, value in props.items():
        if key not in known:
            _assign(cls, out, _path(cls, key), value)
    return out


@cache
def _known(cls: type[BasePlotlyType]) -> frozenset[str]:
    """What a constructor takes as a named parameter (and a trace's type, which it sets)."""
    return frozenset((*_order(cls), "type"))


def _assign(cls: type[BasePlotlyType], target: Spec, path: tuple[str, ...], value: object) -> None:
    """plotly.py's ``obj[path] = value`` on an object outside a figure (a constructor): the
    objects on the path appear with their first property; an empty object, an empty array of
    objects or None removes the property."""
    name, rest = path[0], path[1:]
    if rest:
        inner = target.get(name)
        fresh = not isinstance(inner, dict)
        if fresh:
            inner = {}
        _assign(_child(cls, name), inner, rest, value)  # type: ignore[arg-type]
        if fresh and inner:
            target[name] = inner
        return
    stored = None if value is None else _object(cls, name, value)
    if stored is None or (_child(cls, name) is not None and not stored):
        target.pop(name, None)
    else:
        target[name] = stored


def _update(cls: type[BasePlotlyType], root: Spec, props: Spec) -> None:
    """plotly.py's update of an object in a figure (update_layout, update_xaxes): a batch.
    Walking ``props`` in the order given (a dict for an object property is merged into it,
    key by key), the objects on the way to each value are created at once and the values
    are recorded; the recorded values are then set in order. So a new object comes before
    the plain values given beside it (update_layout(height=..., margin={...}) writes margin
    first), a value already set keeps its place, and None removes one that is set."""
    edits: list[tuple[tuple[str, ...], object]] = []
    _walk(cls, root, (), props, edits)
    for path, value in edits:
        _set_in(root, path, value)


def _walk(
    cls: type[BasePlotlyType],
    root: Spec,
    prefix: tuple[str, ...],
    props: Spec,
    edits: list[tuple[tuple[str, ...], object]],
) -> None:
    for key, value in props.items():
        path = _path(cls, key)
        owner = cls
        for step in path[:-1]:
            owner = _child(owner, step)  # type: ignore[assignment]
        name, full = path[-1], prefix + path
        child = _child(owner, name)
        if child is not None and isinstance(_validator(owner, name), CompoundArrayValidator):
            raise NotImplementedError(f"updating the array of objects {name!r}")
        if child is not None and isinstance(value, dict):
            _walk(child, root, full, value, edits)
        elif child is not None:  # not a dict, for an object: set whole, at the end
            edits.append((full, _object(owner, name, value)))
        elif value is None:
            if _holds(root, full):
                edits.append((full, None))
        else:
            _containers(root, full[:-1])
            edits.append((full, value))


def _holds(root: Spec, path: tuple[str, ...]) -> bool:
    node: object = root
    for step in path:
        if not isinstance(node, dict) or step not in node:
            return False
        node = node[step]
    return True


def _containers(root: Spec, path: tuple[str, ...]) -> Spec:
    node = root
    for step in path:
        node = node.setdefault(step, {})
    return node


def _set_in(root: Spec, path: tuple[str, ...], value: object) -> None:
    parent = _containers(root, path[:-1])
    if value is None:
        parent.pop(path[-1], None)
    else:
        parent[path[-1]] = value


def trace(kind: str, **props: object) -> Spec:
    """A trace as go.<Kind>(**props) writes it: ``trace('scatter', x=..., y=...)``."""
    return _made(_trace_class(kind), props, kind)


def _axis_suffix(axis: str) -> str:
    return axis.removeprefix("xaxis").removeprefix("yaxis")


class _Grid:
    """A figure's frame as plotly.py makes it: an empty go.Figure, or make_subplots(**kwargs)
    (without a template: the page sends one); its layout, and what plotly.py does with a row
    and a column on it, asked of plotly.py once and kept."""

    def __init__(self, subplots: dict[str, object] | None) -> None:
        bare = go.Figure(layout={"template": {}})
        self.figure = make_subplots(figure=bare, **subplots) if subplots is not None else bare
        layout = self.figure.to_plotly_json()["layout"]
        layout.pop("template", None)
        self.layout = layout
        self.subplots = subplots is not None
        self._selected: dict[tuple[str, int | None, int | None], tuple[str, ...]] = {}
        self._refs: dict[tuple[int, int], dict[str, str]] = {}
        self.axes = {*self.select("x", None, None), *self.select("y", None, None)}

    def select(self, letter: str, row: int | None, col: int | None) -> tuple[str, ...]:
        """The axes plotly.py's update_xaxes/update_yaxes(row=, col=) updates."""
        key = (letter, row, col)
        if key not in self._selected:
            select = self.figure.select_xaxes if letter == "x" else self.figure.select_yaxes
            self._selected[key] = tuple(a.plotly_name for a in select(row=row, col=col))
        return self._selected[key]

    def refs(self, row: int, col: int) -> dict[str, str]:
        """What a trace in the cell (row, col) refers to: its axes (xaxis 'x3', yaxis 'y3')."""
        if (row, col) not in self._refs:
            if not self.subplots:
                raise ValueError("row and col need a figure made by subplots()")
            cell = self.figure.get_subplot(row, col)  # plotly.py checks row and col
            if not isinstance(getattr(cell, "xaxis", None), go.layout.XAxis):
                raise NotImplementedError(f"cell ({row}, {col}) is not an x/y subplot")
            self._refs[(row, col)] = {
                "xaxis": "x" + _axis_suffix(cell.xaxis.plotly_name),
                "yaxis": "y" + _axis_suffix(cell.yaxis.plotly_name),
            }
        return self._refs[(row, col)]


@cache
def _grid(key: tuple[tuple[str, object], ...] | None) -> _Grid:
    return _Grid(dict(key) if key is not None else None)


class Figure:
    """A figure as plain dicts (``data``, ``layout``), built through the part of go.Figure's
    interface the pages use, with go.Figure's results (module docstring). Pass it to
    ``figures.to_spec`` for the page: that validates it."""

    def __init__(self, grid: _Grid | None = None) -> None:
        self._grid = grid or _grid(None)
        self.data: list[Spec] = []
        self.layout: Spec = copy.deepcopy(self._grid.layout)

    def add_trace(self, trace: Spec, row: int | None = None, col: int | None = None) -> Figure:
        if not isinstance(trace, dict) or "type" not in trace:
            raise TypeError(f"a trace is a dict made by trace() (or Scatter, ...), not {trace!r}")
        made = _made(_trace_class(trace["type"]), trace, trace["type"])  # as add_trace does
        if row is not None or col is not None:
            if row is None or col is None:
                raise ValueError("a trace's cell needs both row and col")
            made.update(self._grid.refs(row, col))  # plain values, set after type
        self.data.append(made)
        return self

    def add_traces(self, traces: Iterable[Spec]) -> Figure:
        for t in traces:
            self.add_trace(t)
        return self

    def _add(self, plural: str, cls: type[BasePlotlyType], arg: Spec | None, kw: Spec) -> Figure:
        props = {**(arg or {}), **kw}
        self.layout.setdefault(plural, []).append(_made(cls, props))
        return self

    def add_shape(self, arg: Spec | None = None, **kwargs: object) -> Figure:
        return self._add("shapes", go.layout.Shape, arg, kwargs)

    def add_annotation(self, arg: Spec | None = None, **kwargs: object) -> Figure:
        return self._add("annotations", go.layout.Annotation, arg, kwargs)

    def update_layout(self, dict1: Spec | None = None, **kwargs: object) -> Figure:
        props = {**(dict1 or {}), **kwargs}
        new_axes = [
            k for k in props if k not in self.layout and go.Layout._subplotid_prop_re.match(k)
        ]
        if new_axes:  # plotly.py creates such a subplot first: not needed so far, not written
            raise NotImplementedError(f"new subplots in update_layout: {new_axes}")
        _update(go.Layout, self.layout, props)
        return self

    def _update_axes(self, letter: str, row: int | None, col: int | None, props: Spec) -> None:
        extra = {k for k in self.layout if k.startswith(("xaxis", "yaxis"))} - self._grid.axes
        if extra:  # plotly.py would select these too: not needed so far, so not written
            raise NotImplementedError(f"axes added to the layout by hand: {sorted(extra)}")
        for axis in self._grid.select(letter, row, col):  # plotly.py's errors for a bad row
            _update(go.Layout, self.layout, {axis: props})  # one update (batch) per axis

    def update_xaxes(self, row: int | None = None, col: int | None = None, **kwargs: object):
        self._update_axes("x", row, col, kwargs)
        return self

    def update_yaxes(self, row: int | None = None, col: int | None = None, **kwargs: object):
        self._update_axes("y", row, col, kwargs)
        return self

    def to_plotly_json(self) -> Spec:
        return {"data": self.data, "layout": self.layout}


def subplots(**kwargs: object) -> Figure:
    """plotly.py's make_subplots(**kwargs) as a ``Figure`` (the grid is built once per set of
    arguments; the arguments must be hashable once lists are tuples)."""
    key = tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in sorted(kwargs.items()))
    return Figure(_grid(key))


# --- validation: plotly.py's validators over a finished figure.
def validate(spec: Spec) -> Spec:
    """``spec`` ({data, layout}) checked and coerced by plotly.py's validators, as go.Figure
    would on every assignment: ValueError for a property plotly.py does not know or a value
    its validator rejects. Returns the coerced copy (what go.Figure would hold)."""
    unknown = set(spec) - {"data", "layout"}
    if unknown:
        raise ValueError(f"a figure has data and layout, not {sorted(unknown)}")
    data = []
    for i, t in enumerate(spec.get("data") or []):
        kind = t.get("type", "scatter") if isinstance(t, dict) else None
        data.append(_checked(_trace_class(kind), t, f"data[{i}]", trace=True))
    return {"data": data, "layout": _checked(go.Layout, spec.get("layout") or {}, "layout")}


def _checked(cls: type[BasePlotlyType], obj: Spec, where: str, *, trace: bool = False) -> Spec:
    if not isinstance(obj, dict):
        raise ValueError(f"{where}: an object of {cls._path_str} must be a dict, not {obj!r}")
    out: Spec = {}
    for name, value in obj.items():
        if name == "type" and trace:
            out[name] = value  # it chose the class
            continue
        if not _is_property(cls, name):
            raise ValueError(
                f"Invalid property {name!r} at {where} (plotly.py {cls.__module__}."
                f"{cls.__name__}); valid properties: {', '.join(sorted(cls._valid_props))}"
            )
        validator = _validator(cls, name)
        at = f"{where}.{name}"
        if isinstance(validator, CompoundArrayValidator):
            if not isinstance(value, list | tuple):
                raise ValueError(f"{at}: a list of objects, not {value!r}")
            out[name] = [
                _checked(validator.data_class, v, f"{at}[{i}]") for i, v in enumerate(value)
            ]
        elif isinstance(validator, CompoundValidator):
            if isinstance(value, dict):
                out[name] = _checked(validator.data_class, value, at)
            else:  # e.g. a string for a title: plotly.py's own coercion
                out[name] = validator.validate_coerce(value).to_plotly_json()
        else:
            try:
                out[name] = validator.validate_coerce(value)
            except ValueError as e:
                raise ValueError(f"{at}: {e}") from e
    return out
