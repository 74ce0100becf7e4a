"""opendesk-deployer: renders, pushes and operates openDesk instances on Kubernetes."""

__version__ = "0.1.0"
