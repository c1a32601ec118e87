"""benchmarks/accuracy.py --fast: every variant of every study trains, and the JSON and the report
hold together (structure and statistics only; no accuracy value is checked); a smoke run
(`--fast`, the natural first try) never touches the committed results."""

import contextlib
import hashlib
import json
import math
import os
import re
import statistics
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCHMARKS = os.path.join(ROOT, "benchmarks")
sys.path.insert(0, BENCHMARKS)

#: The committed results of the accuracy study (68 minutes of runs) and their report.
COMMITTED = [os.path.join(ROOT, "benchmarks", "results", "accuracy.json"),
             os.path.join(ROOT, "benchmarks", "results", "accuracy-mobilenet.json"),
             os.path.join(ROOT, "ACCURACY.md")]

# t_{0.975, df} (scipy.stats.t.ppf(0.975, df)), written out so the check does not reuse the
# script's own table.
T975 = {1: 12.706204736, 2: 4.302652730, 3: 3.182446305, 4: 2.776445105, 5: 2.570581836,
        9: 2.262157163, 29: 2.045229642, 30: 2.042272456, 40: 2.021075390, 100: 1.983971519}


@contextlib.contextmanager
def guarded_committed_files():
    """Yields {path: sha256} of the committed files before, then fills "after".

    Whatever the code under test does, the committed bytes are put back at the end,
    so that a failing check does not lose the data it guards.
    """
    saved = {}
    for path in COMMITTED:
        with open(path, "rb") as f:
            saved[path] = f.read()
    digests = {"before": {p: hashlib.sha256(b).hexdigest() for p, b in saved.items()}}
    try:
        yield digests
    finally:
        digests["after"] = {}
        for path, data in saved.items():
            with open(path, "rb") as f:
                now = f.read()
            digests["after"][path] = hashlib.sha256(now).hexdigest()
            if now != data:
                with open(path, "wb") as f:
                    f.write(data)


@pytest.fixture(scope="module")
def fast_run(tmp_path_factory):
    """`python benchmarks/accuracy.py --fast` exactly as a newcomer types it (default paths),
    from a scratch current directory."""
    import accuracy

    cwd = os.getcwd()
    work = tmp_path_factory.mktemp("accuracy")
    os.chdir(work)
    try:
        with guarded_committed_files() as digests:
            accuracy.main(["--fast"])
    finally:
        os.chdir(cwd)
    out = work / "runs" / "accuracy-fast" / "accuracy.json"
    data = markdown = None
    if out.exists():
        with open(out) as f:
            data = json.load(f)
        with open(out.with_suffix(".md")) as f:
            markdown = f.read()
    return out, data, markdown, digests


@pytest.mark.backend_independent
def test_fast_run_leaves_committed_results_byte_identical(fast_run):
    out, data, markdown, digests = fast_run
    assert digests["after"] == digests["before"]
    # ... because it wrote its own files elsewhere.
    assert data is not None and data["complete"], f"no --fast results at {out}"
    assert markdown.startswith("#") and os.path.getsize(out) > 0


@pytest.mark.backend_independent
@pytest.mark.parametrize("argv", [
    ["--fast", "--output", "benchmarks/results/accuracy.json"],
    ["--fast", "--output", "runs/x.json", "--markdown", "ACCURACY.md"],
    ["--seeds", "1", "--output", "benchmarks/results/accuracy-mobilenet.json"],
    ["--network", "resnet", "--output", "benchmarks/results/accuracy.json"],  # no --resume
    ["--plan"],  # the registered protocol, but its file holds finished runs
    ["--protocol", "2", "--plan"],
])
def test_runs_refuse_to_overwrite_committed_results(argv, tmp_path, monkeypatch):
    import accuracy

    monkeypatch.chdir(ROOT)
    # Were the refusal missing, fail at once instead of training the full protocol.
    monkeypatch.setattr(accuracy, "load_data",
                        lambda *args, **kwargs: pytest.fail(f"{argv} started training"))
    argv = [a if not a.startswith("runs/") else str(tmp_path / a) for a in argv]
    with guarded_committed_files() as digests:
        with pytest.raises(SystemExit, match="committed|finished runs"):
            accuracy.main(argv)
    assert digests["after"] == digests["before"]


@pytest.mark.backend_independent
def test_report_of_another_run_never_writes_accuracy_md(fast_run):
    import accuracy_report

    out = fast_run[0]
    with guarded_committed_files() as digests:
        with pytest.raises(ValueError, match="ACCURACY.md"):
            accuracy_report.write_report(str(out), os.path.join(ROOT, "ACCURACY.md"))
    assert digests["after"] == digests["before"]


