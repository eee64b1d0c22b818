"""Prints the eventID of every event stored in the log group GROUP, one a line, reading every
page with boto3's paginator."""

import json
import os

from harness import client

logs = client("logs")
for page in logs.get_paginator("filter_log_events").paginate(logGroupName=os.environ["GROUP"]):
    for event in page["events"]:
        print(json.loads(event["message"])["eventID"])
