"""Every entry of the repository's catalog on a before/after document.

Each field patch runs alone (a one-entry catalog) over its "before" documents, which must turn
into the "after" documents; a second run changes nothing (every patch is idempotent); every
Change names the patch. Stage entries are checked to enable their stage and to leave documents
to that stage.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
import yaml

from opendesk_deployer.patches import Catalog, enabled_stages, load_catalog

from .documents import doc, run

CATALOG = load_catalog()


@dataclass
class Case:
    before: str
    after: str
    release: str = "rel"
    chart: str | None = "chart-1.0.0"
    parameters: dict[str, Any] | None = None

    def docs(self, text: str) -> list[Any]:
        return [
            doc(body, release=self.release, chart=self.chart, index=n)
            for n, body in enumerate(yaml.safe_load_all(text))
        ]


JOB_HEAD = "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: j\n"
POD = "spec:\n  template:\n    spec:\n"

CASES: dict[str, Case] = {
    "fix-subpath-casing": Case(
        before="""
kind: StatefulSet
metadata: {name: s}
spec:
  template:
    spec:
      initContainers:
        - {name: i, volumeMounts: [{name: v, mountPath: /a/f, subpath: f}]}
      containers:
        - name: c
          volumeMounts:
            - {name: v, mountPath: /b, subpath: b}
            - {name: w, mountPath: /c, subPath: c}
""",
        after="""
kind: StatefulSet
metadata: {name: s}
spec:
  template:
    spec:
      initContainers:
        - {name: i, volumeMounts: [{name: v, mountPath: /a/f, subPath: f}]}
      containers:
        - name: c
          volumeMounts:
            - {name: v, mountPath: /b, subPath: b}
            - {name: w, mountPath: /c, subPath: c}
""",
    ),
    "fix-spurious-port": Case(
        before="""
kind: Deployment
metadata: {name: d}
spec:
  template:
    spec:
      containers:
        - name: c
          ports:
            - {name: http, containerPort: 8080, port: 8080, protocol: TCP}
            - {name: m, containerPort: 9090}
""",
        after="""
kind: Deployment
metadata: {name: d}
spec:
  template:
    spec:
      containers:
        - name: c
          ports:
            - {name: http, containerPort: 8080, protocol: TCP}
            - {name: m, containerPort: 9090}
""",
    ),
    "fix-probe-enabled": Case(
        before="""
kind: StatefulSet
metadata: {name: ox-connector}
spec:
  template:
    spec:
      containers:
        - name: c
          livenessProbe: {exec: {command: [x]}, enabled: true, periodSeconds: 20}
          readinessProbe: {exec: {command: [y]}, enabled: true}
          startupProbe: {tcpSocket: {port: 1}, enabled: false}
          env: [{name: enabled, value: "1"}]
""",
        after="""
kind: StatefulSet
metadata: {name: ox-connector}
spec:
  template:
    spec:
      containers:
        - name: c
          livenessProbe: {exec: {command: [x]}, periodSeconds: 20}
          readinessProbe: {exec: {command: [y]}}
          startupProbe: {tcpSocket: {port: 1}}
          env: [{name: enabled, value: "1"}]
""",
    ),
    "fix-empty-protocol": Case(
        before="""
kind: StatefulSet
metadata: {name: mariadb}
spec:
  template:
    spec:
      containers:
        - name: c
          ports:
            - {name: mysql, containerPort: 3306, protocol: ""}
            - {name: x, containerPort: 1}
            - {name: dns, containerPort: 53, protocol: UDP}
---
kind: Service
metadata: {name: mariadb}
spec:
  ports:
    - {name: mysql, port: 3306, targetPort: mysql, protocol: ""}
    - {name: dns, port: 53, protocol: UDP}
    - {name: y, port: 2}
""",
        after="""
kind: StatefulSet
metadata: {name: mariadb}
spec:
  template:
    spec:
      containers:
        - name: c
          ports:
            - {name: mysql, containerPort: 3306, protocol: TCP}
            - {name: x, containerPort: 1, protocol: TCP}
            - {name: dns, containerPort: 53, protocol: UDP}
---
kind: Service
metadata: {name: mariadb}
spec:
  ports:
    - {name: mysql, port: 3306, targetPort: mysql, protocol: TCP}
    - {name: dns, port: 53, protocol: UDP}
    - {name: y, port: 2, protocol: TCP}
