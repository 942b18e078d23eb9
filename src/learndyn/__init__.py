"""learndyn: learning as a coupled dynamical system.

Importing learndyn (or any of its packages) changes no process-wide setting: no JAX config
value, environment variable or warnings filter. The one setting learndyn computes under,
float32 matmul precision, is scoped to its own computations (learndyn.core.precision).
"""
