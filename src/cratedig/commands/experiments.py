"""``cratedig experiment ...``: create, start, ramp, stop, status, report, conclude, power."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from cratedig.clock import now_ms
from cratedig.commands.common import CliContext, pass_cli
from cratedig.exceptions import ValidationError
from cratedig.experiments import manage
from cratedig.store import experiments as experiment_sql

DAY_MS = 86_400_000


def _iso(ms: int | None) -> str:
    return (
        "" if ms is None else datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")
    )


def _numbers(text: str | None, field: str) -> list[float] | None:
    if not text:
        return None
    try:
        return [float(x) for x in text.split(",")]
    except ValueError:
        raise ValidationError(field, text, "comma-separated numbers such as 50,50") from None


def _names(text: str | None) -> list[str]:
    return [t.strip() for t in (text or "").split(",") if t.strip()]


@click.group("experiment")
def experiment_group() -> None:
    """A/B experiments: create one, start it, read its report, conclude it."""


@experiment_group.command("create")
@click.argument("name")
@click.option("--variant", "variants", multiple=True, required=True,
              help="NAME=SPEC: a version id, 'active', 'personalise=off', 'holdout', "
              "'gems=first|last|off' (Hidden Gems placement; --list hidden_gems or all), "
              "or 'interleave=VERSION_A,VERSION_B'. Control first.")  # fmt: skip
@click.option("--weights", default=None, help="Designed split, e.g. 50,50 (default equal).")
@click.option("--list", "list_scope", default="may_like", show_default=True,
              type=click.Choice(["may_like", "hidden_gems", "all"]))  # fmt: skip
@click.option("--primary", default="ctr", show_default=True, type=click.Choice(manage.METRICS))
@click.option(
    "--guardrail", "guardrails", default="", help="Comma-separated, e.g. rating,retention."
)
@click.option("--layer", default="default", show_default=True,
              help="Experiments of one layer never share a user.")  # fmt: skip
@click.option("--layer-share", default=1.0, show_default=True, type=float,
              help="Share of the layer's users the experiment may take.")  # fmt: skip
@click.option("--salt", default=None, help="Assignment salt (default: the name and the time).")
@pass_cli
def create_cmd(
    cli: CliContext,
    name: str,
    variants: tuple[str, ...],
    weights: str | None,
    list_scope: str,
    primary: str,
    guardrails: str,
    layer: str,
    layer_share: float,
    salt: str | None,
) -> None:
    """Create experiment NAME (in draft; `start` begins assigning users)."""
    exp = manage.create(
        cli.engine(), name, variants, _numbers(weights, "--weights"), list_scope, primary,
        _names(guardrails), layer, layer_share, salt,
    )  # fmt: skip
    click.echo(f"Created experiment {exp.name} ({', '.join(v.name for v in exp.variants)}).")


@experiment_group.command("start")
@click.argument("name")
@click.option("--ramp", "percent", type=float, default=None, help="Start at this % of traffic.")
@pass_cli
def start_cmd(cli: CliContext, name: str, percent: float | None) -> None:
    """Start assigning users to NAME's variants."""
    exp = manage.start(cli.engine(), name, None if percent is None else percent / 100)
    click.echo(f"Started {exp.name} at {exp.ramp:.0%} of traffic in layer {exp.layer}.")


@experiment_group.command("ramp")
@click.argument("name")
@click.argument("percent", type=float)
@pass_cli
def ramp_cmd(cli: CliContext, name: str, percent: float) -> None:
    """Enrol PERCENT of traffic (raising it never reassigns an enrolled user)."""
    exp = manage.ramp(cli.engine(), name, percent)
    click.echo(f"{exp.name} now enrols {exp.ramp:.0%} of traffic.")


@experiment_group.command("stop")
@click.argument("name")
@pass_cli
def stop_cmd(cli: CliContext, name: str) -> None:
    """Stop assigning users (the data stays for the report)."""
    exp = manage.stop(cli.engine(), name)
    click.echo(f"Stopped {exp.name}.")


@experiment_group.command("status")
@click.argument("name", required=False)
@pass_cli
def status_cmd(cli: CliContext, name: str | None) -> None:
    """Every experiment's state (or one experiment's design)."""
    engine = cli.engine()
    exps = [manage.load(engine, name)] if name else manage.load_all(engine)
    table = Table("experiment", "state", "list", "layer", "ramp", "variants", "primary",
                  "started", "stopped")  # fmt: skip
    for e in exps:
        arms = ", ".join(
            f"{v.name}={v.spec} ({w:g})" for v, w in zip(e.variants, e.weights, strict=True)
        )
        table.add_row(e.name, e.state, e.list_scope, e.layer, f"{e.ramp:.0%}", arms, e.primary,
                      _iso(e.started_at_ms), _iso(e.stopped_at_ms))  # fmt: skip
    console = Console()
    if not console.is_terminal:  # piped or captured: do not squeeze the table to 80
        console = Console(width=200)
    console.print(table)


