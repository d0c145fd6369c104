"""The house keeps its shape: the packages of ``docs/architecture.md`` exist, and no
module imports upward (the rules of DESIGN.md, checked over the source with ``ast``).

Known violations are listed in the ``ALLOWED_*`` sets below, each with a comment. The
sets may only shrink: a listed violation that has been fixed makes
:func:`test_allow_lists_hold_no_fixed_violations` fail until it is removed from the list.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
PACKAGE = SRC / "cratedig"
DOC = ROOT / "docs" / "architecture.md"

#: The layers, upstream first. A module may import its own layer and the layers above
#: it, never one below. Names are the first component under ``cratedig``.
LAYERS: list[set[str]] = [
    {"events", "config", "settings_engagement", "exceptions", "fields", "clock"},
    {"store"},
    {"ingest", "datasets", "simulator"},
    {"analytics", "matrix"},
    {"models"},
    {"evaluation"},
    {"pipeline", "spark"},
    {"online", "experiments"},
    {"serving"},
    {"commands", "cli", "demo"},
]
RANK: dict[str, int] = {name: rank for rank, names in enumerate(LAYERS) for name in names}
RANK["cratedig"] = 0  # the package itself (``__version__``)

#: ``models`` never imports these (DESIGN.md), though ``store`` is upstream of it.
MODELS_NEVER_IMPORT = {"store", "serving", "pipeline"}
#: ``experiments.assignment`` is pure (ids in, variant out): the vocabulary only.
PURE_MODULES = {"cratedig.experiments.assignment"}

# ---------------------------------------------------------------------------------
# Allow-lists of today's violations, as (importing module, imported module). Shrink
# them as the code is fixed; never add to them without a note in the issue tracker.
# ---------------------------------------------------------------------------------

#: Direct imports that break a rule (layer order, models -> store, purity, spark).
ALLOWED_DIRECT: set[tuple[str, str]] = set()

#: Modules that ``import cratedig.models`` loads although models must not import them.
ALLOWED_LOADED_BY_MODELS: set[str] = {
    # models/*.py import cratedig.matrix.side (SideInfo); matrix/side.py reads the store
    # (build_side_info), and cratedig/matrix/__init__.py imports matrix.engagement,
    # which reads the store too. Fix: SideInfo (a plain dataclass) in a module that
    # does not import the store, and no store-reading imports in matrix/__init__.
    "cratedig.store",
}


#: Modules outside ``store/`` and ``_sql.py`` modules that build SQL (DESIGN.md: "SQL
#: lives in store/ (or a package's own small _sql.py), not spread through request
#: handlers"). Issue #9 item 1 moves serving's; the rest are older.
ALLOWED_SQL_OUTSIDE_STORE: set[str] = {
    # analytics: queries written where they are used; analytics/_sql.py holds only some
    "cratedig.analytics.activity",
    "cratedig.analytics.artists",
    "cratedig.analytics.cohorts",
    "cratedig.analytics.coverage",
    "cratedig.analytics.mix",
    "cratedig.analytics.profile",
    "cratedig.analytics.visits",
    # the demo counts rows itself
    "cratedig.demo",
    # the ingest core's id lookups, chunk bookkeeping and quarantine reads
    "cratedig.ingest.quarantine",
    # the engagement matrix: aggregation SQL and the weighting expression
    "cratedig.matrix.aggregate",
    "cratedig.matrix.recent",
    # the one weighting rule rendered as SQL (its Spark rendering is spark/render.py)
    "cratedig.matrix.rules",
    "cratedig.matrix.side",
    "cratedig.matrix.weights",
    # the model registry's reads and status updates
    "cratedig.pipeline.registry",
    # serving (issue #9 item 1): health check, event writes, pages, the service's reads
    "cratedig.serving.api",
}

#: Names whose import from SQLAlchemy means the module builds SQL (types such as
#: ``Engine`` or ``Connection`` do not count).
SQL_BUILDERS = {
    "and_",
    "bindparam",
    "case",
    "cast",
    "column",
    "ColumnElement",
    "delete",
    "distinct",
    "exists",
    "false",
    "func",
    "insert",
    "join",
    "literal",
    "literal_column",
    "not_",
    "null",
    "or_",
    "outerjoin",
    "over",
    "Select",
    "select",
    "table",
    "text",
    "true",
    "tuple_",
    "union",
    "union_all",
    "update",
}


@dataclass(frozen=True)
class Import:
    """One ``import`` statement of a cratedig module naming a cratedig module."""

    importer: str
    imported: str
    line: int
    lazy: bool  # inside a function body
    path: str = ""  # relative to the repository


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports_in(path: Path) -> list[tuple[str, int, bool]]:
    """``(module, line, lazy)`` for each module an import statement names.

    ``from a.b import c`` names ``a.b`` and, when ``a/b/c`` is a module, ``a.b.c``.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    lazy_nodes: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            lazy_nodes.update(id(inner) for inner in ast.walk(node) if inner is not node)
    found: list[tuple[str, int, bool]] = []
    for node in ast.walk(tree):
        lazy = id(node) in lazy_nodes
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno, lazy) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, node.lineno, lazy))
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                if _is_module(sub):
                    found.append((sub, node.lineno, lazy))
    return found


