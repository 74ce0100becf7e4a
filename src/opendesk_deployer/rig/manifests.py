"""What the rig puts into the cluster after kwokctl created it: kwok Stages, ClusterExec,
ClusterLogs and the default StorageClass.

Three things here are STAND-INS for controllers that do not run on the rig; each is named so:

- the volume provisioner stand-in: kwok's own `volume/fast` stages give every PVC of the
  `kwok-volume` StorageClass (the default class) a PersistentVolume and bind both, so the
  scheduler's volume binding and StatefulSets work without a real CSI driver;
- the load-balancer stand-in: a stage gives each `type: LoadBalancer` Service the ingress address
  127.0.0.1 (no cloud controller runs here);
- the cert-manager stand-in: a stage marks cert-manager `Certificate`s Ready (cert-manager's
  controller does not run here; only its CRDs are installed). It issues nothing: no Secret is
  written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from opendesk_deployer.rig import kwok_upstream
from opendesk_deployer.rig.ports import free_ports

FIELD_MANAGER = "opendesk-deployer-rig"
STORAGE_CLASS = "kwok-volume"
LOADBALANCER_IP = "127.0.0.1"
# kwok's own CRDs the rig enables (kwokctl --enable-crds): stages, host exec and host logs are
# objects in the cluster, so later issues can add ClusterExecs (simulated app CLIs) at run time.
KWOK_CRDS = ("Stage", "ClusterExec", "ClusterLogs")
KWOK_CRD_NAMES = (
    "stages.kwok.x-k8s.io",
    "clusterexecs.kwok.x-k8s.io",
    "clusterlogs.kwok.x-k8s.io",
)

_STANDIN = {"opendesk-deployer.io/stand-in": "true"}


def _stage(text: str, name: str | None = None, standin_for: str | None = None) -> dict[str, Any]:
    obj: dict[str, Any] = yaml.safe_load(text)
    if name:
        obj["metadata"]["name"] = name
    if standin_for:
        obj["metadata"]["labels"] = dict(_STANDIN)
        obj["metadata"]["annotations"] = {"opendesk-deployer.io/stand-in-for": standin_for}
    return obj


LOADBALANCER_STANDIN = f"""\
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: standin-loadbalancer-ingress
spec:
  resourceRef:
    apiGroup: v1
    kind: Service
  selector:
    matchExpressions:
    - key: '.metadata.deletionTimestamp'
      operator: 'DoesNotExist'
    - key: '.spec.type'
      operator: 'In'
      values:
      - 'LoadBalancer'
    - key: '.status.loadBalancer.ingress'
      operator: 'DoesNotExist'
  steps:
  - patch:
      subresource: status
      root: status
      template: |
        loadBalancer:
          ingress:
          - ip: "{LOADBALANCER_IP}"
            ipMode: VIP
"""

# An ingress controller publishes its address in every Ingress's status; until then Argo CD
# reports the Ingress (and its Application) Progressing. No ingress controller runs here.
INGRESS_CONTROLLER_STANDIN = f"""\
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: standin-ingress-controller-status
spec:
  resourceRef:
    apiGroup: networking.k8s.io/v1
    kind: Ingress
  selector:
    matchExpressions:
    - key: '.metadata.deletionTimestamp'
      operator: 'DoesNotExist'
    - key: '.status.loadBalancer.ingress'
      operator: 'DoesNotExist'
  steps:
  - patch:
      subresource: status
      root: status
      template: |
        loadBalancer:
          ingress:
          - ip: "{LOADBALANCER_IP}"
