"""Deep linear networks learning a linear teacher: Saxe, McClelland & Ganguli (ICLR 2014),
"Exact solutions to the nonlinear dynamics of learning in deep linear neural networks".

A network y = W_D ... W_1 x (D weight layers) is trained by full-batch gradient descent on
whitened inputs (Sigma_xx = I) from a teacher W_T = U diag(s) V^T. From a small balanced,
decoupled initialisation every teacher mode i evolves on its own, as a sigmoid in time whose
half time is ~ (tau / (2 s_i)) ln(s_i / a0) for two layers: strong modes are learned first,
the loss falls as a staircase, and deeper networks start later and rise more sharply.

Modules: config (the recipe), teacher (teacher and whitened data), model (init, GD step,
observables), theory (the exact and reduced dynamics), analysis (measured times and errors
against theory), figures, claims, world (the World that core trains).
"""
