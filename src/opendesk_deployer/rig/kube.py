"""Kubernetes API helpers for the rig, on the official `kubernetes` client: a client from a
kubeconfig, server-side apply of any object, and watch-based waiting."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import ResourceNotFoundError

from opendesk_deployer.rig.manifests import FIELD_MANAGER

Obj = dict[str, Any]
# libyaml's loader when PyYAML has it: the shared CRDs are 4 MB of YAML
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class WaitTimeoutError(Exception):
    """A wait ran out of time; the message says what was still missing."""


class ApplyError(Exception):
    """The API server rejected an object; the message is the server's, without the HTTP dump."""


def api_error_message(exc: ApiException) -> str:
    """`<status> <reason>: <the Status message>` of an API error."""
    message = ""
    with contextlib.suppress(TypeError, ValueError, AttributeError):
        message = str(json.loads(exc.body or "").get("message") or "")
    return f"{exc.status} {exc.reason}" + (f": {message}" if message else "")


def api_client(kubeconfig: Path) -> client.ApiClient:
    api: client.ApiClient = config.new_client_from_config(config_file=str(kubeconfig))
    return api


def list_items(list_fn: Callable[..., Any], **kwargs: Any) -> list[Obj]:
    """`list_fn(**kwargs)`'s items as the plain dicts the API serves."""
    items: list[Obj] = _json(list_fn(**kwargs, _preload_content=False)).get("items") or []
    return items


def dynamic(api: client.ApiClient, cache_file: Path) -> DynamicClient:
    """A dynamic client whose discovery cache lives in the rig's state dir (not in /tmp)."""
    return DynamicClient(api, cache_file=str(cache_file))


def apply(dyn: DynamicClient, obj: Obj, field_manager: str = FIELD_MANAGER) -> Obj:
    """Server-side apply `obj` (any kind the server knows), taking over conflicting fields."""
    what = f"{obj['kind']} {obj['metadata']['name']}"
    try:
        res = dyn.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
        out = res.server_side_apply(
            body=obj,
            name=obj["metadata"]["name"],
            namespace=obj["metadata"].get("namespace"),
            field_manager=field_manager,
            force_conflicts=True,
        )
    except ApiException as exc:
        raise ApplyError(f"server-side apply of {what}: {api_error_message(exc)}") from exc
    except ResourceNotFoundError as exc:
        raise ApplyError(f"server-side apply of {what}: the server does not serve it") from exc
    result: Obj = out.to_dict()
    return result


def load_documents(paths: Iterable[Path]) -> list[Obj]:
    """Every non-empty YAML document of the given files, in order."""
    docs: list[Obj] = []
    for path in paths:
        with path.open() as f:
            docs.extend(d for d in yaml.load_all(f, Loader=_LOADER) if d)
    return docs


def condition(obj: Obj, kind: str) -> str | None:
    """The status ("True"/"False"/"Unknown") of condition `kind` in obj.status.conditions."""
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("type") == kind:
            return str(c.get("status"))
    return None


def wait_for(
    list_fn: Callable[..., Any],
    done: Callable[[dict[str, Obj]], bool],
    *,
    timeout: float,
    what: str,
    missing: Callable[[dict[str, Obj]], str] | None = None,
    **list_kwargs: Any,
) -> dict[str, Obj]:
    """List with `list_fn`, then watch it until `done(objects)` holds for the objects by name
    (plain dicts as the API serves them). Raises WaitTimeoutError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    objects: dict[str, Obj] = {}
    while True:
        listed = list_fn(**list_kwargs, _preload_content=False)
        body = _json(listed)
        objects = {_key(o): o for o in body.get("items") or []}
        if done(objects):
            return objects
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        w = watch.Watch()
        try:
            for event in w.stream(
                list_fn,
                **list_kwargs,
                resource_version=body["metadata"]["resourceVersion"],
                timeout_seconds=max(1, int(min(remaining, 30))),
            ):
                raw: Obj = event["raw_object"]
                if event["type"] == "DELETED":
                    objects.pop(_key(raw), None)
                elif event["type"] in ("ADDED", "MODIFIED"):
                    objects[_key(raw)] = raw
                else:
                    break  # ERROR (e.g. 410 Gone): list again
                if done(objects):
                    return objects
                if time.monotonic() >= deadline:
                    break
        finally:
            w.stop()
        if time.monotonic() >= deadline:
            break
    detail = missing(objects) if missing else ""
    raise WaitTimeoutError(
        f"timed out after {timeout:.0f} s waiting for {what}" + (f": {detail}" if detail else "")
    )


def _key(obj: Obj) -> str:
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace")
    return f"{ns}/{meta.get('name')}" if ns else str(meta.get("name"))


def _json(response: Any) -> Obj:
    data: Obj = json.loads(response.data)
    return data
