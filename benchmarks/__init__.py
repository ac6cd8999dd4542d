"""autovae's benchmark: training speed and memory against a hand-written PyTorch loop and pythae,
the step's phases against its matrix products, the K=5000 NLL, Inception features for FID, and the
wall time of a table, in one run (`make bench`, or `python -m benchmarks --help`).

The model, data and optimiser are the seed's, composed from ``conf/`` as ``train.py`` composes them
(``benchmarks/seed.py``), so the benchmark times what the experiments run and has no constants of
its own. Each contender runs in a process of its own, for clean peak-memory figures.
"""
