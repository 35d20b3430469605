"""The chaos soak: real Redis, server, agents and tasks under a seeded schedule of faults.

``python -m tests.soak --minutes 30 --seed 7`` (``make soak MINUTES=30``) runs it;
``test_soak.py`` runs a two-minute version in ``make test``. The modules:
``schedule`` (the seed → the faults, user actions and tasks; pure), ``world`` (the
processes and how each is hurt), ``driver`` (runs the schedule, then drains) and
``checks`` (the invariants, importable by any test that keeps the same records).
"""
