"""Reading YAML and checking documents against the kit's JSON schemas, every violation at once."""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Iterable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator, ValidationError, validators

from lab.errors import ConfigError
from lab.paths import asset


@cache
def schema(name: str) -> dict[str, Any]:
    """A schema of schemas/ by file stem, e.g. 'lab-profile'."""
    return json.loads(asset("schemas", f"{name}.schema.json").read_text())


def load_yaml(path: Path, what: str = "file") -> Any:
    """Parse a YAML file; a missing or unparsable file is a ConfigError naming it."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such {what}") from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read {what}: {exc}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" (line {where.line + 1}, column {where.column + 1})" if where else ""
        problem = getattr(exc, "problem", None) or exc
        raise ConfigError(f"{path}: not valid YAML{line}: {problem}") from None


def json_path(parts: Iterable[Any]) -> str:
    """['routerSpec', 'modelSpec', 0, 'name'] -> 'routerSpec.modelSpec[0].name'."""
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


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
            hint = difflib.get_close_matches(key, known, n=1)
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
    message = error.message
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


def _properties_with_defaults(validator, properties, instance, schema_):  # type: ignore[no-untyped-def]
    if isinstance(instance, dict):
        for key, sub in properties.items():
            if isinstance(sub, dict) and "default" in sub and key not in instance:
                instance[key] = json.loads(json.dumps(sub["default"]))
    yield from Draft202012Validator.VALIDATORS["properties"](
        validator, properties, instance, schema_
    )