@experiment_group.command("report")
@click.argument("name")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Write report.html, report.json and path.png here.")  # fmt: skip
@click.option("--correction", type=click.Choice(["holm", "bh"]), default="holm", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the JSON instead of a summary.")
@click.option("--bootstrap", "resamples", type=click.IntRange(min=0), default=2000,
              show_default=True,
              help="Resamples of the percentile bootstrap intervals shown beside the "
              "delta-method ones (0: none; at least 100 otherwise).")  # fmt: skip
@pass_cli
def report_cmd(
    cli: CliContext, name: str, out_dir: str | None, correction: str, as_json: bool,
    resamples: int,
) -> None:  # fmt: skip
    """Analyse NAME: SRM, metrics with intervals, CUPED, sequential path, decision."""
    engine = cli.engine()
    from cratedig.experiments.analysis import analyse  # statsmodels: see power_cmd
    from cratedig.experiments.report import to_json, write_report

    result = analyse(
        engine, manage.load(engine, name), correction=correction,  # type: ignore[arg-type]
        bootstrap_resamples=resamples,
    )  # fmt: skip
    if out_dir:
        files = write_report(result, Path(out_dir))
        click.echo(f"Wrote {', '.join(str(p) for p in files.values())}")
    if as_json:
        click.echo(to_json(result))
        return
    if result.get("srm") and result["srm"]["mismatch"]:
        click.echo("SAMPLE RATIO MISMATCH: do not trust this result.")
    click.echo(f"Users: {result['users']}")
    for m in result["metrics"]:
        if "error" in m:
            click.echo(f"  {m['metric']} ({m['treatment']}): {m['error']}")
            continue
        f = m["fixed"]
        boot = m.get("bootstrap")
        boot_text = (
            f"; bootstrap {boot['lift_ci'][0] * 100:+.2f}% .. {boot['lift_ci'][1] * 100:+.2f}%"
            if boot
            else ""
        )
        click.echo(
            f"  {m['metric']} ({m['treatment']}): control {f['control']:.4g}, treatment "
            f"{f['treatment']:.4g}, lift {f['lift'] * 100:+.2f}% (95% CI "
            f"{f['lift_ci'][0] * 100:+.2f}% .. {f['lift_ci'][1] * 100:+.2f}%{boot_text}), "
            f"p = {f['p_value']:.3g}, {correction} p = {m['adjusted_p']:.3g}, "
            f"always-valid p = {m['sequential']['p_value']:.3g}"
        )
    if result.get("interleaving"):
        i = result["interleaving"]
        click.echo(
            f"  interleaving: A wins {i['wins_a']}, B wins {i['wins_b']}, "
            f"ties {i['ties']}, p = {i['p_value']:.3g}"
        )
    click.echo(f"Decision: {result['decision']['text']}")


@experiment_group.command("conclude")
@click.argument("name")
@click.option("--promote-winner", is_flag=True, help="Promote the winning version.")
@pass_cli
def conclude_cmd(cli: CliContext, name: str, promote_winner: bool) -> None:
    """Record NAME's decision (stopping it); optionally promote the winner's version."""
    engine = cli.engine()
    from cratedig.experiments.analysis import analyse  # statsmodels: see power_cmd

    result = analyse(engine, manage.load(engine, name))
    decision = result["decision"]
    exp, promoted = manage.record_conclusion(engine, name, decision, promote_winner)
    click.echo(f"Concluded {exp.name}: {decision['text']}")
    if promoted is not None:
        click.echo(f"Promoted {promoted.version_id} (now served to everyone).")
    elif promote_winner:
        click.echo("No winner: nothing promoted.")


@experiment_group.command("power")
@click.option("--baseline", type=float, required=True, help="Baseline rate, e.g. 0.10.")
@click.option("--mde", type=float, required=True, help="Relative lift to detect, e.g. 0.05.")
@click.option("--alpha", type=float, default=0.05, show_default=True)
@click.option("--power", "power_", type=float, default=0.8, show_default=True)
@click.option("--arms", type=int, default=2, show_default=True)
@click.option("--traffic", type=float, default=1.0, show_default=True,
              help="Share of users the experiment enrols.")  # fmt: skip
@pass_cli
def power_cmd(
    cli: CliContext, baseline: float, mde: float, alpha: float, power_: float, arms: int,
    traffic: float,
) -> None:  # fmt: skip
    """Users per arm to detect MDE at BASELINE, and the days at this site's traffic."""
    # Imported here, as analyse and the report are in their commands: statsmodels,
    # scipy.stats and matplotlib cost every other cratedig command ~1.5 s of start-up.
    from cratedig.experiments import planning

    n = planning.users_per_arm_proportion(baseline, mde, alpha, power_)
    click.echo(f"Users per arm: {n:,} ({n * arms:,} in all) for a {mde:+.1%} relative lift "
               f"of {baseline:g} at alpha {alpha:g} and power {power_:.0%}.")  # fmt: skip
    with cli.engine().connect() as conn:
        users, days = experiment_sql.users_reached(conn, now_ms() - 28 * DAY_MS)
        if users == 0:  # a store fed by past data: its last 28 days of lists
            users, days = experiment_sql.users_reached(conn, 0)
    if users == 0 or days == 0:
        click.echo("Days needed: unknown (no list has been served yet).")
        return
    rate = users / days
    need = planning.days_needed(n, arms, rate, traffic)
    click.echo(f"Days needed: {need} (this site reached {users:,} users with lists over "
               f"{days} days, {rate:,.1f} a day).")  # fmt: skip


COMMANDS: list[click.Command] = [experiment_group]
