"""Every CloudWatch Logs operation of `trailwatch serve`, through boto3: a success and AWS's
errors for each."""

import time

from harness import check, client, expect_error, ok

logs = client("logs")
G = "app/checks"

# CreateLogGroup
logs.create_log_group(logGroupName=G)
ok("CreateLogGroup")
expect_error("ResourceAlreadyExistsException", logs.create_log_group, logGroupName=G,
             message="The specified log group already exists")
expect_error("InvalidParameterException", logs.create_log_group, logGroupName="aws/reserved")
# Broken model constraints: Logs answers them with its own exception and the coral text.
expect_error("InvalidParameterException", logs.create_log_group, logGroupName="bad name with spaces",
             message="1 validation error detected: Value 'bad name with spaces' at 'logGroupName' "
                     "failed to satisfy constraint: Member must satisfy regular expression pattern")
expect_error("InvalidParameterException", logs.create_log_group, logGroupName="x" * 513,
             message="Member must have length less than or equal to 512")

# DescribeLogGroups
groups = logs.describe_log_groups(logGroupNamePrefix="app/")["logGroups"]
check([g["logGroupName"] for g in groups] == [G], f"DescribeLogGroups: {groups}")
check(groups[0]["arn"].endswith(f":log-group:{G}:*"), f"arn: {groups[0]}")
logs.create_log_group(logGroupName="app/other")
page = logs.describe_log_groups(logGroupNamePrefix="app/", limit=1)
check(len(page["logGroups"]) == 1 and "nextToken" in page, f"first page: {page}")
rest = logs.describe_log_groups(logGroupNamePrefix="app/", nextToken=page["nextToken"])
check([g["logGroupName"] for g in rest["logGroups"]] == ["app/other"], f"second page: {rest}")
ok("DescribeLogGroups")
expect_error("InvalidParameterException", logs.describe_log_groups, nextToken="garbage")

# CreateLogStream
logs.create_log_stream(logGroupName=G, logStreamName="s1")
ok("CreateLogStream")
expect_error("ResourceAlreadyExistsException", logs.create_log_stream, logGroupName=G,
             logStreamName="s1")
expect_error("ResourceNotFoundException", logs.create_log_stream, logGroupName="nope",
             logStreamName="s1", message="The specified log group does not exist.")
expect_error("InvalidParameterException", logs.create_log_stream, logGroupName=G,
             logStreamName="a:b", message="at 'logStreamName' failed to satisfy constraint")

# DescribeLogStreams
streams = logs.describe_log_streams(logGroupName=G)["logStreams"]
check([s["logStreamName"] for s in streams] == ["s1"], f"DescribeLogStreams: {streams}")
ok("DescribeLogStreams")
expect_error("ResourceNotFoundException", logs.describe_log_streams, logGroupName="nope")
expect_error("InvalidParameterException", logs.describe_log_streams, logGroupName=G,
             orderBy="LastEventTime", logStreamNamePrefix="s")
expect_error("InvalidParameterException", logs.describe_log_streams, logGroupName=G,
             nextToken="garbage")

# PutMetricFilter
logs.put_metric_filter(
    logGroupName=G, filterName="errors", filterPattern="[ip, user, status=5*, bytes]",
    metricTransformations=[{"metricName": "Errors", "metricNamespace": "App",
                            "metricValue": "$bytes", "dimensions": {"Status": "$status"}}])
ok("PutMetricFilter")
expect_error("ResourceNotFoundException", logs.put_metric_filter, logGroupName="nope",
             filterName="f", filterPattern="ERROR",
             metricTransformations=[{"metricName": "M", "metricNamespace": "N", "metricValue": "1"}])
expect_error("InvalidParameterException", logs.put_metric_filter, logGroupName=G,
             filterName="f", filterPattern="{ $.a = ",
             metricTransformations=[{"metricName": "M", "metricNamespace": "N", "metricValue": "1"}])
expect_error("InvalidParameterException", logs.put_metric_filter, logGroupName=G,
             filterName="f", filterPattern="{ $.a = 1 }",
             metricTransformations=[{"metricName": "M", "metricNamespace": "N", "metricValue": "1",
                                     "defaultValue": 0, "dimensions": {"A": "$.a"}}])

