"""scoregap: the ODE–SDE gap of score-based diffusion models and its Fokker–Planck bound (Deveney et al., arXiv:2311.15996)."""
import os

# Idle OpenMP threads sleep at once instead of spinning (libgomp reads this when torch loads, so it only takes effect
# when scoregap is imported first, as by its command lines). The chunk workers of parallel.RowPool need the cores that
# a spinning team would hold; torch's own large operations are not slowed by it (measured in the benchmark).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def __getattr__(name: str):
    """`scoregap.diagnose` (imported on first use, so `import scoregap` stays light)."""
    if name == "diagnose":
        from .diagnosis import diagnose

        return diagnose
    raise AttributeError(f"module 'scoregap' has no attribute {name!r}")
