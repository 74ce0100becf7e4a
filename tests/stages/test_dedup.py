"""Stage dedup (fix-resource-dedup): identical copies merged, conflicting copies fail."""

from __future__ import annotations

import pytest

from opendesk_deployer.render.stage import StageError
from opendesk_deployer.render.stages.dedup import Dedup
from stages.helpers import NAMESPACE, configmap, ctx, doc


def test_identical_documents_are_merged_with_provenance() -> None:
    a = doc("ums", configmap("ums-stack-data-ums-ucr", {"k": "v"}), "nubus/templates/a.yaml")
    b = doc("ums", configmap("ums-stack-data-ums-ucr", {"k": "v"}), "nubus/templates/b.yaml")
    other = doc("ums", configmap("ums-other", {"k": "v"}))
    result = Dedup().run([a, b, other], ctx())
    assert result.documents == [a, other]
    [change] = result.changes
    assert change.action == "drop" and change.release == "ums"
    assert "nubus/templates/b.yaml" in change.document
    assert change.why == "fix-resource-dedup: identical to ums/nubus/templates/a.yaml#0"


def test_missing_namespace_equals_instance_namespace() -> None:
    a = doc("ums", configmap("x", {"k": "v"}), "a.yaml")
    body = configmap("x", {"k": "v"})
    body["metadata"]["namespace"] = NAMESPACE
    b = doc("ums", body, "b.yaml")
    assert len(Dedup().run([a, b], ctx()).documents) == 1


def test_keeps_the_copy_of_the_earliest_wave() -> None:
    late = doc("aaa-late", configmap("shared", {"k": "v"}))
    early = doc("zzz-early", configmap("shared", {"k": "v"}))
    c = ctx()
    c.facts["release_waves"] = {"aaa-late": 5, "zzz-early": 1}
    assert Dedup().run([late, early], c).documents == [early]


def test_different_documents_with_one_identity_fail_naming_both() -> None:
    a = doc("ums", configmap("x", {"k": "v1"}), "nubus/templates/a.yaml")
    b = doc("intercom-service", configmap("x", {"k": "v2"}), "intercom/templates/b.yaml")
    with pytest.raises(StageError) as err:
        Dedup().run([a, b], ctx())
    msg = str(err.value)
    assert "ConfigMap opendesk-test/x is rendered twice with different content" in msg
    assert "ums/nubus/templates/a.yaml#0 (release ums)" in msg
    assert "intercom-service/intercom/templates/b.yaml#0 (release intercom-service)" in msg


def test_same_name_other_kind_or_group_is_not_a_duplicate() -> None:
    cm = doc("r", configmap("x", {"k": "v"}))
    sec = doc("r", {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}})
    ing1 = doc(
        "r", {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "x"}}
    )
    ing2 = doc(
        "r", {"apiVersion": "extensions.example/v1", "kind": "Ingress", "metadata": {"name": "x"}}
    )
    assert len(Dedup().run([cm, sec, ing1, ing2], ctx()).documents) == 4
