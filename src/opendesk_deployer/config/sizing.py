"""Sizing tiers (`platformSizing`): replicas of the horizontally scalable openDesk components.

openDesk's `replicas.<component>` keys default to 1. The tiers scale only components that are
stateless or cluster-aware upstream; databases and singletons (Jitsi JVB, coturn) stay at 1.
"""

from __future__ import annotations

from typing import Literal

Tier = Literal["S", "M", "L", "XL"]

SCALABLE = (
    "collabora", "element", "intercomService", "keycloak", "nextcloud", "notifyPush",
    "openproject", "openxchange", "synapseWeb", "umsPortalFrontend", "xwiki",
)  # fmt: skip

REPLICAS: dict[Tier, int] = {"S": 1, "M": 2, "L": 3, "XL": 4}


def replicas(tier: Tier) -> dict[str, int]:
    return dict.fromkeys(SCALABLE, REPLICAS[tier])
