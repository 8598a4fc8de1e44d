"""``mailer serve``: the subscriber-facing web pages (uvicorn)."""

from __future__ import annotations

import typer

from mailer.cli import app
from mailer.cli.context import AppContext


def freeze_startup_objects() -> None:
    """Keep what the imports and the app's setup made out of the garbage collector's full
    passes (``gc.freeze``): a full pass holds the GIL, and with it every request of the
    process, for as long as it walks the heap (issue 13: 80-470 ms per pass in
    ``mailer serve`` under load, the one-click unsubscribe's slowest answers)."""
    import gc

    gc.collect()
    gc.freeze()


@app.command("serve")
def serve(
    ctx: typer.Context,
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="Port to listen on."),
    forwarded_allow_ips: str = typer.Option(
        "127.0.0.1", "--forwarded-allow-ips",
        help="Proxies whose X-Forwarded-For/-Proto are trusted (for the client IP in the "
             "consent log and rate limits, and https detection)."),
) -> None:
    """Serve the pages every e-mail links to: subscribe, confirm, unsubscribe, preferences,
    archive, and the admin. Links in mail are built from MAILER_BASE_URL; put a TLS proxy
    in front. While no 'mailer worker' runs, confirmations and test sends are delivered
    from here within seconds; everything else waits for a worker."""
    import uvicorn

    from mailer.web.app import create_app

    c: AppContext = ctx.obj
    settings = c.settings
    web_app = create_app(settings, engine=c.engine, deliver=True)
    freeze_startup_objects()
    typer.echo(f"serving on http://{host}:{port} (public address: {settings.base_url})")
    # Idle connections are kept 75 s, longer than clients and proxies keep theirs (httpx
    # 5 s, nginx's upstream keepalive and the usual cloud balancers 60 s): with uvicorn's
    # own 5 s a client may send its next request on a connection the server is closing
    # (a 502 behind a proxy), the more likely the busier the event loop.
    uvicorn.run(web_app, host=host, port=port, proxy_headers=True,
                forwarded_allow_ips=forwarded_allow_ips, log_level="info",
                server_header=False, timeout_keep_alive=75)
