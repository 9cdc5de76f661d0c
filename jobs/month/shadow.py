"""Shadow runs: score a published month with candidate rules, publish nothing, and say what changes.

A candidate rule set (a copy of `rules/` with changes) is run over a published month's accepted
rows in a temporary build outside the home: the month's sources are linked in read-only, the
assessment's stages (jobs/month/assess.py) write into the temporary build only, and the home is read
as the month's own run saw it (the months published before it). The candidate's pushed leads and
issued doubtful records are then compared with the published ones, per township:

    lead       by household: added, dropped, or changed colour or rules
    doubtful   by household and check: added, dropped, or changed direction

For the published cases the candidate would drop or change, later published months tell how they
ended: the outcome that closed the case (`_cases`, or the `outcomes` source of homes built before
the case lifecycle), or none yet.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import polars as pl

from jobs.assess.households import FEATURES, STAGE_COLUMNS, assemble
from jobs.assess.leads import make_leads, warn
from jobs.assess.score import score
from jobs.cases import lifecycle as cases
from jobs.means_test.checks import match_checks, means_test
from safetynet.contract import SOURCES
from safetynet.errors import RulesError, SafetynetError
from safetynet.lake import Build, Home, read_catalog, write_parquet
from safetynet.months import previous_month
from safetynet.rules import RuleSet, load_rules
from safetynet.versions import code_version

# What the assessment reads of its own month besides the sources (jobs/assess/households.py reads
# `_deliveries`; the warehouse's views read `_quarantine`); the rest of a build is its output.
INPUTS = ("_deliveries", "_quarantine")
CHANGES = ("added", "dropped", "changed")
DETAIL_SCHEMA = {
    "month": pl.String,
    "township_code": pl.String,
    "kind": pl.String,  # lead, doubtful
    "change": pl.String,  # added, dropped, changed
    "household_id": pl.String,
    "check_id": pl.String,  # doubtful records only
    "case_id": pl.String,  # the published case (the candidate's for an added one)
    "published_level": pl.String,
    "candidate_level": pl.String,
    "published_rules": pl.String,  # rule ids, comma-separated
    "candidate_rules": pl.String,
    "published_direction": pl.String,
    "candidate_direction": pl.String,
    "outcome": pl.String,  # how a dropped or changed case ended, once an outcome came back
    "outcome_month": pl.String,
}


ENDING_SCHEMA = {"case_id": pl.String, "outcome": pl.String, "outcome_month": pl.String}


class ShadowError(SafetynetError):
    """A shadow run that cannot be made as asked (names the home, month or rules folder)."""


@dataclass(frozen=True)
class MonthAsBuilt(Home):
    """The home as the month's own run saw it: the months published before it, and the build."""

    @cached_property
    def catalog(self) -> dict[str, dict]:
        return {m: e for m, e in read_catalog(self.root, self.commit).items() if m < self.building.month}


@dataclass(frozen=True)
class Shadow:
    month: str
    build: str
    rules_dir: Path
    published_version: str
    candidate_version: str
    published: dict[str, int]  # pushed leads, issued doubtful records
    candidate: dict[str, int]
    details: pl.DataFrame  # DETAIL_SCHEMA, one row per difference
    notes: list[str]


def candidate_rules(root: Path, month: str) -> RuleSet:
    """The candidate rule set in force in `month`, checked as a run checks its own
    (jobs.month.assess.checked_rules)."""
    if not root.is_dir():
        raise RulesError(f"{root}: no such rules folder")
    try:
        rules = load_rules(root, columns=set(FEATURES) | STAGE_COLUMNS, month=month)
    except OSError as exc:
        raise RulesError(f"{exc.filename}: cannot be read ({exc.strerror})") from None
    match_checks(rules)
    return rules


def published_build(h: Home, month: str) -> Path:
    if not h.root.is_dir():
        raise ShadowError(f"{h.root}: no such home folder")
    if month not in h.catalog:
        known = ", ".join(sorted(h.catalog)) or "none"
        raise ShadowError(f"{month} is not published in {h.root} (published months: {known})")
    return h.build_dir(month)


def link_inputs(build: Path, target: Path) -> None:
    """The published month's accepted rows in `target`, as links: nothing is copied or changed."""
    target.mkdir(parents=True)
    for name in [*SOURCES, *INPUTS]:
        if (build / name).exists():
            os.symlink(build / name, target / name)


