"""`make bench-field`: the field-like world (synthetic/field_world.py) through the real monthly run,
scored against its truth (issue 30, item 6).

Generates the world (3,000 households, three months, a year of history at onboarding), runs each
month with `safetynet run` (the embedded Airflow DAG, as the data team runs it), reads `v_leads` and
`v_doubtful_records` from the warehouse, and reports per month and over the run:

- need recall by kind, overall and of what the deliveries show: a needy household is found when a
  pushed lead or an issued 应保 doubtful record names it in that month (slow kinds: that month or
  an earlier one of the run; sudden kinds: that month or the next, for a department that delivered
  late); over the run, a household counts once per kind;
- pushed-lead precision, overall, by level and by rule id (right when the household is in need that
  month by the truth);
- 应退 recall and precision (issued 应退 records against the truth's `ineligible`, household-months);
- visits per township-month: what a township actually has to visit that month, the distinct
  households with items on its lists (`v_cases` on a sheet: new, standing, escalated, overdue or
  expired; a lead, a doubtful record and a re-check draw of one household are one visit; queued and
  closed cases are not on the lists); the same with the households that have an urgent (紧急) item
  aside (`routine`, issued whatever the capacity), against the capacity (rules/outcomes/capacity.yaml);
  pushed leads per 1,000 households a month;
- the queue per township-month: households with a queued case (排队待下发) and the oldest wait in
  months (from the case's `first_month`);
- outcomes returned per month: the rows the townships wrote into that month's folder and the cases
  they closed in its run.

Between two runs the townships visit (synthetic/field_visits.py): up to their capacity, in list order,
the outcomes the truth calls for, as `outcomes.part-<township>.csv` of the next month.

    python benchmarks/field_bench.py [--households 3000] [--months 3] [--first 2026-07] [--seed 1]
                                     [--no-history] [--work .bench/field] [--json .bench/field.json]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import record  # noqa: E402  (benchmarks/record.py, beside this script)

from synthetic.field_visits import capacity_table, return_visits  # noqa: E402
from synthetic.field_world import NEED_KINDS, SLOW, generate_field, run_months  # noqa: E402

LEVELS = ("红", "橙", "黄", "蓝", "绿")


def _ratio(hit: int, total: int) -> dict:
    return {"hit": hit, "total": total, "rate": round(hit / total, 3) if total else None}


def named_households(leads: pl.DataFrame, doubtful: pl.DataFrame) -> pl.DataFrame:
    """(month, household_id) named to a township: a pushed lead or an issued 应保 record."""
    return pl.concat(
        [
            leads.filter("pushed").select("month", "household_id"),
            doubtful.filter(pl.col("issued") & (pl.col("direction") == "应保")).select(
                "month", "household_id"
            ),
        ]
    ).unique()


def found_flags(truth: pl.DataFrame, named: pl.DataFrame, months: list[str]) -> pl.DataFrame:
    """Per truth row: found_<kind> by the rule of the module docstring."""
    index = {m: i for i, m in enumerate(months)}
    hits = named.with_columns(i=pl.col("month").replace_strict(index, default=None, return_dtype=pl.Int64))
    rows = truth.with_columns(i=pl.col("month").replace_strict(index, return_dtype=pl.Int64))
    pairs = rows.select("household_id", "i").join(
        hits.select("household_id", j="i"), on="household_id", how="left"
    )
    earlier = pairs.group_by("household_id", "i").agg(
        slow=(pl.col("j") <= pl.col("i")).any(),
        sudden=pl.col("j").is_between(pl.col("i"), pl.col("i") + 1).any(),
    )
    rows = rows.join(earlier, on=["household_id", "i"], how="left")
    return rows.with_columns(
        (pl.col("slow") if kind in SLOW else pl.col("sudden")).fill_null(False).alias(f"found_{kind}")
        for kind in NEED_KINDS
    )


def need_recall(found: pl.DataFrame, months: list[str]) -> dict:
    """Recall by kind: per month (household-months) and over the run (households)."""
    out = {}
    for kind in NEED_KINDS:
        rows = found.filter(pl.col(kind))
        over = rows.group_by("household_id").agg(pl.col(f"found_{kind}").any(), pl.col(f"shown_{kind}").any())
        shown = over.filter(pl.col(f"shown_{kind}"))
        out[kind] = {
            "run": _ratio(int(over[f"found_{kind}"].sum()), over.height),
            "run_shown": _ratio(int(shown[f"found_{kind}"].sum()), shown.height),
            "by_month": {
                m: _ratio(int(r[f"found_{kind}"].sum()), r.height)
                for m in months
                for r in [rows.filter(pl.col("month") == m)]
            },
        }
    return out


def lead_precision(truth: pl.DataFrame, leads: pl.DataFrame) -> dict:
    """Pushed leads right (the household in need that month): overall, by level, by rule id."""
    pushed = leads.filter("pushed").join(
        truth.select("month", "household_id", "need"), on=["month", "household_id"], how="left"
    )
    pushed = pushed.with_columns(pl.col("need").fill_null(False))
    by_rule = pushed.with_columns(rule=pl.col("rule_ids").str.split(",")).explode("rule")
    per_rule = by_rule.group_by("rule").agg(hit=pl.col("need").sum(), total=pl.len()).sort("rule")
    return {
        "overall": _ratio(int(pushed["need"].sum()), pushed.height),
        "by_level": {
            lv: _ratio(int(r["need"].sum()), r.height)
            for lv in LEVELS
            for r in [pushed.filter(pl.col("level") == lv)]
            if r.height
        },
        "by_rule": {r["rule"]: _ratio(r["hit"], r["total"]) for r in per_rule.iter_rows(named=True)},
    }


def exit_scores(truth: pl.DataFrame, doubtful: pl.DataFrame) -> dict:
    """应退: issued records against the truth's `ineligible`, by household and month."""
    records = (
        doubtful.filter(pl.col("issued") & (pl.col("direction") == "应退"))
        .select("month", "household_id")
        .unique()
    )
    marked = truth.select(
        "month",
        "household_id",
        "ineligible",
        shown=(pl.col("shown_income_above") & pl.col("income_above"))
        | (pl.col("shown_assets_over") & pl.col("assets_over")),
    )
    scored = records.join(marked, on=["month", "household_id"], how="left").with_columns(
        pl.col("ineligible").fill_null(False)
    )
    wrong = marked.filter("ineligible").join(
        records.with_columns(flagged=pl.lit(True)), on=["month", "household_id"], how="left"
    )
    wrong = wrong.with_columns(pl.col("flagged").fill_null(False))
    shown = wrong.filter("shown")
    return {
        "precision": _ratio(int(scored["ineligible"].sum()), scored.height),
        "recall": _ratio(int(wrong["flagged"].sum()), wrong.height),
        "recall_shown": _ratio(int(shown["flagged"].sum()), shown.height),
    }


