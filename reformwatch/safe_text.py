"""Submitted values shown as text, wherever they appear: a terminal, Markdown, HTML.

Units write these values (names, statuses, reasons, notes, file names); they must never become markup,
a link, a formula or a terminal control sequence for the people who read the results.
"""

from __future__ import annotations

import html
import re
from typing import Any

# C0 and C1 controls, DEL, and the Unicode bidirectional overrides and isolates (they reorder what a
# terminal or a page shows)
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def terminal(value: str) -> str:
    """A value for a terminal: every control character (escape sequences, newlines, tabs, bidi overrides)
    written as a visible escape (\\x1b, \\n, \\u202e), so it cannot move the cursor or recolour the screen."""
    return _CONTROLS.sub(_visible, value)


def _visible(m: re.Match[str]) -> str:
    ch = m.group(0)
    named = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
    return named.get(ch) or (f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}")


# The characters that start Markdown constructs inside a line: emphasis, code, links and images, raw
# HTML and autolinks, entities, tables, strikethrough; the backslash itself.
_MARKDOWN = re.compile(r"([\\`*_\[\]<>!|&~])")


def markdown(value: str) -> str:
    """A value for a line of Markdown: its special characters backslash-escaped, so it renders as the
    same text (no link, image, emphasis, HTML or table cell); control characters (line breaks included)
    become spaces."""
    return _MARKDOWN.sub(r"\\\1", _CONTROLS.sub(" ", value))


def unmarkdown(value: str) -> str:
    """The text of a value escaped by markdown() (for a chart label, which escapes for SVG itself)."""
    return re.sub(r"\\([\\`*_\[\]<>!|&~])", r"\1", value)


def html_values(obj: Any) -> Any:
    """Every string in a JSON-like structure (dicts, lists) HTML-escaped, quotes included; other values as
    they are. For the values of Great Expectations' results, which Data Docs write into pages unescaped."""
    if isinstance(obj, str):
        return html.escape(obj, quote=True)
    if isinstance(obj, list | tuple):
        return type(obj)(html_values(v) for v in obj)
    if isinstance(obj, dict):
        return {k: html_values(v) for k, v in obj.items()}
    return obj


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # OWASP: what makes a spreadsheet cell a formula


def spreadsheet(value: object) -> object:
    """A CSV cell for people who open it in Excel: text that starts like a formula gets an apostrophe
    first, so Excel shows it as text and never evaluates it (OWASP's CSV injection guidance); other
    values as they are. (The unit feedback files do the same in SQL: report._neutral.)"""
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_START) else value
