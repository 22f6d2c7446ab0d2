"""Reading config files: one strict reader for every YAML and JSON file tripwire is configured by.

Each loader (settings, rules, risk limits, prefect.yaml, the simulator's accounts file) reads its
file through here, so a file that is not what it seems is refused the same way everywhere, with
the file, the line, the key and the reason, instead of a traceback or a silently different
configuration:

- the bytes must be UTF-8 (a stray Latin-1 byte is reported with its line and byte offset,
  rather than escaping as a ``UnicodeDecodeError``);
- a key written twice in one mapping is an error, at any depth (YAML and JSON parsers keep the
  last one, so ``max_open_positions`` written twice would silently take the second value);
- ``.inf`` and ``.nan`` (JSON ``Infinity``/``NaN``, or a number too large for a float) are
  refused: no setting means "unlimited" or "unset" that way, and a limit or breaker threshold
  compared against infinity or NaN is silently never reached.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

Keys = tuple[str | int, ...]
M = TypeVar("M", bound=BaseModel)


class ConfigFileError(ValueError):
    """A config file cannot be read as data. The parts are attributes, so each loader can
    re-raise it as its own error: ``path``, ``reason``, ``line`` (1-based, when known) and
    ``keys``, the path from the top of the document to the offending entry."""

    def __init__(self, path: Path | str, reason: str, *, line: int | None = None, keys: Keys = ()):
        self.path = str(path)
        self.reason = reason
        self.line = line
        self.keys = keys
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {self.key}: {reason}" if keys else f"{where}: {reason}")

    @property
    def key(self) -> str:
        """The dotted key, e.g. ``breakers.drawdown.max_drawdown_pct`` or ``deployments[0].name``."""
        return dotted(self.keys)


def dotted(keys: Keys) -> str:
    out = ""
    for k in keys:
        out += f"[{k}]" if type(k) is int else (f".{k}" if out else str(k))
    return out


# -- bytes → text --------------------------------------------------------------------------------


def read_config_text(path: Path) -> str:
    """The file's text, decoded as strict UTF-8. OSError (missing, unreadable) passes through
    for the caller to word; undecodable bytes raise :class:`ConfigFileError`."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise _not_utf8(path, data, e) from None


def _not_utf8(path: Path, data: bytes, e: UnicodeDecodeError, keys: Keys = ()) -> ConfigFileError:
    line = data.count(b"\n", 0, e.start) + 1
    return ConfigFileError(
        path,
        f"not UTF-8 text: byte 0x{data[e.start]:02x} at byte offset {e.start} cannot be "
        f"decoded ({e.reason}); save the file as UTF-8",
        line=line,
        keys=keys,
    )


# -- YAML ------------------------------------------------------------------------------------------


class _EntryError(yaml.constructor.ConstructorError):
    """A refused entry; the mapping and sequence constructors above it prepend their key or
    index on the way out, so the error ends up carrying the entry's full path."""

    def __init__(self, reason: str, mark: yaml.Mark, keys: Keys = ()):
        super().__init__(None, None, reason, mark)
        self.keys = keys


class StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing duplicate keys and non-finite numbers."""


def _construct_mapping(loader: StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    # Merge keys (``<<: *base``) may be overridden by keys written here; only keys written
    # twice in this mapping itself are duplicates.
    explicit = sum(1 for k, _ in node.value if k.tag != "tag:yaml.org,2002:merge")
    loader.flatten_mapping(node)
    merged = len(node.value) - explicit
    mapping: dict[Any, Any] = {}
    first_line: dict[Any, int] = {}
    for i, (key_node, value_node) in enumerate(node.value):
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping", node.start_mark, "found unhashable key", key_node.start_mark
            ) from None
        if i >= merged:
            if key in first_line:
                raise _EntryError(
                    f"duplicate key {key!r} (first at line {first_line[key]})", key_node.start_mark, (key,)
                )
            first_line[key] = key_node.start_mark.line + 1
        try:
            mapping[key] = loader.construct_object(value_node, deep=True)
        except _EntryError as e:
            e.keys = (key, *e.keys)
            raise
    return mapping


def _construct_sequence(loader: StrictLoader, node: yaml.SequenceNode) -> list[Any]:
    out = []
    for i, child in enumerate(node.value):
        try:
            out.append(loader.construct_object(child, deep=True))
        except _EntryError as e:
            e.keys = (i, *e.keys)
            raise
    return out


def _construct_float(loader: StrictLoader, node: yaml.ScalarNode) -> float:
    value: float = loader.construct_yaml_float(node)
    if not math.isfinite(value):
        raise _EntryError(f"{node.value!r} is not a finite number (no setting takes infinity or NaN)", node.start_mark)
    return value


StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)
StrictLoader.add_constructor("tag:yaml.org,2002:float", _construct_float)


def parse_yaml(text: str, path: Path | str, loader: type[StrictLoader] = StrictLoader) -> Any:
    """One YAML document (None when empty); :class:`ConfigFileError` naming ``path`` otherwise."""
    try:
        return yaml.load(text, Loader=loader)  # safe: every loader here is a SafeLoader
    except _EntryError as e:
        raise ConfigFileError(path, e.problem or "", line=_line(e), keys=e.keys) from None
    except yaml.MarkedYAMLError as e:
        reason = " ".join(p for p in (e.context, e.problem) if p)
        raise ConfigFileError(path, f"YAML syntax error: {reason}", line=_line(e)) from None
    except yaml.reader.ReaderError as e:
        line = text.count("\n", 0, e.position) + 1
        raise ConfigFileError(
            path,
            f"YAML syntax error: character #x{e.character:04x} is not allowed (special characters are not allowed)",
            line=line,
        ) from None
    except yaml.YAMLError as e:
        raise ConfigFileError(path, f"YAML syntax error: {e}") from None


def load_yaml(path: Path, loader: type[StrictLoader] = StrictLoader) -> Any:
    """The file's YAML document, read strictly. OSError passes through for the caller to word."""
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise _not_utf8(path, data, e, _keys_at_bad_byte(data, e, loader)) from None
    return parse_yaml(text, path, loader)


