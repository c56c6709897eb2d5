"""The one way text that the report did not write itself reaches a page.

A search's names, parameter values, metric tags, failure reasons and paths come from a
config, a trial or a log, and results folders get shared (a team's web server, a ticket):
none of it may become markup or script in any page, and each must show as the text it is.

- HTML: every such string goes through `text` (HTML escaping, quotes too), in the pages'
  own markup and in tables (pandas' `to_html` escapes its cells and headers itself).
- Plotly: the figures' JSON sits in a <script>, where plotly's encoder writes `<` and `/`
  as \\u escapes; plotly.js then renders titles, labels, legends and hover texts as its
  own small markup (`<br>`, `<b>`, `<a href>`, ...), decoding entities. `figure_html`
  writes every figure: each occurrence of a known user string is escaped (so `<b>x</b>`
  in a name shows as that text, and our own `<br>` between values still breaks lines),
  then any tag left that is not one of plotly's formatting tags is escaped too (Ax's
  figures are built from the same names, out of our hands).
"""

import html
import re
from collections.abc import Iterable
from typing import Any

# plotly's formatting tags without attributes, which the report's own figures (and Ax's)
# use: everything else that looks like a tag is shown as text
PLOTLY_TAGS = re.compile(r"</?(?:br|b|i|em|sup|sub|extra)\s*/?>", re.IGNORECASE)
SPECIAL = re.compile(r"[<>&\"']")


def text(value: Any) -> str:
    """`value` as text in HTML (an element's content or a quoted attribute)."""
    return html.escape(str(value), quote=True)


def _only_plotly_tags(value: str) -> str:
    """`value` with every `<` that does not open one of PLOTLY_TAGS escaped."""
    out, last = [], 0
    for match in PLOTLY_TAGS.finditer(value):
        out += [value[last:match.start()].replace("<", "&lt;"), match.group()]
        last = match.end()
    out.append(value[last:].replace("<", "&lt;"))
    return "".join(out)


class FigureText:
    """Escapes the user strings in a figure's strings, then what plotly would read as
    markup and the report did not put there."""

    def __init__(self, user_strings: Iterable[Any]) -> None:
        special = sorted({str(s) for s in user_strings if SPECIAL.search(str(s))},
                         key=len, reverse=True)  # the longest first: one inside another
        self._known = re.compile("|".join(map(re.escape, special))) if special else None

    def __call__(self, value: str) -> str:
        if "<" not in value and "&" not in value:
            return value
        if self._known is not None:
            value = self._known.sub(lambda m: text(m.group()), value)
        return _only_plotly_tags(value)

    def clean(self, data: Any) -> Any:
        """`data` (a figure's JSON-like dict) with each string cleaned."""
        if isinstance(data, str):
            return self(data)
        if isinstance(data, dict):
            return {key: self.clean(value) for key, value in data.items()}
        if isinstance(data, (list, tuple)):
            return [self.clean(value) for value in data]
        return data


def figure_html(fig: Any, user_strings: Iterable[Any], **to_html: Any) -> str:
    """A plotly figure as HTML (plotly.io.to_html's keywords), its strings cleaned by
    `FigureText(user_strings)`: the one path from a figure to a page."""
    import plotly.io as pio

    data = FigureText(user_strings).clean(fig.to_plotly_json())
    return pio.to_html(data, validate=False, **to_html)
