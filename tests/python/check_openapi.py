"""The monitor's OpenAPI document and the answers its REST API gave, checked with tools
made for that: the document with openapi-spec-validator, every answer against the
document with openapi-core (its status, content type and body must be described there).

Run by tests/tests/rest.rs as: check_openapi.py DOCUMENT.json EXCHANGES.json, where each
exchange is {"method", "path", "request", "status", "content_type", "body"}. Prints
"N answers valid" and exits 0, or names the first answer the document does not describe.
"""

import json
import sys

from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse
from openapi_spec_validator import validate

HOST = "http://127.0.0.1"


def request_of(exchange):
    return MockRequest(
        HOST,
        exchange["method"].lower(),
        exchange["path"],
        data=exchange["request"].encode(),
        content_type="application/json",
    )


def response_of(exchange, body=None):
    return MockResponse(
        data=(exchange["body"] if body is None else body).encode(),
        status_code=exchange["status"],
        content_type=exchange["content_type"],
    )


def main(document_path, exchanges_path):
    with open(document_path) as f:
        document = json.load(f)
    with open(exchanges_path) as f:
        exchanges = json.load(f)
    validate(document)
    api = OpenAPI.from_dict(document)
    for exchange in exchanges:
        try:
            api.validate_response(request_of(exchange), response_of(exchange))
        except Exception as err:
            sys.exit(
                f"{exchange['method']} {exchange['path']} -> {exchange['status']} "
                f"is not what the document describes: {err!r}\n{exchange['body']}"
            )
    # The check can fail: an answer with a field of the wrong type is refused.
    listing = next(e for e in exchanges if e["path"] == "/api/v1/clients" and e["status"] == 200)
    broken = json.loads(listing["body"])
    broken["clients"][0]["connected"] = "yes"
    try:
        api.validate_response(request_of(listing), response_of(listing, json.dumps(broken)))
    except Exception:
        pass
    else:
        sys.exit("a client list with connected=\"yes\" passed: the document checks nothing")
    print(f"{len(exchanges)} answers valid")


if __name__ == "__main__":
    main(*sys.argv[1:3])