def visit_counts(
    truth: pl.DataFrame, cases: pl.DataFrame, capacity: pl.DataFrame, default: int
) -> pl.DataFrame:
    """One row per township-month: visits (distinct households with a case on the lists, the module
    docstring), the same with households having an urgent item aside (`routine`), and the capacity."""
    keys = ["month", "township_code"]
    listed = cases.filter(pl.col("sheet").is_not_null())
    households = listed.group_by(*keys, "household_id").agg(urgent=(pl.col("urgency") == "紧急").any())
    per_township = households.group_by(keys).agg(visits=pl.len(), routine=(~pl.col("urgent")).sum())
    count = truth.select(keys).unique().join(per_township, on=keys, how="left")
    capacity = capacity.select(pl.col("township_code").cast(pl.String), pl.col("capacity").cast(pl.Int64))
    return count.join(capacity, on="township_code", how="left").with_columns(
        pl.col("visits", "routine").fill_null(0).cast(pl.Int64), pl.col("capacity").fill_null(default)
    )


def visits(
    truth: pl.DataFrame,
    leads: pl.DataFrame,
    cases: pl.DataFrame,
    capacity: pl.DataFrame,
    default: int,
) -> dict:
    """Visits per township-month against capacity (urgent households aside), and pushed leads per
    1,000 households a month."""
    count = visit_counts(truth, cases, capacity, default)
    monthly = (
        count.group_by("month")
        .agg(
            max=pl.col("visits").max(),
            median=pl.col("visits").median(),
            over_capacity=(pl.col("routine") > pl.col("capacity")).sum(),
        )
        .sort("month")
    )
    households = truth.group_by("month").agg(households=pl.len())
    pushed = leads.filter("pushed").group_by("month").agg(leads=pl.len())
    per_1000 = households.join(pushed, on="month", how="left").with_columns(
        per_1000=(pl.col("leads").fill_null(0) * 1000 / pl.col("households")).round(1)
    )
    return {
        "township_months": count.height,
        "max": int(count["visits"].max() or 0),
        "median": float(count["visits"].median() or 0),
        "routine_max": int(count["routine"].max() or 0),
        "over_capacity": int((count["routine"] > count["capacity"]).sum()),
        "by_month": {r.pop("month"): r for r in monthly.iter_rows(named=True)},
        "pushed_per_1000_households": {
            r["month"]: r["per_1000"] for r in per_1000.sort("month").iter_rows(named=True)
        },
    }


