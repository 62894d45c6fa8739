"""`precoro-bot`: serve, check-config, gen-key, rotate-keys, demo, sandbox, emulator, simulate, status, resume,
doctor, healthcheck."""

from __future__ import annotations

import argparse
import asyncio
import sys

from bot.config import ConfigError, config_path, config_source, load_config
from bot.exits import EPILOG
from bot.logs import setup_logging
from bot.vault import VaultError, generate_key


def _load(path: str | None):  # type: ignore[no-untyped-def]
    """The config, or exit 2 with every problem on its own line (path None: the environment alone)."""
    try:
        return load_config(path)
    except ConfigError as exc:
        for error in exc.errors:
            print(f"config error in {config_source(path)}: {error}", file=sys.stderr)
        raise SystemExit(2) from None


def _vault(config, path: str | None):  # type: ignore[no-untyped-def]
    from bot.vault import Vault

    try:
        return Vault((k.id, k.key) for k in config.encryption_keys)
    except VaultError as exc:
        print(f"config error in {config_source(path)}: encryption.keys: {exc}", file=sys.stderr)
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


CHECK_DATABASE_TIMEOUT = 4.0  # seconds check-config waits for the database (a connect gets half)


def _database_note(url: str, timeout: float = CHECK_DATABASE_TIMEOUT) -> str:
    """Connect to storage.url (within `timeout`) and say so; raise `Failure` (exit 3) if it cannot
    be reached. A SQLite file that does not exist yet only needs a writable directory."""
    import os
    import time
    from pathlib import Path

    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError

    from bot.exits import DATABASE, Failure, database_failure, safe_url
    from bot.store.db import make_engine

    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        if not path.exists():
            folder = path.parent if str(path.parent) else Path(".")
            if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
                raise Failure(DATABASE, f"cannot use the database at storage.url ({url}): the folder "
                                        f"{folder.resolve()} does not exist or is not writable")
            return f"database {path} does not exist yet (serve creates it)"
    started = time.monotonic()
    engine = make_engine(url, timeout=timeout)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        raise database_failure(url, exc) from None
    finally:
        engine.dispose()
    return f"database {safe_url(url)} reachable ({(time.monotonic() - started) * 1000:.0f} ms)"


def cmd_check_config(args: argparse.Namespace) -> int:
    config = _load(args.config)
    vault = _vault(config, args.config)
    if vault is None:
        return 2
    from bot.exits import Failure

    try:
        database = _database_note(config.storage_url)
    except Failure as failure:
        print(failure.message, file=sys.stderr)
        return failure.code
    note, readable = _stored_tokens_note(config, vault)
    if not readable:
        print(f"config error in {config_source(args.config)}: encryption.keys: {note}", file=sys.stderr)
        return 2
    if config.dangerously_allow_http:
        print(f"warning: {config_source(args.config)} sets dangerously_allow_http: tokens may travel in clear "
              "to a Precoro or Slack URL that is not https", file=sys.stderr)
    companies = ", ".join(f"{c.id} ({c.base_url}; {', '.join(c.document_types)})" for c in config.companies)
    print(f"{config_source(args.config)} is valid: companies {companies}; "
          f"storage {config.storage_url.split('://')[0]}; "
          f"{len(config.slack.admins)} admin(s); {len(config.encryption_keys)} key(s); {database}; {note}"
          f"{'; Slack over Socket Mode (app token checked at serve)' if config.slack.socket_mode else ''}")
    from bot.quota.share import describe_share

    for company in config.companies:
        print(f"  {company.id}: {describe_share(company.quota)}")
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
    """Start the service; every way it cannot start is one line and an exit code (`bot/exits.py`),
    logged like everything else, and said before anything claims to be serving."""
    from bot import exits
    from bot.runtime import Runtime
    from bot.serving import bind, serve_until_stopped

    config = _load(args.config)
    setup_logging(config.log_level, json_lines=config.log_json)
    exits.report_through_logging()
    if config.dangerously_allow_http:
        exits.log.warning("dangerously_allow_http is set: tokens may travel in clear to a Precoro or Slack URL "
                          "that is not https")
    try:
        with exits.explained(args.config, lambda: config.storage_url):
            try:
                rt = Runtime.build(config)
            except VaultError as exc:
                raise exits.Failure(exits.CONFIG, f"cannot start: encryption.keys: {exc}") from None
            try:
                _refuse_unreadable_tokens(rt)
                _refuse_refused_app_token(config)
                sock = bind(config.host, args.port or config.port)
            except BaseException:
                rt.store.close()
                raise
    except exits.Failure as failure:
        exits.say(failure.message)
        return failure.code
    from bot.server import create_app

    return serve_until_stopped(create_app(rt), sock, proxy_headers=True)


