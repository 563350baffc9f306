"""`alignment-ci bridge`: run the rater bridge, manage vendors and their tokens, record batch
outcomes, and report vendor SLAs.

The bridge's commands live with the bridge: pyproject.toml declares ``app`` in the
``alignment_ci.commands`` entry-point group and ``alignment_ci.cli`` mounts every command
group it finds there, so alignment_ci never imports rater_bridge."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape

from alignment_ci.config import Config
from alignment_ci.cli_common import ConfigOpt, Format, FormatOpt, _config, emit, err, out
from alignment_ci.commands.importers import DimensionOpt, labelstudio_app
from alignment_ci.errors import InputError
from .app import create_app, open_bridge
from .auth import add_vendor, issue_token, list_vendors, revoke_tokens
from .batches import mark_batch, warm_up
from .db import create_tables, make_engine, session_factory
from .labelstudio import LabelStudioClient, connect as connect_project
from .logs import ACCESS_LOGGER
from .settings import database_url
from .sla import bridge_sla
from .webhooks import bind_project, issue_webhook_token, signing_key as vendor_signing_key

app = typer.Typer(help="The rater bridge: the service vendors push batches to and pull tasks from.", no_args_is_help=True)
vendor_app = typer.Typer(help="Vendors and their API tokens.", no_args_is_help=True)
app.add_typer(vendor_app, name="vendor")


def _sessions(config: Config):
    engine = make_engine(database_url(config))
    create_tables(engine)
    return session_factory(engine)


@app.command("serve")
def serve(
    host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port.")] = 8000,
    config: ConfigOpt = None,
) -> None:
    """Serve the bridge with uvicorn (structured JSON access logs on stderr)."""
    import logging
    import sys

    import uvicorn


    cfg = _config(config)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    access = logging.getLogger(ACCESS_LOGGER)
    access.addHandler(handler)
    access.setLevel(logging.INFO)
    access.propagate = False
    app = create_app(cfg)
    try:
        warm_up(cfg)
    except Exception as exc:  # a warm-up failure must not keep the bridge from serving
        logging.getLogger("rater_bridge").warning("warm-up failed (%s); the first push will be slower", exc)
    # uvicorn's own access log would print client addresses and full query strings.
    uvicorn.run(app, host=host, port=port, access_log=False, log_level="info")


@vendor_app.command("add")
def vendor_add(
    name: Annotated[str, typer.Argument(help="Vendor name (letters, digits, . _ -).")],
    config: ConfigOpt = None,
    format: FormatOpt = Format.text,
) -> None:
    """Add a vendor and print its API token. The token is shown only this once."""

    with _sessions(_config(config))() as s:
        vendor, token = add_vendor(s, name)
    if format is Format.json:
        emit({"vendor": vendor.name, "token": token}, format)
    else:
        err.print(f"vendor {escape(vendor.name)} added; its token (shown once, store it now):")
        out.print(token, markup=False)


@vendor_app.command("token")
def vendor_token(
    name: Annotated[str, typer.Argument(help="An existing vendor.")],
    config: ConfigOpt = None,
    format: FormatOpt = Format.text,
) -> None:
    """Issue another token for a vendor (rotation: revoke the old ones afterwards)."""

    with _sessions(_config(config))() as s:
        token = issue_token(s, name)
    if format is Format.json:
        emit({"vendor": name, "token": token}, format)
    else:
        out.print(token, markup=False)


@vendor_app.command("webhook-token")
def vendor_webhook_token(
    name: Annotated[str, typer.Argument(help="An existing vendor.")],
    project: Annotated[Optional[list[int]], typer.Option("--project", help="Bind this Label Studio project id to the vendor (repeatable).")] = None,
    signing_key: Annotated[bool, typer.Option("--signing-key", help="Print the vendor's HMAC signing key instead (for senders that sign; needs the bridge's master secret in the environment).")] = False,
    config: ConfigOpt = None,
    format: FormatOpt = Format.text,
) -> None:
    """Issue a webhook-only token for Label Studio's webhook headers (`Authorization: Bearer <token>`); it opens no other route."""
    import os



    cfg = _config(config)
    master_env = cfg.bridge.labelstudio_secret_env
    if signing_key and not os.environ.get(master_env):
        raise InputError(f"set {master_env} (the bridge's master secret) to derive signing keys")
    with _sessions(cfg)() as s:
        bound = [bind_project(s, name, p)["project"] for p in project or []]
        if signing_key:
            secret, kind = vendor_signing_key(os.environ[master_env], name), "signing_key"
        else:
            secret, kind = issue_webhook_token(s, name), "token"
    if format is Format.json:
        emit({"vendor": name, kind: secret, "projects": bound}, format)
        return
    if kind == "token":
        err.print(f"webhook token of {escape(name)} (shown once): put it in the Label Studio webhook's headers as "
                  "Authorization: Bearer <token>")
    if bound:
        err.print(f"Label Studio project(s) {', '.join(map(str, bound))} bound to {escape(name)}")
    out.print(secret, markup=False)


@vendor_app.command("revoke")
def vendor_revoke(
    name: Annotated[str, typer.Argument(help="An existing vendor.")],
    config: ConfigOpt = None,
    format: FormatOpt = Format.text,
) -> None:
    """Revoke every token of a vendor."""

    with _sessions(_config(config))() as s:
        n = revoke_tokens(s, name)
    emit({"vendor": name, "revoked": n}, format, lambda d: out.print(f"revoked {d['revoked']} token(s) of {escape(name)}"))


