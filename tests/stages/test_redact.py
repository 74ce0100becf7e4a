"""Stage redact: values registered, secret env values and credential ConfigMaps moved into
Secrets, and no known secret left anywhere else."""

from __future__ import annotations

import pytest

from opendesk_deployer import redaction
from opendesk_deployer.render.stage import StageError
from opendesk_deployer.render.stages.eso import PAYLOAD
from opendesk_deployer.render.stages.redact import Redact, trie_pattern
from stages.helpers import SECRETS_MANAGER, configmap, container, ctx, doc, secret, workload

DERIVED = "4f1c0e9a7b2d6c3e8f5a1b0c9d8e7f6a5b4c3d2e"  # like a derived sha1sum secret


def by(docs, kind, name):  # type: ignore[no-untyped-def]
    [d] = [d for d in docs if d.kind == kind and d.name == name]
    return d


def test_trie_pattern_matches_any_word() -> None:
    words = ["abcdef", "abcxyz", "abc", "zzzzzz", "a.b*c"]
    p = trie_pattern(words)
    assert p is not None
    for w in words:
        assert p.search(f"--{w}--")
    assert not p.search("ab-cd")
    assert trie_pattern([]) is None
    long = "x" * 5000
    assert trie_pattern([long, long + "y"]).search("a" + long)  # type: ignore[union-attr]


def test_secret_values_are_registered_without_secrets_manager() -> None:
    s = doc("r", secret("db", {"password": "pw-in-a-secret", "user": "db-owner"}))
    result = Redact().run([s], ctx())
    assert result.documents[0].kind == "Secret"  # kept: the one place values may stay
    assert redaction.redact("x pw-in-a-secret db-owner") == "x <redacted> <redacted>"


def test_secret_looking_env_values_move_to_a_secret() -> None:
    env = [
        {"name": "DB_PASSWORD", "value": "literal-pass-123"},
        {"name": "PASSWORD_FILE", "value": "/run/secrets/pw"},
        {"name": "TOKEN_ENDPOINT", "value": "https://id.example/token"},
        {"name": "SMTP_PASSWORD", "value": ""},
        {"name": "LOG_LEVEL", "value": "debug"},
    ]
    w = doc("app", workload("app-web", [container("web", env=env)]))
    result = Redact().run([w], ctx())
    new = by(result.documents, "Secret", "app-web-redacted-env")
    assert new.body["stringData"] == {"web.DB_PASSWORD": "literal-pass-123"}
    out_env = w.body["spec"]["template"]["spec"]["containers"][0]["env"]
    assert out_env[0] == {
        "name": "DB_PASSWORD",
        "valueFrom": {"secretKeyRef": {"name": "app-web-redacted-env", "key": "web.DB_PASSWORD"}},
    }
    assert out_env[1:] == env[1:]
    assert {(c.field, c.action) for c in result.changes} == {
        ("spec.template.spec.containers[0].env[0]", "move"),
        ("", "add"),
    }
    assert redaction.redact("literal-pass-123") == "<redacted>"


def test_env_value_containing_a_known_secret_moves_even_with_a_harmless_name() -> None:
    redaction.register(DERIVED)
    env = [{"name": "JAVA_OPTS", "value": f"-Xmx1g -Dldap.pw={DERIVED}"}]
    hook = {"argocd.argoproj.io/hook": "PreSync", "argocd.argoproj.io/sync-wave": "3"}
    job = doc("boot", workload("boot", [container("b", env=env)], "Job", annotations=hook))
    result = Redact().run([job], ctx())
    new = by(result.documents, "Secret", "boot-redacted-env")
    assert new.body["metadata"]["annotations"] == {
        "argocd.argoproj.io/hook": "PreSync",
        "argocd.argoproj.io/hook-delete-policy": "BeforeHookCreation",
        "argocd.argoproj.io/sync-wave": "2",
    }


