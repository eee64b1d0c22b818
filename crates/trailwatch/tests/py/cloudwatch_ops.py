"""Every CloudWatch operation of `trailwatch serve`, through boto3 speaking the protocol named by
TRAILWATCH_CW_PROTOCOL (`json`, `query` or `smithy-rpc-v2-cbor`): a success and AWS's errors for
each, and an alarm that fires on PutMetricData."""

import os
import time

from harness import Recorder, check, client, expect_error, narrow_cloudwatch_model, ok

PROTOCOL = os.environ["TRAILWATCH_CW_PROTOCOL"]
narrow_cloudwatch_model(PROTOCOL)
cw = client("cloudwatch")
recorder = Recorder(cw)
EXPECTED_TYPE = {
    "json": b"application/x-amz-json-1.0",
    "query": b"application/x-www-form-urlencoded",
    "smithy-rpc-v2-cbor": b"application/cbor",
}[PROTOCOL]

NS = "Checks"
now = time.time()


def alarm(name, **overrides):
    args = dict(AlarmName=name, MetricName="Requests", Namespace=NS, Statistic="Sum", Period=60,
                EvaluationPeriods=1, Threshold=10, ComparisonOperator="GreaterThanOrEqualToThreshold",
                Dimensions=[{"Name": "Service", "Value": "api"}])
    args.update(overrides)
    return args


# PutMetricAlarm
cw.put_metric_alarm(**alarm("busy", AlarmDescription="more than 10 requests a minute",
                            OKActions=[], TreatMissingData="notBreaching"))
ok("PutMetricAlarm")
expect_error("InvalidParameterValue", cw.put_metric_alarm, **alarm("bad-period", Period=45),
             message="Period must be 10, 20, 30 or a multiple of 60")
expect_error("ValidationError", cw.put_metric_alarm,
             **alarm("bad-op", ComparisonOperator="BiggerThan"),
             message="Member must satisfy enum value set")
expect_error("ValidationError", cw.put_metric_alarm,
             **alarm("six-actions", AlarmActions=[f"arn:aws:sns:us-east-1:000000000000:t{i}"
                                                   for i in range(6)]),
             message="Member must have length less than or equal to 5")
expect_error("InvalidParameterCombination", cw.put_metric_alarm,
             **alarm("both-stats", ExtendedStatistic="p99"))

# DescribeAlarms
alarms = cw.describe_alarms(AlarmNames=["busy"])["MetricAlarms"]
check(len(alarms) == 1, f"DescribeAlarms: {alarms}")
a = alarms[0]
# Evaluated at creation: no data, treated as not breaching, is OK at once.
check(a["StateValue"] == "OK" and a["AlarmDescription"] == "more than 10 requests a minute"
      and a["Threshold"] == 10.0 and a["Dimensions"] == [{"Name": "Service", "Value": "api"}]
      and a["AlarmArn"] == "arn:aws:cloudwatch:us-east-1:000000000000:alarm:busy"
      and a["TreatMissingData"] == "notBreaching", f"described: {a}")
check(a["StateReason"] == "Threshold Crossed: no datapoints were received for 1 period and 1 missing "
      "datapoint was treated as [NonBreaching].", a["StateReason"])
check(isinstance(a["Threshold"], float), f"Threshold is a double: {a}")
check(hasattr(a["StateUpdatedTimestamp"], "year"), f"timestamps are timestamps: {a}")
ok("DescribeAlarms")
expect_error("InvalidParameterCombination", cw.describe_alarms, AlarmNames=["busy"],
             AlarmNamePrefix="b")
expect_error("InvalidNextToken", cw.describe_alarms, NextToken="garbage")

# PutMetricData: 12 requests in this minute breach the Sum >= 10 alarm at once.
cw.put_metric_data(Namespace=NS, MetricData=[
    {"MetricName": "Requests", "Dimensions": [{"Name": "Service", "Value": "api"}],
     "Value": 5, "Timestamp": now},
    {"MetricName": "Requests", "Dimensions": [{"Name": "Service", "Value": "api"}],
     "Values": [3, 4], "Counts": [1, 1], "Timestamp": now},
])
ok("PutMetricData")
state = cw.describe_alarms(AlarmNames=["busy"])["MetricAlarms"][0]
check(state["StateValue"] == "ALARM", f"alarm after 12 requests: {state}")
check(state["StateReason"].startswith("Threshold Crossed: 1 datapoint [12.0 ("), state["StateReason"])
ok("alarm fires on PutMetricData")
# Re-putting the alarm keeps its state, as on AWS.
cw.put_metric_alarm(**alarm("busy", Threshold=11))
state = cw.describe_alarms(AlarmNames=["busy"])["MetricAlarms"][0]
check(state["StateValue"] == "ALARM" and state["Threshold"] == 11.0, f"re-put: {state}")
expect_error("InvalidParameterCombination", cw.put_metric_data, Namespace=NS, MetricData=[
    {"MetricName": "Requests", "Value": 1, "Values": [1]}],
    message="are mutually exclusive and you have specified both")