def _keys_at_bad_byte(data: bytes, e: UnicodeDecodeError, loader: type[StrictLoader]) -> Keys:
    """The entry the undecodable byte sits in, when the rest of the file parses: a user looks
    for a key more easily than for a byte offset."""
    text = data.decode("utf-8", errors="replace")
    index = len(data[: e.start].decode("utf-8"))  # the bytes before the first bad one decode
    try:
        node = yaml.compose(text, Loader=loader)
    except yaml.YAMLError:
        return ()
    keys: Keys = ()
    while node is not None:
        spans: list[tuple[str | int, int, int, yaml.Node]] = []
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                # A mapping entry runs to the end of the line its value ends on, so a byte in
                # its trailing comment is reported at that key.
                end = text.find("\n", max(v.end_mark.index, k.end_mark.index) - 1)
                key = k.value if isinstance(k, yaml.ScalarNode) else "?"
                spans.append((key, k.start_mark.index, end if end >= 0 else len(text), v))
        elif isinstance(node, yaml.SequenceNode):
            spans = [(i, v.start_mark.index, v.end_mark.index, v) for i, v in enumerate(node.value)]
        node = None
        for key, start, end, value in spans:
            if start <= index < end:
                keys, node = (*keys, key), value
                break
    return keys


def _line(e: yaml.MarkedYAMLError) -> int | None:
    mark = e.problem_mark or e.context_mark
    return mark.line + 1 if mark is not None else None


def read_yaml_mapping(path: Path, what: str, error: type[Exception]) -> dict[str, Any]:
    """The file's top-level mapping ({} for an empty file), or ``error`` naming file and line."""
    try:
        data = load_yaml(path)
    except FileNotFoundError:
        raise error(f"{path}: {what} file not found") from None
    except OSError as e:
        raise error(f"{path}: cannot read the file ({e.strerror or e})") from None
    except ConfigFileError as e:
        raise error(str(e)) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise error(f"{path}: must be a mapping of {what}s, got {type(data).__name__}")
    return data


def load_validated(path: Path, model: type[M], what: str, error: type[Exception]) -> M:
    """A YAML file read by :func:`read_yaml_mapping` and validated by a pydantic ``model``: one
    line per problem, ``<file>: <dotted key>: <reason>``, raised as ``error``."""
    data = read_yaml_mapping(path, what, error)
    try:
        return model.model_validate(data)
    except ValidationError as e:
        lines = []
        for err in e.errors():
            key = ".".join(str(x) for x in err["loc"])
            reason = "unknown setting" if err["type"] == "extra_forbidden" else err["msg"]
            lines.append(f"{path}: {key}: {reason}")
        raise error("\n".join(lines)) from None


# -- JSON ------------------------------------------------------------------------------------------


def _unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _JsonEntryError(f"duplicate key {key!r} in one object")
        out[key] = value
    return out


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _JsonEntryError(f"{text} is not a finite number")
    return value


def _refuse_constant(name: str) -> float:
    raise _JsonEntryError(f"{name} is not a number JSON allows (and not a finite one)")


class _JsonEntryError(Exception):
    pass


def load_json(path: Path) -> Any:
    """The file's JSON value, read strictly (UTF-8, no duplicate keys, finite numbers only).
    OSError passes through; anything else raises :class:`ConfigFileError`."""
    text = read_config_text(path)
    try:
        return json.loads(
            text, object_pairs_hook=_unique_object, parse_float=_finite_float, parse_constant=_refuse_constant
        )
    except json.JSONDecodeError as e:
        raise ConfigFileError(path, f"not valid JSON: {e.msg}", line=e.lineno) from None
    except _JsonEntryError as e:
        raise ConfigFileError(path, str(e)) from None
