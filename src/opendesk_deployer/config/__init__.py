"""Instance configuration: the validated model, its loader with file-and-line errors, the
runtime-state gate and the master password source."""

from opendesk_deployer.config.errors import ConfigError
from opendesk_deployer.config.loader import load_instance, load_runtime_state
from opendesk_deployer.config.model import Instance
from opendesk_deployer.config.runtime_state import RuntimeState

__all__ = ["ConfigError", "Instance", "RuntimeState", "load_instance", "load_runtime_state"]