# PutLogEvents
now = int(time.time() * 1000)
put = logs.put_log_events(logGroupName=G, logStreamName="s1", logEvents=[
    {"timestamp": now, "message": "10.0.0.1 alice 503 1200"},
    {"timestamp": now, "message": "10.0.0.2 bob 200 800"},
    {"timestamp": now + 1, "message": "10.0.0.3 carol 500 300"},
])
check("nextSequenceToken" in put and "rejectedLogEventsInfo" not in put, f"PutLogEvents: {put}")
ok("PutLogEvents")
expect_error("InvalidParameterException", logs.put_log_events, logGroupName=G, logStreamName="s1",
             logEvents=[{"timestamp": now, "message": "b"}, {"timestamp": now - 1000, "message": "a"}],
             message="must be in chronological order")
expect_error("ResourceNotFoundException", logs.put_log_events, logGroupName=G,
             logStreamName="missing", logEvents=[{"timestamp": now, "message": "x"}],
             message="The specified log stream does not exist.")
expect_error("ResourceNotFoundException", logs.put_log_events, logGroupName="nope",
             logStreamName="s1", logEvents=[{"timestamp": now, "message": "x"}],
             message="The specified log group does not exist.")
stranger = client("logs", aws_access_key_id="AKIDUNKNOWN000000000", aws_secret_access_key="x" * 40)
expect_error("UnrecognizedClientException", stranger.put_log_events, logGroupName=G,
             logStreamName="s1", logEvents=[{"timestamp": now, "message": "x"}])
old = logs.put_log_events(logGroupName=G, logStreamName="s1", logEvents=[
    {"timestamp": now - 15 * 24 * 3600 * 1000, "message": "too old"},
    {"timestamp": now + 2, "message": "fine"},
])
# End indexes are exclusive: event 0 was too old.
check(old.get("rejectedLogEventsInfo") == {"tooOldLogEventEndIndex": 1}, f"too old: {old}")

# Events stored out of time order across calls still page in time order.
logs.create_log_stream(logGroupName=G, logStreamName="late")
logs.put_log_events(logGroupName=G, logStreamName="late", logEvents=[{"timestamp": now + 2000, "message": "second"}])
logs.put_log_events(logGroupName=G, logStreamName="late", logEvents=[{"timestamp": now + 1000, "message": "first"}])
page = logs.get_log_events(logGroupName=G, logStreamName="late", startFromHead=True, limit=1)
rest = logs.get_log_events(logGroupName=G, logStreamName="late", nextToken=page["nextForwardToken"])
check([e["message"] for e in page["events"] + rest["events"]] == ["first", "second"], f"{page} {rest}")
logs.delete_log_stream(logGroupName=G, logStreamName="late")
# Polling an empty stream: the first page's forward token sees the events that come later.
logs.create_log_stream(logGroupName=G, logStreamName="poll")
empty = logs.get_log_events(logGroupName=G, logStreamName="poll")
check(empty["events"] == [], f"empty stream: {empty}")
logs.put_log_events(logGroupName=G, logStreamName="poll", logEvents=[{"timestamp": now, "message": "later"}])
polled = logs.get_log_events(logGroupName=G, logStreamName="poll", nextToken=empty["nextForwardToken"])
check([e["message"] for e in polled["events"]] == ["later"], f"polled: {polled}")
logs.delete_log_stream(logGroupName=G, logStreamName="poll")

# PutLogEvents batch limits: 1 MiB counting 26 bytes per event, 10,000 events, 24 hours.
big = "x" * (1_048_576 - 26 - 25)
expect_error("InvalidParameterException", logs.put_log_events, logGroupName=G, logStreamName="s1",
             logEvents=[{"timestamp": now, "message": big}, {"timestamp": now, "message": "y" * 30}])
expect_error("InvalidParameterException", logs.put_log_events, logGroupName=G, logStreamName="s1",
             logEvents=[{"timestamp": now, "message": "m"}] * 10_001,
             message="Member must have length less than or equal to 10000")
expect_error("InvalidParameterException", logs.put_log_events, logGroupName=G, logStreamName="s1",
             logEvents=[{"timestamp": now - 25 * 3600 * 1000, "message": "a"}, {"timestamp": now, "message": "b"}],
             message="cannot span more than 24 hours")

# GetLogEvents
events = logs.get_log_events(logGroupName=G, logStreamName="s1", startFromHead=True)["events"]
check([e["message"] for e in events] == ["10.0.0.1 alice 503 1200", "10.0.0.2 bob 200 800",
                                         "10.0.0.3 carol 500 300", "fine"], f"GetLogEvents: {events}")
