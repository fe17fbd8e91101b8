"""Power: analytic formulas against R and statsmodels; simulation power's bookkeeping."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from statsmodels.stats.power import TTestIndPower
from statsmodels.stats.proportion import proportion_confint
from typer.testing import CliRunner

from mindtrial.cli.main import app
from mindtrial.design.power import (
    PowerError,
    analytic,
    proportions_power,
    proportions_sample_size,
    t_test_power,
    t_test_sample_size,
    wilson_interval,
)
from mindtrial.evaluation.simulation_power import (
    PowerPoint,
    SimulationPowerResult,
    power_curve_figure,
    read_results,
    simulation_power,
    true_effect_of,
    write_power_curve,
)
from mindtrial.protocols import load_protocol
from mindtrial.simulate import default_scenario
from mindtrial.simulate.effects import with_effect

MROCC = load_protocol("mrocc-2025")
runner = CliRunner()


# ----------------------------------------------------------------------------- analytic


def test_mrocc_paper_sample_size() -> None:
    """d = 0.45, 80% power, two-sided .05 -> about 78 analysable per arm, 156 in all."""
    # R: power.t.test(delta = 0.45, power = .8, strict = TRUE)$n  -> 78.49161608
    assert t_test_sample_size(d=0.45, power=0.8, alpha=0.05) == pytest.approx(78.49161608, abs=1e-5)
    # statsmodels solves the same equation.
    statsmodels_n = TTestIndPower().solve_power(effect_size=0.45, power=0.8, alpha=0.05, ratio=1.0)
    assert t_test_sample_size(d=0.45) == pytest.approx(statsmodels_n, abs=1e-4)
    # R: power.t.test(delta = 0.45, n = 78, strict = TRUE)$power -> 0.7974994158 (the paper's
    # 156 analysable participants give ~80%).
    assert t_test_power(d=0.45, n_per_arm=78) == pytest.approx(0.7974994158, abs=1e-8)


@pytest.mark.parametrize(
    ("d", "n", "alpha", "r_power"),
    [
        # R: power.t.test(delta = 0.3, n = 50, sig.level = 0.01, strict = TRUE)$power
        (0.3, 50, 0.01, 0.135454788),
        # R: power.t.test(delta = 0.2, n = 20, strict = TRUE)$power
        (0.2, 20, 0.05, 0.09456732762),
    ],
)
def test_t_power_matches_r(d: float, n: int, alpha: float, r_power: float) -> None:
    assert t_test_power(d=d, n_per_arm=n, alpha=alpha) == pytest.approx(r_power, abs=1e-8)
    sm = TTestIndPower().power(effect_size=d, nobs1=n, alpha=alpha, ratio=1.0)
    assert t_test_power(d=d, n_per_arm=n, alpha=alpha) == pytest.approx(sm, abs=1e-8)


def test_two_proportions_match_r() -> None:
    # R: power.prop.test(p1 = .30, p2 = .15, n = 100, strict = TRUE)$power -> 0.7222818878
    assert proportions_power(p1=0.30, p2=0.15, n_per_arm=100) == pytest.approx(
        0.7222818878, abs=1e-8
    )
    # R: power.prop.test(p1 = .30, p2 = .15, power = .8, strict = TRUE)$n -> 120.4717538
    # (R's uniroot stops at tol = .Machine$double.eps^0.25 ~ 1.2e-4, hence the tolerance).
    assert proportions_sample_size(p1=0.30, p2=0.15, power=0.8) == pytest.approx(
        120.4717538, abs=2e-4
    )


def test_analytic_dispatch_and_errors() -> None:
    result = analytic(effect=[0.45])
    assert result.test == "two_sample_t" and result.n_per_arm_rounded == 79
    assert analytic(effect=[0.3, 0.15], n_per_arm=100).power == pytest.approx(
        0.7222818878, abs=1e-8
    )
    with pytest.raises(PowerError, match="one number"):
        analytic(effect=[0.1, 0.2, 0.3])
    with pytest.raises(PowerError, match="must not be 0"):
        t_test_sample_size(d=0.0)
    with pytest.raises(PowerError, match="alpha must lie"):
        t_test_power(d=0.5, n_per_arm=10, alpha=1.5)


def test_wilson_matches_statsmodels() -> None:
    for hits, trials in ((0, 20), (17, 20), (160, 200), (200, 200)):
        low, high = proportion_confint(hits, trials, alpha=0.05, method="wilson")
        assert wilson_interval(hits, trials) == pytest.approx((low, high), abs=1e-10)


def test_analytic_cli_json() -> None:
    result = runner.invoke(app, ["power", "--protocol", "mrocc-2025", "--n", "156", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    # The protocol's planned d (0.45) at 78 per arm.
    assert data["effect"] == [0.45]
    assert data["power"] == pytest.approx(0.7974994158, abs=1e-8)
    # The paper randomized 192 to keep 156 analysable: at 78 per arm that is 96 per arm.
    assert data["attrition"] == pytest.approx(1 - 156 / 192)
    assert data["randomized_total"] == 192
    bad = runner.invoke(app, ["power", "--protocol", "mrocc-2025", "--effect", "x"])
    assert bad.exit_code == 1 and "expected a number" in bad.output


def test_analytic_solve_inflates_the_rounded_n_by_the_protocols_attrition() -> None:
    result = runner.invoke(app, ["power", "--protocol", "mrocc-2025", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    # 78.49 -> 79 analysable per arm; 79 / (156/192) = 97.2 -> 98 per arm to randomize.
    assert (data["n_per_arm_rounded"], data["randomized_per_arm"]) == (79, 98)
    other = runner.invoke(app, ["power", "--protocol", "mrocc-2025", "--attrition", "0", "--json"])
    assert json.loads(other.output)["randomized_total"] == 158
    bad = runner.invoke(app, ["power", "--protocol", "mrocc-2025", "--attrition", "1"])
    assert bad.exit_code == 1 and "attrition must lie in [0, 1)" in bad.output


# ----------------------------------------------------------------------------- simulation


def test_truth_of_an_improvement_positive_estimand_points_the_published_way() -> None:
    ltot = load_protocol("more-ltot-2022")
    scenario = default_scenario(ltot)
    # MORE-LTOT reports pain severity as control minus MORE (0.49 > 0: MORE lowered pain more);
    # the scenario's change is MORE minus control on the raw scale, so the truth flips it.
    change = scenario.trajectories["bpi_sf.severity"].change
    raw = change[ltot.arm_ids[0]] - change[ltot.arm_ids[-1]]
    truth = true_effect_of(ltot, scenario.model_dump_json(), "pain_severity")
    assert raw < 0 < truth == pytest.approx(-raw)


def test_effect_sets_the_scenario_and_the_truth() -> None:
    spec = MROCC.analysis_spec("primary")
    scenario = with_effect(default_scenario(MROCC), MROCC, spec, -5.0)
    # Control keeps its published 12.7%; M-ROCC = 12.7 - 5.
    assert scenario.substances["opioids"].percent == {
        "mrocc": pytest.approx(7.7),
        "recovery_support": 12.7,
    }
    assert true_effect_of(MROCC, scenario.model_dump_json(), "primary") == pytest.approx(-5.0)
    craving = with_effect(default_scenario(MROCC), MROCC, MROCC.analysis_spec("craving"), -0.5)
    assert craving.trajectories["ocs.mean"].change["mrocc"] == pytest.approx(-1.8)
    with pytest.raises(ValueError, match="no scenario knob"):
        with_effect(default_scenario(MROCC), MROCC, MROCC.analysis_spec("adverse_events"), 1.0)


def test_simulation_power_resumes_without_rerunning(tmp_path: Path) -> None:
    results = tmp_path / "reps.jsonl"
    first = simulation_power(MROCC, n=120, reps=2, seed=4, resume=results)
    assert len(results.read_text().splitlines()) == 2
    second = simulation_power(MROCC, n=120, reps=3, seed=4, resume=results)
    assert second.resumed == 2
    # Only the third rep ran: three lines, and the first two records are the same reps.
    assert len(results.read_text().splitlines()) == 3
    assert [r.seed for r in second.results[:2]] == [r.seed for r in first.results]
    assert second.results[:2] == first.results
    point = second.points[0]
    assert point.reps == 3
    assert point.power == point.significant / point.fitted
    # Asking for fewer reps than the file holds: progress counts only those asked for.
    calls: list[tuple[int, int]] = []
    simulation_power(
        MROCC, n=120, reps=2, seed=4, resume=results, progress=lambda *c: calls.append(c)
    )
    assert calls == [(2, 2)]
    # A line cut off by an interruption is skipped, the rest is kept.
    with results.open("a") as handle:
        handle.write('{"key": "cut')
    assert len(read_results(results, first.results[0].key)) == 3


@pytest.mark.slow
def test_local_processes_give_the_same_reps() -> None:
    """joblib workers (cold processes: each calibrates the scenario again) match serial."""
    serial = simulation_power(MROCC, n=100, reps=2, seed=9, analysis_id="cocaine")
    parallel = simulation_power(MROCC, n=100, reps=2, seed=9, analysis_id="cocaine", jobs=2)
    assert [(r.rep, r.estimate) for r in parallel.results] == [
        (r.rep, r.estimate) for r in serial.results
    ]


def test_dask_cluster_gives_the_same_reps() -> None:
    from dask.distributed import Client, LocalCluster

    serial = simulation_power(MROCC, n=100, reps=2, seed=9, analysis_id="cocaine")
    with (
        LocalCluster(
            n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        on_dask = simulation_power(
            MROCC, n=100, reps=2, seed=9, analysis_id="cocaine", dask_address=client
        )
        by_address = simulation_power(
            MROCC,
            n=100,
            reps=1,
            seed=9,
            analysis_id="cocaine",
            dask_address=cluster.scheduler_address,
        )
    key = [(r.rep, r.estimate) for r in serial.results]
    assert [(r.rep, r.estimate) for r in on_dask.results] == key
    assert [(r.rep, r.estimate) for r in by_address.results] == key[:1]


def test_simulation_power_errors() -> None:
    with pytest.raises(PowerError, match="not in protocol"):
        simulation_power(MROCC, n=100, reps=1, seed=1, analysis_id="nope")
    with pytest.raises(PowerError, match="at least 2"):
        simulation_power(MROCC, n=[1], reps=1, seed=1)


def test_simulation_cli(tmp_path: Path) -> None:
    results = tmp_path / "r.jsonl"
    args = [
        "power",
        "--protocol",
        "mrocc-2025",
        "--method",
        "simulation",
        "--reps",
        "2",
        "--n",
        "120",
        "--seed",
        "3",
        "--resume",
        str(results),
        "--json",
    ]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    data = json.loads(first.stdout)
    assert data["analysis_id"] == "primary"
    assert data["points"][0]["n"] == 120 and data["points"][0]["reps"] == 2
    again = runner.invoke(app, args)
    assert json.loads(again.stdout)["resumed"] == 2
    assert len(results.read_text().splitlines()) == 2


def test_power_curve_shows_each_point_with_its_wilson_interval(tmp_path: Path) -> None:
    # 7 of 20 significant at n = 100; R: prop.test(7, 20, correct = FALSE)$conf.int (Wilson)
    # = 0.1811918241 0.5671457233
    low, high = wilson_interval(7, 20)
    assert (low, high) == (pytest.approx(0.1811918241), pytest.approx(0.5671457233))
    points = (
        PowerPoint(100, 20, 20, 0, 7, 0.35, low, high, None, None),
        PowerPoint(200, 20, 20, 0, 15, 0.75, *wilson_interval(15, 20), None, None),
    )
    result = SimulationPowerResult("mrocc-2025", "primary", 0.05, None, 1, points, 1.0)
    figure = power_curve_figure(result)
    (axes,) = figure.axes
    line = axes.lines[0]
    assert list(line.get_xdata()) == [100, 200]
    assert list(line.get_ydata()) == [0.35, 0.75]
    bars = axes.collections[0].get_segments()
    assert bars[0][0][1] == pytest.approx(low) and bars[0][1][1] == pytest.approx(high)
    svg = write_power_curve(result, tmp_path / "curve.svg")
    assert svg.read_text(encoding="utf-8").lstrip().startswith("<?xml")
    with pytest.raises(PowerError, match=r"\.svg, \.png or \.pdf"):
        write_power_curve(result, tmp_path / "curve.txt")
