"""The sections of the analytics report, one step function each (:mod:`report` runs them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy import Engine

from cratedig.analytics import activity, artists, cohorts, mix, plots, visits
from cratedig.analytics.coverage import Coverage, coverage_notes
from cratedig.analytics.profile import iso
from cratedig.analytics.quality_report import quality_section


@dataclass
class ReportSection:
    """One section of the HTML report."""

    key: str
    title: str
    text: list[str] = field(default_factory=list)
    images: list[tuple[str, str]] = field(default_factory=list)  # (file name, alt text)
    tables: list[dict[str, Any]] = field(default_factory=list)  # {caption, columns, rows}


@dataclass
class ReportBuild:
    out: Path
    summary: dict[str, Any] = field(default_factory=dict)
    sections: list[ReportSection] = field(default_factory=list)

    def section(self, key: str, title: str) -> ReportSection:
        sec = ReportSection(key, title)
        self.sections.append(sec)
        return sec


def _table(caption: str, frame: pl.DataFrame) -> dict[str, Any]:
    return {"caption": caption, "columns": frame.columns, "rows": frame.rows()}


def _mean(series: pl.Series) -> float:
    value = series.mean()
    return 0.0 if value is None else float(value)  # type: ignore[arg-type]


def _fmt_share(value: float) -> str:
    return f"{100 * value:.1f}%"


def step_coverage(b: ReportBuild, engine: Engine, cov: Coverage) -> None:
    b.summary["coverage"] = cov.as_dict()
    b.summary["data_period"] = {"first": iso(cov.first_ms), "last": iso(cov.last_ms)}
    b.summary["cannot_show"] = coverage_notes(cov)


def step_mix(b: ReportBuild, engine: Engine, cov: Coverage) -> None:
    sec = b.section("mix", "Event mix and listening time")
    frame = mix.mix_frame(cov.rows, cov.events)
    listening = mix.listening_time(engine)
    b.summary["event_mix"] = {
        row["event_type"]: {"rows": row["rows"], "events": row["events"]}
        for row in frame.iter_rows(named=True)
    }
    b.summary["listening"] = listening
    if frame.height:
        plots.plot_event_mix(frame, b.out / "event_mix.png")
        sec.images.append(("event_mix.png", "Events per type"))
    sec.text.append(
        f"{cov.n_event_rows:,} stored event rows stand for "
        f"{int(frame['events'].sum() or 0):,} events (rows may carry a count)."
    )
    if listening["plays_with_duration"]:
        sec.text.append(
            f"Listening time: {listening['listening_hours']:,.1f} hours over "
            f"{listening['plays_with_duration']:,} plays with a duration "
            f"({listening['plays_without_duration']:,} plays have none)."
        )
    elif listening["plays"]:
        sec.text.append(
            f"{listening['plays']:,} plays, none with a duration: listening time is unknown."
        )


def step_activity(b: ReportBuild, engine: Engine, cov: Coverage) -> None:
    sec = b.section("activity", "Active users")
    series: dict[str, pl.DataFrame] = {}
    figures: dict[str, Any] = {}
    subtitle = None
    if cov.has_days:
        days = _trimmed(sec, activity.user_days(engine, cov.types_at_least("day")))
        daily = activity.daily_active_users(days)
        weekly = activity.weekly_active_users(days)
        series["daily"], series["weekly"] = daily, weekly
        figures["daily_active_users"] = {
            "mean": round(_mean(daily["users"]), 3),
            "max": int(daily["users"].max() or 0),  # type: ignore[arg-type]
            "days_with_activity": daily.height,
        }
        figures["weekly_active_users"] = {
            "mean": round(_mean(weekly["users"]), 3),
            "max": int(weekly["users"].max() or 0),  # type: ignore[arg-type]
            "weeks_with_activity": weekly.height,
        }
        sec.text.append(
            f"Daily active users average {figures['daily_active_users']['mean']:,.1f} "
            f"over {daily.height:,} days with activity; weekly active users average "
            f"{figures['weekly_active_users']['mean']:,.1f}."
        )
    elif cov.has_months:
        types = cov.types_at_least("month")
        monthly = activity.monthly_active_users(_trimmed(sec, activity.user_days(engine, types)))
        subtitle = f"users with at least one {' or '.join(types)} event in the month"
        series["monthly"] = monthly
        figures["monthly_active_users"] = {
            "mean": round(_mean(monthly["users"]), 3),
            "max": int(monthly["users"].max() or 0),  # type: ignore[arg-type]
            "months_with_activity": monthly.height,
            "event_types": types,
        }
        sec.text.append(
            "Only monthly activity can be shown (events are dated to the month): "
            f"users active per month, from {', '.join(types)} events."
        )
    if series:
        plots.plot_active_users(series, b.out / "active_users.png", subtitle)
        sec.images.append(("active_users.png", "Active users over time"))
        if "daily" in series:
            figures["daily_series"] = [
                {"date": str(d), "users": int(u)} for d, u in series["daily"].iter_rows()
            ]
    else:
        sec.text.append("Active users cannot be shown: no event is dated.")
    b.summary["active_users"] = figures


def _trimmed(sec: ReportSection, days: pl.DataFrame) -> pl.DataFrame:
    kept, dropped = activity.trim_outlier_days(days)
    if dropped:
        sec.text.append(
            f"{dropped:,} user-days dated more than a year away from the bulk of the "
            "activity (stray dates) are left out of this chart."
        )
    return kept


def step_visits(b: ReportBuild, engine: Engine, cov: Coverage, gap: float) -> None:
    sec = b.section("visits", "Visits and visit frequency")
    if not cov.has_times:
        b.summary["visits"] = None
        sec.text.append("Visits cannot be computed: no event carries a time of day.")
        return
    result = visits.analyse_visits(
        engine, gap, event_types=cov.types_at_least("time"), as_of_ms=cov.last_ms
    )
    b.summary["visits"] = result.summary
    s = result.summary
    rules = s["segment_rules"]
    sec.text.append(
        f"A visit ends after {gap:g} idle minutes; an explicit visit event also starts one. "
        f"{s['visits']:,} visits by {s['users_with_visits']:,} users; median "
        f"{s.get('median_visits_per_week', 0):.2f} visits per week per user, median visit "
        f"length {s.get('median_visit_minutes', 0):.1f} minutes."
    )
    if "visits_per_week_quantiles" in s:
        q = s["visits_per_week_quantiles"]
        sec.text.append(
            "Visits per week per user: 10th percentile "
            f"{q['p10']:.2f}, 25th {q['p25']:.2f}, median {q['p50']:.2f}, 75th {q['p75']:.2f}, "
            f"90th {q['p90']:.2f}."
        )
    sec.text.append(
        f"Segments over the {rules['window_days']} days before the last event: daily = "
        f"visited on at least {rules['daily_min_days']} days; weekly = visited in at least "
        f"{rules['weekly_min_weeks']} of the {rules['window_days'] // 7} weeks; occasional = "
        "visited at least once; lapsed = no visit in the window."
    )
    if result.frequency.height:
        plots.plot_visits_per_week(result.frequency, b.out / "visits_per_week.png")
        sec.images.append(("visits_per_week.png", "Distribution of visits per week"))
        rules_text = (
            f"daily: >= {rules['daily_min_days']} active days; weekly: active in >= "
            f"{rules['weekly_min_weeks']} of {rules['window_days'] // 7} weeks; occasional: "
            "some activity; lapsed: none"
        )
        plots.plot_segments(s["segments"], rules_text, b.out / "segments.png")
        sec.images.append(("segments.png", "Users by visit-frequency segment"))
        per_day = result.per_user_day.group_by("visits").len().sort("visits")
        sec.tables.append(
            _table(
                "Visits per user on days they visited (how many user-days had n visits)",
                per_day.rename({"visits": "visits on the day", "len": "user-days"}).head(10),
            )
        )


def step_heatmap(b: ReportBuild, engine: Engine, cov: Coverage) -> None:
    sec = b.section("hours", "Listening hours")
    if cov.resolution.get("play_track") == "time":
        types, unit = ["play_track"], "plays"
    elif cov.has_times:
        types, unit = cov.types_at_least("time"), "events"
    else:
        b.summary["heatmap"] = None
        sec.text.append("No heat map: no event carries a time of day.")
        return
    heat = activity.listening_heatmap(engine, types)
    matrix = activity.heatmap_matrix(heat)
    b.summary["heatmap"] = {"unit": unit, "weekdays": list(activity.WEEKDAYS), "cells": matrix}
    zone_note = (
        "in each listener's own time zone"
        if cov.users_with_valid_timezone
        else "in UTC (no user has a known time zone)"
    )
    plots.plot_heatmap(
        matrix,
        f"{unit.capitalize()} by hour and weekday ({zone_note})",
        b.out / "heatmap.png",
        unit,
    )
    sec.images.append(("heatmap.png", "Heat map of activity by hour and weekday"))
    sec.text.append(
        f"{unit.capitalize()} by local hour and weekday, {zone_note}; users without a "
        "valid time zone count in UTC."
    )


def step_artists(b: ReportBuild, engine: Engine, cov: Coverage) -> None:
    sec = b.section("artists", "Artists: popularity and the long tail")
    popularity = artists.artist_popularity(engine)
    tail = artists.long_tail_summary(popularity)
    b.summary["long_tail"] = tail
    b.summary["top_artists"] = popularity.head(20).to_dicts()
    if tail["plays"] == 0:
        sec.text.append("No plays: popularity and the long tail cannot be shown.")
        return
    sec.text.append(
        f"{tail['artists']:,} artists ({tail['artists_played']:,} played at least once). "
        f"The top 1% ({tail['top1pct_artists']:,} artists) take "
        f"{_fmt_share(tail['top1pct_share_of_plays'])} of plays and "
        f"{_fmt_share(tail['top1pct_share_of_listeners'])} of listeners; the top 20% take "
        f"{_fmt_share(tail['top20pct_share_of_plays'])} of plays and "
        f"{_fmt_share(tail['top20pct_share_of_listeners'])} of listeners. Gini of plays "
        f"{tail['gini_plays']:.3f}, of listeners {tail['gini_listeners']:.3f}."
    )
    plots.plot_top_artists(popularity, b.out / "top_artists.png")
    sec.images.append(("top_artists.png", "Most played artists"))
    plots.plot_lorenz(popularity, b.out / "lorenz.png")
    sec.images.append(("lorenz.png", "Lorenz curve of artist popularity"))
    if cov.users_with_country:
        by_country = artists.top_artists_by_country(engine, n=5)
        b.summary["top_artists_by_country"] = by_country.to_dicts()
        countries = by_country["country"].n_unique()
        sec.tables.append(
            _table(
                f"Top 5 artists per country ({countries} countries)",
                by_country.select("country", "rank", "name", "artist_id", "plays", "listeners"),
            )
        )


def step_follows(b: ReportBuild, engine: Engine, cov: Coverage) -> None:
    sec = b.section("follows", "Follow churn")
    follow_types = [t for t in ("follow_artist", "unfollow_artist") if t in cov.rows]
    if not follow_types:
        b.summary["follow_churn"] = None
        sec.text.append("No follow or unfollow events in the data.")
        return
    dated = [t for t in follow_types if t in cov.types_at_least("day")]
    if not dated:
        b.summary["follow_churn"] = None
        sec.text.append("Follow events are not dated to the day: no weekly churn.")
        return
    churn = mix.follow_churn(engine, dated)
    b.summary["follow_churn"] = {
        "follows": int(churn["follows"].sum()),
        "unfollows": int(churn["unfollows"].sum()),
        "weeks": [
            {
                "week_start": str(r["week_start"]),
                "follows": r["follows"],
                "unfollows": r["unfollows"],
            }
            for r in churn.iter_rows(named=True)
        ],
    }
    plots.plot_follow_churn(churn, b.out / "follow_churn.png")
    sec.images.append(("follow_churn.png", "Follows and unfollows per week"))
    f = b.summary["follow_churn"]
    sec.text.append(f"{f['follows']:,} follows and {f['unfollows']:,} unfollows.")


def step_retention(b: ReportBuild, engine: Engine, cov: Coverage) -> None:
    sec = b.section("retention", "Retention cohorts")
    if not cov.has_days:
        b.summary["retention"] = None
        sec.text.append("Retention by week needs events dated to the day; these are not.")
        return
    result = cohorts.retention(engine, 12, cov.types_at_least("day"))
    table = result.table
    b.summary["retention"] = {
        "users_by_signup": result.users_by_signup,
        "users_by_first_activity": result.users_by_first_activity,
        "cohorts": [{**row, "cohort_start": str(row["cohort_start"])} for row in table.to_dicts()],
    }
    if result.users_by_first_activity:
        sec.text.append(
            f"{result.users_by_first_activity:,} users have no signup time: their cohort is "
            "the week of their first activity."
        )
    unobserved = table.filter((pl.col("week") == 0) & pl.col("share").is_null())
    if unobserved.height:
        sec.text.append(
            f"{int(unobserved['cohort_size'].sum()):,} users signed up before the data begin "
            f"({unobserved.height:,} weekly cohorts): their early weeks are not in the data, "
            "so their cohorts are in summary.json but not in the plot."
        )
    if table.filter(pl.col("week") == 0)["share"].drop_nulls().len():
        plots.plot_retention(table, b.out / "retention.png")
        sec.images.append(("retention.png", "Retention by signup-week cohort"))
        week1 = table.filter(pl.col("week") == 1)["share"].drop_nulls()
        if week1.len():
            sec.text.append(f"Mean week-1 retention over cohorts: {_fmt_share(week1.mean())}.")  # type: ignore[arg-type]


def step_quality(b: ReportBuild, engine: Engine, cov: Coverage) -> None:
    sec = b.section("quality", "Data quality")
    sec.text, tables, b.summary["quality"] = quality_section(engine)
    sec.tables += [_table(caption, frame) for caption, frame in tables]
