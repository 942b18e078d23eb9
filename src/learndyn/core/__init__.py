"""World-independent machinery: the World protocol and study orchestration, schedule,
trainer, store, stages, spectra, claims, theory (predictions against the records), options,
optimisers, activations, precision."""
