"""The ``whisperq`` command: ``serve`` (API, runners and a refiner), ``api`` (functions alone), ``runner``,
``refiner`` (LLM refinement of finished transcripts)."""

from __future__ import annotations

import argparse
import logging
import os

from whisperq.settings import Settings


def _api(settings: Settings, host: str | None, port: int | None) -> None:
    import uvicorn

    from functions.app import create_app

    uvicorn.run(
        create_app(settings),
        host=host or settings.api.host,
        port=port or settings.api.port,
        log_level=settings.log_level.lower(),
        timeout_graceful_shutdown=10,
    )


def _runner(settings: Settings, device: str | None) -> None:
    from gpu_runner.devices import resolve_devices

    if device:
        from gpu_runner.main import run

        run(settings, device)
        return
    from whisperq.supervisor import Supervisor, child_env, python_child

    devices = resolve_devices(settings.runner.devices)
    children = [python_child(f"runner[{d}]", "runner", "--device", d) for d in devices]
    raise SystemExit(Supervisor(children, env=child_env(_pinned_paths(settings))).run())


def _serve(settings: Settings, host: str | None, port: int | None) -> None:
    from gpu_runner.devices import resolve_devices
    from whisperq.supervisor import Supervisor, child_env, python_child

    api_args = ["api", "--host", host or settings.api.host, "--port", str(port or settings.api.port)]
    children = [python_child("api", *api_args)]
    devices = resolve_devices(settings.runner.devices)
    children += [python_child(f"runner[{d}]", "runner", "--device", d) for d in devices]
    children.append(python_child("refiner", "refiner"))
    print(f"whisperq: serving on http://{api_args[2]}:{api_args[4]} with data in {settings.data_dir.resolve()}")
    raise SystemExit(Supervisor(children, env=child_env(_pinned_paths(settings))).run())


def _pinned_paths(settings: Settings) -> dict[str, str]:
    """Children share the parent's store and queue even if they resolve paths elsewhere."""
    return {
        "WHISPERQ_DATA_DIR": str(settings.data_dir.resolve()),
        "WHISPERQ_STORE_URL": settings.resolved_store_url(),
        "WHISPERQ_QUEUE_URL": settings.resolved_queue_url(),
        "WHISPERQ_REFINE_QUEUE_URL": settings.resolved_refine_queue_url(),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="whisperq", description=__doc__)
    parser.add_argument("--data-dir", help="data folder of the embedded default (WHISPERQ_DATA_DIR)")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (("serve", "API, one runner per device and a refiner"), ("api", "the API (functions) alone")):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("--host")
        cmd.add_argument("--port", type=int)
    runner = sub.add_parser("runner", help="one runner process per device (or one device with --device)")
    runner.add_argument("--device", help="run a single runner in this process: cpu or cuda:N")
    submit = sub.add_parser("submit", help="send files or folders to a running service")
    from whisperq.client import add_arguments

    add_arguments(submit)
    sub.add_parser("refiner", help="LLM refinement of finished transcripts (upgrade_transcribation)")
    table = sub.add_parser("settings", help="print every setting as a Markdown table")
    table.add_argument("--update-readme", metavar="README", help="rewrite the table inside this README")
    args = parser.parse_args(argv)
    if args.data_dir:
        os.environ["WHISPERQ_DATA_DIR"] = args.data_dir
    if args.command == "submit":
        from whisperq.client import run_submit

        raise SystemExit(run_submit(args))
    if args.command == "settings":
        from whisperq.settings import settings_table, update_readme_table

        if args.update_readme:
            update_readme_table(args.update_readme)
        else:
            print(settings_table())
        return
    settings = Settings()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command == "api":
        _api(settings, args.host, args.port)
    elif args.command == "runner":
        _runner(settings, args.device)
    elif args.command == "refiner":
        from whisperq.refine.main import run

        run(settings)
    else:
        _serve(settings, args.host, args.port)


if __name__ == "__main__":
    main()