""",
    ),
    "fix-nginx-mountpath": Case(
        release="matrix-neoboard-widget",
        chart="matrix-neoboard-widget-3.5.2",
        before="""
kind: ConfigMap
metadata: {name: matrix-neoboard-widget-nginx}
data:
  nginx.conf: "server {}\\n"
---
kind: Deployment
metadata: {name: matrix-neoboard-widget}
spec:
  template:
    spec:
      containers:
        - name: w
          volumeMounts:
            - {name: nginx-config, mountPath: /etc/nginx/conf.d, subPath: default.conf}
            - {name: other, mountPath: /etc/nginx/conf.d/x, subPath: x}
      volumes:
        - {name: nginx-config, configMap: {name: matrix-neoboard-widget-nginx}}
""",
        after="""
kind: ConfigMap
metadata: {name: matrix-neoboard-widget-nginx}
data:
  default.conf: "server {}\\n"
---
kind: Deployment
metadata: {name: matrix-neoboard-widget}
spec:
  template:
    spec:
      containers:
        - name: w
          volumeMounts:
            - {name: nginx-config, mountPath: /etc/nginx/conf.d/default.conf, subPath: default.conf}
            - {name: other, mountPath: /etc/nginx/conf.d/x, subPath: x}
      volumes:
        - {name: nginx-config, configMap: {name: matrix-neoboard-widget-nginx}}
""",
    ),
    "fix-ox-initconfigdb-root-pwd": Case(
        release="opendesk-open-xchange-bootstrap",
        chart="opendesk-open-xchange-bootstrap-4.0.3",
        before=JOB_HEAD
        + POD
        + """\
      containers:
        - name: init-configdb
          command: ["/bin/bash", "-c"]
          args:
            - |
              /opt/open-xchange/sbin/initconfigdb \\
                --mysql-root-user="${CONFIGDB_USER}" \\
                --mysql-root-passwd="${CONFIGDB_PASSWORD}" \\
                -a
              /opt/open-xchange/sbin/registerserver -n oxserver
""",
        after=JOB_HEAD
        + POD
        + """\
      containers:
        - name: init-configdb
          command: ["/bin/bash", "-c"]
          args:
            - |
              /opt/open-xchange/sbin/initconfigdb --skip-ssl-verify-server-cert \\
                --mysql-root-user="${CONFIGDB_USER}" \\
                --mysql-root-passwd="${MYSQL_ROOT_PASSWD}" \\
                -a
              /opt/open-xchange/sbin/registerserver -n oxserver
""",
    ),
    "fix-mysql-root-pwd-injection": Case(
        release="opendesk-open-xchange-bootstrap",
        chart="opendesk-open-xchange-bootstrap-4.0.3",
        parameters={"secretName": "external-mariadb", "secretKey": "root-password"},
        before=JOB_HEAD
        + POD
        + """\
      containers:
        - name: init-configdb
          env: [{name: CONFIGDB_USER, value: root}]
""",
        after=JOB_HEAD
        + POD
        + """\
      containers:
        - name: init-configdb
          env:
            - {name: CONFIGDB_USER, value: root}
            - name: MYSQL_ROOT_PASSWD
              valueFrom: {secretKeyRef: {name: external-mariadb, key: root-password}}
""",
    ),
    "fix-bootstrap-ssl-certs": Case(
        release="opendesk-keycloak-bootstrap",
        chart="opendesk-keycloak-bootstrap-2.7.1",
        before=JOB_HEAD
        + POD
        + """\
      initContainers:
        - {name: wait, env: [{name: REQUESTS_CA_BUNDLE, value: /custom.pem}]}
      containers:
        - {name: keycloak-bootstrap, volumeMounts: [{name: cfg, mountPath: /config}]}
      volumes:
        - {name: cfg, configMap: {name: realm}}
""",
        after=JOB_HEAD
        + POD
        + """\
      initContainers:
        - name: wait
          env: [{name: REQUESTS_CA_BUNDLE, value: /custom.pem}]
          volumeMounts:
            - &mount
              name: opendesk-ca-bundle
              mountPath: /etc/ssl/certs/ca-certificates.crt
              subPath: ca-certificates.crt
              readOnly: true
      containers:
        - name: keycloak-bootstrap
          volumeMounts: [{name: cfg, mountPath: /config}, *mount]
          env: [{name: REQUESTS_CA_BUNDLE, value: /etc/ssl/certs/ca-certificates.crt}]
      volumes:
        - {name: cfg, configMap: {name: realm}}
        - name: opendesk-ca-bundle
          configMap:
            name: opendesk-ca-bundle
            optional: true
            items: [{key: ca-certificates.crt, path: ca-certificates.crt}]
