"""Terminal help for every ``lewm-*`` command: plain text, each default said once, usage examples at the end.

    p = argparse.ArgumentParser(**help_style("lewm-plan", __doc__))

- A default is appended as ``(default: X)`` only when there is one to say (not None, not False for a switch, not
  an empty list) and the help text does not state it already.
- reStructuredText markup of docstrings (````x````, `` `x` ``) is dropped: the help is read in a terminal.
- The module docstring's command lines (indented lines that start with the command name) become an ``examples:``
  section.
"""
from __future__ import annotations

import argparse
import re


def plain(text: str) -> str:
    """Drops reStructuredText inline markup: ````x```` and `` `x` `` -> ``x``."""
    return re.sub(r"``(.+?)``", r"\1", re.sub(r"(?<![`\w])`([^`\n]+)`(?![`\w])", r"\1", text))


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """``ArgumentDefaultsHelpFormatter`` without ``(default: None)`` and the like, in plain text; the description
    and epilog keep their line breaks (the examples)."""

    def _get_help_string(self, action):
        text = action.help or ""
        default = action.default
        unsaid = default is None or default is False or default is argparse.SUPPRESS or default == []
        if unsaid or "default" in text.lower():
            return text
        return text + " (default: %(default)s)"

    def _fill_text(self, text, width, indent):
        return "\n".join(indent + line for line in text.splitlines())

    def format_help(self):
        return plain(super().format_help())


def examples(command: str, doc: str | None) -> str:
    """The docstring's indented lines that run ``command`` (or ``torchrun``), as an ``examples:`` section."""
    lines = [ln.strip() for ln in (doc or "").splitlines() if ln.startswith("    ")
             and (ln.strip().startswith(command) or ln.strip().startswith("torchrun"))]
    return "examples:\n" + "\n".join(f"  {ln}" for ln in lines) if lines else ""


def help_style(prog: str, doc: str | None) -> dict:
    """``ArgumentParser`` keyword arguments: ``prog``, the docstring's first line as description (plain text), its
    command lines as examples, and :class:`HelpFormatter`."""
    first = plain((doc or prog).strip().splitlines()[0])
    return {"prog": prog, "description": first, "epilog": examples(prog, doc) or None,
            "formatter_class": HelpFormatter}
