"""Planted-wrong copies of the theorem files, verified by path as a user would verify a file of their own.

Each copy is the real file in theorems/ with one declared expression replaced (the new line ends with
``# PLANTED: ...``) and nothing else. They are generated from the real files, never committed, so they
cannot fall behind them. Tests write them into a temporary folder (fixture ``planted_dir`` in conftest.py);
to look at them or verify one yourself:

    python tests/planted_copies.py OUT          # writes OUT/<name>.py for every copy below
    ratecheck verify OUT/quantized_sgd_no_omega.py --quick    # exit 1
"""

from __future__ import annotations

import sys
from pathlib import Path

THEOREMS = Path(__file__).resolve().parents[1] / "theorems"

# quantized_sgd.py (T1)
_QS_BOUND = "BOUND = R0 / (gamma * T) + gamma * (1 + omega) * sigma**2\n"
_QS_STEP = "GAMMA_MAX = 1 / (2 * L * (1 + omega))\n"
# error_feedback.py (T2)
_EF_LEMMA_127 = "LEMMA_127 = 4 * (1 - delta) * gamma**2 * B**2 / delta**2\n"
_EF_RATE_124 = "RATE_124 = R0 / (gamma * T) + gamma * sigma**2 + (1 - delta) * L * gamma**2 * sigma**2 / delta**2\n"
_EF_RATE_124_TUNED = ("RATE_124_TUNED = sp.sqrt(R0 * sigma**2 / T) + (R0**2 * (1 - delta) * L * sigma**2 / delta**2) ** sp.Rational(1, 3) "
                      "* T ** sp.Rational(-2, 3) + L * R0 / (delta * T)\n")

