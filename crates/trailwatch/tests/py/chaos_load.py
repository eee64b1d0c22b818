"""Load for the crash test: PutLogEvents batches and Publish calls, without end until the file
STOP appears (or a minute passes). Every call the server acknowledged is written down at once:
the events' ids to OUT/events, the MessageIds to OUT/messages. Calls are never retried (a retry
of a call the server stored before it died would store it twice, by the client's doing), and
calls that fail while the server is down are simply not acknowledged."""

import json
import os
import time

from botocore.config import Config

from harness import client

GROUP = os.environ["GROUP"]
STREAM = os.environ["STREAM"]
TOPIC = os.environ["TOPIC_ARN"]
OUT = os.environ["OUT"]
STOP = os.path.join(OUT, "STOP")

# total_max_attempts counts the first attempt; botocore's max_attempts counts only retries.
config = Config(retries={"total_max_attempts": 1, "mode": "standard"}, connect_timeout=2, read_timeout=15)
logs = client("logs", config=config)
sns = client("sns", config=config)

events_out = open(os.path.join(OUT, "events"), "a")
messages_out = open(os.path.join(OUT, "messages"), "a")
deadline = time.time() + 60
n = 0
while not os.path.exists(STOP) and time.time() < deadline:
    batch = []
    now = int(time.time() * 1000)
    for _ in range(20):
        n += 1
        kind = "match" if n % 3 == 0 else "other"
        batch.append({"timestamp": now, "message": json.dumps({"id": f"e-{n}", "kind": kind})})
    try:
        logs.put_log_events(logGroupName=GROUP, logStreamName=STREAM, logEvents=batch)
        for e in batch:
            events_out.write(json.loads(e["message"])["id"] + "\n")
        events_out.flush()
    except Exception:
        time.sleep(0.05)
    try:
        answer = sns.publish(TopicArn=TOPIC, Message=f"after event {n}")
        messages_out.write(answer["MessageId"] + "\n")
        messages_out.flush()
    except Exception:
        time.sleep(0.05)
