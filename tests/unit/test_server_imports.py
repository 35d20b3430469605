"""The API process starts without what only some requests or the jobs process need:
Optuna (and the numpy under it) cost ≈19 MiB of RSS, croniter with dateutil ≈2 MiB, and
issue 16 bounds the server's peak RSS through a 1 GiB upload at 100 MiB
(``tests/integration/test_s3_storage.py``)."""

import subprocess
import sys


def test_the_api_app_imports_neither_optuna_numpy_nor_croniter() -> None:
    code = (
        "import sys, runyard_server.main as m\n"
        "heavy = ('optuna', 'numpy', 'croniter')\n"
        "print(sorted(k for k in heavy if k in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
