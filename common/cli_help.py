"""Terminal help for every ``lewm-*`` command: plain text, options in groups, each default said once, usage
examples at the end.

    p = argparse.ArgumentParser(**help_style("lewm-plan", __doc__))
    first = essentials(p)                           # -h and what every run needs
    speed = p.add_argument_group("advanced: search speed")
    removed(p, "--bf16", "--precision bf16")         # a replaced option: one line naming its replacement

- Groups: :func:`essentials` first, then the groups most runs touch, the ``advanced: ...`` ones after them.
- A default is appended as ``(default: X)`` only when there is one to say (not None, not False for a switch, not
  an empty list or string) and the help text does not state it already.
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
        unsaid = default is None or default is False or default is argparse.SUPPRESS or default in ([], "")
        if unsaid or "default" in text.lower():
            return text
        return text + " (default: %(default)s)"

    def _format_action_invocation(self, action):
        return getattr(action, "invocation", None) or super()._format_action_invocation(action)

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


def essentials(p: argparse.ArgumentParser, title: str = "essentials"):
    """The parser's first group, retitled: ``-h`` and the options every run needs (task, goal, checkpoint,
    episodes, output). Add the rest to later ``p.add_argument_group`` groups, the ``advanced: ...`` ones last but
    the rarely needed; positional arguments go here too (``group.add_argument("files", ...)``)."""
    group = p._optionals  # argparse's own first group: it already holds -h
    group.title = title
    return group


class RemovedOption(argparse.Action):
    """An option that was replaced: hidden from ``--help``, and naming it fails with one line that names its
    replacement (``--bf16 was replaced by --precision bf16``), through the command's user-error boundary."""

    def __init__(self, option_strings, dest, replacement: str = "", **kwargs):
        kwargs.update(nargs="*", help=argparse.SUPPRESS, default=argparse.SUPPRESS)
        super().__init__(option_strings, dest, **kwargs)
        self.replacement = replacement

    def __call__(self, parser, namespace, values, option_string=None):
        from common.cli_errors import UserInputError

        raise UserInputError(f"{option_string} was replaced by {self.replacement}")


def removed(p: argparse.ArgumentParser, option: str, replacement: str) -> None:
    """Registers ``option`` as replaced by ``replacement`` (see :class:`RemovedOption`)."""
    p.add_argument(option, action=RemovedOption, replacement=replacement, dest=f"removed_{option.strip('-')}")


class SwitchOrValue(argparse.Action):
    """``--NAME [VALUE]`` / ``--no-NAME`` in one option: ``--NAME`` alone stores ``const`` (True by default),
    ``--NAME VALUE`` the value, ``--no-NAME`` False; unset stays None (the default "auto"). Both forms on one
    command line is an error, not "the last one wins"."""

    def __init__(self, option_strings, dest, metavar="VALUE", **kwargs):
        name = option_strings[0]
        negative = "--no-" + name[2:]
        kwargs.setdefault("const", True)
        super().__init__([name, negative], dest, nargs="?", metavar=metavar, **kwargs)
        self.invocation = f"{name} [{metavar}], {negative}"

    def __call__(self, parser, namespace, values, option_string=None):
        from common.cli_errors import UserInputError

        negative = option_string.startswith("--no-")
        if negative and values != self.const:  # argparse passes const when no value follows
            raise UserInputError(f"{option_string} takes no value (got {values!r})")
        if getattr(namespace, self.dest, None) is not None:
            raise UserInputError(f"{self.option_strings[0]} given twice, or with {self.option_strings[1]}: "
                                 f"choose one")
        setattr(namespace, self.dest, False if negative else values)
