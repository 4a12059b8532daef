"""The architecture holds: bot → handlers → news ← storage, checked on every import statement.

- news/ (the domain) imports neither telegram nor sqlalchemy, nor any of our other packages;
- storage/ imports no telegram and none of handlers/ or bot/;
- handlers/ imports no sqlalchemy, alembic or storage/ (it reaches storage through news.ports);
- nothing imports bot/, the composition root.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = {
    "news": {"telegram", "sqlalchemy", "alembic", "storage", "handlers", "bot"},
    "storage": {"telegram", "handlers", "bot"},
    "handlers": {"sqlalchemy", "alembic", "storage", "bot"},
}


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_only_what_the_layering_allows(package: str) -> None:
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"{package}/ has no modules"
    violations = {
        str(path.relative_to(ROOT)): sorted(imported_roots(path) & FORBIDDEN[package])
        for path in files
        if imported_roots(path) & FORBIDDEN[package]
    }
    assert violations == {}


def test_nothing_imports_the_composition_root() -> None:
    importers = [
        str(path.relative_to(ROOT))
        for package in ("news", "storage", "handlers")
        for path in (ROOT / package).rglob("*.py")
        if "bot" in imported_roots(path)
    ]
    assert importers == []