def _is_module(dotted: str) -> bool:
    base = SRC.joinpath(*dotted.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def all_imports() -> list[Import]:
    """Every import of the package, including imports inside functions."""
    out: list[Import] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        importer = module_name(path)
        where = str(path.relative_to(ROOT))
        for imported, line, lazy in _imports_in(path):
            out.append(Import(importer, imported, line, lazy, where))
    return out


def area(module: str) -> str:
    """The first component under ``cratedig`` (``cratedig.store.schema`` -> ``store``)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def violations(imports: list[Import]) -> dict[tuple[str, str], str]:
    """Every broken rule, as ``{(importer, imported): why}``."""
    found: dict[tuple[str, str], str] = {}
    for imp in imports:
        key = (imp.importer, imp.imported)
        src_area = area(imp.importer)
        if imp.imported.split(".")[0] == "pyspark" and src_area != "spark":
            found[key] = "only cratedig.spark imports pyspark"
        if not imp.imported.startswith("cratedig"):
            continue
        dst_area = area(imp.imported)
        if src_area not in RANK:
            found[key] = f"{src_area!r} is in no layer of LAYERS (add it there and to the doc)"
        elif dst_area not in RANK:
            found[key] = f"{dst_area!r} is in no layer of LAYERS (add it there and to the doc)"
        elif RANK[dst_area] > RANK[src_area]:
            found[key] = f"upward import: {src_area} (layer {RANK[src_area]}) imports " + (
                f"{dst_area} (layer {RANK[dst_area]})"
            )
        if src_area == "models" and dst_area in MODELS_NEVER_IMPORT:
            found[key] = f"models never imports {dst_area}"
        if imp.importer in PURE_MODULES and RANK.get(dst_area, 99) > 0:
            found[key] = f"{imp.importer} is pure: events/config/exceptions only"
        if dst_area == "spark" and src_area != "spark":
            if src_area != "commands":
                found[key] = "only commands import cratedig.spark"
            elif not imp.lazy:
                found[key] = "commands import cratedig.spark lazily (inside a function)"
    return found


def sql_builders() -> dict[str, set[str]]:
    """``{module: SQL-building names it imports}`` outside ``store/`` and ``_sql.py``."""
    found: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        module = module_name(path)
        if area(module) == "store" or module.rsplit(".", 1)[-1].endswith("_sql"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ImportFrom) or not node.module:
                continue
            if node.module.split(".")[0] != "sqlalchemy":
                continue
            names = {a.name for a in node.names if a.name in SQL_BUILDERS}
            if node.module.startswith("sqlalchemy.dialects"):
                names.add(node.module)
            if names:
                found.setdefault(module, set()).update(names)
    return found


def _where(imports: list[Import], key: tuple[str, str]) -> str:
    hits = [i for i in imports if (i.importer, i.imported) == key]
    lines = ",".join(str(n) for n in sorted({i.line for i in hits}))
    return f"{hits[0].path}:{lines}" if hits else ""


def test_no_module_imports_upward() -> None:
    imports = all_imports()
    found = violations(imports)
    new = {key: why for key, why in found.items() if key not in ALLOWED_DIRECT}
    report = [f"{a} -> {b}: {why} ({_where(imports, (a, b))})" for (a, b), why in new.items()]
    assert not report, "imports that break DESIGN.md's rules:\n" + "\n".join(sorted(report))


def test_sql_lives_in_the_store() -> None:
    new = {m: sorted(n) for m, n in sql_builders().items() if m not in ALLOWED_SQL_OUTSIDE_STORE}
    assert not new, f"SQL outside store/ and _sql.py modules (move it to the store): {new}"


def _loaded_by(module: str) -> set[str]:
    """The cratedig modules a fresh interpreter has loaded after importing ``module``
    and every submodule of it."""
    code = (
        "import importlib, pkgutil, sys\n"
        f"pkg = importlib.import_module({module!r})\n"
        "for info in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
        "    importlib.import_module(info.name)\n"
        "print('\\n'.join(sorted(m for m in sys.modules if m.startswith('cratedig'))))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(SRC)},
    )
    return set(done.stdout.split())


def test_importing_models_loads_no_store_serving_or_pipeline() -> None:
    loaded = {".".join(m.split(".")[:2]) for m in _loaded_by("cratedig.models")}
    forbidden = {f"cratedig.{name}" for name in MODELS_NEVER_IMPORT}
    assert loaded & forbidden <= ALLOWED_LOADED_BY_MODELS, sorted(loaded & forbidden)


def test_allow_lists_hold_no_fixed_violations() -> None:
    found = violations(all_imports())
    fixed = ALLOWED_DIRECT - set(found)
    assert not fixed, f"fixed, so remove from ALLOWED_DIRECT: {sorted(fixed)}"
    fixed_sql = ALLOWED_SQL_OUTSIDE_STORE - set(sql_builders())
    assert not fixed_sql, f"fixed, so remove from ALLOWED_SQL_OUTSIDE_STORE: {sorted(fixed_sql)}"
    loaded = {".".join(m.split(".")[:2]) for m in _loaded_by("cratedig.models")}
    fixed_loads = ALLOWED_LOADED_BY_MODELS - loaded
    assert not fixed_loads, f"fixed, so remove from ALLOWED_LOADED_BY_MODELS: {fixed_loads}"


def test_the_rules_catch_an_upward_import() -> None:
    planted = [
        Import("cratedig.store.reads", "cratedig.matrix.idmap", 1, False),
        Import("cratedig.models.ease", "cratedig.store.schema", 1, False),
        Import("cratedig.simulator.site", "cratedig.serving.app", 1, True),
        Import("cratedig.pipeline.train", "cratedig.spark.als", 1, True),
        Import("cratedig.commands.models", "cratedig.spark.als", 1, False),
        Import("cratedig.serving.app", "pyspark.sql", 1, True),
        Import("cratedig.experiments.assignment", "cratedig.store", 1, False),
    ]
    assert set(violations(planted)) == {(i.importer, i.imported) for i in planted}
    fine = [
        Import("cratedig.serving.app", "cratedig.pipeline.registry", 1, False),
        Import("cratedig.evaluation.datasets", "cratedig.datasets.hetrec_arrays", 1, False),
        Import("cratedig.commands.models", "cratedig.spark.als", 1, True),
        Import("cratedig.store.engine", "cratedig.config", 1, False),
    ]
    assert violations(fine) == {}


# ---------------------------------------------------------------------------------
# docs/architecture.md
# ---------------------------------------------------------------------------------

_LAYER_ROW = re.compile(r"^\|\s*(\d+)\s*\|(.*?)\|")
_NAME = re.compile(r"`([a-z_]+)(?:/|\.py)`")


def doc_layers() -> dict[int, dict[str, bool]]:
    """``{layer: {name: planned}}`` from the layer table of the doc."""
    layers: dict[int, dict[str, bool]] = {}
    for line in DOC.read_text(encoding="utf-8").splitlines():
        match = _LAYER_ROW.match(line)
        if not match:
            continue
        cell = match.group(2)
        names = layers.setdefault(int(match.group(1)), {})
        for item in cell.split(","):
            for name in _NAME.findall(item):
                names[name] = "planned" in item
    return layers


def test_the_doc_names_the_layers_of_this_test() -> None:
    layers = doc_layers()
    assert [set(layers[i]) for i in sorted(layers)] == LAYERS


def test_every_package_in_the_doc_exists_and_every_package_is_in_the_doc() -> None:
    named = {name: planned for names in doc_layers().values() for name, planned in names.items()}
    missing = [n for n, planned in named.items() if not planned and not _is_module(f"cratedig.{n}")]
    assert not missing, f"named in docs/architecture.md but not in src/cratedig: {missing}"
    still_planned = [n for n, planned in named.items() if planned and _is_module(f"cratedig.{n}")]
    assert not still_planned, f"exists now, drop '(planned)' in the doc: {still_planned}"
    present = {
        p.stem if p.suffix == ".py" else p.name
        for p in PACKAGE.iterdir()
        if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").is_file()
    }
    assert present <= set(named), f"not in docs/architecture.md: {sorted(present - set(named))}"


def test_the_where_does_x_go_table_names_real_files() -> None:
    text = DOC.read_text(encoding="utf-8")
    paths = set(re.findall(r"`((?:src|tests|docs|benchmarks)/[\w/.]+\.(?:py|md))`", text))
    assert paths, "docs/architecture.md names no files"
    absent = sorted(p for p in paths if not (ROOT / p).is_file())
    assert not absent, f"docs/architecture.md names files that do not exist: {absent}"
