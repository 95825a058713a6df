"""Charts as PNG images (matplotlib, Agg backend): bars people can read at a glance.

Chinese labels need a CJK font: the Debian package ``fonts-noto-cjk`` (``dev.py setup``
installs it). Without one, or without matplotlib, charts fall back gracefully: labels switch
to their ASCII form (section codes, English titles) instead of printing empty boxes, and
:func:`charts_available` tells a renderer to leave charts out altogether.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

#: Font families tried in order; the first one matplotlib can load wins.
CJK_FAMILIES = (
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "WenQuanYi Micro Hei",
    "WenQuanYi Zen Hei",
    "SimHei",
    "Microsoft YaHei",
    "Droid Sans Fallback",
    "AR PL UMing CN",
)


@dataclass(frozen=True)
class Label:
    """A label in Chinese and its ASCII fallback."""

    zh: str
    ascii: str


@lru_cache(maxsize=1)
def _pyplot() -> Any | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib import pyplot
    except ImportError:
        return None
    return pyplot


def charts_available() -> bool:
    return _pyplot() is not None


@lru_cache(maxsize=1)
def cjk_font() -> str | None:
    """The name of a CJK font family matplotlib can use, or None."""
    if _pyplot() is None:
        return None
    from matplotlib import font_manager

    def known() -> set[str]:
        return {entry.name for entry in font_manager.fontManager.ttflist}

    names = known()
    for family in CJK_FAMILIES:
        if family in names:
            return family
    # The font cache may predate the font's installation: add the files it can see.
    for path in font_manager.findSystemFonts():
        lowered = path.lower()
        if any(mark in lowered for mark in ("cjk", "wqy", "simhei", "yahei", "droidsansfallback")):
            try:
                font_manager.fontManager.addfont(path)
            except (OSError, RuntimeError, ValueError):
                continue
    names = known()
    return next((family for family in CJK_FAMILIES if family in names), None)


def _text(label: Label) -> str:
    return label.zh if cjk_font() else label.ascii


def bar_chart(
    labels: Sequence[Label],
    values: Sequence[float],
    *,
    title: Label,
    axis: Label,
    percent: bool = False,
    horizontal: bool = True,
) -> bytes | None:
    """A bar chart as PNG bytes; None when matplotlib is not installed."""
    pyplot = _pyplot()
    if pyplot is None:
        return None
    font = cjk_font()
    rc = {"font.family": [font, "DejaVu Sans"]} if font else {"font.family": ["DejaVu Sans"]}
    count = max(len(labels), 1)
    with pyplot.rc_context({**rc, "axes.unicode_minus": False}):
        height = 1.2 + 0.35 * count if horizontal else 4.0
        width = 7.0 if horizontal else max(6.0, 0.5 * count + 2)
        figure, axes = pyplot.subplots(figsize=(width, height), dpi=110)
        try:
            names = [_text(label) for label in labels]
            shown = [value * 100 if percent else value for value in values]
            if horizontal:
                bars = axes.barh(names[::-1], shown[::-1], color="#2f6db5")
                axes.set_xlabel(_text(axis))
                if percent:
                    axes.set_xlim(0, 105)
            else:
                bars = axes.bar(names, shown, color="#2f6db5")
                axes.set_ylabel(_text(axis))
                axes.tick_params(axis="x", labelrotation=45)
            axes.bar_label(bars, fmt="%.1f%%" if percent else "%g", fontsize=8, padding=2)
            axes.set_title(_text(title))
            axes.spines[["top", "right"]].set_visible(False)
            figure.tight_layout()
            buffer = io.BytesIO()
            figure.savefig(buffer, format="png")
            return buffer.getvalue()
        finally:
            pyplot.close(figure)