@pytest.mark.backend_independent
def test_default_report_regenerates_accuracy_md_byte_identical(tmp_path):
    """ACCURACY.md is generated from the committed JSON alone: regenerating it changes nothing."""
    import accuracy_report

    target = tmp_path / "ACCURACY.md"
    accuracy_report.write_report(accuracy_report.DEFAULT_JSONS, str(target))
    with open(os.path.join(ROOT, "ACCURACY.md"), "rb") as f:
        assert target.read_bytes() == f.read()


@pytest.mark.backend_independent
def test_quick_benchmarks_write_outside_results(tmp_path, monkeypatch):
    """The timing benchmarks' `--quick` goes to runs/benchmarks-quick/, never to results/."""
    import common

    monkeypatch.chdir(tmp_path)
    results = sorted(os.listdir(common.RESULTS))
    stamps = {n: os.path.getmtime(os.path.join(common.RESULTS, n)) for n in results}
    common.report("layer_speed", ["a"], [{"a": 1.0}], quick=True)
    written = tmp_path / "runs" / "benchmarks-quick"
    assert [p.name for p in written.iterdir()] == [f"layer_speed-{common.keras.backend.backend()}.json"]
    assert sorted(os.listdir(common.RESULTS)) == results
    assert {n: os.path.getmtime(os.path.join(common.RESULTS, n)) for n in results} == stamps


def _section(markdown, study):
    """The Results subsection of one study (from its "### " heading to the next heading)."""
    import accuracy_report

    lines = markdown.splitlines()
    title = accuracy_report.STUDY_TITLES[study]
    (start,) = [i for i, line in enumerate(lines)
                if line.startswith("#") and line.lstrip("#").strip().startswith(title + ":")]
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("#")), len(lines))
    return "\n".join(lines[start:end])


def _table_row(markdown, first_cell):
    """The cells of the one Markdown table row whose first cell is `first_cell`."""
    rows = [[c.strip() for c in line.strip().strip("|").split("|")]
            for line in markdown.splitlines() if line.startswith("|")]
    matches = [r for r in rows if r[0] == first_cell]
    assert len(matches) >= 1, f"no table row {first_cell!r}"
    return matches[0]


def _numbers(text):
    """The decimal numbers in `text` (ASCII or Unicode minus signs)."""
    return [float(n.replace("−", "-")) for n in re.findall(r"[-+−]?\d+\.\d+", text)]


def _recomputed_pair(runs, variant, baseline):
    acc = {(r["variant"], r["seed"]): r["test_accuracy"] for r in runs}
    seeds = sorted(s for v, s in acc if v == variant)
    diffs = [acc[(variant, s)] - acc[(baseline, s)] for s in seeds]
    mean = sum(diffs) / len(diffs)
    sd = math.sqrt(sum((d - mean) ** 2 for d in diffs) / (len(diffs) - 1))
    half = T975[len(diffs) - 1] * sd / math.sqrt(len(diffs))
    return seeds, diffs, mean, half


@pytest.mark.backend_independent
def test_fast_run_trains_every_variant_and_seed(fast_run):
    _, data, _, _ = fast_run
    seeds = data["protocol"]["seed_list"]
    assert len(seeds) == data["protocol"]["seeds"] == 2 and len(set(seeds)) == 2
    assert data["complete"] and data["wall_seconds"] > 0
    assert set(data["studies"]) == {"resnet", "mobilenet", "warmstart"}
    for network in ("resnet", "mobilenet"):
        assert data["studies"][network]["variants"] == ["plain", "se", "cbam", "aw", "aw-se",
                                                        "aw-cbam"]
    assert data["studies"]["warmstart"]["variants"] == ["plain + F", "convert_to_aw + F"]
    for study, spec in data["studies"].items():
        runs = [r for r in data["runs"] if r["study"] == study]
        assert sorted((r["variant"], r["seed"]) for r in runs) == sorted(
            (v, s) for v in spec["variants"] for s in seeds)
        epochs = data["protocol"]["finetune_epochs" if study == "warmstart" else "epochs"]
        for r in runs:
            assert 0.0 <= r["test_accuracy"] <= 1.0 and math.isfinite(r["test_loss"])
            assert len(r["epoch_seconds"]) == epochs and r["params"] > 0
        params = {r["variant"]: r["params"] for r in runs}
        if study != "warmstart":
            for variant in ("se", "cbam", "aw", "aw-se", "aw-cbam"):
                assert params[variant] > params["plain"], (study, variant)
            assert params["aw-se"] > params["se"] and params["aw-cbam"] > params["cbam"]
        else:
            assert params["convert_to_aw + F"] > params["plain + F"]
            for r in runs:
                assert 0.0 <= r["base_test_accuracy"] <= 1.0
            converted = [r for r in runs if r["variant"] == "convert_to_aw + F"]
            assert all(0.0 <= r["converted_test_accuracy"] <= 1.0 for r in converted)