def assess_candidate(h: Home, month: str, rules: RuleSet) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The month's leads and doubtful records with `rules`, as `jobs.month.assess.assess` makes them, into
    `h.building` (temporary). The cases' lifecycle after the means test changes neither. Kept
    step for step with `assess`: tests/test_shadow.py checks that the published rules change nothing."""
    households, missing = assemble(h, month, rules)
    scored = score(households, rules, month, missing)
    past = cases.history(h, month, rules)
    warned = warn(scored, rules, month)
    leads = make_leads(warned, rules, month, cases.covering_leads(past.closed))
    leads = cases.attach_leads(leads, past.open)
    write_parquet(
        warned.with_columns(missing_sources=pl.lit(",".join(missing))).sort("household_id"),
        h.partition("_household_month", month) / "data.parquet",
    )
    means_test(month, h, rules, past, leads=leads)
    return leads, h.read("_doubtful", month)


def pushed_leads(leads: pl.DataFrame) -> pl.DataFrame:
    """One row per household with a pushed lead: its case, colour and rules."""
    return leads.filter(pl.col("pushed")).select(
        "household_id",
        "township_code",
        case_id="lead_id",
        level="level",
        rules=pl.col("rule_ids").list.sort().list.join(","),
    )


def issued_records(doubtful: pl.DataFrame) -> pl.DataFrame:
    """One row per household and check with an issued doubtful record: its case and direction."""
    return (
        doubtful.filter(pl.col("issued"))
        .group_by("household_id", "check_id")
        .agg(
            pl.col("township_code").min(),
            case_id=pl.col("record_id").min(),
            direction=pl.col("direction").unique().sort().str.join(","),
        )
    )


def compare(published: pl.DataFrame, candidate: pl.DataFrame, keys: list[str], kind: str) -> pl.DataFrame:
    """Rows of DETAIL_SCHEMA (outcome not yet known) for every key added, dropped or changed."""
    values = [c for c in published.columns if c not in (*keys, "township_code", "case_id")]
    both = published.rename(lambda c: c if c in keys else f"published_{c}").join(
        candidate.rename(lambda c: c if c in keys else f"candidate_{c}"), on=keys, how="full", coalesce=True
    )
    differs = pl.any_horizontal(pl.col(f"published_{v}").ne_missing(pl.col(f"candidate_{v}")) for v in values)
    change = (
        pl.when(pl.col("published_case_id").is_null())
        .then(pl.lit("added"))
        .when(pl.col("candidate_case_id").is_null())
        .then(pl.lit("dropped"))
        .when(differs)
        .then(pl.lit("changed"))
    )
    out = both.with_columns(
        kind=pl.lit(kind),
        change=change,
        township_code=pl.coalesce("published_township_code", "candidate_township_code"),
        case_id=pl.coalesce("published_case_id", "candidate_case_id"),
    ).filter(pl.col("change").is_not_null())
    return out.select(
        [(pl.col(c) if c in out.columns else pl.lit(None)).cast(t).alias(c) for c, t in DETAIL_SCHEMA.items()]
    )


def endings(h: Home, month: str) -> pl.DataFrame:
    """case_id, outcome, outcome_month: the outcome that closed each case in a month after `month`."""
    frames = []
    for later in (m for m in sorted(h.catalog) if m > month):
        closed = h.read("_cases", later)
        if closed is not None:
            frames.append(
                closed.filter(pl.col("state") == "closed").select(
                    "case_id", "outcome", outcome_month=pl.lit(later), source=pl.lit(0)
                )
            )
        returned = h.read("outcomes", later)
        if returned is not None:  # homes built before the case lifecycle have no `_cases`
            frames.append(
                returned.select(
                    case_id="lead_id", outcome="outcome", outcome_month=pl.lit(later), source=pl.lit(1)
                )
            )
    if not frames:
        return pl.DataFrame(schema=ENDING_SCHEMA)
    return (
        pl.concat(frames)
        .sort("outcome_month", "source", "case_id", "outcome")
        .unique("case_id", keep="first", maintain_order=True)
        .drop("source")
    )


def differences(
    month: str,
    published: tuple[pl.DataFrame, pl.DataFrame],
    candidate: tuple[pl.DataFrame, pl.DataFrame],
    ended: pl.DataFrame,
) -> pl.DataFrame:
    """Every lead and doubtful record the candidate adds, drops or changes; `published` and
    `candidate` are (leads, doubtful) of the month; `ended` the outcomes of later months."""
    leads = compare(pushed_leads(published[0]), pushed_leads(candidate[0]), ["household_id"], "lead")
    records = compare(
        issued_records(published[1]), issued_records(candidate[1]), ["household_id", "check_id"], "doubtful"
    )
    came_back = pl.col("change") != "added"
    return (
        pl.concat([leads, records])
        .drop("outcome", "outcome_month")
        .join(ended, on="case_id", how="left")
        .with_columns(
            month=pl.lit(month),
            outcome=pl.when(came_back).then("outcome"),
            outcome_month=pl.when(came_back).then("outcome_month"),
        )
        .select(list(DETAIL_SCHEMA))
        .sort("township_code", "kind", "change", "household_id", "check_id", nulls_last=True)
    )


def summary(details: pl.DataFrame) -> pl.DataFrame:
    """Per township and kind (and `all` townships): added, dropped, changed, and how the dropped
    ones ended where an outcome came back (`outcome×count`, most frequent first)."""
    every = pl.concat([details, details.with_columns(township_code=pl.lit("all"))])
    counts = every.group_by("township_code", "kind").agg(
        *[(pl.col("change") == c).sum().alias(c) for c in CHANGES],
        dropped_visited=((pl.col("change") == "dropped") & pl.col("outcome").is_not_null()).sum(),
    )
    ended = (
        every.filter((pl.col("change") == "dropped") & pl.col("outcome").is_not_null())
        .group_by("township_code", "kind", "outcome")
        .len()
        .sort("len", "outcome", descending=[True, False])
        .group_by("township_code", "kind", maintain_order=True)
        .agg(dropped_outcomes=pl.format("{}×{}", "outcome", "len").str.join(" "))
    )
    return (
        counts.join(ended, on=["township_code", "kind"], how="left")
        .with_columns(pl.col("dropped_outcomes").fill_null(""))
        .sort(pl.col("township_code") == "all", "township_code", "kind")
    )


def shadow(root: Path, month: str, rules_dir: Path) -> Shadow:
    """Score `month` of the home at `root` with the rules in `rules_dir` in a temporary build,
    deleted at the end (also on error), and compare it with the published month."""
    home = Home(root)
    build = published_build(home, month)
    rules = candidate_rules(rules_dir, month)
    published = (home.read("_leads", month), home.read("_doubtful", month))
    if published[0] is None or published[1] is None:
        raise ShadowError(f"{build}: the published month has no _leads or _doubtful to compare with")
    made_of = json.loads((build / "build.json").read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory(prefix="safetynet-shadow-") as tmp:
        # month=/build= in the path: the warehouse's views read both from it (hive partitioning)
        target = Path(tmp) / f"month={month}" / "build=shadow"
        link_inputs(build, target)
        candidate = assess_candidate(MonthAsBuilt(home.root, Build(month, target)), month, rules)
    details = differences(month, published, candidate, endings(home, month))
    return Shadow(
        month=month,
        build=made_of["build"],
        rules_dir=rules_dir,
        published_version=made_of["rule_version"],
        candidate_version=rules.version,
        published={"leads": int(published[0]["pushed"].sum()), "doubtful": int(published[1]["issued"].sum())},
        candidate={"leads": int(candidate[0]["pushed"].sum()), "doubtful": int(candidate[1]["issued"].sum())},
        details=details,
        notes=notes(home, month, made_of["code_version"]),
    )


def notes(h: Home, month: str, built_with: str) -> list[str]:
    """What besides the rules can make the candidate differ from the published month."""
    out = []
    prev = previous_month(month)
    if prev in h.catalog and h.catalog[prev]["build"] != h.catalog[month].get("previous"):
        out.append(
            f"{month} was built on an earlier build of {prev}, since replaced: differences may also come "
            f"from that (rerun {month} first)"
        )
    if built_with != code_version():
        out.append(
            f"{month} was built with code {built_with}, this is code {code_version()}: differences may "
            "also come from the code"
        )
    return out


def write_details(details: pl.DataFrame, path: Path) -> None:
    """The differences as CSV or Parquet, by the file's suffix."""
    if path.suffix == ".csv":
        details.write_csv(path)
    else:
        write_parquet(details, path)