@vendor_app.command("list")
def vendor_list(config: ConfigOpt = None, format: FormatOpt = Format.text) -> None:
    """List vendors and the prefixes of their live tokens."""

    with _sessions(_config(config))() as s:
        vendors = list_vendors(s)

    def render(data: list) -> None:
        for v in data:
            out.print(f"{escape(v['vendor'])}\t{', '.join(v['tokens']) or '(no live token)'}")

    emit(vendors, format, render)


@app.command("mark")
def mark(
    vendor: Annotated[str, typer.Argument(help="The vendor that pushed the batch.")],
    batch_id: Annotated[str, typer.Argument(help="The batch id.")],
    status: Annotated[str, typer.Argument(help="gates_passed, gates_failed, merged (or pr_open).")],
    config: ConfigOpt = None,
    format: FormatOpt = Format.text,
) -> None:
    """Record a batch's pull-request outcome; vendors read it from GET /v1/batches/{id}."""

    bridge = open_bridge(_config(config))
    try:
        result = mark_batch(bridge, vendor, batch_id, status)
    finally:
        bridge.dispose()
    emit(result, format, lambda d: out.print(f"{escape(vendor)}/{escape(batch_id)}: {d['status']}"))


@app.command("sla")
def sla(
    vendor: Annotated[Optional[str], typer.Option("--vendor", help="Only this vendor.")] = None,
    check: Annotated[bool, typer.Option("--check", help="Exit 1 when a vendor misses a target.")] = False,
    config: ConfigOpt = None,
    format: FormatOpt = Format.text,
) -> None:
    """Each vendor's turnaround, decisions per rater-hour, agreement and gold accuracy against its SLA."""

    bridge = open_bridge(_config(config))
    try:
        report = bridge_sla(bridge, vendor)
    finally:
        bridge.dispose()

    def render(data: dict) -> None:
        from rich.table import Table

        def show(value: object, met: object) -> str:
            text = "–" if value is None else (f"{value:.3f}" if isinstance(value, float) else str(value))
            return text if met is None else f"{text} {'✓' if met else '✗'}"

        table = Table("vendor", "batches", "pending", "turnaround h (median)", "decisions / rater-h", "alpha", "gold acc.", "ok")
        for name, v in data["vendors"].items():
            met = v["met"]
            table.add_row(escape(name), str(v["batches"]), str(v["pending"]),
                          show(v["turnaround_hours_median"], met["turnaround"]),
                          show(v["decisions_per_rater_hour"], met["decisions_per_rater_hour"]),
                          show(v["agreement"], met["agreement"]), show(v["gold_accuracy"], met["gold_accuracy"]),
                          "yes" if v["ok"] else "NO")
        out.print(table)

    emit(report, format, render)
    if check and not report["ok"]:
        raise typer.Exit(1)


# `alignment-ci labelstudio connect` joins alignment_ci's `labelstudio` group (beside `config`):
# it needs the bridge's database, so it lives here; loading this module (the entry point) adds it.
@labelstudio_app.command("connect")
def connect(
    url: Annotated[str, typer.Option("--url", help="The Label Studio server, e.g. https://labelstudio.example.")],
    token: Annotated[str, typer.Option("--token", envvar="LABEL_STUDIO_API_KEY", show_envvar=True,
                                       help="A Label Studio access token (legacy API token or personal access token).")],
    project: Annotated[str, typer.Option("--project", help="An existing project's id, or the title of the project to create (reused when it exists).")],
    vendor: Annotated[str, typer.Option("--vendor", help="The bridge vendor the project belongs to (`bridge vendor add`).")],
    bridge_url: Annotated[str, typer.Option("--bridge-url", help="The bridge's URL as Label Studio reaches it, e.g. https://bridge.example.")],
    dimension: DimensionOpt = None,
    tasks: Annotated[int, typer.Option("--tasks", min=0, help="Queue tasks to hand out to the project now (0: none).")] = 100,
    ca_bundle: Annotated[Optional[Path], typer.Option("--ca-bundle", exists=True, dir_okay=False, help="CA certificates for a Label Studio with a private TLS certificate.")] = None,
    config: ConfigOpt = None,
    format: FormatOpt = Format.text,
) -> None:
    """Create the project from the taxonomy config, import queue tasks, bind it to the vendor and register the webhook."""

    bridge = open_bridge(_config(config))
    client = LabelStudioClient(url, token, verify=str(ca_bundle) if ca_bundle else True)
    try:
        result = connect_project(bridge, client, project=project, vendor=vendor, bridge_url=bridge_url,
                                 dimension=dimension, n_tasks=tasks)
    finally:
        client.close()
        bridge.dispose()

    def render(d: dict) -> None:
        verb = "created" if d["created"] else "using"
        err.print(f"{verb} Label Studio project {d['project']} ({escape(str(d['title']))}), bound to vendor {escape(vendor)}")
        err.print(f"imported {d['tasks_imported']} queue task(s); webhook {d['webhook']} posts "
                  f"{', '.join(d['actions'])} to {escape(d['webhook_url'])}")
        out.print(str(d["project"]))

    emit(result, format, render)
