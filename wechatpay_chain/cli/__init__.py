"""`wechatpay-chain` (also `python -m wechatpay_chain`): the command line.

Every subcommand is a pair of functions, `add_x(parser)` for its arguments and `cmd_x(args) -> int`
for the work, and one row in `COMMANDS`. Heavy imports (aiohttp, the sandbox) happen inside `cmd_x`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from pathlib import Path
from typing import Callable, Dict, Optional, Sequence, Tuple

from wechatpay_chain import __version__
from wechatpay_chain.cli._doctor import add_doctor, cmd_doctor
from wechatpay_chain.cli._tools import add_certificates, add_request, cmd_certificates, cmd_request
from wechatpay_chain.files._atomic import AtomicFile

__all__ = [
    "main",
    "COMMANDS",
    "build_parser",
    "AddArguments",
    "Command",
    "add_demo",
    "add_sandbox",
    "cmd_demo",
    "cmd_sandbox",
    "write_credentials",
]

Command = Callable[[argparse.Namespace], int]
AddArguments = Callable[[argparse.ArgumentParser], None]


def _fail(message: str) -> int:
    print(f"wechatpay-chain: {message}", file=sys.stderr)
    return 1


# -- demo -------------------------------------------------------------------------------------------
def add_demo(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--keep", action="store_true",
                        help="then keep the sandbox up with a Native order to pay on its dashboard, until Ctrl-C")


def cmd_demo(args: argparse.Namespace) -> int:
    """Start an in-process sandbox and run the seed call through the three chain forms, sync and async."""
    from wechatpay_chain.sandbox._demo import run_demo  # aiohttp.web loads only for the sandbox commands

    try:
        run_demo(sys.stdout, keep=args.keep)
    except Exception as exc:  # one line, no traceback: the demo is for people
        return _fail(f"demo failed: {type(exc).__name__}: {str(exc)[:200]}")
    return 0


# -- sandbox ----------------------------------------------------------------------------------------
def add_sandbox(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=_port, default=0, help="port (default 0: a free one)")
    parser.add_argument("--credentials", metavar="DIR", help="write the keys and sandbox.json here for other clients")
    parser.add_argument("--mode", choices=("public_key", "certificate", "migration"), default="public_key",
                        help="sign answers with the PUB_KEY_ID_ key (default) or the platform certificate; "
                        "'migration': with the public key only when the request names it in Wechatpay-Serial")
    parser.add_argument("--public-key-share", type=float, default=0.0, metavar="SHARE",
                        help="--mode migration: the share (0.0-1.0) of notifications signed with the public key")
    parser.add_argument("--mchid", help="merchant id (default 1230000109)")
    parser.add_argument("--notify-host", metavar="HOST", action="append", default=[], dest="notify_hosts",
                        help="also send notifications to this host (repeatable); by default only loopback hosts "
                             "(localhost, 127.0.0.0/8, ::1) get them, others are skipped with a warning")


def _port(text: str) -> int:
    """argparse type: 0-65535 (a bigger number crashed the bind with an OverflowError traceback)."""
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port (0-65535)")
    return port


def write_credentials(sb: object, directory: str) -> Dict[str, str]:
    """merchant_key.pem (0600), platform_public_key.pem, platform_certificate.pem and sandbox.json (0600)."""
    from wechatpay_chain.sandbox import Sandbox  # aiohttp.web loads only for the sandbox commands

    assert isinstance(sb, Sandbox)
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    _replace(root / "merchant_key.pem", sb.merchant_private_key_pem, 0o600)
    _replace(root / "platform_public_key.pem", sb.platform_public_key_pem, 0o644)
    _replace(root / "platform_certificate.pem", sb.platform_certificate_pem, 0o644)
    info = {
        "mchid": sb.mchid,
        "serial": sb.merchant_serial,
        "platform_serial": sb.platform_public_key_id,
        "platform_certificate_serial": sb.platform_certificate_serial,
        "apiv3_key": sb.apiv3_key,
        "secret": sb.secret,
        "base_uri": sb.base_uri,
        "mode": sb.mode,
    }
    _replace(root / "sandbox.json", json.dumps(info, indent=2) + "\n", 0o600)  # it holds apiv3_key and secret
    return info


def _replace(path: Path, text: str, mode: int) -> None:
    """Write `text` to a new file beside `path` with `mode`, then rename it over `path`: an existing file keeps
    neither its looser mode nor its content, and a symlink at `path` is replaced, not followed."""
    with AtomicFile(path, mode, encoding="utf-8") as fh:  # the exact mode at commit: the umask may narrow it
        fh.write(text)


async def _serve(args: argparse.Namespace) -> int:
    from wechatpay_chain.sandbox import Sandbox  # aiohttp.web loads only for the sandbox commands
    from wechatpay_chain.sandbox._console import console_logging

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(signum, stop.set)
        except (NotImplementedError, RuntimeError, ValueError):  # Windows: Ctrl-C raises KeyboardInterrupt
            pass
    sb = Sandbox(args.host, args.port, mode=args.mode, mchid=args.mchid, notify_hosts=args.notify_hosts,
                 public_key_share=args.public_key_share)
    with console_logging(sys.stderr):  # one line per request served to stderr, never a key or a body
        async with sb:
            print(sb.base_uri, flush=True)
            print(f"  mchid {sb.mchid}, merchant serial {sb.merchant_serial}", flush=True)
            print(f"  answers signed by {sb.platform_serial} ({sb.mode})", flush=True)
            hosts = ", ".join(sorted(sb.notify_hosts))
            print(f"  notifications go to loopback hosts{' and ' + hosts if hosts else ' only'}", flush=True)
            print(f"  dashboard: {sb.dashboard_url} (open it in a browser: orders, their cashier, notifications)",
                  flush=True)
            print(f"  admin: {sb.base_uri}_sandbox/ (requests, faults, orders/{{out_trade_no}}/pay)", flush=True)
            if args.credentials:
                write_credentials(sb, args.credentials)
                print(f"  credentials written to {args.credentials}/ (sandbox.json, *.pem)", flush=True)
            print("  serving until SIGINT/SIGTERM (Ctrl-C)", flush=True)
            await stop.wait()
    print("  stopped", flush=True)
    return 0


def cmd_sandbox(args: argparse.Namespace) -> int:
    """Serve a sandbox until SIGINT/SIGTERM; prints its base_uri first, then a line per request to stderr."""
    try:
        return asyncio.run(_serve(args))
    except OSError as exc:
        return _fail(f"sandbox cannot listen on {args.host}:{args.port}: {exc.strerror or exc}")
    except ValueError as exc:  # a bad --notify-host, refused before listening
        return _fail(f"sandbox: {exc}")


#: name -> (help, add_arguments, command). A new subcommand is one row here.
COMMANDS: Dict[str, Tuple[str, AddArguments, Command]] = {
    "demo": ("run the seed call against an in-process sandbox (sync and async)", add_demo, cmd_demo),
    "sandbox": ("serve a local WeChat Pay sandbox until stopped", add_sandbox, cmd_sandbox),
    "certificates": ("platform certificates: `certificates download` (PHP's CertificateDownloader)",
                     add_certificates, cmd_certificates),
    "request": ("call any endpoint with credentials from a config file or the environment", add_request, cmd_request),
    "doctor": ("check keys, certificates, key mode, clock and APIv3 key; prints a checklist", add_doctor, cmd_doctor),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wechatpay-chain", description="WeChat Pay OpenAPI from the shell.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (help_, add_arguments, command) in COMMANDS.items():
        child = sub.add_parser(name, help=help_, description=help_)
        add_arguments(child)
        child.set_defaults(handler=command)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(list(argv) if argv is not None else None)
    handler: Optional[Command] = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return handler(args)
    except KeyboardInterrupt:
        return 130


