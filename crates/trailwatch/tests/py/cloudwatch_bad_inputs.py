"""A table of bad CloudWatch inputs, each with the error code AWS answers, run through boto3
speaking the protocol named by TRAILWATCH_CW_PROTOCOL; afterwards nothing may be stored."""

import os
import time

from harness import check, client, expect_error, narrow_cloudwatch_model

PROTOCOL = os.environ["TRAILWATCH_CW_PROTOCOL"]
narrow_cloudwatch_model(PROTOCOL)
cw = client("cloudwatch")
now = time.time()


def alarm(**overrides):
    args = dict(AlarmName="a", MetricName="M", Namespace="N", Statistic="Sum", Period=60,
                EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanThreshold")
    args.update(overrides)
    return args


def datum(**overrides):
    d = {"MetricName": "M", "Value": 1.0}
    d.update(overrides)
    return d


stat = {"Metric": {"Namespace": "N", "MetricName": "M"}, "Period": 60, "Stat": "Sum"}
TABLE = [
    ("InvalidParameterValue", cw.put_metric_alarm, alarm(Period=45)),
    ("InvalidParameterValue", cw.put_metric_alarm, alarm(Period=60, EvaluationPeriods=1441)),
    ("InvalidParameterValue", cw.put_metric_alarm, alarm(Period=3600, EvaluationPeriods=169)),
    ("InvalidParameterValue", cw.put_metric_alarm, alarm(EvaluationPeriods=2, DatapointsToAlarm=3)),
    ("InvalidParameterValue", cw.put_metric_alarm, alarm(TreatMissingData="sometimes")),
    ("InvalidParameterCombination", cw.put_metric_alarm, alarm(ExtendedStatistic="p99")),
    ("InvalidParameterValue", cw.put_metric_alarm, alarm(Threshold=float("nan"))),
    ("ValidationError", cw.put_metric_alarm, alarm(Period=10, EvaluationPeriods=922337203685477581)),
    ("InvalidParameterValue", cw.put_metric_data,
     dict(Namespace="N", MetricData=[datum(Value=float("inf"))])),
    ("InvalidParameterValue", cw.put_metric_data,
     dict(Namespace="N", MetricData=[{"MetricName": "M", "Values": [1.0], "Counts": [-1.0]}])),
    ("InvalidParameterCombination", cw.put_metric_alarm,
     dict(AlarmName="a", EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanThreshold",
          MetricName="M", Metrics=[{"Id": "m1", "MetricStat": stat, "ReturnData": True}])),
    ("ValidationError", cw.put_metric_alarm, alarm(AlarmName="x" * 256)),
    ("ValidationError", cw.put_metric_alarm, alarm(AlarmDescription="x" * 1025)),
    ("ValidationError", cw.put_metric_alarm, alarm(ComparisonOperator="Above")),
    ("ValidationError", cw.put_metric_alarm, alarm(Statistic="Median")),
    ("ValidationError", cw.put_metric_alarm,
     alarm(AlarmActions=[f"arn:aws:sns:us-east-1:000000000000:t{i}" for i in range(6)])),
    ("ValidationError", cw.put_metric_alarm, alarm(Unit="Furlongs")),
    ("InvalidParameterCombination", cw.put_metric_data,
     dict(Namespace="N", MetricData=[datum(Values=[1.0])])),
    ("InvalidParameterValue", cw.put_metric_data,
     dict(Namespace="N", MetricData=[{"MetricName": "M", "Values": [1.0, 2.0], "Counts": [1.0]}])),
    ("InvalidParameterValue", cw.put_metric_data, dict(Namespace="AWS/EC2", MetricData=[datum()])),
    ("InvalidParameterValue", cw.put_metric_data,
     dict(Namespace="N", MetricData=[datum(StorageResolution=5)])),
    ("InvalidParameterValue", cw.put_metric_data,
     dict(Namespace="N", MetricData=[datum(Timestamp=now - 15 * 24 * 3600)])),
    ("ValidationError", cw.put_metric_data,
     dict(Namespace="N", MetricData=[datum(Dimensions=[{"Name": f"d{i}", "Value": "v"} for i in range(31)])])),
    ("ValidationError", cw.put_metric_data, dict(Namespace=":starts-with-colon", MetricData=[datum()])),
    ("InvalidParameterCombination", cw.put_metric_data, dict(Namespace="N", MetricData=[{"MetricName": "M"}])),
    ("InvalidParameterValue", cw.get_metric_statistics,
     dict(Namespace="N", MetricName="M", StartTime=now, EndTime=now - 60, Period=60, Statistics=["Sum"])),
    ("InvalidParameterCombination", cw.get_metric_statistics,
     dict(Namespace="N", MetricName="M", StartTime=now - 2 * 86400, EndTime=now, Period=60,
          Statistics=["Sum"])),
    ("ValidationError", cw.get_metric_statistics,
     dict(Namespace="N", MetricName="M", StartTime=now - 60, EndTime=now, Period=60,
          Statistics=["Sum", "Sum", "Sum", "Sum", "Sum", "Sum"])),
    ("ValidationError", cw.describe_alarms, dict(MaxRecords=101)),
    ("InvalidParameterCombination", cw.describe_alarms, dict(AlarmNames=["a"], AlarmNamePrefix="a")),
    ("InvalidNextToken", cw.describe_alarms, dict(NextToken="nonsense")),
    ("ValidationError", cw.delete_alarms, dict(AlarmNames=[f"a{i}" for i in range(101)])),
    ("ResourceNotFound", cw.set_alarm_state, dict(AlarmName="absent", StateValue="OK", StateReason="r")),
    ("ValidationError", cw.set_alarm_state, dict(AlarmName="a", StateValue="MAYBE", StateReason="r")),
    ("ValidationError", cw.set_alarm_state, dict(AlarmName="a", StateValue="OK", StateReason="r" * 1024)),
    ("InvalidNextToken", cw.list_metrics, dict(NextToken="nonsense")),
    ("InvalidParameterValue", cw.get_metric_data,
     dict(MetricDataQueries=[{"Id": "q", "MetricStat": stat}], StartTime=now, EndTime=now - 60)),
    ("ValidationError", cw.get_metric_data,
     dict(MetricDataQueries=[{"Id": "q", "MetricStat": dict(stat, Stat="Median")}], StartTime=now - 60,
          EndTime=now)),
    ("InvalidParameterValue", cw.get_metric_data,
     dict(MetricDataQueries=[{"Id": "q", "MetricStat": dict(stat, Stat="p99")}], StartTime=now - 60,
          EndTime=now)),
    ("InvalidNextToken", cw.describe_alarm_history, dict(NextToken="nonsense")),
    ("ValidationError", cw.describe_alarm_history, dict(HistoryItemType="Gossip")),
    ("ValidationError", cw.enable_alarm_actions, dict(AlarmNames=[f"a{i}" for i in range(101)])),
]

for code, call, kwargs in TABLE:
    expect_error(code, call, **kwargs)

check(cw.describe_alarms()["MetricAlarms"] == [], "no alarm was stored")
check(cw.list_metrics()["Metrics"] == [], "no metric was stored")
print(f"all {len(TABLE)} bad inputs answered as AWS does over {PROTOCOL}")