def _refuse_unreadable_tokens(rt) -> None:  # type: ignore[no-untyped-def]
    """Refuse now, rather than fail in every click and poll of those approvers."""
    from bot.exits import CONFIG, Failure
    from bot.keys import check_stored_tokens, describe
    from bot.slack.installations import unreadable_slack_tokens

    problems = check_stored_tokens(rt.store.approvers, rt.vault)
    workspaces = unreadable_slack_tokens(rt.store.engine, rt.vault) if rt.config.slack.oauth else []
    if problems or workspaces:
        raise Failure(CONFIG, f"cannot start: encryption.keys: {describe(problems, workspaces=workspaces)}")


def _refuse_refused_app_token(config) -> None:  # type: ignore[no-untyped-def]
    """In Socket Mode, a token Slack refuses is a config error to stop on, not a connection to retry forever."""
    if not config.slack.socket_mode or not config.slack.app_token:
        return
    import asyncio

    from bot.exits import CONFIG, Failure
    from bot.slack.socket_mode import app_token_problem

    problem = asyncio.run(app_token_problem(config.slack.api_url, config.slack.app_token))
    if problem is not None:
        raise Failure(CONFIG, f"cannot start: {problem}")


# demo, emulator, sandbox and simulate run the dev kit (devkit/, the package precoro_devkit), which
# is not part of the service: each imports it here, inside the command, never when bot is imported
# (tests/unit/test_devkit_split.py holds bot/ to that).
DEVKIT_MISSING = ("precoro-bot {command}: needs the dev kit (precoro_devkit), which is not installed; "
                  "from a checkout of the repository: pip install -e ./devkit")


def _is_devkit(exc: ModuleNotFoundError) -> bool:
    return (exc.name or "").partition(".")[0] == "precoro_devkit"


def _devkit_missing(command: str, exc: ModuleNotFoundError) -> int:
    """`exc` is the dev kit missing: say how to install it in one line, exit 2. Any other module is raised."""
    from bot.exits import CONFIG, say

    if not _is_devkit(exc):
        raise exc
    say(DEVKIT_MISSING.format(command=command))
    return CONFIG


def cmd_demo(args: argparse.Namespace) -> int:
    import asyncio

    try:
        from precoro_devkit.demo import run_demo
    except ModuleNotFoundError as exc:
        return _devkit_missing("demo", exc)

    setup_logging("WARNING")
    return asyncio.run(run_demo())


def cmd_emulator(args: argparse.Namespace) -> int:
    from bot.serving import bind, serve_until_stopped

    try:
        from precoro_devkit.emulator.precoro import PrecoroEmulator, seed_demo
    except ModuleNotFoundError as exc:
        return _devkit_missing("emulator", exc)

    sock = bind("127.0.0.1", args.port, "pass another --port")  # a port in use: one line, exit 4
    emulator = PrecoroEmulator(strict_duplicates=args.strict)
    users = seed_demo(emulator)
    for name, user in users.items():
        print(f"{name}: email {user.email} token {user.token}", flush=True)
    return serve_until_stopped(emulator.app, sock)


def cmd_simulate(args: argparse.Namespace) -> int:
    try:
        from precoro_devkit.sim.main import run
    except ModuleNotFoundError as exc:
        return _devkit_missing("simulate", exc)

    setup_logging("ERROR")
    return run(args)


