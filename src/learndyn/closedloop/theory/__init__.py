"""Theory of the rank-one linear closed loop (Ger & Barak 2025, Figs. 3-5), as plain functions.

rankone        the model: vectors (m, z, u, v), the joint matrix P ((N+2) x (N+2)), its sampled loss
overlaps       s = (s_zm, s_zu, s_vm, s_vu), P_eff (4 x 4), its characteristic polynomial and roots
stage1         the loss of a pure position policy: the paper's geometric sum and the exact form
surrogate      stage 2: lambda_3, |lambda_1|^2, L_0, L_alpha and the angle between its two gradients
expected_loss  the exact expected loss over x_0 ~ U(-a, a)^2 (no sampling)
gram_flow      gradient descent on (z, u, v) as an exact flow on the Gram matrix of (m, u, v, z),
               against full-vector GD and the paper's free-overlap reduced model

Nothing here depends on the rest of learndyn.closedloop; recipes and figures wire it in.
"""
