"""maskpose_core stays pure: it loads no orchestration-level package, and its layers import
downwards only (model/, loss/, render/, data/ never reach train/ or the experiment config)."""
import ast
import subprocess
import sys
from pathlib import Path


def test_core_imports_no_orchestration_packages():
    code = (
        "import pkgutil, importlib, sys, maskpose_core\n"
        "for m in pkgutil.walk_packages(maskpose_core.__path__, 'maskpose_core.'):\n"
        "    importlib.import_module(m.name)\n"
        "bad = [p for p in ('ray', 'mlflow', 'optuna', 'pandas') if p in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"maskpose_core imported {out.stdout.strip()}"


# Layers of the core, bottom up: a layer may import its own and lower layers only.
CORE = Path(__file__).resolve().parents[2] / "maskpose_core"
LOWER_LAYERS = ("model", "loss", "render", "data", "metrics.py", "skeleton.py", "geometry.py", "figures.py")
EXPERIMENT_TREE = "maskpose_core.config"       # ExperimentConfig: train/ and the entry points only


def _imports(path: Path) -> set[str]:
    """Every module a file imports, at any depth (function-level imports included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "import_module" and node.args \
                and isinstance(node.args[0], ast.Constant):
            found.add(node.args[0].value)
    return found


def _lower_layer_files() -> list[Path]:
    out = []
    for name in LOWER_LAYERS:
        p = CORE / name
        out.extend(sorted(p.rglob("*.py")) if p.is_dir() else [p])
    return out


def test_lower_layers_never_import_train_or_the_experiment_config():
    files = _lower_layer_files()
    assert len(files) > 30                       # the walk really found the core
    bad = {str(f.relative_to(CORE)): sorted(m for m in _imports(f)
                                            if m.startswith("maskpose_core.train") or m == EXPERIMENT_TREE
                                            or m.startswith(EXPERIMENT_TREE + "."))
           for f in files}
    assert {k: v for k, v in bad.items() if v} == {}


def test_the_import_check_sees_an_upward_import(tmp_path):
    f = tmp_path / "x.py"
    f.write_text("def g():\n    from maskpose_core.train.init_prior import TEMPLATE_MM\n"
                 "from maskpose_core.config import ExperimentConfig\n")
    assert {"maskpose_core.train.init_prior", EXPERIMENT_TREE} <= _imports(f)
