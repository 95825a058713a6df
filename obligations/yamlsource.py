"""YAML text → Python data, keeping the line of every field for error messages.

Validation errors from pydantic carry a location path (``("deadline", "amount")``); this
module maps such a path back to the line in the YAML text, so a user reads
``catalog/local.yaml:14: deadline.amount: Input should be greater than or equal to 0``
instead of a traceback.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml
from pydantic import ValidationError


class YamlSyntaxError(ValueError):
    """The text is not valid YAML."""


class _Loader(yaml.SafeLoader):
    """SafeLoader whose impossible dates (2027-02-30) raise a located error, not ValueError."""

    def construct_yaml_timestamp(self, node: yaml.ScalarNode) -> dt.date:
        try:
            return super().construct_yaml_timestamp(node)
        except ValueError as exc:
            raise yaml.constructor.ConstructorError(
                None, None, f"invalid date {node.value!r}: {exc}", node.start_mark
            ) from None


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _Loader.construct_yaml_timestamp)


@dataclass(frozen=True)
class YamlDocument:
    """Parsed YAML data plus the node tree used to find lines."""

    source: str
    data: Any
    root: yaml.Node | None

    def line_of(self, loc: Sequence[int | str]) -> int:
        """1-based line of the deepest node that ``loc`` reaches (the document start if none)."""
        node = self.root
        line = node.start_mark.line + 1 if node is not None else 1
        for key in loc:
            if node is None:
                break
            child: yaml.Node | None = None
            if isinstance(node, yaml.MappingNode):
                for key_node, value_node in node.value:
                    if str(key_node.value) == str(key):
                        child = value_node
                        line = key_node.start_mark.line + 1
                        break
            elif (
                isinstance(node, yaml.SequenceNode)
                and isinstance(key, int)
                and 0 <= key < len(node.value)
            ):
                child = node.value[key]
                line = child.start_mark.line + 1
            node = child
        return line

    def problems(self, error: ValidationError, *, prefix: Sequence[int | str] = ()) -> list[str]:
        """One readable line per validation problem: ``file:line: field: message``."""
        lines = []
        for item in error.errors():
            if item["type"] == "default_factory_not_called":
                continue  # a consequence of another field's error, reported on its own
            # A whole-model check may name the entry it objects to (workdays.EntryError).
            entry = getattr(item.get("ctx", {}).get("error"), "loc", ())
            loc = [*prefix, *item["loc"], *entry]
            field = ".".join(str(part) for part in loc) or "(document)"
            message = item["msg"]
            lines.append(f"{self.source}:{self.line_of(loc)}: {field}: {message}")
        return lines


def parse_yaml(text: str, *, source: str) -> YamlDocument:
    """Parse one YAML document; a syntax error becomes one line naming file and line."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.load(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark is not None else 1
        raise YamlSyntaxError(f"{source}:{line}: YAML syntax error: {exc.problem}") from None
    except yaml.YAMLError as exc:  # pragma: no cover - unmarked errors are rare
        raise YamlSyntaxError(f"{source}: YAML error: {exc}") from None
    return YamlDocument(source=source, data=data, root=root)