def test_secret_with_var_expansion_cannot_move() -> None:
    redaction.register(DERIVED)
    env = [{"name": "DSN", "value": f"postgres://u:{DERIVED}@$(DB_HOST)/x"}]
    with pytest.raises(StageError, match=r"Deployment/w .*env\[0\]\.value \(DSN\).*\$\(VAR\)"):
        Redact().run([doc("r", workload("w", [container(env=env)]))], ctx())


def test_configmap_with_credentials_becomes_a_secret_and_references_follow() -> None:
    cm = doc("ums", configmap("ums-portal-listener", {"LDAP_PASSWORD": "ldap-pw-xyz", "A": "b"}))
    user = doc(
        "ums",
        workload(
            "ums-portal-listener",
            [
                container(
                    envFrom=[{"configMapRef": {"name": "ums-portal-listener"}}],
                    env=[
                        {
                            "name": "X",
                            "valueFrom": {
                                "configMapKeyRef": {"name": "ums-portal-listener", "key": "A"}
                            },
                        }
                    ],
                )
            ],
            volumes=[
                {"name": "c", "configMap": {"name": "ums-portal-listener", "defaultMode": 420}},
                {"name": "other", "configMap": {"name": "unrelated"}},
            ],
        ),
    )
    result = Redact().run([cm, user], ctx())
    assert cm.body["kind"] == "Secret"
    assert cm.body["stringData"] == {"LDAP_PASSWORD": "ldap-pw-xyz", "A": "b"}
    ps = user.body["spec"]["template"]["spec"]
    assert ps["volumes"][0] == {
        "name": "c",
        "secret": {"secretName": "ums-portal-listener", "defaultMode": 420},
    }
    assert ps["volumes"][1] == {"name": "other", "configMap": {"name": "unrelated"}}
    c = ps["containers"][0]
    assert c["envFrom"] == [{"secretRef": {"name": "ums-portal-listener"}}]
    assert c["env"][0]["valueFrom"] == {"secretKeyRef": {"name": "ums-portal-listener", "key": "A"}}
    assert any(
        ch.action == "convert" and "ConfigMap/ums-portal-listener" in ch.document
        for ch in result.changes
    )


def test_moved_values_go_to_the_secrets_manager_when_set() -> None:
    c = ctx(secretsManager=SECRETS_MANAGER)
    w = doc(
        "app",
        workload("app", [container("web", env=[{"name": "API_TOKEN", "value": "tok-123456"}])]),
    )
    result = Redact().run([w], c)
    kinds = sorted(d.kind for d in result.documents)
    assert kinds == ["Deployment", "ExternalSecret", "SecretStore"]
    assert c.facts[PAYLOAD] == {
        "opendesk/opendesk-test/app-redacted-env": {"web.API_TOKEN": "tok-123456"}
    }
    assert "tok-123456" not in repr([d.body for d in result.documents])


def test_known_secret_anywhere_else_fails_the_render() -> None:
    redaction.register(DERIVED)
    job = workload("init-db", [container(args=[f"--password={DERIVED}"])], "Job")
    ingress = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": "i", "annotations": {"auth": f"user:{DERIVED}"}},
    }
    with pytest.raises(StageError) as err:
        Redact().run([doc("r", job), doc("r", ingress)], ctx())
    assert len(err.value.problems) == 2
    assert any(
        "Job/init-db" in p and "containers[0].args[0]: contains a secret value" in p
        for p in err.value.problems
    )
    assert any("Ingress/i" in p and "metadata.annotations.auth" in p for p in err.value.problems)
    assert DERIVED not in str(err.value)


def test_mask_only_values_are_not_evidence_in_a_later_render() -> None:
    # First render: a Secret holding a user name that also names things elsewhere.
    Redact().run([doc("r", secret("s", {"username": "default"}))], ctx())
    assert redaction.redact("default") == "<redacted>"
    # Second render in the same process: "default" elsewhere is not a leak.
    sts = workload("open-xchange-core-mw-default", [container()], "StatefulSet")
    Redact().run([doc("r", secret("s", {"username": "default"})), doc("r", sts)], ctx())