expect_error("InvalidParameterValue", cw.put_metric_data, Namespace="AWS/EC2", MetricData=[
    {"MetricName": "CPUUtilization", "Value": 1}])

# Counts and statistic sets arrive as aggregates (a count of 10^12 is one row, not 10^12).
cw.put_metric_data(Namespace=NS, MetricData=[
    {"MetricName": "Bulk", "Values": [2.0], "Counts": [1e12], "Timestamp": now},
    {"MetricName": "Sets", "StatisticValues": {"SampleCount": 10, "Sum": 100, "Minimum": 5, "Maximum": 20},
     "Timestamp": now},
])
bulk = cw.get_metric_statistics(Namespace=NS, MetricName="Bulk", StartTime=now - 600, EndTime=now + 600,
                                Period=60, Statistics=["Sum", "SampleCount"])["Datapoints"][0]
check((bulk["Sum"], bulk["SampleCount"]) == (2e12, 1e12), f"counts: {bulk}")
sets = cw.get_metric_statistics(Namespace=NS, MetricName="Sets", StartTime=now - 600, EndTime=now + 600,
                                Period=60, Statistics=["Sum", "SampleCount", "Minimum", "Maximum", "Average"])
p = sets["Datapoints"][0]
check((p["Sum"], p["SampleCount"], p["Minimum"], p["Maximum"], p["Average"]) == (100.0, 10.0, 5.0, 20.0, 10.0),
      f"statistic set: {p}")

# GetMetricStatistics
stats = cw.get_metric_statistics(Namespace=NS, MetricName="Requests",
                                 Dimensions=[{"Name": "Service", "Value": "api"}],
                                 StartTime=now - 600, EndTime=now + 600, Period=60,
                                 Statistics=["Sum", "SampleCount", "Minimum", "Maximum", "Average"])
points = stats["Datapoints"]
check(len(points) == 1, f"GetMetricStatistics: {stats}")
p = points[0]
check((p["Sum"], p["SampleCount"], p["Minimum"], p["Maximum"], p["Average"]) == (12.0, 3.0, 3.0, 5.0, 4.0),
      f"statistics: {p}")
check(hasattr(p["Timestamp"], "year"), f"timestamp: {p}")
ok("GetMetricStatistics")
expect_error("InvalidParameterValue", cw.get_metric_statistics, Namespace=NS, MetricName="Requests",
             StartTime=now, EndTime=now - 60, Period=60, Statistics=["Sum"],
             message="The parameter StartTime must be less than the parameter EndTime.")
expect_error("InvalidParameterCombination", cw.get_metric_statistics, Namespace=NS,
             MetricName="Requests", StartTime=now - 86400 * 2, EndTime=now, Period=60,
             Statistics=["Sum"], message="which exceeds the limit of 1440")
expect_error("MissingParameter", cw.get_metric_statistics, Namespace=NS, MetricName="Requests",
             StartTime=now - 600, EndTime=now + 600, Period=60,
             message="The parameter Statistics or ExtendedStatistics must be specified.")

# ListMetrics
metrics = cw.list_metrics(Namespace=NS, MetricName="Requests")["Metrics"]
check(metrics == [{"Namespace": NS, "MetricName": "Requests",
                   "Dimensions": [{"Name": "Service", "Value": "api"}]}], f"ListMetrics: {metrics}")
check(len(cw.list_metrics(Namespace=NS)["Metrics"]) == 3, "Requests, Bulk and Sets")
none = cw.list_metrics(Namespace=NS, Dimensions=[{"Name": "Service", "Value": "web"}])["Metrics"]
check(none == [], f"ListMetrics filtered: {none}")
ok("ListMetrics")
expect_error("InvalidNextToken", cw.list_metrics, NextToken="garbage")

# SetAlarmState
cw.set_alarm_state(AlarmName="busy", StateValue="OK", StateReason="testing the pager",
                   StateReasonData='{"why": "drill"}')
state = cw.describe_alarms(AlarmNames=["busy"])["MetricAlarms"][0]
check(state["StateValue"] == "OK" and state["StateReason"] == "testing the pager"
      and state["StateReasonData"] == '{"why": "drill"}', f"SetAlarmState: {state}")
ok("SetAlarmState")
expect_error("ResourceNotFound", cw.set_alarm_state, AlarmName="missing", StateValue="OK",
             StateReason="x", status=404)
expect_error("InvalidFormat", cw.set_alarm_state, AlarmName="busy", StateValue="OK",
             StateReason="x", StateReasonData="{not json")
expect_error("ValidationError", cw.set_alarm_state, AlarmName="busy", StateValue="PANIC",
             StateReason="x")

