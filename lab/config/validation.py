"""Reading YAML and checking documents against the kit's JSON schemas, every violation at once."""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Hashable, Iterator
from functools import cache
from pathlib import Path
from typing import Any, ClassVar

import yaml
from jsonschema import Draft202012Validator, ValidationError, validators

from lab import files
from lab.errors import ConfigError
from lab.files import json_path, shorten
from lab.paths import asset


@cache
def schema(name: str) -> dict[str, Any]:
    """A schema of schemas/ by file stem, e.g. 'lab-profile'."""
    return json.loads(asset("schemas", f"{name}.schema.json").read_text())


# Tags a document of plain data may carry: what JSON can hold. Others (!!binary, !!set,
# !!timestamp, !!python/...) would hand the schema objects it cannot judge.
PLAIN_TAGS = frozenset(
    f"tag:yaml.org,2002:{name}" for name in ("null", "bool", "int", "float", "str", "seq", "map")
)
MERGE_TAG = "tag:yaml.org,2002:merge"  # `<<: *defaults`


class Refused(yaml.constructor.ConstructorError):
    """Well-formed YAML the lab will not read: a key given twice, a tag beyond plain data."""


class StrictLoader(yaml.SafeLoader):
    """The one YAML loader of the lab: safe, plain data only, and a key given twice in one
    mapping is refused (PyYAML would silently keep the last). Dates stay strings, as Helm
    reads them."""

    # PyYAML looks resolvers up on the class: a class attribute on purpose.
    yaml_implicit_resolvers: ClassVar[dict[str, list[tuple[str, Any]]]] = {  # type: ignore[misc]
        first: [(tag, regexp) for tag, regexp in resolvers if tag in PLAIN_TAGS | {MERGE_TAG}]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def get_single_data(self) -> Any:
        node = self.get_single_node()
        if node is None:
            return None
        _bounded(node)
        return self.construct_document(node)

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        if node.tag not in PLAIN_TAGS:
            raise Refused(
                None,
                None,
                f"the tag {node.tag.replace('tag:yaml.org,2002:', '!!')} is not allowed here "
                "(plain strings, numbers, booleans, lists and mappings only)",
                node.start_mark,
            )
        return super().construct_object(node, deep)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == MERGE_TAG:
                continue  # merged keys may be overridden: that is what `<<` is for
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, Hashable) and key in seen:
                raise Refused(
                    None,
                    None,
                    f"key '{shorten(str(key))}' appears twice in one mapping "
                    f"(first on line {seen[key] + 1})",
                    key_node.start_mark,
                )
            if isinstance(key, Hashable):
                seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep)


def _bounded(top: yaml.Node) -> None:
    """Refuse a document that nests deeper than files.MAX_DEPTH or that, once its aliases are
    expanded, holds more than files.MAX_NODES values: PyYAML shares an aliased node, so a
    small file of aliases of aliases (a "billion laughs") would only blow up later, in
    whatever walks the data."""
    sizes: dict[int, int] = {}  # a node's expanded size, each node counted once
    open_: set[int] = set()  # nodes being counted: an alias back to one is a loop

    def size(node: yaml.Node, depth: int) -> int:
        container = isinstance(node, yaml.SequenceNode | yaml.MappingNode)
        if container and depth >= files.MAX_DEPTH:
            raise Refused(
                None, None, f"nested deeper than {files.MAX_DEPTH} levels", node.start_mark
            )
        if id(node) in sizes:
            return sizes[id(node)]
        if id(node) in open_:
            raise Refused(None, None, "an alias refers to a value holding it", node.start_mark)
        open_.add(id(node))
        children: list[yaml.Node] = []
        if isinstance(node, yaml.SequenceNode):
            children = node.value
        elif isinstance(node, yaml.MappingNode):
            children = [part for pair in node.value for part in pair]
        total = 1 + sum(size(child, depth + 1) for child in children)
        open_.discard(id(node))
        if total > files.MAX_NODES:
            raise Refused(
                None,
                None,
                f"more than {files.MAX_NODES:,} values once its aliases are expanded",
                node.start_mark,
            )
        sizes[id(node)] = total
        return total

    size(top, 0)