""",
    ),
    "fix-hook-deletion-policy": Case(
        before="""
kind: Job
metadata:
  name: seeder
  annotations:
    helm.sh/hook: post-install,post-upgrade
    helm.sh/hook-delete-policy: hook-succeeded
    argocd.argoproj.io/hook: Sync
    argocd.argoproj.io/hook-delete-policy: HookSucceeded
---
kind: Job
metadata:
  name: done
  annotations: {argocd.argoproj.io/hook-delete-policy: "BeforeHookCreation,HookFailed"}
---
kind: ConfigMap
metadata:
  name: not-a-job
  annotations: {argocd.argoproj.io/hook-delete-policy: HookSucceeded}
""",
        after="""
kind: Job
metadata:
  name: seeder
  annotations:
    helm.sh/hook: post-install,post-upgrade
    helm.sh/hook-delete-policy: before-hook-creation,hook-succeeded
    argocd.argoproj.io/hook: Sync
    argocd.argoproj.io/hook-delete-policy: BeforeHookCreation,HookSucceeded
---
kind: Job
metadata:
  name: done
  annotations: {argocd.argoproj.io/hook-delete-policy: "BeforeHookCreation,HookFailed"}
---
kind: ConfigMap
metadata:
  name: not-a-job
  annotations: {argocd.argoproj.io/hook-delete-policy: HookSucceeded}
""",
    ),
    "fix-helm-hook-to-argo-hook": Case(
        before="""
kind: Job
metadata:
  name: post
  annotations: {helm.sh/hook: "post-install,post-upgrade", helm.sh/hook-weight: "10"}
---
kind: Job
metadata:
  name: pre
  annotations: {helm.sh/hook: pre-install}
---
kind: Job
metadata:
  name: argo-already
  annotations: {helm.sh/hook: post-install, argocd.argoproj.io/hook: Sync}
---
kind: Job
metadata:
  name: test
  annotations: {helm.sh/hook: test}
""",
        after="""
kind: Job
metadata:
  name: post
  annotations:
    helm.sh/hook: "post-install,post-upgrade"
    helm.sh/hook-weight: "10"
    argocd.argoproj.io/hook: PostSync
---
kind: Job
metadata:
  name: pre
  annotations: {helm.sh/hook: pre-install, argocd.argoproj.io/hook: PreSync}
---
kind: Job
metadata:
  name: argo-already
  annotations: {helm.sh/hook: post-install, argocd.argoproj.io/hook: Sync}
---
kind: Job
metadata:
  name: test
  annotations: {helm.sh/hook: test}
""",
    ),
    "fix-jgroups-timeout": Case(
        release="ums",
        chart="nubus-1.18.1",
        before="""
kind: StatefulSet
metadata: {name: ums-keycloak}
spec:
  template:
    spec:
      containers:
        - name: keycloak
          env:
            - {name: KC_CACHE_STACK, value: kubernetes}
            - {name: JAVA_OPTS_APPEND, value: "-Djgroups.dns.query=x -Dy=1 "}
---
kind: StatefulSet
metadata: {name: other-keycloak}
spec:
  template:
    spec:
      containers:
        - {name: keycloak}
""",
        after="""
kind: StatefulSet
metadata: {name: ums-keycloak}
spec:
  template:
    spec:
      containers:
        - name: keycloak
          env:
            - {name: KC_CACHE_STACK, value: kubernetes}
            - name: JAVA_OPTS_APPEND
              value: "-Djgroups.dns.query=x -Dy=1 -Djgroups.tcp.sock_conn_timeout=1000"
---
kind: StatefulSet
metadata: {name: other-keycloak}
spec:
  template:
    spec:
      containers:
        - name: keycloak
          env: [{name: JAVA_OPTS_APPEND, value: "-Djgroups.tcp.sock_conn_timeout=1000"}]