# DisableAlarmActions / EnableAlarmActions
cw.disable_alarm_actions(AlarmNames=["busy"])
check(cw.describe_alarms(AlarmNames=["busy"])["MetricAlarms"][0]["ActionsEnabled"] is False, "disabled")
ok("DisableAlarmActions")
cw.enable_alarm_actions(AlarmNames=["busy"])
check(cw.describe_alarms(AlarmNames=["busy"])["MetricAlarms"][0]["ActionsEnabled"] is True, "enabled")
ok("EnableAlarmActions")
for call in (cw.disable_alarm_actions, cw.enable_alarm_actions):
    expect_error("ValidationError", call, AlarmNames=[f"a{i}" for i in range(101)])

# DescribeAlarmsForMetric
for_metric = cw.describe_alarms_for_metric(MetricName="Requests", Namespace=NS,
                                           Dimensions=[{"Name": "Service", "Value": "api"}])
check([a["AlarmName"] for a in for_metric["MetricAlarms"]] == ["busy"], f"{for_metric}")
other = cw.describe_alarms_for_metric(MetricName="Requests", Namespace=NS)
check(other["MetricAlarms"] == [], f"other dimensions: {other}")
ok("DescribeAlarmsForMetric")
expect_error("ValidationError", cw.describe_alarms_for_metric, MetricName="x" * 256, Namespace=NS)

# DescribeAlarmHistory
items = cw.describe_alarm_history(AlarmName="busy", ScanBy="TimestampAscending")["AlarmHistoryItems"]
summaries = [i["HistorySummary"] for i in items]
check(summaries[0] == 'Alarm "busy" created' and "Alarm updated from INSUFFICIENT_DATA to OK" in summaries
      and "Alarm updated from OK to ALARM" in summaries and 'Alarm "busy" updated' in summaries
      and "Alarm updated from ALARM to OK" in summaries, f"history: {summaries}")
check(all(hasattr(i["Timestamp"], "year") and i["AlarmType"] == "MetricAlarm" for i in items), f"{items}")
first = cw.describe_alarm_history(AlarmName="busy", MaxRecords=1)
check(len(first["AlarmHistoryItems"]) == 1 and "NextToken" in first, f"page: {first}")
check(first["AlarmHistoryItems"][0]["HistorySummary"] == "Alarm updated from ALARM to OK", "newest first")
second = cw.describe_alarm_history(AlarmName="busy", MaxRecords=1, NextToken=first["NextToken"])
check(second["AlarmHistoryItems"][0]["HistorySummary"] == 'Alarm "busy" updated', f"{second}")
states = cw.describe_alarm_history(AlarmName="busy", HistoryItemType="StateUpdate")["AlarmHistoryItems"]
check(len(states) == 3, f"state updates: {states}")
ok("DescribeAlarmHistory")
expect_error("InvalidNextToken", cw.describe_alarm_history, NextToken="garbage")

# GetMetricData
query = {"Id": "requests", "MetricStat": {"Metric": {"Namespace": NS, "MetricName": "Requests",
         "Dimensions": [{"Name": "Service", "Value": "api"}]}, "Period": 60, "Stat": "Sum"}}
maximum = {"Id": "peak", "Label": "Peak", "MetricStat": dict(query["MetricStat"], Stat="Maximum")}
data = cw.get_metric_data(MetricDataQueries=[query, maximum], StartTime=now - 600, EndTime=now + 600)
results = {r["Id"]: r for r in data["MetricDataResults"]}
check(results["requests"]["Values"] == [12.0] and results["requests"]["StatusCode"] == "Complete"
      and results["requests"]["Label"] == "Requests" and results["peak"]["Values"] == [5.0]
      and results["peak"]["Label"] == "Peak", f"GetMetricData: {data}")
check(hasattr(results["requests"]["Timestamps"][0], "year"), f"{data}")
ok("GetMetricData")
expect_error("InvalidParameterValue", cw.get_metric_data, MetricDataQueries=[query],
             StartTime=now, EndTime=now - 60)
expect_error("InvalidNextToken", cw.get_metric_data, MetricDataQueries=[query],
             StartTime=now - 600, EndTime=now + 600, NextToken="garbage")

# DeleteAlarms
cw.delete_alarms(AlarmNames=["busy", "never-existed"])
check(cw.describe_alarms()["MetricAlarms"] == [], "alarms deleted")
ok("DeleteAlarms")
expect_error("ValidationError", cw.delete_alarms, AlarmNames=[f"a{i}" for i in range(101)],
             message="Member must have length less than or equal to 100")

types = set(t.split(b";")[0] for t in recorder.content_types)
check(types == {EXPECTED_TYPE}, f"spoke {types}, expected {EXPECTED_TYPE}")
history = cw.describe_alarm_history(AlarmName="busy")["AlarmHistoryItems"]
check(history[0]["HistorySummary"] == 'Alarm "busy" deleted', f"history outlives the alarm: {history[0]}")
print(f"all CloudWatch checks passed over {PROTOCOL}")
