"""learndyn's benchmarks against PyTorch baselines (`learndyn bench`).

Not part of the installed package: the folder is imported as the package
`learndyn_benchmarks` by learndyn/bench_loader.py. harness.py holds the machinery (timing,
FLOP counts, the registry, the table); every other module without a leading "_" registers
benchmarks with it.
"""