def cmd_status(args: argparse.Namespace) -> int:
    from bot.runtime import Runtime
    from bot.sync.status import describe

    config = _load(args.config)
    rt = Runtime.build(config)

    async def report() -> list[str]:
        return ["\n".join(describe(await rt.scheduler.snapshot(company), limit=None if args.all else 50,
                                    verbose=getattr(args, "verbose", False)))
                for company in config.companies]

    try:
        print("\n".join(asyncio.run(report())))
    finally:
        rt.store.close()
    return 0


def cmd_resume(args: argparse.Namespace) -> int:
    """Clear a company's Precoro (429) pause; a running bot sees it within seconds."""
    from bot.runtime import Runtime

    config = _load(args.config)
    if args.company not in {c.id for c in config.companies}:
        print(f"unknown company {args.company!r}", file=sys.stderr)
        return 2
    rt = Runtime.build(config)
    try:
        assert rt.admin is not None  # built by Runtime.build
        print(rt.admin.resume(args.company, "cli"))
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
        print(f"doctor: no company {args.company!r} in {config_source(args.config)} "
              f"(have: {', '.join(companies)})", file=sys.stderr)
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
    if report.undecided:
        print(f"{len(report.undecided)} check(s) could not tell: Precoro answered 429 "
              f"({report.undecided[0].blocked}). Run the doctor again in a quieter minute.")
    return report.exit_code


CONFIG_HELP = ("the config file (default: $PRECORO_BOT_CONFIG, else ./config.yaml, else the PRECORO_BOT__* "
               "environment variables alone)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="precoro-bot", description="Approve Precoro documents from Slack.",
                                     epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"precoro-bot {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the HTTP server and the poll scheduler")
    serve.add_argument("--config", default=None, help=CONFIG_HELP)
    serve.add_argument("--port", type=int, default=None, help="override server.port")
    serve.set_defaults(run=cmd_serve)
    check = sub.add_parser("check-config", help="validate a config file and say which key is wrong")
    check.add_argument("--config", default=None, help=CONFIG_HELP)
    check.set_defaults(run=cmd_check_config)
    rotate = sub.add_parser("rotate-keys", help="re-encrypt every stored token under the first key (safe while "
                                                "the service runs)")
    rotate.add_argument("--config", default=None, help=CONFIG_HELP)
    rotate.set_defaults(run=cmd_rotate_keys)
    sub.add_parser("gen-key", help="print a new encryption key").set_defaults(run=cmd_gen_key)
    sub.add_parser("demo", help="watch a document go from waiting to approved, with no accounts (needs the "
                                "dev kit)").set_defaults(run=cmd_demo)
    emulator = sub.add_parser("emulator", help="run the dev kit's Precoro emulator with demo data")
    emulator.add_argument("--port", type=int, default=8081)
    emulator.add_argument("--strict", action="store_true", help="duplicate GETs keyed by company, not token")
    emulator.set_defaults(run=cmd_emulator)
    _add_simulate(sub)
    status = sub.add_parser("status", help="each company's quota use, poll budget and next polls")
    status.add_argument("--config", default=None, help=CONFIG_HELP)
    status.add_argument("--all", action="store_true", help="list every approver (default: the next 50)")
    status.add_argument("--verbose", action="store_true",
                        help="add the planner's detail (pace this hour, token bucket, what may start now)")
    status.set_defaults(run=cmd_status)
    resume_cmd = sub.add_parser("resume", help="clear a company's pause after Precoro answered 429")
    resume_cmd.add_argument("company")
    resume_cmd.add_argument("--config", default=None, help=CONFIG_HELP)
    resume_cmd.set_defaults(run=cmd_resume)
    _add_first_hour_commands(sub)
    doctor = sub.add_parser("doctor", help="check every assumption about Precoro with one real token (read-only)")
    doctor.add_argument("--config", default=None, help=CONFIG_HELP)
    doctor.add_argument("--company", default="", help="company id (default: the first in the config)")
    doctor.add_argument("--approver", default="", help="a registered approver (@U123 or their Precoro email)")
    doctor.add_argument("--token-env", default="", help="an environment variable holding a token instead")
    doctor.add_argument("--email", default="", help="the token owner's Precoro email (with --token-env)")
    doctor.add_argument("--record", default=None, help="write the answers' shapes (no values) to this file")
    doctor.set_defaults(run=cmd_doctor)
    args, unknown = parser.parse_known_args(argv)
    if unknown and not getattr(args, "devkit_missing", False):
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")  # what parse_args says
    return _run(args)


