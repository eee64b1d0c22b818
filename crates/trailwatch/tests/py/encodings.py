"""Metric values outside CloudWatch's range, and request bodies in gzip members and in
encodings the server does not know: each checked as AWS answers it."""

import gzip
import time
import urllib.parse
import urllib.request

import botocore.session
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

from harness import ENDPOINT, REGION, check, client, expect_error, ok

cw = client("cloudwatch")

# A value beyond ±2^360 is refused as CloudWatch refuses it, never summed into infinity.
err = expect_error(
    "InvalidParameterValue",
    cw.put_metric_data,
    Namespace="Range",
    MetricData=[{"MetricName": "big", "Value": 1e308}],
)
check(
    "The value 1.0E308 for parameter MetricData.member.1.Value is invalid."
    in err.response["Error"]["Message"],
    err.response["Error"]["Message"],
)
expect_error(
    "InvalidParameterValue",
    cw.put_metric_data,
    Namespace="Range",
    MetricData=[{"MetricName": "big", "StatisticValues": {
        "SampleCount": 1, "Sum": -1e200, "Minimum": -1e200, "Maximum": -1e200}}],
)

# The largest values CloudWatch accepts add up without overflowing.
now = time.time()
for _ in range(2):
    cw.put_metric_data(Namespace="Range", MetricData=[{"MetricName": "big", "Value": 1.174e108}])
stats = cw.get_metric_statistics(
    Namespace="Range", MetricName="big", StartTime=now - 600, EndTime=now + 600,
    Period=3600, Statistics=["Sum", "Average", "Maximum"],
)
points = stats["Datapoints"]
check(len(points) == 1, f"one datapoint: {points}")
check(abs(points[0]["Sum"] - 2.348e108) < 1e105, f"the Sum of two large values: {points}")
check(abs(points[0]["Average"] - 1.174e108) < 1e105, f"their Average: {points}")
ok("values within range sum without overflow")


def signed(body, headers):
    """A PutMetricData POST over awsQuery, signed as the SDKs sign: the signature covers the
    body as sent (compressed bodies stay compressed)."""
    credentials = botocore.session.get_session().get_credentials()
    request = AWSRequest(method="POST", url=ENDPOINT + "/", data=body, headers=headers)
    request.headers["Content-Type"] = "application/x-www-form-urlencoded; charset=utf-8"
    SigV4Auth(credentials, "monitoring", REGION).add_auth(request)
    prepared = request.prepare()
    return urllib.request.Request(
        prepared.url, data=body, headers=dict(prepared.headers), method="POST"
    )


def send(request):
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


form = urllib.parse.urlencode({
    "Action": "PutMetricData", "Version": "2010-08-01", "Namespace": "Encodings",
    "MetricData.member.1.MetricName": "members", "MetricData.member.1.Value": "7",
}).encode()

# A gzip body of two members (RFC 1952 allows several): both are read.
half = len(form) // 2
two_members = gzip.compress(form[:half]) + gzip.compress(form[half:])
status, text = send(signed(two_members, {"Content-Encoding": "gzip"}))
check(status == 200, f"a two-member gzip body is read whole: {status} {text}")
stats = cw.get_metric_statistics(
    Namespace="Encodings", MetricName="members", StartTime=now - 600, EndTime=time.time() + 600,
    Period=3600, Statistics=["Sum"],
)
check(
    [p["Sum"] for p in stats["Datapoints"]] == [7.0],
    f"the datum of the two-member body: {stats['Datapoints']}",
)
ok("every gzip member is read")

# An encoding the server does not know is refused, not read as if uncompressed.
for encoding in ["br", "deflate", "gzip, br"]:
    status, text = send(signed(form, {"Content-Encoding": encoding}))
    check(400 <= status < 500, f"Content-Encoding {encoding}: {status} {text}")
    check("Content-Encoding" in text, f"the refusal names the encoding: {text}")
stats = cw.get_metric_statistics(
    Namespace="Encodings", MetricName="members", StartTime=now - 600, EndTime=time.time() + 600,
    Period=3600, Statistics=["Sum"],
)
check(
    [p["Sum"] for p in stats["Datapoints"]] == [7.0],
    f"refused bodies stored nothing: {stats['Datapoints']}",
)
ok("unknown encodings are refused")
