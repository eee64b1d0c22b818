"""What the boto3 checks share: clients for the server under test, error expectations, and
botocore's own CloudWatch model narrowed to one protocol.

Every script reads TRAILWATCH_ENDPOINT and the usual AWS_* variables, runs its checks in order
and exits non-zero at the first broken one, printing what was expected and what came back.
"""

import atexit
import gzip
import json
import os
import shutil
import sys
import tempfile

import boto3
import botocore
from botocore.exceptions import ClientError

ENDPOINT = os.environ["TRAILWATCH_ENDPOINT"]
REGION = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")


def narrow_cloudwatch_model(protocol):
    """Makes botocore speak `protocol` to CloudWatch: a copy of botocore's own model whose
    `metadata.protocols` has that one entry, first on the loader's search path."""
    data = os.path.join(os.path.dirname(botocore.__file__), "data", "cloudwatch", "2010-08-01")
    name = "service-2.json.gz" if os.path.exists(os.path.join(data, "service-2.json.gz")) else "service-2.json"
    opener = gzip.open if name.endswith(".gz") else open
    with opener(os.path.join(data, name), "rt") as f:
        model = json.load(f)
    model["metadata"]["protocols"] = [protocol]
    model["metadata"]["protocol"] = protocol
    root = tempfile.mkdtemp(prefix="trailwatch-model-")
    atexit.register(shutil.rmtree, root, True)
    target = os.path.join(root, "cloudwatch", "2010-08-01")
    os.makedirs(target)
    with open(os.path.join(target, "service-2.json"), "w") as f:
        json.dump(model, f)
    os.environ["AWS_DATA_PATH"] = root


def client(service, **kwargs):
    return boto3.session.Session().client(
        service, endpoint_url=ENDPOINT, region_name=REGION, **kwargs
    )


class Recorder:
    """Records the Content-Type of every request a client sends, to prove which protocol
    was spoken."""

    def __init__(self, c):
        self.content_types = []
        c.meta.events.register("before-send", self._record)

    def _record(self, request, **_):
        self.content_types.append(request.headers.get("Content-Type", b""))


def fail(message):
    print("FAILED:", message, flush=True)
    sys.exit(1)


def check(condition, message):
    if not condition:
        fail(message)


def expect_error(code, call, *args, status=None, message=None, **kwargs):
    """Calls `call` and requires an AWS error with this code (and status, message part)."""
    try:
        result = call(*args, **kwargs)
    except ClientError as e:
        got = e.response["Error"]["Code"]
        got_status = e.response["ResponseMetadata"]["HTTPStatusCode"]
        got_message = e.response["Error"].get("Message", "")
        if got != code:
            fail(f"{call.__name__}: expected {code}, got {got} ({got_message})")
        if status is not None and got_status != status:
            fail(f"{call.__name__}: expected HTTP {status} for {code}, got {got_status}")
        if message is not None and message not in got_message:
            fail(f"{call.__name__}: expected message containing {message!r}, got {got_message!r}")
        print(f"ok  {call.__name__} -> {code}", flush=True)
        return e
    fail(f"{call.__name__}: expected {code}, got success {result}")


def ok(name):
    print(f"ok  {name}", flush=True)
