"""The Graph API stand-in served in a process of its own (see bench/loopback_openai.py):
`python -m bench.loopback_graph --port N`. It accepts any access token: benchmarks seed their
tenant (and its token) after the servers are up."""

from __future__ import annotations

import argparse

import uvicorn

from tests.standins.graph_server import GraphStandIn


class AnyToken(set):
    def __contains__(self, token: object) -> bool:
        return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(GraphStandIn(valid_tokens=AnyToken()).app(), host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