first = logs.get_log_events(logGroupName=G, logStreamName="s1", startFromHead=True, limit=2)
check(len(first["events"]) == 2, f"limit: {first}")
more = logs.get_log_events(logGroupName=G, logStreamName="s1", nextToken=first["nextForwardToken"])
check([e["message"] for e in more["events"]] == ["10.0.0.3 carol 500 300", "fine"], f"next: {more}")
ok("GetLogEvents")
expect_error("ResourceNotFoundException", logs.get_log_events, logGroupName=G,
             logStreamName="missing")
expect_error("InvalidParameterException", logs.get_log_events, logGroupName=G, logStreamName="s1",
             nextToken="garbage", message="The specified nextToken is invalid.")

# The filter counted the 5xx lines, with their bytes, per status.
cw = client("cloudwatch")
metrics = cw.list_metrics(Namespace="App")["Metrics"]
dims = sorted(m["Dimensions"][0]["Value"] for m in metrics)
check(dims == ["500", "503"], f"metrics per status: {metrics}")
stats = cw.get_metric_statistics(Namespace="App", MetricName="Errors",
                                 Dimensions=[{"Name": "Status", "Value": "503"}],
                                 StartTime=now / 1000 - 600, EndTime=now / 1000 + 600,
                                 Period=60, Statistics=["Sum"])
check(sum(p["Sum"] for p in stats["Datapoints"]) == 1200.0, f"503 bytes: {stats}")
ok("metric filter publishes extracted values")

# 100 metric filters per log group.
logs.create_log_group(logGroupName="app/limits")
for i in range(100):
    logs.put_metric_filter(logGroupName="app/limits", filterName=f"f{i}", filterPattern="ERROR",
                           metricTransformations=[{"metricName": "M", "metricNamespace": "N", "metricValue": "1"}])
expect_error("LimitExceededException", logs.put_metric_filter, logGroupName="app/limits", filterName="f100",
             filterPattern="ERROR",
             metricTransformations=[{"metricName": "M", "metricNamespace": "N", "metricValue": "1"}])
logs.put_metric_filter(logGroupName="app/limits", filterName="f0", filterPattern="WARN",
                       metricTransformations=[{"metricName": "M", "metricNamespace": "N", "metricValue": "1"}])
logs.delete_log_group(logGroupName="app/limits")
ok("100 metric filters per group; replacing one is not a new one")

# DescribeMetricFilters
filters = logs.describe_metric_filters(logGroupName=G)["metricFilters"]
check(len(filters) == 1 and filters[0]["filterName"] == "errors", f"DescribeMetricFilters: {filters}")
check(filters[0]["metricTransformations"][0]["dimensions"] == {"Status": "$status"}, f"{filters}")
ok("DescribeMetricFilters")
expect_error("ResourceNotFoundException", logs.describe_metric_filters, logGroupName="nope")
expect_error("InvalidParameterException", logs.describe_metric_filters, metricName="Errors")
expect_error("InvalidParameterException", logs.describe_metric_filters, filterNamePrefix="e")

# TestMetricFilter
matches = logs.test_metric_filter(filterPattern="[ip, user, status=5*, bytes]",
                                  logEventMessages=["1.1.1.1 a 500 10", "1.1.1.1 b 200 10"])["matches"]
check(len(matches) == 1 and matches[0]["eventNumber"] == 1, f"TestMetricFilter: {matches}")
check(matches[0]["extractedValues"] == {"$ip": "1.1.1.1", "$user": "a", "$status": "500",
                                        "$bytes": "10"}, f"extracted: {matches}")
ok("TestMetricFilter")
expect_error("InvalidParameterException", logs.test_metric_filter, filterPattern="{ $.a = ",
             logEventMessages=["x"])

# DeleteMetricFilter
logs.delete_metric_filter(logGroupName=G, filterName="errors")
check(logs.describe_metric_filters(logGroupName=G)["metricFilters"] == [], "filter deleted")
ok("DeleteMetricFilter")
expect_error("ResourceNotFoundException", logs.delete_metric_filter, logGroupName=G,
             filterName="errors")
expect_error("ResourceNotFoundException", logs.delete_metric_filter, logGroupName="nope",
             filterName="errors", message="The specified log group does not exist.")
expect_error("InvalidParameterException", logs.delete_metric_filter, logGroupName=G,
             filterName="a:b", message="at 'filterName' failed to satisfy constraint")
# FilterLogEvents
logs.create_log_stream(logGroupName=G, logStreamName="s2")
logs.put_log_events(logGroupName=G, logStreamName="s2", logEvents=[
    {"timestamp": now + 3, "message": '{"eventName": "PutRolePolicy", "user": "dave"}'},
    {"timestamp": now + 4, "message": "10.0.0.9 erin 502 70"},
])
found = logs.filter_log_events(logGroupName=G, filterPattern="[ip, user, status=5*, bytes]")["events"]
check([(e["logStreamName"], e["message"]) for e in found] == [
    ("s1", "10.0.0.1 alice 503 1200"), ("s1", "10.0.0.3 carol 500 300"), ("s2", "10.0.0.9 erin 502 70")],
    f"FilterLogEvents: {found}")
