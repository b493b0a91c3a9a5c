"""No code path of the package may unpickle arbitrary objects.

Every ``torch.load`` call must pass ``weights_only=True`` literally; ``weights_only=False``, ``pickle.load(s)``,
``torch.jit.load`` and ``from torch import load`` are refused, so a model file from a stranger cannot run code.
The check reads the source with ``ast``, so strings in docstrings do not trip it and aliases do not hide a call.
"""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "torchshrink"
UNSAFE_MODULES = {"pickle", "cPickle", "dill", "cloudpickle", "joblib", "marshal", "shelve"}


def _dotted(node: ast.AST) -> str:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return ".".join(reversed(parts))


def unsafe_calls(source: str, filename: str = "<string>") -> list[str]:
    """Lines of ``source`` that load files unsafely, as 'file:line: why'."""
    tree = ast.parse(source, filename)
    torch_names = {"torch"}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name == "torch":
                    torch_names.add(a.asname or "torch")
                if a.name.split(".")[0] in UNSAFE_MODULES:
                    found.append(f"{filename}:{node.lineno}: imports {a.name} (unpickles arbitrary objects)")
        elif isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if mod.split(".")[0] in UNSAFE_MODULES:
                found.append(f"{filename}:{node.lineno}: imports from {mod} (unpickles arbitrary objects)")
            if mod in ("torch", "torch.serialization") and any(a.name == "load" for a in node.names):
                found.append(f"{filename}:{node.lineno}: imports torch's load by name (call torch.load(..., weights_only=True))")
        elif isinstance(node, ast.keyword) and node.arg == "weights_only":
            if not (isinstance(node.value, ast.Constant) and node.value.value is True):
                found.append(f"{filename}:{node.value.lineno}: weights_only is not the literal True")
        elif isinstance(node, ast.Call):
            name = _dotted(node.func)
            head, _, tail = name.rpartition(".")
            if tail == "load" and head in torch_names | {f"{t}.serialization" for t in torch_names}:
                kw = {k.arg: k.value for k in node.keywords}
                v = kw.get("weights_only")
                if not (isinstance(v, ast.Constant) and v.value is True):
                    found.append(f"{filename}:{node.lineno}: {name}( without weights_only=True")
            if name.endswith("jit.load") or name.endswith("package.PackageImporter"):
                found.append(f"{filename}:{node.lineno}: {name}( runs code stored in the file")
    return found


def test_the_checker_catches_unsafe_loads():
    bad = ("import torch\nimport torch as T\nimport pickle\nfrom torch import load\n"
           "torch.load('a')\nT.load('b', weights_only=False)\ntorch.load('c', weights_only=flag)\n"
           "torch.jit.load('d')\n")
    lines = sorted({int(hit.split(":")[1]) for hit in unsafe_calls(bad)})
    assert lines == [3, 4, 5, 6, 7, 8]
    assert unsafe_calls("import torch\ntorch.load(p, map_location='cpu', weights_only=True)\n") == []
    assert unsafe_calls('"""torch.load(x, weights_only=False) in a docstring is harmless"""\n') == []


def test_package_never_loads_unsafely():
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) > 20
    found = [hit for f in files for hit in unsafe_calls(f.read_text(), str(f.relative_to(PACKAGE.parent)))]
    assert not found, "unsafe loads:\n" + "\n".join(found)
    text_hits = [str(f) for f in files if "weights_only=False" in f.read_text()]
    assert not text_hits, f"'weights_only=False' appears in {text_hits}"