def _months_between(first: pl.Expr, last: pl.Expr) -> pl.Expr:
    def index(m: pl.Expr) -> pl.Expr:
        return m.str.slice(0, 4).cast(pl.Int64) * 12 + m.str.slice(5, 2).cast(pl.Int64)

    return index(last) - index(first)


def queue(cases: pl.DataFrame) -> dict:
    """Per month: households queued (排队待下发) in all, the most in one township and the
    township-months with a queue, and the oldest wait in months (first_month to the month)."""
    queued = cases.filter(pl.col("state") == "queued")
    per_township = queued.group_by("month", "township_code").agg(
        households=pl.col("household_id").n_unique(),
        oldest_wait=_months_between(pl.col("first_month").min(), pl.col("month").first()),
    )
    monthly = per_township.group_by("month").agg(
        households=pl.col("households").sum(),
        max_per_township=pl.col("households").max(),
        townships=pl.len(),
        oldest_wait=pl.col("oldest_wait").max(),
    )
    return {r.pop("month"): r for r in monthly.sort("month").iter_rows(named=True)}


def returned(cases: pl.DataFrame, written: dict[str, int] | None = None) -> dict:
    """Outcomes returned per month: rows the townships wrote into the month's folder (the bench's
    visits) and the cases the month's run closed with them."""
    closed = cases.filter(pl.col("state") == "closed").group_by("month").agg(closed=pl.len())
    months = sorted(set(cases["month"]) | set(written or {}))
    by_closed = dict(closed.iter_rows())
    return {m: {"written": (written or {}).get(m, 0), "closed": by_closed.get(m, 0)} for m in months}


def entry_precision(truth: pl.DataFrame, doubtful: pl.DataFrame) -> dict:
    """Issued 应保 records right (the household in need that month by the truth)."""
    records = doubtful.filter(pl.col("issued") & (pl.col("direction") == "应保")).select(
        "month", "household_id"
    )
    scored = records.unique().join(
        truth.select("month", "household_id", "need"), on=["month", "household_id"], how="left"
    )
    return _ratio(int(scored["need"].fill_null(False).sum()), scored.height)


CASES_SCHEMA = {
    "month": pl.String,
    "household_id": pl.String,
    "township_code": pl.String,
    "state": pl.String,
    "sheet": pl.String,
    "urgency": pl.String,
    "first_month": pl.String,
}