def _add_simulate(sub) -> None:  # type: ignore[no-untyped-def]
    """`simulate` takes the dev kit's options; without the kit it takes anything and says how to install it."""
    summary = "simulated days of the quota planner (the benchmark; needs the dev kit)"
    try:
        from precoro_devkit.sim.main import DESCRIPTION, add_arguments
    except ModuleNotFoundError as exc:
        if not _is_devkit(exc):
            raise
        simulate = sub.add_parser("simulate", help=summary, description=DEVKIT_MISSING.format(command="simulate"))
        simulate.set_defaults(run=cmd_simulate, devkit_missing=True)
        return
    simulate = sub.add_parser("simulate", help=summary, description=DESCRIPTION)
    add_arguments(simulate)
    simulate.set_defaults(run=cmd_simulate)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("precoro-bot")
    except PackageNotFoundError:
        return "(not installed)"


def _run(args: argparse.Namespace) -> int:
    """Run the chosen command; an operational failure is one line and its exit code (`bot/exits.py`)."""
    from bot import exits

    if hasattr(args, "config"):  # --config, else PRECORO_BOT_CONFIG, ./config.yaml or the environment alone
        args.config = config_path(args.config)
    path = getattr(args, "config", None)
    uses_config = hasattr(args, "config")

    def storage_url() -> str | None:
        try:
            return load_config(path).storage_url if uses_config else None
        except Exception:
            return None

    return exits.run(lambda: args.run(args), path, storage_url)


def _add_first_hour_commands(sub) -> None:  # type: ignore[no-untyped-def]
    """`sandbox` (try the bot locally, no accounts) and `healthcheck` (the container's probe)."""
    sandbox = sub.add_parser("sandbox", help="the real bot between the Precoro emulator and a Slack stand-in, "
                                             "with a local page to add documents and click Approve (needs the dev kit)")
    sandbox.add_argument("--port", type=int, default=8080, help="the page's port (default 8080)")
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--database", default=None, help="storage URL (default: a temporary SQLite file)")
    sandbox.set_defaults(run=cmd_sandbox)
    health = sub.add_parser("healthcheck", help="exit 0 if the server on the configured port answers /healthz, "
                                                "else 1 (the Docker HEALTHCHECK)")
    health.add_argument("--config", default=None, help=CONFIG_HELP)
    health.add_argument("--port", type=int, default=None, help="override server.port")
    health.add_argument("--timeout", type=float, default=3.0)
    health.set_defaults(run=cmd_healthcheck)


def cmd_sandbox(args: argparse.Namespace) -> int:
    try:
        from precoro_devkit.sandbox import run_sandbox
    except ModuleNotFoundError as exc:
        return _devkit_missing("sandbox", exc)

    return run_sandbox(host=args.host, port=args.port, database_url=args.database)


def cmd_healthcheck(args: argparse.Namespace) -> int:
    """Docker treats any code but 0 and 1 as undefined: every failure here is 1."""
    import httpx

    from bot.exits import FAILED

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"unhealthy: config error in {config_source(args.config)}: {exc.errors[0]}", file=sys.stderr)
        return FAILED
    host = config.host if config.host not in ("0.0.0.0", "::", "") else "127.0.0.1"
    url = f"http://{f'[{host}]' if ':' in host else host}:{args.port or config.port}/healthz"
    try:
        status = httpx.get(url, timeout=args.timeout).status_code
    except httpx.HTTPError as exc:
        print(f"unhealthy: {url}: {type(exc).__name__}", file=sys.stderr)
        return FAILED
    if status != 200:
        print(f"unhealthy: {url} answered {status}", file=sys.stderr)
        return FAILED
    print(f"healthy: {url}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
