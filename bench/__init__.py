"""Modaline benchmarks (``make bench`` = ``python -m bench``). Never run by the tests.

Every part starts its own processes on ports 18500-18599 (gateway, fake workers, a bare FastAPI app, a Celery
worker), with temporary data directories and fresh ``modaline_bench_*`` PostgreSQL databases, and stops them
by PID afterwards. Numbers swing with machine load: compare ratios measured in the same run.
"""
