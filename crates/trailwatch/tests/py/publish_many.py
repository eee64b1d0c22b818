"""Publishes COUNT messages to TOPIC_ARN from THREADS threads at once, and prints the MessageId
of each, a line each, as SNS acknowledged it."""

import os
import threading

from harness import client

TOPIC = os.environ["TOPIC_ARN"]
COUNT = int(os.environ.get("COUNT", "100"))
THREADS = int(os.environ.get("THREADS", "4"))

ids = []
lock = threading.Lock()


def work(worker):
    sns = client("sns")
    for i in range(worker, COUNT, THREADS):
        answer = sns.publish(TopicArn=TOPIC, Message=f"message {i}")
        with lock:
            ids.append(answer["MessageId"])


threads = [threading.Thread(target=work, args=(w,)) for w in range(THREADS)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("\n".join(ids), flush=True)
