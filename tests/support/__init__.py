"""Test support code: a local OCI registry and stub charts for rendering the real openDesk tree.

Importable as `support.*` from the tests (pytest puts `tests/` on `sys.path` for the rootless
`tests/conftest.py`).
"""
