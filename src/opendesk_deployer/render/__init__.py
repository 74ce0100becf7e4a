"""Rendering openDesk: preparing a copy of the upstream tree and running helmfile over it."""