json_found = logs.filter_log_events(logGroupName=G, filterPattern='{ $.eventName = "PutRolePolicy" }')
check([e["message"] for e in json_found["events"]] == ['{"eventName": "PutRolePolicy", "user": "dave"}'],
      f"JSON pattern: {json_found}")
only_s2 = logs.filter_log_events(logGroupName=G, logStreamNames=["s2"])["events"]
check(len(only_s2) == 2, f"logStreamNames: {only_s2}")
window = logs.filter_log_events(logGroupName=G, startTime=now + 1, endTime=now + 3)["events"]
check([e["timestamp"] for e in window] == [now + 1, now + 2, now + 3], f"time range: {window}")
pages, token = [], None
while True:
    kwargs = {"nextToken": token} if token else {}
    page = logs.filter_log_events(logGroupName=G, limit=2, **kwargs)
    pages.append(len(page["events"]))
    token = page.get("nextToken")
    if not token:
        break
check(sum(pages) == 6 and max(pages) == 2, f"pages: {pages}")
ok("FilterLogEvents")
expect_error("InvalidParameterException", logs.filter_log_events, logGroupName=G,
             logStreamNames=["s1"], logStreamNamePrefix="s")
expect_error("ResourceNotFoundException", logs.filter_log_events, logGroupName="nope")
expect_error("InvalidParameterException", logs.filter_log_events, logGroupName=G, filterPattern="{ $.a = ")
expect_error("InvalidParameterException", logs.filter_log_events, logGroupName=G, nextToken="garbage",
             message="The specified nextToken is invalid.")

# PutRetentionPolicy / DeleteRetentionPolicy
logs.put_retention_policy(logGroupName=G, retentionInDays=1)
group = logs.describe_log_groups(logGroupNamePrefix=G)["logGroups"][0]
check(group["retentionInDays"] == 1, f"PutRetentionPolicy: {group}")
expired = logs.put_log_events(logGroupName=G, logStreamName="s1", logEvents=[
    {"timestamp": now - 2 * 24 * 3600 * 1000, "message": "older than a day"},
    {"timestamp": now + 5, "message": "kept"},
])
check(expired.get("rejectedLogEventsInfo") == {"expiredLogEventEndIndex": 1}, f"expired: {expired}")
ok("PutRetentionPolicy")
expect_error("InvalidParameterException", logs.put_retention_policy, logGroupName=G, retentionInDays=2,
             message="Member must satisfy enum value set")
expect_error("ResourceNotFoundException", logs.put_retention_policy, logGroupName="nope", retentionInDays=1)
logs.delete_retention_policy(logGroupName=G)
group = logs.describe_log_groups(logGroupNamePrefix=G)["logGroups"][0]
check("retentionInDays" not in group, f"DeleteRetentionPolicy: {group}")
ok("DeleteRetentionPolicy")
expect_error("ResourceNotFoundException", logs.delete_retention_policy, logGroupName="nope")
expect_error("InvalidParameterException", logs.delete_retention_policy, logGroupName="bad name")

# DeleteLogStream / DeleteLogGroup
logs.delete_log_stream(logGroupName=G, logStreamName="s2")
check([s["logStreamName"] for s in logs.describe_log_streams(logGroupName=G)["logStreams"]] == ["s1"],
      "stream deleted")
check(all(e["logStreamName"] == "s1" for e in logs.filter_log_events(logGroupName=G)["events"]),
      "its events went with it")
ok("DeleteLogStream")
expect_error("ResourceNotFoundException", logs.delete_log_stream, logGroupName=G, logStreamName="s2",
             message="The specified log stream does not exist.")
expect_error("InvalidParameterException", logs.delete_log_stream, logGroupName=G, logStreamName="a:b")
logs.delete_log_group(logGroupName=G)
check([g["logGroupName"] for g in logs.describe_log_groups()["logGroups"]] == ["app/other"], "group deleted")
ok("DeleteLogGroup")
expect_error("ResourceNotFoundException", logs.delete_log_group, logGroupName=G,
             message="The specified log group does not exist.")
expect_error("InvalidParameterException", logs.delete_log_group, logGroupName="bad name")
print("all Logs checks passed")
