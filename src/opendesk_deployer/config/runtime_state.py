"""`runtime-state.json`: the infrastructure's outputs, the deployer's input gate.

Terraform (or the local rig) writes it; the deployer refuses to render or deploy without a valid
one, because every later step needs to know which cluster and which endpoints it is talking to.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from opendesk_deployer.config.model import Model


class Project(Model):
    id: str = Field(min_length=1)
    region: str = "eu01"


class Cluster(Model):
    name: str = Field(min_length=1)
    region: str | None = None
    api_server: str | None = None
    kubeconfig: str | None = None  # local provider: path relative to the runtime-state file
    kubernetes_version: str | None = None


class Endpoint(Model):
    host: str = Field(min_length=1)
    port: int | None = Field(default=None, ge=1, le=65535)
    url: str | None = None


class RuntimeState(Model):
    schema_version: Literal[1]
    provider: Literal["local", "stackit"]
    project: Project
    cluster: Cluster
    endpoints: dict[str, Endpoint] = {}
