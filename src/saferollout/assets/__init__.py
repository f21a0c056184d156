"""Static files shipped with the package: the vendored chart library.

uPlot 1.6.32 (MIT, https://github.com/leeoniya/uPlot), copied from the npm
package's `dist/` so the dashboard and the reports work with no CDN and no
network. Both read it with `read_asset`; reports inline it.
"""

from __future__ import annotations

from importlib.resources import files

UPLOT_JS = "uPlot.iife.min.js"
UPLOT_CSS = "uPlot.min.css"


def read_asset(name: str) -> str:
    """The text of one shipped asset (a name from this module)."""
    return (files(__name__) / name).read_text(encoding="utf-8")