# copy name -> (real file in theorems/, [(true line, planted line), ...])
PLANTED: dict[str, tuple[str, list[tuple[str, str]]]] = {
    "quantized_sgd_no_omega.py": ("quantized_sgd.py", [
        (_QS_BOUND, "BOUND = R0 / (gamma * T) + gamma * sigma**2  # PLANTED: (1 + omega) dropped\n")]),
    "quantized_sgd_sqrt_T.py": ("quantized_sgd.py", [
        (_QS_BOUND, "BOUND = R0 / (gamma * sp.sqrt(T)) + gamma * (1 + omega) * sigma**2  # PLANTED: T^(1/2) for T\n")]),
    "quantized_sgd_T_squared.py": ("quantized_sgd.py", [
        (_QS_BOUND, "BOUND = R0 / (gamma * T**2) + gamma * (1 + omega) * sigma**2  # PLANTED: T^2 for T\n")]),
    "quantized_sgd_step_too_large.py": ("quantized_sgd.py", [
        (_QS_STEP, "GAMMA_MAX = 5 / (2 * L * (1 + omega))  # PLANTED: a step limit 5x too large\n")]),
    "error_feedback_lemma127_one_over_delta.py": ("error_feedback.py", [
        (_EF_LEMMA_127, "LEMMA_127 = 4 * (1 - delta) * gamma**2 * B**2 / delta  # PLANTED: 1/delta in place of 1/delta^2\n")]),
    "error_feedback_leading_term_delta.py": ("error_feedback.py", [
        (_EF_RATE_124, ("RATE_124 = R0 / (gamma * T) + gamma * sigma**2 / delta + (1 - delta) * L * gamma**2 * sigma**2 / delta**2"
                        "  # PLANTED: leading term grows with 1/delta\n")),
        (_EF_RATE_124_TUNED, _EF_RATE_124_TUNED.replace("sp.sqrt(R0 * sigma**2 / T)", "sp.sqrt(R0 * sigma**2 / (delta * T))")[:-1]
         + "  # PLANTED: leading term grows with 1/delta\n")]),
    "error_feedback_tuned_slope_minus1.py": ("error_feedback.py", [
        (_EF_RATE_124_TUNED, ("RATE_124_TUNED = sp.sqrt(R0 * sigma**2) / T + (R0**2 * (1 - delta) * L * sigma**2 / delta**2) "
                              "** sp.Rational(1, 3) / T + L * R0 / (delta * T)  # PLANTED: slope -1 claimed with noise\n"))]),
    "powersgd_delta_2r_over_m.py": ("powersgd.py", [
        ("DELTA_FRESH = r / m  # P2: E captured energy of one step from a fresh Gaussian query (rank 1: derived)\n",
         "DELTA_FRESH = 2 * r / m  # PLANTED: delta >= 2r/m claimed for a fresh query\n")]),
    "powersgd_energy_rate_2t.py": ("powersgd.py", [
        ("ENERGY_RATE = (sigma_r1 / sigma_r) ** (4 * T)  # P3 [DERIVED here]: energy error = O(subspace error^2)\n",
         "ENERGY_RATE = (sigma_r1 / sigma_r) ** (2 * T)  # PLANTED: the subspace rate claimed for the energy error\n")]),
    "powersgd_step_x8.py": ("powersgd.py", [
        ("GAMMA_TUNED = sp.Min(1 / (2 * L), sp.sqrt(R0 / (sigma**2 * T)))\n",
         "GAMMA_TUNED = 8 * sp.Min(1 / (2 * L), sp.sqrt(R0 / (sigma**2 * T)))  # PLANTED: steps 8x too large (cap 4/L > 2/L)\n")]),
    "fedavg_fixed_point_K_plus_1.py": ("fedavg.py", [
        ("    A = [I - np.linalg.matrix_power(I - eta * H_i, K_) for H_i in f.H_clients]\n",
         "    A = [I - np.linalg.matrix_power(I - eta * H_i, K_ + 1) for H_i in f.H_clients]  # PLANTED: (I - eta H_i)^(K+1)\n")]),
    "fedavg_drift_rate_sqrt.py": ("fedavg.py", [
        ("DRIFT_TERM = (sp.sqrt(L) * zeta / T) ** sp.Rational(2, 3)  # Theorem I, nonconvex, drift term (G = zeta)\n",
         "DRIFT_TERM = (sp.sqrt(L) * zeta / T) ** sp.Rational(1, 2)  # PLANTED: drift term eps ~ R^(-1/2)\n")]),
    "scaffold_no_delta_term.py": ("scaffold.py", [
        ("BOUND = R0 * sp.exp(-T * mu * K / (beta + delta_H * K))  # Theorem IV, sigma = 0: rounds (beta + delta_H K)/(mu K) log(R0/eps)\n",
         "BOUND = R0 * sp.exp(-T * mu * K / beta)  # PLANTED: rounds beta/(mu K), local steps help without limit\n")]),
    "optimal_averaging_lam_star_no_bias.py": ("optimal_averaging.py", [
        ("LAM_STAR = s0**2 / (s0**2 + s1**2 + Delta**2)\n",
         "LAM_STAR = s0**2 / (s0**2 + s1**2)  # PLANTED: lam* without the bias term Delta^2\n")]),
    "optimal_averaging_benefit_roots_lam_star.py": ("optimal_averaging.py", [
        ("BENEFIT = (s0**2 + s1**2 + Delta**2) * lam * (2 * LAM_STAR - lam)\n",
         "BENEFIT = (s0**2 + s1**2 + Delta**2) * lam * (LAM_STAR - lam)  # PLANTED: benefit roots at 0 and lam* (not 2 lam*)\n")]),
    "gossip_rate_lambda_t.py": ("gossip.py", [
        ("CONSENSUS = lambda_ ** (2 * T)  # ||X_T - Xbar||_F^2 / ||X_0 - Xbar||_F^2 <= lambda^{2T}, equality on the slowest eigenvector\n",
         "CONSENSUS = lambda_**T  # PLANTED: lambda^t, the rate of the norm, claimed for the squared error\n")]),
    "gossip_ring_gap_one_over_n.py": ("gossip.py", [
        ("RING_GAP = sp.Rational(4, 3) * sp.sin(sp.pi / n) ** 2  # ring 1 - lambda_2 = (2/3)(1 - cos(2 pi/n)) ~ 4 pi^2/(3 n^2)\n",
         "RING_GAP = sp.Rational(4, 3) * sp.sin(sp.pi / sp.sqrt(n)) ** 2  # PLANTED: gap ~ 4 pi^2/(3 n), 1/n in place of 1/n^2\n")]),
    "clipped_sgd_sc_rate_half.py": ("clipped_sgd.py", [
        ("SC_RATE = SC_TERMS.subs(tau, TAU_SC)  # with eta -> eta-sc: O(T^(-2(alpha-1)/alpha))\n",
         "SC_RATE = SC_TERMS.subs(tau, TAU_SC) ** 0.5  # PLANTED: strongly convex exponent -(alpha-1)/alpha\n")]),
    "clipped_sgd_nc_plain_sgd.py": ("clipped_sgd.py", [
        ("NC_RATE = NC_TERMS.subs(tau, TAU_NC)  # with eta -> eta-nc: O(T^(-2(alpha-1)/(3 alpha-2)))\n",
         "NC_RATE = F0 / T**0.5  # PLANTED: the nonconvex exponent of plain SGD, -1/2\n")]),
    "byzantine_momentum_rate_T.py": ("byzantine_momentum.py", [
        ("LEADING = 16 * sp.sqrt(sigma**2 * (1 + c * delta_B * n) / (T * n) * (10 * L * F0 + 3 * c * delta_B * sigma**2))\n",
         ("LEADING = 16 * sp.sqrt(sigma**2 * (1 + c * delta_B * n) / (T**2 * n) * (10 * L * F0 + 3 * c * delta_B * sigma**2))"
          "  # PLANTED: rate T^(-1) for T^(-1/2)\n"))]),
    "byzantine_momentum_delta_linear.py": ("byzantine_momentum.py", [
        ("DELTA_TERM = 16 * sp.sqrt(sigma**2 * c * delta_B / T * 10 * L * F0)\n",
         "DELTA_TERM = 16 * sp.sqrt(sigma**2 * c * delta_B**2 / T * 10 * L * F0)  # PLANTED: the delta term as delta^1, not delta^(1/2)\n")]),
    "averaging_agreement_mda_inverse_n_squared.py": ("averaging_agreement.py", [
        ("MDA_BOUND = 2 * f / (n - f)  # MDA: ||ybar - xbar|| <= 2f Delta_2/(n - f)\n",
         "MDA_BOUND = 2 * f / (n - f)**2  # PLANTED: MDA's ratio ~ 1/n^2 for 1/n\n")]),
    "averaging_agreement_icwtm_factor_f_over_n_minus_f.py": ("averaging_agreement.py", [
        ("CONTRACTION = (f / (n - 2 * f)) ** T  # Delta_2(x_T) <= (f/(n - 2f))^T ||range_0||, equality per round for the split attack\n",
         "CONTRACTION = (f / (n - f)) ** T  # PLANTED: ICwTM's contraction factor f/(n - f) for f/(n - 2f)\n")]),
    "powergossip_mean_rate_unsquared.py": ("powergossip.py", [
        ("RHO_MEAN = (1 - gamma * (r / m_min) * (1 - lambda_2)) ** 2  # (J) the mean's rate: exact gossip at diffusion rate gamma r/m\n",
         "RHO_MEAN = 1 - gamma * (r / m_min) * (1 - lambda_2)  # PLANTED: the mean's per-step factor not squared in Xi\n")]),
    "powergossip_descent_first_order.py": ("powergossip.py", [
        ("RHO_UP = 1 - gamma * (2 - gamma * (1 - lambda_n)) * (r / m) * (1 - lambda_2)  # (U) cold start, per step, E Xi_+ <= RHO_UP Xi\n",
         "RHO_UP = 1 - 2 * gamma * (r / m) * (1 - lambda_2)  # PLANTED: the gamma^2 term of the descent dropped\n")]),
    "partial_training_rate_T.py": ("partial_training.py", [
        ("BOUND = sp.sqrt(q**4 * L * F0 * sigma**2 / T)  # [SEED-2] O(sqrt(q^4 L F0 sigma^2 / T)), constants hidden\n",
         "BOUND = sp.sqrt(q**4 * L * F0 * sigma**2) / T  # PLANTED: rate T^(-1) for T^(-1/2)\n")]),
    "partial_training_floor_linear_a.py": ("partial_training.py", [
        ("FLOOR_A = a**2 * kappa_a  # [DERIVED here] leading order of the noiseless floor of an incompatible core\n",
         "FLOOR_A = a * kappa_a  # PLANTED: the floor of an incompatible core grows like a^1\n")]),
    "personalized_bc_no_speedup.py": ("personalized.py", [
        ("BC_RATE = sp.sqrt(L * F0 * sigma**2 / (N1 * T))  # [SEED-2] O-form: E||grad f_0(x_out)||^2 = O(sqrt(L F0 sigma_0^2/((N + 1) T)))\n",
         "BC_RATE = sp.sqrt(L * F0 * sigma**2 / T)  # PLANTED: the BC rate without the (N + 1)\n")]),
    "personalized_wga_wrong_weights.py": ("personalized.py", [
        ("    w_alpha = alpha @ f.w\n",
         "    w_alpha = alpha[1:] @ f.w[1:] / alpha[1:].sum()  # PLANTED: WGA's limit with the collaborators' weights only\n")]),
    "decentralized_sgd_no_speedup.py": ("decentralized_sgd.py", [
        (("RATE = (sp.sqrt(L * F0 * sigma**2 / (n * T)) + (L * F0 * (zeta * tau_c / p + sigma * sp.sqrt(tau_c / p)) / T) "
          "** sp.Rational(2, 3)\n"),
         ("RATE = (sp.sqrt(L * F0 * sigma**2 / T) + (L * F0 * (zeta * tau_c / p + sigma * sp.sqrt(tau_c / p)) / T) "
          "** sp.Rational(2, 3)  # PLANTED: no linear speedup, n^0 in the leading term\n"))]),
    "decentralized_sgd_transient_sqrt_p.py": ("decentralized_sgd.py", [
        ("CONS = 4 * (eta * zeta * tau_c / p) ** 2  # [DERIVED] consensus distance, identical Hessians, sigma = 0\n",
         "CONS = 4 * (eta * zeta * tau_c / sp.sqrt(p)) ** 2  # PLANTED: zeta tau/sqrt(p), a transient ~ 1/sqrt(p)\n")]),
}


def texts() -> dict[str, str]:
    """Every planted copy's text; fails loudly when a true line is no longer found once in its real file."""
    out = {}
    for name, (real, replacements) in PLANTED.items():
        text = (THEOREMS / real).read_text()
        for old, new in replacements:
            assert text.count(old) == 1, f"{old!r} not found once in theorems/{real}: update tests/planted_copies.py"
            text = text.replace(old, new)
        out[name] = text
    return out


def write(folder: Path) -> dict[str, Path]:
    """Write every copy into ``folder``; returns name -> path."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, text in texts().items():
        paths[name] = folder / name
        paths[name].write_text(text)
    return paths


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python tests/planted_copies.py OUT")
    for path in write(Path(sys.argv[1])).values():
        print("wrote", path)