def parse_yaml(text: str, source: str) -> Any:
    """Parse YAML text with the lab's loader; a problem is a ConfigError naming `source`, the
    line and column, and what is wrong. Numbers must be finite (files.plain)."""
    try:
        document = yaml.load(text, Loader=StrictLoader)  # a SafeLoader: builds plain data only
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: {yaml_problem(exc)}") from None
    except RecursionError:
        raise ConfigError(f"{source}: nested too deeply to be a lab document") from None
    except ValueError as exc:  # a number of more digits than Python converts
        raise ConfigError(f"{source}: not a number the lab can read ({exc})") from None
    return files.plain(document, source)


def yaml_problem(exc: yaml.YAMLError) -> str:
    """'line L, column C: problem' of a YAML error, on one line."""
    mark = getattr(exc, "problem_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
    problem = getattr(exc, "problem", None) or str(exc)
    if isinstance(exc, Refused):
        return where + problem
    return f"{where}not valid YAML: {' '.join(problem.split())}"


def load_yaml(path: Path, what: str = "file") -> Any:
    """Read and parse a YAML file (guarded: lab.files); a missing or unparsable file is a
    ConfigError naming it."""
    return parse_yaml(files.read_text(path, what), str(path))


def violations(document: Any, schema_name: str) -> list[tuple[str, str]]:
    """Every (json path, message) by which a document breaks a schema, sorted by path."""
    validator = Draft202012Validator(schema(schema_name))
    found: list[tuple[str, str]] = []
    for error in validator.iter_errors(document):
        found.extend(_explain(error))
    return sorted(set(found))


def check(document: Any, schema_name: str, origin: Callable[[str], str] | str) -> None:
    """Raise one ConfigError listing every violation as 'origin: path: message'."""
    where = origin if callable(origin) else (lambda _path: origin)
    found = violations(document, schema_name)
    if found:
        raise ConfigError([f"{where(path)}: {path}: {message}" for path, message in found])


def _explain(error: ValidationError) -> Iterator[tuple[str, str]]:
    """One line per problem; an unknown key is reported at its own path, with what was expected."""
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = sorted(error.schema.get("properties", {}))
        for key in error.instance:
            if key in known:
                continue
            hint = difflib.get_close_matches(str(key), known, n=1)
            guess = f" (did you mean '{hint[0]}'?)" if hint else ""
            yield (
                json_path([*error.absolute_path, key]),
                f"unknown key{guess}; expected one of: {', '.join(known)}",
            )
        return
    if error.context:  # anyOf/oneOf: the branch errors say more than the summary
        for sub in error.context:
            yield from _explain(sub)
        return
    if error.validator == "pattern" and str(error.path and error.path[-1]).endswith("_env"):
        # What stands where a variable's name belongs may be the secret itself: never shown.
        yield json_path(error.absolute_path), "not an environment variable's name (not shown)"
        return
    # The message quotes the value: a long one is shown cut.
    shown = repr(error.instance)
    message = error.message.replace(shown, shorten(shown))
    if error.validator == "pattern" and "description" in error.schema:
        message += f" (expected: {error.schema['description']})"
    yield json_path(error.absolute_path), message


def with_defaults(document: dict[str, Any], schema_name: str) -> dict[str, Any]:
    """Fill every missing key that has a `default` in the schema, where defaults live.

    The document must already be valid: defaults are set while the validator walks it, so they
    reach nested objects, list items and if/then branches alike.
    """
    filling = validators.extend(Draft202012Validator, {"properties": _properties_with_defaults})
    filled = json.loads(json.dumps(document))
    for _ in filling(schema(schema_name)).iter_errors(filled):
        pass
    return filled


def _properties_with_defaults(validator: Any, properties: Any, instance: Any, schema_: Any) -> Any:
    if isinstance(instance, dict):
        for key, sub in properties.items():
            if isinstance(sub, dict) and "default" in sub and key not in instance:
                instance[key] = json.loads(json.dumps(sub["default"]))
    yield from Draft202012Validator.VALIDATORS["properties"](
        validator, properties, instance, schema_
    )
