"""maskpose_core stays pure: importing all of it loads no orchestration-level package."""
import subprocess
import sys


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