@pytest.mark.backend_independent
def test_fast_run_statistics_come_from_per_seed_pairs(fast_run):
    import accuracy_report

    _, data, markdown, _ = fast_run
    summary = accuracy_report.summarize(data)
    for study, spec in data["studies"].items():
        runs = [r for r in data["runs"] if r["study"] == study]
        expected = [(v, spec["reference"]) for v in spec["variants"] if v != spec["reference"]]
        expected += [tuple(c) for c in spec["comparisons"]]
        pairs = {(p["variant"], p["baseline"]): p for p in summary[study]["paired"]}
        assert sorted(pairs) == sorted(expected)
        for (variant, baseline), pair in pairs.items():
            seeds, diffs, mean, half = _recomputed_pair(runs, variant, baseline)
            assert pair["seeds"] == seeds
            assert pair["differences"] == pytest.approx(diffs, abs=1e-12)
            assert pair["mean_diff"] == pytest.approx(mean, abs=1e-12)
            assert pair["ci95"] == pytest.approx([mean - half, mean + half], abs=1e-6)
            assert pair["wins"] == sum(d > 0 for d in diffs)
            # The report prints these numbers (percentage points, 2 decimals): read back from
            # the table's cells, not compared with a string built like the report's.
            cells = _table_row(_section(markdown, study), f"{variant} − {baseline}")
            assert int(cells[1]) == len(seeds)
            assert _numbers(cells[2]) == pytest.approx([100 * mean], abs=0.006)
            assert _numbers(cells[3]) == pytest.approx(
                [100 * (mean - half), 100 * (mean + half)], abs=0.006)
            assert cells[4] == f"{sum(d > 0 for d in diffs)}/{len(seeds)}"
        for row in summary[study]["rows"]:
            accs = [r["test_accuracy"] for r in runs if r["variant"] == row["variant"]]
            assert row["n"] == len(accs) == 2
            assert row["mean"] == pytest.approx(statistics.fmean(accs), abs=1e-12)
            assert row["sd"] == pytest.approx(statistics.stdev(accs), abs=1e-12)


@pytest.mark.backend_independent
def test_fast_run_report_structure(fast_run):
    _, data, markdown, _ = fast_run
    for heading in ("## Protocol", "## How to rerun", "## Results", "### ResNet",
                    "### MobileNet v1", "### Warm start"):
        assert heading in markdown
    for seed in data["protocol"]["seed_list"]:
        assert sum(line.startswith(f"| {seed} | ") for line in markdown.splitlines()) == 3
    seed_rows = {}
    for study in data["studies"]:
        for line in _section(markdown, study).splitlines():
            for seed in data["protocol"]["seed_list"]:
                if line.startswith(f"| {seed} | "):
                    seed_rows.setdefault((study, seed), []).extend(_numbers(line))
    for run in data["runs"]:  # every run's accuracy is printed in its study's row of its seed
        printed = seed_rows[(run["study"], run["seed"])]
        assert any(abs(v - 100 * run["test_accuracy"]) < 0.006 for v in printed), (run, printed)


@pytest.mark.backend_independent
def test_resume_skips_finished_runs(fast_run, capsys):
    import accuracy

    out, data, _, _ = fast_run
    accuracy.main(["--fast", "--output", str(out), "--resume"])
    with open(out) as f:
        again = json.load(f)
    assert again["runs"] == data["runs"]
    assert "test acc" not in capsys.readouterr().out  # nothing was trained again


@pytest.mark.backend_independent
def test_t_quantile_and_interval():
    import accuracy_report

    for df, t in T975.items():
        assert accuracy_report.t_quantile_975(df) == pytest.approx(t, abs=2e-4)
    mean, half = accuracy_report.paired_ci([0.01, 0.03, -0.01])
    assert mean == pytest.approx(0.01)
    assert half == pytest.approx(T975[2] * 0.02 / math.sqrt(3), rel=1e-4)
    assert accuracy_report.paired_ci([0.02]) == (0.02, None)