def report(result: Shadow) -> str:
    """The differences per township as a plain-text table, for the terminal."""
    lines = [
        f"{result.month} (build {result.build}, rules {result.published_version}) scored with candidate "
        f"rules {result.candidate_version} from {result.rules_dir}",
        "nothing was published or written to the home",
        f"pushed leads: {result.published['leads']:,} published, {result.candidate['leads']:,} candidate; "
        f"issued doubtful records: {result.published['doubtful']:,} published, "
        f"{result.candidate['doubtful']:,} candidate",
    ]
    if result.details.height == 0:
        return "\n".join([*lines, "no differences: the same leads pushed and the same records issued"])
    columns = ("township_code", "kind", *CHANGES, "dropped_visited", "dropped_outcomes")
    rows = [("township", *columns[1:])]
    rows += [tuple(str(v) for v in row) for row in summary(result.details).select(columns).iter_rows()]
    widths = [max(len(r[i]) for r in rows) for i in range(len(columns) - 1)]
    lines.append("")
    for r in rows:  # the outcomes (Chinese, double-width) last, so the columns before them line up
        cells = [r[i].ljust(w) if i < 2 else r[i].rjust(w) for i, w in enumerate(widths)]
        lines.append("  ".join([*cells, r[-1]]).rstrip())
    return "\n".join(lines)