""",
    ),
    "fix-openproject-bootstrap-backoff": Case(
        release="opendesk-openproject-bootstrap",
        chart="opendesk-openproject-bootstrap-2.3.0",
        before=JOB_HEAD + "spec:\n  backoffLimit: 6\n",
        after=JOB_HEAD + "spec:\n  backoffLimit: 20\n",
    ),
    "fix-ums-probes": Case(
        release="ums",
        chart="nubus-1.18.1",
        before="""
kind: Deployment
metadata: {name: ums-udm-rest-api}
spec:
  template:
    spec:
      containers:
        - {name: udm-rest-api, ports: [{name: http, containerPort: 9979, protocol: TCP}]}
        - {name: sidecar}
""",
        after="""
kind: Deployment
metadata: {name: ums-udm-rest-api}
spec:
  template:
    spec:
      containers:
        - name: udm-rest-api
          ports: [{name: http, containerPort: 9979, protocol: TCP}]
          readinessProbe:
            tcpSocket: {port: 9979}
            initialDelaySeconds: 10
            periodSeconds: 10
            timeoutSeconds: 5
            failureThreshold: 6
          livenessProbe:
            tcpSocket: {port: 9979}
            initialDelaySeconds: 60
            periodSeconds: 20
            timeoutSeconds: 5
            failureThreshold: 6
        - {name: sidecar}
""",
    ),
    "fix-ox-appsuite-ingress": Case(
        release="open-xchange",
        chart="appsuite-public-sector-2.27.9",
        before="""
kind: Ingress
metadata: {name: open-xchange-appsuite-http-api-routes-appsuite-api}
spec:
  rules:
    - host: webmail.example
      http:
        paths:
          - {path: "/appsuite/api(.*)", pathType: ImplementationSpecific}
          - {path: "/appsuite/other(.*)", pathType: ImplementationSpecific}
""",
        after="""
kind: Ingress
metadata: {name: open-xchange-appsuite-http-api-routes-appsuite-api}
spec:
  rules:
    - host: webmail.example
      http:
        paths:
          - {path: "/appsuite/api", pathType: ImplementationSpecific}
          - {path: "/appsuite/other(.*)", pathType: ImplementationSpecific}
""",
    ),
    "fix-intercom-redis-username": Case(
        release="intercom-service",
        chart="intercom-service-2.23.7",
        before="""
kind: Secret
metadata: {name: intercom-service-redis}
stringData: {password: "p"}
---
kind: Deployment
metadata: {name: intercom-service}
spec:
  template:
    spec:
      containers:
        - name: intercom-service
          env:
            - name: REDIS_PASSWORD
              valueFrom: {secretKeyRef: {name: intercom-service-redis, key: password}}
""",
        after="""
kind: Secret
metadata: {name: intercom-service-redis}
stringData: {password: "p", username: default}
---
kind: Deployment
metadata: {name: intercom-service}
spec:
  template:
    spec:
      containers:
        - name: intercom-service
          env:
            - name: REDIS_PASSWORD
              valueFrom: {secretKeyRef: {name: intercom-service-redis, key: password}}
            - name: REDIS_USER
              valueFrom: {secretKeyRef: {name: intercom-service-redis, key: username}}
""",
    ),
    "fix-synapse-federation-whitelist": Case(
        release="opendesk-synapse",
        chart="opendesk-synapse-6.1.11",
        before="""
kind: ConfigMap
metadata: {name: opendesk-synapse}
data:
  homeserver.yaml: |
    server_name: "example.org"
    database:
      name: psycopg2
---
kind: ConfigMap
metadata: {name: opendesk-synapse-log}
data:
  log.yaml: "version: 1\\n"
""",
        after="""
kind: ConfigMap
metadata: {name: opendesk-synapse}
data:
  homeserver.yaml: |
    server_name: "example.org"
    database:
      name: psycopg2
    federation_domain_whitelist: []
---
kind: ConfigMap
metadata: {name: opendesk-synapse-log}
data:
  log.yaml: "version: 1\\n"
""",
    ),
    "fix-dedup-env-vars": Case(
        release="ums",
        chart="nubus-1.18.1",
        before="""
kind: Deployment
metadata: {name: ums-portal-server}
spec:
  template:
    spec:
      initContainers:
        - name: load-portal-data
          env:
            - {name: AWS_DEFAULT_REGION, value: "eu-west-1"}
            - {name: PORTAL_DATA_BUCKET, value: ums}
            - {name: AWS_DEFAULT_REGION, value: eu01}
      containers:
        - name: portal-server
          env:
            - {name: AWS_DEFAULT_REGION, value: "eu-west-1"}
            - {name: PORTAL_SERVER_PORT, value: "8000"}
            - {name: AWS_DEFAULT_REGION, value: "eu-west-1"}
