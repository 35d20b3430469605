"""The ``runyard`` CLI starts without loading what only a request needs (issue 11);
its time is measured in ``bench/cli_start.py``."""

import subprocess
import sys

import runyard


def test_help_and_usage_errors_do_not_import_requests() -> None:
    code = (
        "import sys, runyard.cli.main as m\n"
        "m.build_parser()\n"
        "heavy = ('requests', 'runyard.client', 'runyard.task')\n"
        "print(sorted(k for k in heavy if k in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_the_lazy_public_names_resolve() -> None:
    from runyard.client import Client
    from runyard.task import Run, Task

    assert (runyard.Client, runyard.Task, runyard.Run) == (Client, Task, Run)
    assert set(runyard.__all__) >= {"Client", "Task", "Run"}
