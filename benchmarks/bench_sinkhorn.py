"""Time optical_bench's batched log-domain Sinkhorn against POT, forward + backward.

Compared, on ``B`` problems of ``m x n`` token embeddings (cosine cost, uniform marginals,
the same ``epsilon``, no early stop), at equal accuracy:

- ``optical_bench.ot.sinkhorn_log`` (batched), gradient ``envelope`` and ``autodiff``;
- POT ``ot.batch.solve_batch(method="log_sinkhorn")``, gradient ``envelope`` and ``autodiff``;
- a Python loop of POT ``ot.sinkhorn2`` over the problems (``sinkhorn_log`` and plain
  ``sinkhorn`` methods; POT differentiates through its iterations).

Each solver's transport cost is compared with a float64 reference (ours, 2000 iterations).
The solvers' iterations are not the same (POT's ``sinkhorn_log`` loop needs more of them for
the same error), so each one runs the fewest iterations, from a grid, that bring its error
within 1.05x of ours after ``--iters`` iterations; the table shows the iterations and errors.

Run:
    OMP_NUM_THREADS=2 python benchmarks/bench_sinkhorn.py --threads 2
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

import ot
import torch

from optical_bench.ot import pairwise_cost, sinkhorn_log


def _problem(batch: int, m: int, n: int, dim: int, seed: int, device: str):
    """Token-like embeddings: both sides draw tokens from a shared set of 64 "word" vectors plus
    noise, so some student/teacher token pairs are close (cost ~0.2) and most are not (~1)."""
    gen = torch.Generator().manual_seed(seed)
    words = torch.randn(64, dim, generator=gen)
    x = words[torch.randint(0, 64, (batch, m), generator=gen)] + 0.5 * torch.randn(batch, m, dim, generator=gen)
    y = words[torch.randint(0, 64, (batch, n), generator=gen)] + 0.5 * torch.randn(batch, n, dim, generator=gen)
    return x.to(device), y.to(device)


def _ours(grad: str, epsilon: float, n_iters: int):
    def run(cost: torch.Tensor) -> torch.Tensor:
        return sinkhorn_log(cost, epsilon=epsilon, n_iters=n_iters, grad=grad)[1]

    return run


def _solve_batch(grad: str, epsilon: float, n_iters: int):
    def run(cost: torch.Tensor) -> torch.Tensor:
        result = ot.batch.solve_batch(cost, reg=epsilon, method="log_sinkhorn", max_iter=n_iters, tol=0.0, grad=grad)
        return result.value_linear

    return run


def _loop_sinkhorn2(method: str, epsilon: float, n_iters: int):
    def run(cost: torch.Tensor) -> torch.Tensor:
        batch, m, n = cost.shape
        a = torch.full((m,), 1.0 / m, dtype=cost.dtype, device=cost.device)
        b = torch.full((n,), 1.0 / n, dtype=cost.dtype, device=cost.device)
        values = [ot.sinkhorn2(a, b, cost[k], epsilon, method=method, numItermax=n_iters, stopThr=0.0) for k in range(batch)]
        return torch.stack(values)

    return run


def _time_forward_backward(
    solver: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, y: torch.Tensor, repeats: int
) -> tuple[float, torch.Tensor]:
    def once() -> torch.Tensor:
        xs = x.clone().requires_grad_(True)
        value = solver(pairwise_cost(xs, y))
        value.sum().backward()
        if x.is_cuda:
            torch.cuda.synchronize()
        return value.detach()

    value = once()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        once()
        times.append(time.perf_counter() - start)
    return min(times) * 1e3, value


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--dim", type=int, default=384, help="token embedding width")
    parser.add_argument("--epsilon", type=float, default=0.05)
    parser.add_argument("--iters", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--shapes", default="32x32,64x128", help="comma-separated m x n problem sizes")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    shapes = [tuple(int(v) for v in shape.split("x")) for shape in args.shapes.split(",")]
    eps, iters = args.epsilon, args.iters
    factories = {
        "optical_bench sinkhorn_log, envelope": lambda k: _ours("envelope", eps, k),
        "optical_bench sinkhorn_log, autodiff": lambda k: _ours("autodiff", eps, k),
        "POT solve_batch log_sinkhorn, envelope": lambda k: _solve_batch("envelope", eps, k),
        "POT solve_batch log_sinkhorn, autodiff": lambda k: _solve_batch("autodiff", eps, k),
        "POT sinkhorn2 loop, sinkhorn_log": lambda k: _loop_sinkhorn2("sinkhorn_log", eps, k),
        "POT sinkhorn2 loop, sinkhorn (plain)": lambda k: _loop_sinkhorn2("sinkhorn", eps, k),
    }
    baseline = next(iter(factories))

    results: dict[str, dict[tuple[int, int], tuple[float, float, int]]] = {name: {} for name in factories}
    for m, n in shapes:
        x, y = _problem(args.batch, m, n, args.dim, seed=m * 1000 + n, device=args.device)
        reference = sinkhorn_log(pairwise_cost(x.double(), y.double()), epsilon=eps, n_iters=2000)[1]

        def error_of(solver, x=x, y=y, reference=reference) -> float:
            with torch.no_grad():
                return (solver(pairwise_cost(x, y)).double() - reference).abs().max().item()

        # Equal accuracy: the target is our error after --iters iterations; every solver gets the
        # fewest iterations (from a grid) that reach it, since the solvers' iterations differ.
        target = error_of(factories[baseline](iters)) * 1.05
        for name, factory in factories.items():
            for k in sorted({int(iters * f) for f in (1, 1.25, 1.5, 2, 2.5, 3, 4, 6, 8)}):
                if error_of(factory(k)) <= target:
                    break
            ms, value = _time_forward_backward(factory(k), x, y, args.repeats)
            error = (value.double() - reference).abs().max().item()
            results[name][(m, n)] = (ms, error, k)
            print(f"# {m}x{n} {name}: {k} iterations, {ms:.2f} ms, max |err| {error:.1e}", file=sys.stderr)

    header = ["solver (forward + backward)"]
    for m, n in shapes:
        header += [f"{args.batch} x {m}x{n}: ms", "vs ours", "iters", "max abs err"]
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|")
    for name in factories:
        row = [name]
        for shape in shapes:
            ms, error, k = results[name][shape]
            row += [f"{ms:.1f}", f"{ms / results[baseline][shape][0]:.1f}x", str(k), f"{error:.1e}"]
        print("| " + " | ".join(row) + " |")
    print()
    print(
        f"Settings: torch {torch.__version__}, POT {ot.__version__}, {torch.get_num_threads()} threads, "
        f"device {args.device}, float32, d={args.dim}, epsilon={eps}, uniform marginals, best of "
        f"{args.repeats} runs (on a shared machine the minimum is the least disturbed). Equal accuracy: "
        "each solver runs the fewest iterations (no early stop) whose transport cost is within 1.05x of "
        f"our error after {iters} iterations, against a float64 reference (ours, 2000 iterations)."
    )
    print(f"Command: OMP_NUM_THREADS={args.threads} python {' '.join([sys.argv[0], *sys.argv[1:]])}")


if __name__ == "__main__":
    main()
