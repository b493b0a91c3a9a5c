import signal
import subprocess
import sys
import textwrap

import pytest
import torch

from torchshrink.io import atomic_write, load_checkpoint


def test_failed_write_leaves_the_old_file(tmp_path):
    p = tmp_path / "f.txt"
    atomic_write(p, lambda f: f.write("old"), mode="w")

    def boom(f):
        f.write("half")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        atomic_write(p, boom, mode="w")
    assert p.read_text() == "old"
    assert [x.name for x in tmp_path.iterdir()] == ["f.txt"]


def test_sigkill_during_writes_never_leaves_a_broken_file(tmp_path):
    target = tmp_path / "ckpt.pt"
    code = textwrap.dedent(f"""
        import torch
        from torchshrink.io import save_checkpoint
        i = 0
        while True:
            save_checkpoint({{"i": i, "w": torch.full((200_000,), float(i))}}, {str(target)!r})
            i += 1
    """)
    proc = subprocess.Popen([sys.executable, "-c", code])
    try:
        import time

        deadline = time.time() + 30
        while not target.exists() and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    obj = load_checkpoint(target)
    assert torch.all(obj["w"] == float(obj["i"]))


def test_empty_file_is_named(tmp_path):
    (tmp_path / "e.pt").write_bytes(b"")
    from torchshrink.errors import CheckpointError

    with pytest.raises(CheckpointError, match="e.pt.*empty"):
        load_checkpoint(tmp_path / "e.pt")