"""

CERT_MANAGER_STANDIN = """\
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: standin-cert-manager-certificate-ready
spec:
  resourceRef:
    apiGroup: cert-manager.io/v1
    kind: Certificate
  selector:
    matchExpressions:
    - key: '.metadata.deletionTimestamp'
      operator: 'DoesNotExist'
    - key: '.status.conditions.[] | select( .type == "Ready" ) | .status'
      operator: 'NotIn'
      values:
      - 'True'
  steps:
  - patch:
      subresource: status
      root: status
      template: |
        conditions:
        - type: Ready
          status: "True"
          reason: Ready
          message: "Certificate is up to date and has not expired (kwok stand-in for cert-manager)"
          lastTransitionTime: {{ Now | Quote }}
          observedGeneration: {{ .metadata.generation }}
        notBefore: {{ Now | Quote }}
        revision: 1
"""


def stages() -> list[dict[str, Any]]:
    """Every Stage the rig applies: kwok's defaults for nodes and pods, then the stand-ins."""
    u = kwok_upstream.stage_yaml
    return [
        _stage(u("node-initialize")),
        _stage(u("node-heartbeat-with-lease")),
        _stage(u("pod-ready")),
        _stage(u("pod-complete")),
        _stage(u("pod-delete")),
        # the volume provisioner stand-in (kwok's volume/fast stages)
        _stage(u("pvc-provision"), "standin-provisioner-pvc-provision", "a CSI volume provisioner"),
        _stage(u("pv-bind"), "standin-provisioner-pv-bind", "a CSI volume provisioner"),
        _stage(u("pvc-delete"), "standin-provisioner-pvc-delete", "a CSI volume provisioner"),
        _stage(u("pv-delete"), "standin-provisioner-pv-delete", "a CSI volume provisioner"),
        _stage(LOADBALANCER_STANDIN, standin_for="a cloud load-balancer controller"),
        _stage(
            INGRESS_CONTROLLER_STANDIN, standin_for="an ingress controller (HAProxy in openDesk)"
        ),
        _stage(CERT_MANAGER_STANDIN, standin_for="cert-manager's certificate controller"),
    ]


def storage_class() -> dict[str, Any]:
    """The default StorageClass served by the volume provisioner stand-in."""
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {
            "name": STORAGE_CLASS,
            "labels": dict(_STANDIN),
            "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
        },
        "provisioner": "kwok.x-k8s.io/volume",
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "Immediate",
    }


def cluster_exec(workdir: Path) -> dict[str, Any]:
    """Every container's exec runs on the host, in `workdir`."""
    return {
        "apiVersion": "kwok.x-k8s.io/v1alpha1",
        "kind": "ClusterExec",
        "metadata": {"name": "rig-host-exec"},
        "spec": {
            "execs": [
                {
                    "local": {
                        "workDir": str(workdir),
                        "envs": [{"name": "OPENDESK_RIG", "value": "1"}],
                    }
                }
            ]
        },
    }


def cluster_logs(logs_file: Path) -> dict[str, Any]:
    """Every container's log is `logs_file` (a host file)."""
    return {
        "apiVersion": "kwok.x-k8s.io/v1alpha1",
        "kind": "ClusterLogs",
        "metadata": {"name": "rig-host-logs"},
        "spec": {"logs": [{"logsFile": str(logs_file), "follow": False}]},
    }


# kwokctl's own port choice counts down from 32767 and takes the first port free at that moment:
# two rigs created at the same time (a test session beside the dev stack) pick the same ports.
# The rig picks ephemeral ports from the kernel instead.
PORT_OPTIONS = (
    "etcdPort",
    "etcdPeerPort",
    "kubeApiserverPort",
    "kubeControllerManagerPort",
    "kubeSchedulerPort",
    "kwokControllerPort",
)


def kwokctl_configuration(bind_address: str) -> str:
    """The kwokctl config file: options that have no command-line flag (bind address, ports)."""
    ports = dict(zip(PORT_OPTIONS, free_ports(len(PORT_OPTIONS), bind_address), strict=True))
    return yaml.safe_dump(
        {
            "apiVersion": "config.kwok.x-k8s.io/v1alpha1",
            "kind": "KwokctlConfiguration",
            "options": {"bindAddress": bind_address, **ports},
        },
        sort_keys=False,
    )
