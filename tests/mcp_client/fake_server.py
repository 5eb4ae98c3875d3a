"""A deliberately bad MCP server over stdio, written by hand (no SDK), for the tests.

`python fake_server.py [many]`: tools `echo`, `hang`, `crash`, `garbage`, `huge`, `slow`,
`fork`; with `many`, it also lists 1,000 more tools and some with invalid schemas.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

OBJECT = {"type": "object", "properties": {"text": {"type": "string"}}}
TOOLS = [
    {"name": name, "description": f"the {name} tool", "inputSchema": OBJECT}
    for name in ("echo", "hang", "crash", "garbage", "huge", "slow", "fork", "whoami")
]
BAD = [
    {
        "name": "bad_schema_type",
        "inputSchema": {"type": "object", "properties": {"a": {"type": 7}}},
    },
    {"name": "not_an_object", "inputSchema": {"type": "string"}},
    {"name": "x" * 100, "inputSchema": OBJECT},
    {"name": "dup.name", "inputSchema": OBJECT},
    {"name": "dup/name", "inputSchema": OBJECT},
]


def send(message: dict) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def result(request_id: object, text: str) -> None:
    send(
        {
            "jsonrpc": "2.0",
            "id": request_id,
            "result": {"content": [{"type": "text", "text": text}]},
        }
    )


def main() -> None:
    many = "many" in sys.argv[1:]
    for line in sys.stdin:
        message = json.loads(line)
        method, request_id = message.get("method"), message.get("id")
        if request_id is None:
            continue  # a notification
        if method == "initialize":
            send(
                {
                    "jsonrpc": "2.0",
                    "id": request_id,
                    "result": {
                        "protocolVersion": message["params"]["protocolVersion"],
                        "capabilities": {"tools": {}},
                        "serverInfo": {"name": "fake", "version": "1"},
                    },
                }
            )
        elif method == "tools/list":
            tools = list(TOOLS)
            if many:
                tools += BAD
                tools += [{"name": f"t{i}", "inputSchema": OBJECT} for i in range(1000)]
            send({"jsonrpc": "2.0", "id": request_id, "result": {"tools": tools}})
        elif method == "tools/call":
            name = message["params"]["name"]
            text = (message["params"].get("arguments") or {}).get("text", "")
            if name == "echo":
                result(request_id, f"echo: {text}")
            elif name == "whoami":
                result(request_id, f"token={os.environ.get('TOKEN', '')}")
            elif name == "hang":
                time.sleep(3600)
            elif name == "crash":
                sys.stderr.write("fatal: the fake server crashed on purpose\n")
                sys.stderr.flush()
                os._exit(3)
            elif name == "garbage":
                sys.stdout.write("<html>this is not JSON-RPC</html>\n")
                sys.stdout.flush()
            elif name == "huge":
                result(request_id, "x" * (10 * 1024 * 1024))
            elif name == "slow":
                time.sleep(float(text or 1))
                result(request_id, "slow done")
            elif name == "fork":
                subprocess.Popen(["sleep", text or "987654"], start_new_session=True)
                result(request_id, "forked")
        else:
            send(
                {
                    "jsonrpc": "2.0",
                    "id": request_id,
                    "error": {"code": -32601, "message": f"unknown method {method}"},
                }
            )


if __name__ == "__main__":
    main()
