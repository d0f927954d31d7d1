"""`chalice local` for the local stack: the app from app.py plus the local-only routes (local/dev_routes.py).

What `chalice local --stage STAGE --no-autoreload` does (chalice.cli.create_local_server), with the blueprint
registered on the app before the server takes its routes. local/stack.py runs it as a subprocess:
python -m local.serve --stage local --host 127.0.0.1 --port 8000
"""
from __future__ import annotations

import argparse
import logging
import os
import sys

from local.dynamodb_local import PROJECT


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.serve", description=__doc__.splitlines()[0])
    parser.add_argument("--stage", default="local")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    from chalice.cli.factory import CLIFactory
    from chalice.deploy.validate import validate_routes
    from local import dev_routes
    # Chalice's own request log on stdout, as `chalice local` configures it.
    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(message)s")
    factory = CLIFactory(str(PROJECT), environ=os.environ)
    config = factory.create_config_obj(chalice_stage_name=args.stage)
    app = config.chalice_app
    dev_routes.register(app)
    validate_routes(app.routes)
    server = factory.create_local_server(app, config, args.host, args.port)
    try:
        server.serve_forever()
    except KeyboardInterrupt:  # the stack stops this process group with SIGINT, as Ctrl-C would
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