def score(
    truth: pl.DataFrame,
    leads: pl.DataFrame,
    doubtful: pl.DataFrame,
    cases: pl.DataFrame,
    capacity: pl.DataFrame | None = None,
    default: int | None = None,
    written: dict[str, int] | None = None,
) -> dict:
    """Every figure of the bench from the truth and what the run published (pure: tested on a
    hand-made case). `leads`: month, household_id, township_code, level, urgency, rule_ids, pushed;
    `doubtful`: month, household_id, township_code, direction, issued; `cases`: `CASES_SCHEMA`;
    `written`: outcome rows the townships wrote per month."""
    months = sorted(truth["month"].unique())
    if capacity is None or default is None:
        table, default, _ = capacity_table(truth["township_code"].to_list(), months[0])
        capacity = table if capacity is None else capacity
    found = found_flags(truth, named_households(leads, doubtful), months)
    return {
        "months": months,
        "households": int(truth["household_id"].n_unique()),
        "need_recall": need_recall(found, months),
        "lead_precision": lead_precision(truth, leads),
        "exit": exit_scores(truth, doubtful),
        "entry_precision": entry_precision(truth, doubtful),
        "visits": visits(truth, leads, cases, capacity, default),
        "queue": queue(cases),
        "outcomes_returned": returned(cases, written),
    }


def _frame(con, sql: str) -> pl.DataFrame:
    got = con.execute(sql)
    return pl.DataFrame(got.fetchall(), schema=[d[0] for d in got.description], orient="row")


def read_run(home: Path) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """The published leads, doubtful records and cases of every month, from the warehouse."""
    from jobs.publish.sealed import connect

    with connect(home) as con:
        leads = _frame(  # a queued lead waits for capacity (jobs/cases/capacity.py): not on this month's list
            con,
            "select month, household_id, township_code, level, urgency, rule_ids, "
            "pushed and not queued as pushed from v_leads",
        )
        doubtful = _frame(
            con,
            "select month, household_id, township_code, direction, issued and not queued as issued "
            "from v_doubtful_records",
        )
        cases = _frame(con, f"select {', '.join(CASES_SCHEMA)} from v_cases")
    return leads, doubtful, cases.cast(CASES_SCHEMA)


def run_month(month: str, landing: Path, home: Path) -> float:
    """One month through `safetynet run` (embedded Airflow); its seconds."""
    cli = str(Path(sys.executable).parent / "safetynet")
    start = time.perf_counter()
    done = subprocess.run(
        [cli, "run", "--month", month, "--landing", str(landing), "--home", str(home)],
        capture_output=True,
        text=True,
    )
    if done.returncode not in (0, 3):  # 3: loaded, a delivery unusable as a whole (said in the JSON)
        raise SystemExit(f"safetynet run --month {month} ended {done.returncode}:\n{done.stderr[-3000:]}")
    return round(time.perf_counter() - start, 1)


def run(
    months: list[str], landing: Path, home: Path, truth: pl.DataFrame, seed: int
) -> tuple[dict[str, float], dict[str, int]]:
    """Each month through the run, in order; between two, the townships visit and return outcomes
    into the next month's folder. Seconds per month and outcome rows written per month."""
    seconds, written = {}, {}
    for i, month in enumerate(months):
        seconds[month] = run_month(month, landing, home)
        if i + 1 < len(months):
            written[months[i + 1]] = return_visits(home, landing, truth, month, seed).height
    return seconds, written


