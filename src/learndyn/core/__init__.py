"""World-independent machinery: schedule, trainer, store, stages, spectra, claims, bench."""
