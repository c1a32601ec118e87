"""benchmarks/detection_ablation.py --report: the committed table in docs/table2.md is
recomputed from the committed results JSON alone, and its statistics agree with paired
differences and t intervals computed here by hand (no training; backend independent)."""

import json
import math
import os
import re
import shutil
import statistics
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

import detection_ablation  # noqa: E402

pytestmark = pytest.mark.backend_independent

# t_{0.975, df} (scipy.stats.t.ppf(0.975, df)), written out so the check does not reuse the
# script's own table.
T975 = {1: 12.706204736, 2: 4.302652730, 3: 3.182446305}


def committed_results():
    with open(detection_ablation.results_file()) as f:
        return json.load(f)


def test_report_recomputes_the_committed_table(tmp_path, monkeypatch):
    doc = tmp_path / "table2.md"
    shutil.copy(detection_ablation.DOC, doc)
    before = doc.read_text()
    # Spoil the table in the copy: --report must rebuild it from the JSON alone.
    head, mark, rest = before.partition(detection_ablation.MARK)
    _, mark2, tail = rest.partition(detection_ablation.MARK)
    doc.write_text(head + mark + "\nstale\n" + mark2 + tail)
    monkeypatch.setattr(detection_ablation, "DOC", str(doc))
    assert detection_ablation.main(["--report"]) == 0
    assert doc.read_text() == before


def test_table_statistics_match_a_hand_computation():
    data = committed_results()
    table = detection_ablation.committed_table()
    runs = {(r["variant"], r["seed"]): r for r in data["runs"] if "AP" in r}
    variants = {v for v, _ in runs}
    checked = 0
    for a, b in detection_ablation.COMPARISONS:
        if a not in variants or b not in variants:
            continue
        for metric in ("AP", "AP50"):
            d = [runs[a, s][metric] - runs[b, s][metric] for s in data["seeds"]
                 if (a, s) in runs and (b, s) in runs]
            mean = sum(d) / len(d)
            half = T975[len(d) - 1] * statistics.stdev(d) / math.sqrt(len(d))
            row = (f"| {a} − {b} | {metric} | {100 * mean:+.2f} | "
                   f"[{100 * (mean - half):+.2f}, {100 * (mean + half):+.2f}] | "
                   f"{sum(x > 0 for x in d)}/{len(d)} |")
            assert row in table, row
            checked += 1
    assert checked >= 8
    for (v, s), r in runs.items():  # every run's AP50 in the per-seed table
        line = [x for x in table.splitlines() if x.startswith(f"| {s} | ")]
        assert line and f"{100 * r['AP50']:.2f}" in line[0]
    for v in variants:  # the mean rows
        ap50 = [r["AP50"] for (w, _), r in runs.items() if w == v]
        assert re.search(rf"\| {re.escape(v)} \| [0-9.]+ \| {100 * sum(ap50) / len(ap50):.2f} \|",
                         table)


def test_carried_over_runs_are_marked():
    progress = detection_ablation.carry_over()
    with open(os.path.join(ROOT, detection_ablation.CARRIED["results"])) as f:
        committed = json.load(f)
    assert len(progress["runs"]) == len(committed["runs"]) == 12
    for new, old in zip(progress["runs"], committed["runs"]):
        assert new["carried_over"] == detection_ablation.CARRIED
        assert {k: v for k, v in new.items() if k != "carried_over"} == old
    data = committed_results()
    if "reproducibility" in data:  # the five-variant results: carried runs and the rerun
        assert sum("carried_over" in r for r in data["runs"]) == 12
        assert {(c["variant"], c["seed"]) for c in data["reproducibility"]} >= \
            set(detection_ablation.RECHECK)


@pytest.mark.parametrize("bad", ["FPN:7", "AW-FPN-plain:0", "nothing", "FPN:x"])
def test_recheck_names_a_committed_run(bad, tmp_path):
    with pytest.raises(ValueError, match="--recheck"):
        detection_ablation.main(["--recheck", bad, "--work", str(tmp_path / "w" / "p.json")])
    assert not (tmp_path / "w").exists()
