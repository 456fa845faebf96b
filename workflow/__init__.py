"""Kelisim's domain-free workflow engine: transitions, audit chain, permissions.

Nothing in this package knows about clusters or rounds; ``processes`` builds on it.
"""
