"""The architecture holds: bot → handlers → news ← storage, checked on every import statement.

- news/ (the domain) imports neither telegram nor sqlalchemy, nor any of our other packages;
- storage/ imports no telegram and none of handlers/ or bot/;
- handlers/ imports no sqlalchemy, alembic or storage/ (it reaches storage through news.ports);
- nothing imports bot/, the composition root;
- outside handlers/, nothing imports the Telegram callbacks (handlers.commands, .latest,
  .details): the use cases they serve live in news/ (news.reading, news.curation), and bot/
  registers the handlers through handlers.routes alone;
- handler modules do not import each other, only the shared helpers (handlers.common,
  handlers.render, handlers.gateway, handlers.i18n); handlers.routes, which lists every handler,
  is the one exception;
- handlers/ holds no delivery rule: no handler module names the push-age, digest or quiet-hours
  constants (`DELIVERY_RULE_CONSTANTS`); those rules are news.delivery's (where a push is decided);
- no storage module reaches into another's private (`_name`) helpers: what the aggregates share
  lives in storage.base, in public;
- inside news/, the capabilities depend one way (`NEWS_LAYERS`): meaning on nothing but the
  shared model, topics on meaning, feeds and events on topics, polling on all of them, the use
  cases (reading, curation) on all but polling, articles on feeds and events; and no module
  outside a subpackage imports its private (`_name`) modules.
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


#: Handler modules that serve Telegram updates; only handlers.routes may import them.
CALLBACK_MODULES = {"handlers.commands", "handlers.latest", "handlers.details"}
#: What every handler module may import from handlers/.
SHARED_HELPERS = {
    "handlers.common",
    "handlers.render",
    "handlers.gateway",
    "handlers.i18n",
    "handlers.pacing",
    "handlers.permissions",
    "handlers.previews",
    # The push request and its answer's mapping to `news.delivery.SendResult` (the sender's).
    "handlers.sending",
}
#: What each part of news/ may import from the rest of news/ (besides its own modules). The shared
#: model (errors, model, policy, batching) is below everything; nothing points back up.
SHARED_MODEL = {"errors", "model", "policy", "batching"}
NEWS_LAYERS = {
    **{part: SHARED_MODEL for part in SHARED_MODEL},
    # What a story means, across languages (sentence vectors): below topics and events, which
    # compare them.
    "meaning": SHARED_MODEL,
    "topics": SHARED_MODEL | {"meaning"},
    "feeds": SHARED_MODEL | {"topics"},
    "events": SHARED_MODEL | {"topics", "meaning"},
    "delivery": SHARED_MODEL,
    "ports": SHARED_MODEL | {"topics", "events"},
    "reading": SHARED_MODEL | {"topics", "events", "ports", "meaning"},
    "curation": SHARED_MODEL | {"topics", "feeds", "ports"},
    # Article text: its pages come through feeds' fetcher, its key points from events' ranker;
    # the keeper (`news.articles.keeping`) keeps them through the storage ports.
    "articles": SHARED_MODEL | {"topics", "feeds", "events", "ports"},
    "polling": SHARED_MODEL
    | {"topics", "feeds", "events", "delivery", "ports", "articles", "meaning"},
}
#: The numbers of the delivery rules (`news.policy`, `news.delivery`): handlers/ never names them.
DELIVERY_RULE_CONSTANTS = {
    "PUSH_MAX_AGE",
    "DIGEST_GRACE",
    "DIGEST_THRESHOLD",
    "QUIET_DIGEST_LIMIT",
    "MAX_BACKOFF",
    "LEASE_USE",
}


def imports(path: Path) -> dict[str, set[str]]:
    """Every absolute import of the module: imported module → names taken from it."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: dict[str, set[str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.setdefault(alias.name, set())
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.setdefault(node.module, set()).update(alias.name for alias in node.names)
    return found


def imported_roots(path: Path) -> set[str]:
    return {module.split(".")[0] for module in imports(path)}


def python_files(*packages: str) -> list[Path]:
    return sorted(path for package in packages for path in (ROOT / package).rglob("*.py"))


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


def test_only_handlers_import_the_telegram_callbacks() -> None:
    importers = {
        str(path.relative_to(ROOT)): sorted(imports(path).keys() & CALLBACK_MODULES)
        for path in python_files("bot", "news", "storage", "bench", "tests")
        if imports(path).keys() & CALLBACK_MODULES
    }
    assert importers == {}


