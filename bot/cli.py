"""`precoro-bot`: serve, check-config, gen-key, rotate-keys, demo, emulator, simulate, status, doctor."""

from __future__ import annotations

import argparse
import sys

from bot.config import ConfigError, load_config
from bot.logs import setup_logging
from bot.vault import VaultError, generate_key


def _load(path: str):  # type: ignore[no-untyped-def]
    try:
        return load_config(path)
    except ConfigError as exc:
        print(f"config error in {path}: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def _vault(config, path: str):  # type: ignore[no-untyped-def]
    from bot.vault import Vault

    try:
        return Vault((k.id, k.key) for k in config.encryption_keys)
    except VaultError as exc:
        print(f"config error in {path}: encryption.keys: {exc}", file=sys.stderr)
        return None


def _stored_tokens_note(config, vault) -> tuple[str, bool]:  # type: ignore[no-untyped-def]
    """(what the stored tokens look like, whether they are all readable); never migrates or creates."""
    from pathlib import Path

    from sqlalchemy.exc import SQLAlchemyError

    from bot.keys import check_stored_tokens, describe
    from bot.slack.installations import unreadable_slack_tokens
    from bot.store.approvers import ApproverRepo
    from bot.store.db import make_engine

    url = config.storage_url
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        return "no database yet", True
    engine = make_engine(url)
    try:
        problems = check_stored_tokens(ApproverRepo(engine), vault)
        workspaces = unreadable_slack_tokens(engine, vault) if config.slack.oauth else []
    except SQLAlchemyError as exc:  # unreachable, or not migrated yet: the config itself may be fine
        return f"stored tokens not checked ({type(exc).__name__})", True
    finally:
        engine.dispose()
    if problems or workspaces:
        return describe(problems, workspaces=workspaces), False
    return "every stored token decrypts", True


def cmd_check_config(args: argparse.Namespace) -> int:
    config = _load(args.config)
    vault = _vault(config, args.config)
    if vault is None:
        return 2
    note, readable = _stored_tokens_note(config, vault)
    if not readable:
        print(f"config error in {args.config}: encryption.keys: {note}", file=sys.stderr)
        return 2
    companies = ", ".join(f"{c.id} ({c.base_url}; {', '.join(c.document_types)})" for c in config.companies)
    print(f"{args.config} is valid: companies {companies}; storage {config.storage_url.split('://')[0]}; "
          f"{len(config.slack.admins)} admin(s); {len(config.encryption_keys)} key(s); {note}")
    return 0


def cmd_rotate_keys(args: argparse.Namespace) -> int:
    """Re-encrypt every stored token under the first key; safe while the service runs."""
    import time

    from bot.keys import describe, rotate_all
    from bot.slack.installations import rotate_slack_tokens
    from bot.store import Store

    config = _load(args.config)
    vault = _vault(config, args.config)
    if vault is None:
        return 2
    store = Store.open(config.storage_url)
    try:
        report = rotate_all(store.approvers, vault)
        slack_rotated, slack_unreadable = rotate_slack_tokens(store.engine, vault)
        for company, n in sorted(report.rotated_by_company.items()):
            store.audit.record(at=time.time(), company=company, actor="rotate-keys", action="token.rekey",
                               subject=f"key {vault.current_key_id}", outcome=f"{n} re-encrypted")
    finally:
        store.close()
    print(f"rotate-keys: {report.rotated} token(s) re-encrypted under key {vault.current_key_id!r}; "
          f"{report.current} already under it; {report.changed_meanwhile} changed meanwhile (left as registered); "
          f"{len(report.problems)} unreadable; {slack_rotated} Slack workspace token(s) re-encrypted, "
          f"{slack_unreadable} unreadable")
    if report.problems:
        print(describe(report.problems), file=sys.stderr)
    return 1 if report.problems or slack_unreadable else 0


def cmd_gen_key(_: argparse.Namespace) -> int:
    print(generate_key())
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from bot.runtime import Runtime
    from bot.server import create_app

    config = _load(args.config)
    setup_logging(config.log_level, json_lines=config.log_json)
    try:
        rt = Runtime.build(config)
    except VaultError as exc:
        print(f"cannot start: encryption.keys: {exc}", file=sys.stderr)
        return 2
    from bot.keys import check_stored_tokens, describe
    from bot.slack.installations import unreadable_slack_tokens

    problems = check_stored_tokens(rt.store.approvers, rt.vault)
    workspaces = unreadable_slack_tokens(rt.store.engine, rt.vault) if config.slack.oauth else []
    if problems or workspaces:  # refuse now, rather than fail in every click and poll of those approvers
        print(f"cannot start: encryption.keys: {describe(problems, workspaces=workspaces)}", file=sys.stderr)
        rt.store.close()
        return 2
    uvicorn.run(create_app(rt), host=config.host, port=args.port or config.port, log_level="warning",
                proxy_headers=True)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    import asyncio

    from bot.demo import run_demo

    setup_logging("WARNING")
    return asyncio.run(run_demo())


def cmd_emulator(args: argparse.Namespace) -> int:
    import uvicorn

    from bot.emulator.precoro import PrecoroEmulator, seed_demo

    emulator = PrecoroEmulator(strict_duplicates=args.strict)
    users = seed_demo(emulator)
    for name, user in users.items():
        print(f"{name}: email {user.email} token {user.token}")
    uvicorn.run(emulator.app, host="127.0.0.1", port=args.port, log_level="warning")
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from bot.sim.main import run

    setup_logging("ERROR")
    return run(args)


def cmd_status(args: argparse.Namespace) -> int:
    from bot.runtime import Runtime
    from bot.sync.scheduler import describe

    config = _load(args.config)
    rt = Runtime.build(config)
    try:
        for company in config.companies:
            print("\n".join(describe(rt.scheduler.snapshot(company), limit=None if args.all else 50)))
    finally:
        rt.store.close()
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    """Check every assumption about Precoro with one real token (read-only, at most 15 requests)."""
    import asyncio
    import os

    from bot.doctor import run_doctor
    from bot.doctor.checks import table
    from bot.precoro.client import Credentials
    from bot.store import Store
    from bot.vault import owner_binding

    config = _load(args.config)
    setup_logging("ERROR")
    companies = {c.id: c for c in config.companies}
    company = companies.get(args.company) if args.company else config.companies[0]
    if company is None:
        print(f"doctor: no company {args.company!r} in {args.config} (have: {', '.join(companies)})", file=sys.stderr)
        return 2
    store = Store.open(config.storage_url, timeout=config.storage_timeout_seconds)
    try:
        if args.token_env:
            token = os.environ.get(args.token_env, "").strip()
            if not token or not args.email:
                print(f"doctor: --token-env needs ${args.token_env} set and --email", file=sys.stderr)
                return 2
            cred = Credentials(email=args.email.strip(), token=token)
        elif args.approver:
            user = args.approver.strip().strip("<>").lstrip("@")
            approver = next((a for a in store.approvers.list(company.id, active_only=True)
                             if user in (a.slack_user_id, a.email)), None)
            if approver is None:
                print(f"doctor: {args.approver} is not an active approver of {company.id}", file=sys.stderr)
                return 2
            vault = _vault(config, args.config)
            if vault is None:
                return 2
            try:
                binding = owner_binding(approver.company, approver.team_id, approver.slack_user_id)
                cred = Credentials(email=approver.email, token=vault.decrypt(approver.token_ciphertext,
                                                                             binding=binding))
            except VaultError as exc:
                print(f"doctor: the token of {args.approver} cannot be decrypted ({exc})", file=sys.stderr)
                return 2
        else:
            print("doctor: give --approver @user, or --token-env VAR --email E", file=sys.stderr)
            return 2
        print(f"doctor: asking {company.base_url} as {cred.email} (read-only, at most 15 requests)")
        report = asyncio.run(run_doctor(config, company, cred, store=store, record=args.record,
                                        say=lambda line: print(f"  {line}", flush=True)))
    finally:
        store.close()
    print()
    print(table(report.rows))
    print(f"{report.requests} requests." + (f" Shapes written to {args.record}." if args.record else ""))
    if report.stop:
        print("At least one answer means this bot cannot work here as it is (see 'stop' above).")
    return 1 if report.stop else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="precoro-bot", description="Approve Precoro documents from Slack.")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the HTTP server and the poll scheduler")
    serve.add_argument("--config", default="config.yaml")
    serve.add_argument("--port", type=int, default=None, help="override server.port")
    serve.set_defaults(run=cmd_serve)
    check = sub.add_parser("check-config", help="validate a config file and say which key is wrong")
    check.add_argument("--config", default="config.yaml")
    check.set_defaults(run=cmd_check_config)
    rotate = sub.add_parser("rotate-keys", help="re-encrypt every stored token under the first key (safe while "
                                                "the service runs)")
    rotate.add_argument("--config", default="config.yaml")
    rotate.set_defaults(run=cmd_rotate_keys)
    sub.add_parser("gen-key", help="print a new encryption key").set_defaults(run=cmd_gen_key)
    sub.add_parser("demo", help="watch a document go from waiting to approved, with no accounts").set_defaults(
        run=cmd_demo)
    emulator = sub.add_parser("emulator", help="run the bundled Precoro emulator with demo data")
    emulator.add_argument("--port", type=int, default=8081)
    emulator.add_argument("--strict", action="store_true", help="duplicate GETs keyed by company, not token")
    emulator.set_defaults(run=cmd_emulator)
    from bot.sim.main import DESCRIPTION, add_arguments

    simulate = sub.add_parser("simulate", help="simulated days of the quota planner (the benchmark)",
                              description=DESCRIPTION)
    add_arguments(simulate)
    simulate.set_defaults(run=cmd_simulate)
    status = sub.add_parser("status", help="each company's quota use, poll budget and next polls")
    status.add_argument("--config", default="config.yaml")
    status.add_argument("--all", action="store_true", help="list every approver (default: the next 50)")
    status.set_defaults(run=cmd_status)
    doctor = sub.add_parser("doctor", help="check every assumption about Precoro with one real token (read-only)")
    doctor.add_argument("--config", default="config.yaml")
    doctor.add_argument("--company", default="", help="company id (default: the first in the config)")
    doctor.add_argument("--approver", default="", help="a registered approver (@U123 or their Precoro email)")
    doctor.add_argument("--token-env", default="", help="an environment variable holding a token instead")
    doctor.add_argument("--email", default="", help="the token owner's Precoro email (with --token-env)")
    doctor.add_argument("--record", default=None, help="write the answers' shapes (no values) to this file")
    doctor.set_defaults(run=cmd_doctor)
    args = parser.parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    raise SystemExit(main())
