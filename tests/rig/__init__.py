"""Tests of the local cluster rig (a package, so its conftest does not shadow tests/conftest.py)."""