""",
        after="""
kind: Deployment
metadata: {name: ums-portal-server}
spec:
  template:
    spec:
      initContainers:
        - name: load-portal-data
          env:
            - {name: AWS_DEFAULT_REGION, value: eu01}
            - {name: PORTAL_DATA_BUCKET, value: ums}
      containers:
        - name: portal-server
          env:
            - {name: AWS_DEFAULT_REGION, value: "eu-west-1"}
            - {name: PORTAL_SERVER_PORT, value: "8000"}
""",
    ),
    "fix-jobs-remove-hook-ttl": Case(
        before="""
kind: Job
metadata: {name: argo-hook, annotations: {argocd.argoproj.io/hook: Sync}}
spec: {ttlSecondsAfterFinished: 60, backoffLimit: 0}
---
kind: Job
metadata: {name: helm-hook, annotations: {helm.sh/hook: post-install}}
spec: {ttlSecondsAfterFinished: 1800}
---
kind: Job
metadata: {name: plain-job}
spec: {ttlSecondsAfterFinished: 100}
""",
        after="""
kind: Job
metadata: {name: argo-hook, annotations: {argocd.argoproj.io/hook: Sync}}
spec: {backoffLimit: 0}
---
kind: Job
metadata: {name: helm-hook, annotations: {helm.sh/hook: post-install}}
spec: {}
---
kind: Job
metadata: {name: plain-job}
spec: {ttlSecondsAfterFinished: 100}
""",
    ),
    "fix-ums-stack-data-hook-configmaps": Case(
        release="ums",
        before="""
kind: ConfigMap
metadata:
  name: ums-stack-data-ums-ucr
  annotations:
    argocd.argoproj.io/hook: Sync
    argocd.argoproj.io/hook-delete-policy: BeforeHookCreation
    keep: "yes"
---
kind: Job
metadata:
  name: ums-stack-data-ums
  annotations: {argocd.argoproj.io/hook: Sync}
""",
        after="""
kind: ConfigMap
metadata:
  name: ums-stack-data-ums-ucr
  annotations: {keep: "yes"}
---
kind: Job
metadata:
  name: ums-stack-data-ums
  annotations: {argocd.argoproj.io/hook: Sync}
""",
    ),
}

STAGE_ENTRIES = {
    "fix-resource-dedup": "dedup",
    "fix-secrets-to-eso": "eso",
    "fix-inventory-guard-orphan-sidecars": "orphan-sidecars-guard",
}


def test_every_catalog_entry_has_a_case() -> None:
    assert sorted([*CASES, *STAGE_ENTRIES]) == sorted(CATALOG.ids)


@pytest.mark.parametrize("patch_id", sorted(CASES))
def test_entry_before_after(patch_id: str) -> None:
    case = CASES[patch_id]
    patch = CATALOG.get(patch_id)
    catalog = Catalog((patch,))
    params = {patch_id: case.parameters} if case.parameters else None
    docs = case.docs(case.before)
    out, _, changes = run(catalog, docs, parameters=params)
    assert [d.body for d in out] == [d.body for d in case.docs(case.after)]
    assert changes, "the before documents must need the fix"
    assert {c.why for c in changes} == {patch.why}
    assert {c.stage for c in changes} == {"runtime-patches"}
    assert {c.release for c in changes} == {case.release}
    # idempotent: the fixed documents need nothing more
    _, _, again = run(catalog, out, parameters=params)
    assert again == []


@pytest.mark.parametrize(("patch_id", "stage"), sorted(STAGE_ENTRIES.items()))
def test_stage_entry_enables_its_stage(patch_id: str, stage: str) -> None:
    patch = CATALOG.get(patch_id)
    assert patch.stage == stage and not patch.operations and patch.match is None
    catalog = Catalog((patch,))
    assert enabled_stages(catalog, "1.13.1") == {stage}
    docs = [doc({"kind": "Secret", "metadata": {"name": "s"}, "stringData": {"a": "b"}})]
    out, ctx, changes = run(catalog, docs)
    assert changes == [] and out[0].body["stringData"] == {"a": "b"}
    assert ctx.facts["runtime_patches"]["stages"] == [stage]
