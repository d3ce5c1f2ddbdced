"""The ``veil`` command: ``veil serve <server-dir>`` runs a saved model as an encrypted-inference service."""

from __future__ import annotations

import argparse

from ._exit import exit_with_status
from ._logging import show_logs
from ._serialization import ModelFileError
from ._version import __version__

_MB = 1024**2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="veil", description="Veil: machine learning on encrypted data.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "serve",
        help="serve a saved model (server.veil) over HTTP",
        description="Serve the model in SERVER_DIR (written by FHEModelDev) as an HTTP service.",
    )
    serve.add_argument("server_dir", help="directory holding server.veil")
    serve.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: loopback only)")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument(
        "--key-dir", default=None, help="where uploaded evaluation keys are kept (default: SERVER_DIR/keys)"
    )
    serve.add_argument("--max-key-mb", type=float, default=2048, help="largest evaluation-key upload, in MiB")
    serve.add_argument("--max-request-mb", type=float, default=64, help="largest encrypted request, in MiB")
    serve.add_argument("--max-rows", type=int, default=64, help="most rows in one request")
    serve.add_argument(
        "--max-concurrent-runs", type=int, default=1, help="evaluation worker processes (evaluations at once)"
    )
    serve.add_argument("--cached-keys", type=int, default=2, help="deserialized keys each worker keeps")
    serve.add_argument(
        "--run-timeout", type=float, default=600, help="seconds before a worker job is stopped"
    )
    serve.add_argument(
        "--token-file",
        default=None,
        help="API tokens, one 'client-name:token' a line (also $VEIL_API_TOKENS); none: open service",
    )
    serve.add_argument("--max-keys-per-client", type=int, default=8, help="evaluation keys one client stores")
    serve.add_argument(
        "--max-client-mb", type=float, default=4096, help="key bytes one client stores, in MiB"
    )
    serve.add_argument(
        "--ray",
        action="store_true",
        help="serve on Ray Serve replicas (needs veil[ray]; RAY_ADDRESS: cluster)",
    )
    serve.add_argument("--replicas", type=int, default=2, help="Ray Serve replicas (with --ray)")
    return parser


def _serve(args: argparse.Namespace) -> None:
    import logging

    import uvicorn

    from .deployment._auth import Tokens
    from .deployment._service import ServiceLimits, create_app

    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    service_logger = logging.getLogger("veil.deployment")
    service_logger.addHandler(handler)
    service_logger.setLevel(logging.INFO)
    limits = ServiceLimits(
        max_key_bytes=int(args.max_key_mb * _MB),
        max_request_bytes=int(args.max_request_mb * _MB),
        max_rows=args.max_rows,
        max_concurrent_runs=args.max_concurrent_runs,
        cached_keys=args.cached_keys,
        max_keys_per_client=args.max_keys_per_client,
        max_bytes_per_client=int(args.max_client_mb * _MB),
        run_timeout=args.run_timeout,
    )
    tokens = Tokens.load(args.token_file)
    if args.ray:
        from .deployment._ray import deploy_on_ray

        key_dir = args.key_dir if args.key_dir is not None else f"{args.server_dir}/keys"
        deploy_on_ray(
            args.server_dir, key_dir, args.replicas, limits, tokens, args.host, args.port, blocking=True
        )
        return
    app = create_app(args.server_dir, key_dir=args.key_dir, limits=limits, tokens=tokens)
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")


class _MissingExtraError(ImportError):
    """A command needs an optional dependency that is not installed."""


# Failures the message alone lets the user fix (a missing file or directory, a file that is not a Veil
# model, a bad value, a missing extra): one line on standard error and status 2, no traceback.
_USER_ERRORS = (OSError, ModelFileError, ValueError, _MissingExtraError)
_SERVE_EXTRA_MODULES = {"fastapi", "starlette", "uvicorn"}


def _run(args: argparse.Namespace) -> None:
    try:
        _serve(args)
    except ModuleNotFoundError as error:
        if error.name not in _SERVE_EXTRA_MODULES:
            raise
        message = f"{error}: `veil {args.command}` needs the serve extra, `pip install 'veil[serve]'`"
        raise _MissingExtraError(message) from error


def main(argv: list[str] | None = None) -> None:
    """Entry point. Leaves through ``os._exit`` with the real status, as concrete's teardown would reset
    it to 0 and a failing ``veil serve`` would look successful to its supervisor. A failure the user can
    fix (see ``_USER_ERRORS``) is one line on standard error and status 2, like a bad argument."""
    args = _parser().parse_args(argv)
    show_logs()
    exit_with_status(lambda: _run(args), f"veil {args.command}", user_errors=_USER_ERRORS)


if __name__ == "__main__":
    main()
