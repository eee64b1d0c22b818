"""boto3 with no region but its profile's (eu-central-1, in AWS_CONFIG_FILE): the topic the CLI
created through the same profile is there, and in no other region."""

import os

import boto3

from harness import ENDPOINT, check

# The region comes from the profile alone.
os.environ.pop("AWS_DEFAULT_REGION", None)
os.environ.pop("AWS_REGION", None)

session = boto3.session.Session()
check(session.region_name == "eu-central-1", f"the profile's region: {session.region_name}")
sns = session.client("sns", endpoint_url=ENDPOINT)
arns = [t["TopicArn"] for t in sns.list_topics()["Topics"]]
check(arns == ["arn:aws:sns:eu-central-1:000000000000:t"], f"topics in eu-central-1: {arns}")
elsewhere = session.client("sns", endpoint_url=ENDPOINT, region_name="us-east-1")
others = elsewhere.list_topics()["Topics"]
check(others == [], f"topics in us-east-1: {others}")
print("ok")
