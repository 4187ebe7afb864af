"""Regenerate the planted-wrong copies of theorems/quantized_sgd.py: `python tests/planted/make_quantized_sgd.py`.
Each copy differs from the real file in one declared line (tests/test_cli.py checks they are up to date)."""

from pathlib import Path

HERE = Path(__file__).resolve().parent
REAL = HERE.parents[1] / "theorems" / "quantized_sgd.py"
TRUE_BOUND = "BOUND = R0 / (gamma * T) + gamma * (1 + omega) * sigma**2\n"
TRUE_STEP = "GAMMA_MAX = 1 / (2 * L * (1 + omega))\n"
PLANTED = {
    "quantized_sgd_no_omega.py": (TRUE_BOUND, "BOUND = R0 / (gamma * T) + gamma * sigma**2  # PLANTED: (1 + omega) dropped\n"),
    "quantized_sgd_sqrt_T.py": (TRUE_BOUND, "BOUND = R0 / (gamma * sp.sqrt(T)) + gamma * (1 + omega) * sigma**2  # PLANTED: T^(1/2) for T\n"),
    "quantized_sgd_T_squared.py": (TRUE_BOUND, "BOUND = R0 / (gamma * T**2) + gamma * (1 + omega) * sigma**2  # PLANTED: T^2 for T\n"),
    "quantized_sgd_step_too_large.py": (TRUE_STEP, "GAMMA_MAX = 5 / (2 * L * (1 + omega))  # PLANTED: a step limit 5x too large\n"),
}


def planted() -> dict[str, str]:
    real = REAL.read_text()
    out = {}
    for name, (old, new) in PLANTED.items():
        assert real.count(old) == 1, f"{old!r} not found once in {REAL}"
        out[name] = real.replace(old, new)
    return out


if __name__ == "__main__":
    for name, text in planted().items():
        (HERE / name).write_text(text)
        print("wrote", HERE / name)
