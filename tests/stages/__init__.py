"""Tests of the render stages (a package, so that its helpers do not shadow other modules)."""