def table(result: dict) -> str:
    """The compact table `make bench-field` prints."""
    lines = [f"field-like world: {result['households']:,} households, months {', '.join(result['months'])}"]
    lines.append("need recall (households over the run; of what the deliveries show):")
    for kind, r in result["need_recall"].items():
        run_, shown = r["run"], r["run_shown"]
        lines.append(
            f"  {kind:22} {run_['hit']:>4}/{run_['total']:<4} ({run_['rate']})   "
            f"shown {shown['hit']}/{shown['total']} ({shown['rate']})"
        )
    p = result["lead_precision"]
    lines.append(
        f"pushed-lead precision {p['overall']['hit']}/{p['overall']['total']} ({p['overall']['rate']})"
    )
    for name in ("by_level", "by_rule"):
        lines.append(f"  {name}: " + ", ".join(f"{k} {v['hit']}/{v['total']}" for k, v in p[name].items()))
    e = result["exit"]
    lines.append(
        f"应退 precision {e['precision']['hit']}/{e['precision']['total']} ({e['precision']['rate']}), "
        f"recall {e['recall']['hit']}/{e['recall']['total']} ({e['recall']['rate']}), "
        f"of shown {e['recall_shown']['rate']}"
    )
    n = result["entry_precision"]
    lines.append(f"应保 records right (in need that month): {n['hit']}/{n['total']} ({n['rate']})")
    v = result["visits"]
    lines.append(
        f"visits per township-month: max {v['max']}, median {v['median']}, "
        f"urgent aside max {v['routine_max']}; "
        f"over capacity {v['over_capacity']}/{v['township_months']} (capacity {result.get('capacity', '')})"
    )
    lines.append(
        "pushed leads per 1,000 households: "
        + ", ".join(f"{m} {x}" for m, x in v["pushed_per_1000_households"].items())
    )
    return "\n".join(lines + flow_lines(result))


def flow_lines(result: dict) -> list[str]:
    """The loop's lines of the table: visits, queue and outcomes returned by month."""
    v, q, r = result["visits"]["by_month"], result["queue"], result["outcomes_returned"]
    lines = ["by month: visits max/median, over capacity; queued households (max per township, oldest wait);"]
    lines.append("  outcomes written/cases closed")
    for month in result["months"]:
        m, w, o = v.get(month, {}), q.get(month, {}), r.get(month, {})
        lines.append(
            f"  {month}: visits {m.get('max')}/{m.get('median')}, over {m.get('over_capacity')}; "
            f"queued {w.get('households', 0)} ({w.get('max_per_township', 0)}, "
            f"{w.get('oldest_wait', 0)} months); outcomes {o.get('written', 0)}/{o.get('closed', 0)}"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--households", type=int, default=3000)
    parser.add_argument("--months", type=int, default=3)
    parser.add_argument("--first", default="2026-07", help="first month of the run, YYYY-MM")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-history", dest="history", action="store_false", help="no <source>.history.csv")
    parser.add_argument("--work", type=Path, default=ROOT / ".bench" / "field")
    parser.add_argument("--json", type=Path, default=ROOT / ".bench" / "field.json")
    args = parser.parse_args()
    shutil.rmtree(args.work, ignore_errors=True)
    landing, truth_dir, home = args.work / "landing", args.work / "truth", args.work / "home"
    months = run_months(args.first, args.months)
    start = time.perf_counter()
    generate_field(landing, truth_dir, months, args.households, args.seed, history=args.history)
    generated = round(time.perf_counter() - start, 1)
    truth = pl.read_parquet(truth_dir / "truth.parquet")
    seconds, written = run(months, landing, home, truth, args.seed)
    leads, doubtful, cases = read_run(home)
    capacity, default, said = capacity_table(truth["township_code"].to_list(), months[0])
    result = score(truth, leads, doubtful, cases, capacity, default, written)
    result.update(
        capacity=said,
        history=args.history,
        seed=args.seed,
        seconds={"generate": generated, "run": seconds, "total": round(time.perf_counter() - start, 1)},
    )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
    print(table(result))
    published = record.write("field", result)
    print(f"seconds: generate {generated}, run {seconds}; figures: {args.json}, {published}")


if __name__ == "__main__":
    main()
