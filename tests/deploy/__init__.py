"""Tests of the production settings, deploy/ and the operations endpoints (issue 7)."""
