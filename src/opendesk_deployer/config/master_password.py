"""The master password of an instance: every openDesk secret is derived from it.

Sources, in order: `OPENDESK_MASTER_PASSWORD`; the secrets manager (production; read by the cloud
provider); on embedded defaults a random password generated on first use and kept in the local
state directory with mode 0600, so that repeated renders are stable. The value is registered with
the redactor as soon as it is known, so it never reaches a log line or an error message.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from pydantic import SecretStr

from opendesk_deployer import redaction
from opendesk_deployer.config.model import Instance

ENV_VAR = "OPENDESK_MASTER_PASSWORD"


class MasterPasswordError(Exception):
    pass


def state_dir() -> Path:
    """`$OPENDESK_STATE_DIR`, else `$XDG_DATA_HOME/opendesk-deployer`, else
    `~/.local/share/opendesk-deployer`."""
    if os.environ.get("OPENDESK_STATE_DIR"):
        return Path(os.environ["OPENDESK_STATE_DIR"])
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "opendesk-deployer"


def instance_state_dir(instance: Instance) -> Path:
    d = state_dir() / "instances" / instance.customer_id / instance.instance_id
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    return d


def _read_or_create(path: Path) -> str:
    if path.exists():
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            raise MasterPasswordError(
                f"{path} is readable by others (mode {mode:o}); run: chmod 600 {path}"
            )
        value = path.read_text().strip()
        if value:
            return value
    value = secrets.token_urlsafe(32)
    # O_EXCL-free create with 0600 from the start: the password never exists world-readable.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value + "\n")
    return value


def resolve(instance: Instance) -> SecretStr:
    """Return the master password of `instance` (registered with the redactor)."""
    value = os.environ.get(ENV_VAR)
    if not value:
        if instance.secrets_manager is not None:
            raise MasterPasswordError(
                "the instance has a secrets manager, which holds its master password; reading "
                f"it needs the cloud provider, which is not part of this build; set {ENV_VAR}"
            )
        value = _read_or_create(instance_state_dir(instance) / "master-password")
    redaction.register(value)
    return SecretStr(value)
