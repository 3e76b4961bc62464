"""The Raft core does no I/O: nothing under stages/raft/core/ imports (even indirectly, through
another petcd module) a module that reaches disks, sockets, clocks, threads or processes."""
import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CORE = REPO / "stages" / "raft" / "core"
BANNED = {"zmq", "lmdb", "msgpack", "socket", "os", "time", "threading", "asyncio",
          "subprocess", "multiprocessing"}


def _module_file(dotted: str) -> Path | None:
    """Map petcd.x.y to its source file under the repo (the packaging maps folders so)."""
    parts = dotted.split(".")
    if parts[0] != "petcd":
        return None
    base = REPO.joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def _imports(path: Path, package: str) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                found.add(f"{base}.{node.module}" if node.module else base)
            elif node.module:
                found.add(node.module)
    return found


def banned_imports(root: Path, package: str) -> dict[str, set[str]]:
    """Every banned top-level module reachable from the .py files under root."""
    seen: set[Path] = set()
    bad: dict[str, set[str]] = {}
    todo = [(p, package) for p in sorted(root.glob("*.py"))]
    while todo:
        path, pkg = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for name in _imports(path, pkg):
            if name.split(".")[0] in BANNED:
                bad.setdefault(path.name, set()).add(name)
            target = _module_file(name)
            if target is not None:
                todo.append((target, name if target.name == "__init__.py"
                             else name.rsplit(".", 1)[0]))
    return bad


def test_core_imports_nothing_that_does_io():
    assert banned_imports(CORE, "petcd.stages.raft.core") == {}


def test_the_check_catches_a_banned_import(tmp_path):
    (tmp_path / "bad.py").write_text("import os.path\nfrom time import monotonic\n")
    bad = banned_imports(tmp_path, "petcd.fake")
    assert list(bad.values()) == [{"os.path", "time"}]