def test_handler_modules_share_only_the_helper_modules() -> None:
    crossings: dict[str, dict[str, list[str]]] = {}
    for path in python_files("handlers"):
        name = str(path.relative_to(ROOT))
        if name == "handlers/routes.py":
            continue
        own = "handlers." + path.stem
        for module, names in imports(path).items():
            if module.split(".")[0] != "handlers" or module in SHARED_HELPERS | {own}:
                continue
            crossings.setdefault(name, {})[module] = sorted(names)
    assert crossings == {}


def names_used(source: str) -> set[str]:
    """Every name a module's source imports, reads or takes as an attribute (`p.PUSH_MAX_AGE`)."""
    used: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            used.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Name):
            used.add(node.id)
        elif isinstance(node, ast.Attribute):
            used.add(node.attr)
    return used


def test_handlers_name_no_delivery_rule_constant() -> None:
    """Whether a chat is owed a story now is decided in news.delivery, not by the sender."""
    naming = [
        f"{path.relative_to(ROOT)} names {name}"
        for path in python_files("handlers")
        for name in sorted(names_used(path.read_text(encoding="utf-8")) & DELIVERY_RULE_CONSTANTS)
    ]
    assert naming == []
    probe = "from news.policy import DIGEST_GRACE\nimport news.policy as p\nage = p.PUSH_MAX_AGE\n"
    assert names_used(probe) & DELIVERY_RULE_CONSTANTS == {"DIGEST_GRACE", "PUSH_MAX_AGE"}


def private_names_reached(path: Path, own: str) -> dict[str, list[str]]:
    """Private names the module `own` takes from other modules: by import, or as an attribute
    of a module it imported (`import storage.base as base; base._helper`)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    aliases: dict[str, str] = {}
    reached: dict[str, set[str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                aliases[alias.asname or alias.name] = alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.module != own:
            for alias in node.names:
                if alias.name.startswith("_"):
                    reached.setdefault(node.module, set()).add(alias.name)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            module = aliases.get(ast.unparse(node.value))
            if module is not None and module != own:
                reached.setdefault(module, set()).add(node.attr)
    return {module: sorted(names) for module, names in reached.items()}


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


def test_storage_modules_use_only_each_others_public_names() -> None:
    reaching = {
        str(path.relative_to(ROOT)): reached
        for path in python_files("storage")
        if (reached := private_names_reached(path, module_name(path)))
    }
    assert reaching == {}


def test_the_private_names_check_sees_both_ways_of_reaching(tmp_path: Path) -> None:
    module = tmp_path / "probe.py"
    module.write_text(
        "import storage.base as base\n"
        "from storage.outbox import _load_claimed, chunks\n"
        "base._hidden()\n",
        encoding="utf-8",
    )
    assert private_names_reached(module, "storage.probe") == {
        "storage.outbox": ["_load_claimed"],
        "storage.base": ["_hidden"],
    }


def news_part(module: str) -> str:
    """The part of news/ a dotted module name is in: `news.feeds.fetch` → "feeds"."""
    return module.split(".")[1]


def test_news_capabilities_depend_one_way() -> None:
    arrows: dict[str, list[str]] = {}
    for path in python_files("news"):
        name = module_name(path)
        if name == "news.__init__" or ".data." in name:
            continue
        part = news_part(name)
        assert part in NEWS_LAYERS, f"{name}: a part of news/ that NEWS_LAYERS does not place"
        wrong = sorted(
            module
            for module in imports(path)
            if module.startswith("news.")
            and news_part(module) != part
            and news_part(module) not in NEWS_LAYERS[part]
        )
        if wrong:
            arrows[name] = wrong
    assert arrows == {}


def test_no_module_reaches_into_a_news_subpackages_private_modules() -> None:
    reaching: dict[str, list[str]] = {}
    for path in python_files("news", "storage", "handlers", "bot", "bench"):
        name = module_name(path)
        own = news_part(name) if name.startswith("news.") else None
        private = sorted(
            module
            for module in imports(path)
            if module.startswith("news.")
            and module.split(".")[-1].startswith("_")
            and news_part(module) != own
        )
        if private:
            reaching[str(path.relative_to(ROOT))] = private
    assert reaching == {}
