"""What an API caller may pass to a Prefect deployment run: the flow's own parameters, of the
types it declares, and no file paths or store URIs unless settings allow them.

Prefect checks types itself when a deployment enforces its schema, but it lets unknown names
through (the run is created and fails later, when the flow is called with them), and it cannot
know that ``settings_file=/tmp/other.yaml`` or ``store_uri=mongodb://elsewhere`` points a flow
at another configuration, database or directory than the one the operator deployed. An admin
key sent from n8n or a script must not be able to do that: parameters naming a file, a
directory, a path or a URI (by name: ``*_file``, ``*_dir``, ``*_path``, ``*_uri``; or declared
as a path) are refused unless ``api.flow_path_parameters`` lists them.

:func:`parameter_errors` returns FastAPI-style field errors (``loc: ["body", "parameters",
<name>, …]``) so the answer is the usual 422 naming each parameter.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

PATH_LIKE = re.compile(r"(?:^|_)(?:file|dir|path|uri)$")


def is_path_like(name: str, declared: Mapping[str, Any]) -> bool:
    """A parameter that names a file, directory or URI, by its name or its declared format."""
    formats = {declared.get("format")} | {t.get("format") for t in declared.get("anyOf") or () if isinstance(t, dict)}
    return bool(PATH_LIKE.search(name)) or bool(formats & {"path", "uri"})


def parameter_errors(
    parameters: Mapping[str, Any],
    schema: Mapping[str, Any] | None,
    defaults: Mapping[str, Any],
    allowed_paths: Iterable[str],
) -> list[dict[str, Any]]:
    """Field errors of ``parameters`` against a deployment's ``parameter_openapi_schema``
    (None: it declares none) and its own ``defaults``; empty when the run may start."""
    schema = schema or {}
    declared: Mapping[str, Any] = schema.get("properties") or {}
    allowed = set(allowed_paths)
    errors: list[dict[str, Any]] = []
    known = ", ".join(sorted(declared)) or "none"
    for name, value in parameters.items():
        loc = ["body", "parameters", name]
        if name not in declared:
            errors.append(
                {
                    "type": "unknown_parameter",
                    "loc": loc,
                    "input": value,
                    "msg": f"the flow has no parameter {name!r} (its parameters: {known})",
                }
            )
        elif is_path_like(name, declared[name]) and name not in allowed:
            errors.append(
                {
                    "type": "parameter_not_allowed",
                    "loc": loc,
                    "input": value,
                    "msg": f"{name!r} names a file, directory or URI; the API passes it "
                    f"to flows only when api.flow_path_parameters lists it",
                }
            )
    for name in schema.get("required") or ():
        if name not in parameters and name not in defaults:
            errors.append(
                {
                    "type": "missing",
                    "loc": ["body", "parameters", name],
                    "input": None,
                    "msg": "a required parameter of the flow; the deployment has no default for it",
                }
            )
    known_ones = {k: v for k, v in parameters.items() if k in declared}
    errors.extend(_type_errors(known_ones, schema))
    return errors


def _type_errors(parameters: Mapping[str, Any], schema: Mapping[str, Any]) -> list[dict[str, Any]]:
    if not parameters or not schema:
        return []
    # Prefect's own validator (imported here: Prefect loads slowly and the API starts without
    # it), with the server's schema preprocessing, so what passes here passes there
    from prefect.utilities.schema_tools.validation import validate

    found = validate(dict(parameters), dict(schema), raise_on_error=False, ignore_required=True)
    return [
        {
            "type": "parameter_type",
            "loc": ["body", "parameters", *e.absolute_path],
            "input": e.instance,
            "msg": e.message,
        }
        for e in sorted(found, key=lambda e: [str(p) for p in e.absolute_path])
    ]
