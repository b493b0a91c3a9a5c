"""Fixtures for the tests that start real worker processes."""
from __future__ import annotations

import importlib.util
import socket
from pathlib import Path
from types import ModuleType
from typing import Callable

import pytest

HERE = Path(__file__).parent


@pytest.fixture
def free_port() -> int:
    """A TCP port free on this machine, for torch.distributed's rendezvous."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def load_script() -> Callable[[str], ModuleType]:
    """Import a worker script of this folder (e.g. ``ddp_worker``) as a module, to run its code in-process."""

    def load(name: str) -> ModuleType:
        spec = importlib.util.spec_from_file_location(name, HERE / f"{name}.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod

    return load
