"""``/api/docs/``: the API's reference page, rendered on the server from the OpenAPI schema.

drf-spectacular's Swagger UI and Redoc views load their JavaScript from a CDN (its sidecar
package, which would serve them locally, is not installed), and Kelisim must work offline.
So this page needs no JavaScript: it lists every operation of the schema (method, path,
summary, parameters, request body, answers) and links the schema itself (``/api/schema/``
as YAML, ``?format=json`` as JSON) for Swagger UI, Redoc or any OpenAPI tool.
"""

from __future__ import annotations

import functools

from django.shortcuts import render
from django.views.decorators.http import require_safe

METHODS = ("get", "post", "put", "patch", "delete")


@functools.lru_cache(maxsize=1)
def _operations() -> tuple[dict, list[dict]]:
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    operations = []
    for path, item in schema.get("paths", {}).items():
        for method in METHODS:
            op = item.get(method)
            if op is None:
                continue
            body = op.get("requestBody", {}).get("content", {})
            operations.append({
                "method": method.upper(), "path": path, "summary": op.get("summary", ""),
                "description": op.get("description", ""), "tag": (op.get("tags") or [""])[0],
                "parameters": [{"name": p["name"], "in": p["in"], "required": p.get("required", False),
                                "type": p.get("schema", {}).get("type", ""),
                                "enum": p.get("schema", {}).get("enum"),
                                "description": p.get("description", "")} for p in op.get("parameters", [])],
                "request": ", ".join(f"{ct}: {_ref(c.get('schema', {}))}" for ct, c in body.items()),
                "responses": [(code, r.get("description", ""), _ref(next(iter(r.get("content", {}).values()),
                                                                          {}).get("schema", {})))
                              for code, r in op.get("responses", {}).items()],
            })
    return schema.get("info", {}), operations


def _ref(schema: dict) -> str:
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    if schema.get("type") == "array":
        return f"list of {_ref(schema.get('items', {}))}"
    return schema.get("type", "") or ("object" if schema else "")


@require_safe
def api_docs(request):
    """The API reference page (public, like the schema it is made from)."""
    info, operations = _operations()
    return render(request, "api/docs.html", {"info": info, "operations": operations})
