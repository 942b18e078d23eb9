"""The quick start's baseline: the demo's training as a plain PyTorch script, timed whole.

    python -m benchmarks._demo_baseline [--updates 1000] [--threads N]   # from the repo root

What `bash scripts/demo.sh` trains (gb2025-fig1 at paper scale on the 'reference' preset),
written the way a researcher's own loop would be, with nothing recorded: 1000 closed-loop
updates of the tanh RNN (N = 100) on the double integrator (batch 100, T = 50, the authors'
loss: per step the mean over batch and state dims of x_t^2 plus 0.005 times the batch sum of
u_t^2, summed over time; SGD 0.01, gradient-norm clip 1), then 1000 updates of the open-loop
student from the same initial weights imitating the trained network on N(0, 1) inputs (loss
summed over time, averaged over the batch). Prints the wall time of each part and the total.
Needs torch (pip install -e '.[bench]'). Its name starts with '_' so that `learndyn bench`
(which imports every other module of benchmarks/) does not import torch through it.
"""

from __future__ import annotations

import argparse
import copy
import time

import torch
from torch import nn

from .gb_closedloop import RNNController   # the benchmarks' PyTorch controller

N, T, B, BETA, LR, CLIP = 100, 50, 100, 0.005, 0.01, 1.0


def closed_loss(net):
    A = torch.tensor([[1.0, 1.0], [0.0, 1.0]])
    Bm = torch.tensor([[0.0], [1.0]])
    x = torch.rand(B, 2) * 2 - 1
    h = torch.zeros(B, N)
    loss = 0.0
    for _ in range(T):
        u = net.readout(h)
        loss = loss + (x ** 2).mean() + BETA * (u ** 2).sum()
        x = x @ A.T + u @ Bm.T
        h = net(h, x[:, :1])
    return loss


def imitation_loss(student, teacher):
    inputs = torch.randn(T, B, 1)
    hs, ht = torch.zeros(B, N), torch.zeros(B, N)
    loss = 0.0
    for t in range(T):
        with torch.no_grad():
            ut = teacher.readout(ht)
            ht = teacher(ht, inputs[t])
        loss = loss + ((student.readout(hs) - ut) ** 2).mean()
        hs = student(hs, inputs[t])
    return loss


def train(net, loss_fn, updates):
    opt = torch.optim.SGD(net.parameters(), lr=LR)
    for _ in range(updates):
        loss = loss_fn()
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(net.parameters(), CLIP)
        opt.step()


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--updates", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    t0 = time.perf_counter()
    net = RNNController(N, 1, 1, "tanh")
    start = copy.deepcopy(net)
    train(net, lambda: closed_loss(net), args.updates)
    t1 = time.perf_counter()
    for p in net.parameters():
        p.requires_grad_(False)
    train(start, lambda: imitation_loss(start, net), args.updates)
    t2 = time.perf_counter()
    out = {"closed_s": t1 - t0, "student_s": t2 - t1, "total_s": t2 - t0,
           "threads": torch.get_num_threads()}
    print(" ".join(f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}"
                   for k, v in out.items()))
    return out


if __name__ == "__main__":
    main()
