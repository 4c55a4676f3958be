"""Formulas on the page: presentation MathML (rendered natively by the browser, offline) with the
sympy LaTeX beside it for copy-paste."""

from __future__ import annotations

import re

import sympy as sp

from .page import esc


_SINGLE = re.compile(r"<mrow>(<(mi|mn|mo)>[^<]*</\2>)</mrow>")


def mathml(expr: sp.Basic, lhs: str | None = None) -> str:
    """``<math display="block">lhs = expr</math>`` from sympy's presentation printer."""
    from sympy.printing.mathml import mathml as to_mathml

    # the entity is 16 bytes, the character it names 3: formulas are a large part of the page
    body = to_mathml(sp.sympify(expr), printer="presentation").replace("&InvisibleTimes;", "\u2062")
    body = _SINGLE.sub(r"\1", body)  # <mrow> around one token draws the same without it
    left = f"<mtext>{esc(lhs)}</mtext><mo>=</mo>" if lhs else ""
    return f"<math><mrow>{left}{body}</mrow></math>"


def latex(expr: sp.Basic) -> str:
    return sp.latex(sp.sympify(expr))


def formula_block(name: str, expr: sp.Basic, unit: str) -> str:
    """A named formula: MathML, its unit, and a collapsible LaTeX source."""
    return (f'<div class="formula"><b>{esc(name)}</b> <span class="note">({esc(unit)})</span>'
            f"{mathml(expr, name.split(' ')[0])}"
            f"<details><summary>LaTeX</summary><code class=\"latex\">{esc(latex(expr))}</code></details></div>")
