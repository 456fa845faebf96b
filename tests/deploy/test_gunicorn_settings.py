"""settings/gunicorn.py: gunicorn's control socket is off by default (its default path is shared by
every gunicorn of the user, so two Kelisim instances on one machine would collide) and, when
``GUNICORN_CONTROL_SOCKET`` names a path, it is that instance's own; gunicorn accepts the values."""

from __future__ import annotations

import importlib

import pytest
from gunicorn.config import Config


def load(monkeypatch, **env):
    for name in ("GUNICORN_CONTROL_SOCKET",):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    import settings.gunicorn as module

    return importlib.reload(module)


def gunicorn_config(module) -> Config:
    """What gunicorn makes of the module (its own loader: every lower-case setting it knows)."""
    cfg = Config()
    for name, value in vars(module).items():
        if name in cfg.settings:
            cfg.set(name, value)
    return cfg


@pytest.fixture(autouse=True)
def restore(monkeypatch):
    yield
    monkeypatch.undo()
    import settings.gunicorn as module

    importlib.reload(module)


def test_the_control_socket_is_off_by_default(monkeypatch):
    module = load(monkeypatch)
    assert module.control_socket_disable is True and not hasattr(module, "control_socket")
    assert gunicorn_config(module).control_socket_disable is True
    for blank in ("", "  "):
        assert load(monkeypatch, GUNICORN_CONTROL_SOCKET=blank).control_socket_disable is True


def test_a_named_control_socket_is_this_instance_s_own(monkeypatch, tmp_path):
    paths = [str(tmp_path / name / "gunicorn.ctl") for name in ("kelisim-a", "kelisim-b")]
    configs = [gunicorn_config(load(monkeypatch, GUNICORN_CONTROL_SOCKET=path)) for path in paths]
    assert [(cfg.control_socket, cfg.control_socket_disable) for cfg in configs] == [(p, False) for p in paths]
    assert configs[0].control_socket_mode == 0o600  # only the owner may connect
