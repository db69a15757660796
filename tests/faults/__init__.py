"""Faults during a campaign (issue 9): real `coalition` processes, Redis, PostgreSQL and
an SMTP sink, with faults injected while they send. `harness.py` runs the scenarios;
`test_faults.py` is CI's short version; `python -m bench.reliability` the full one."""
