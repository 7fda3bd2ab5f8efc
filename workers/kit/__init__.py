"""The shared worker kit: one HTTP app, settings, error tree, file I/O and metrics for all five workers.

``contract`` holds the wire models (the only module the gateway may import). A worker is
``create_worker_app(capability, BACKENDS)`` plus its backends; see ``workers/<capability>/``.
"""
