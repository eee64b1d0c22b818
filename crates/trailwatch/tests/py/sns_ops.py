"""Every SNS operation of `trailwatch serve`, through boto3: a success and AWS's errors for each,
with a loopback HTTP subscriber that confirms through SubscribeURL and receives messages."""

import http.server
import json
import queue
import threading
import urllib.error
import urllib.request

from harness import check, client, expect_error, ok

received = queue.Queue()


class Subscriber(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        raw = self.rfile.read(int(self.headers["Content-Length"])).decode()
        self.send_response(200)
        self.end_headers()
        if self.headers.get("x-amz-sns-rawdelivery") == "true":
            received.put((dict(self.headers), {"Type": "Raw", "Message": raw}))
            return
        body = json.loads(raw)
        if body["Type"] == "SubscriptionConfirmation":
            try:
                urllib.request.urlopen(body["SubscribeURL"]).read()
            except urllib.error.HTTPError:
                pass  # the topic may be gone by now (DeleteTopic below)
        received.put((dict(self.headers), body))

    def log_message(self, *_):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Subscriber)
threading.Thread(target=server.serve_forever, daemon=True).start()
ENDPOINT = f"http://127.0.0.1:{server.server_address[1]}/sns"


def next_message(kind):
    while True:
        headers, body = received.get(timeout=30)
        if body["Type"] == kind:
            return headers, body


sns = client("sns")

# CreateTopic
arn = sns.create_topic(Name="alerts")["TopicArn"]
check(arn == "arn:aws:sns:us-east-1:000000000000:alerts", arn)
check(sns.create_topic(Name="alerts")["TopicArn"] == arn, "CreateTopic is idempotent")
ok("CreateTopic")
expect_error("InvalidParameter", sns.create_topic, Name="not a valid name!",
             message="Invalid parameter: Topic Name")

# ListTopics
check(sns.list_topics()["Topics"] == [{"TopicArn": arn}], "ListTopics")
ok("ListTopics")
expect_error("InvalidParameter", sns.list_topics, NextToken="garbage")

# Subscribe
sub = sns.subscribe(TopicArn=arn, Protocol="http", Endpoint=ENDPOINT)
check(sub["SubscriptionArn"] == "pending confirmation", f"Subscribe: {sub}")
ok("Subscribe")
expect_error("NotFound", sns.subscribe, TopicArn=arn + "-missing", Protocol="http",
             Endpoint=ENDPOINT, status=404, message="Topic does not exist")
expect_error("InvalidParameter", sns.subscribe, TopicArn=arn, Protocol="carrier-pigeon",
             Endpoint="coop", message="does not support this protocol string")

# The subscriber confirmed through SubscribeURL (an unsigned GET).
headers, confirmation = next_message("SubscriptionConfirmation")
check(headers["x-amz-sns-message-type"] == "SubscriptionConfirmation", f"{headers}")
check("x-amz-sns-subscription-arn" not in {k.lower() for k in headers}, "no subscription ARN yet")

# ConfirmSubscription (again, through the API: answers the same ARN).
confirmed = sns.confirm_subscription(TopicArn=arn, Token=confirmation["Token"])["SubscriptionArn"]
check(confirmed.startswith(arn + ":"), confirmed)
ok("ConfirmSubscription")
expect_error("InvalidParameter", sns.confirm_subscription, TopicArn=arn, Token="0" * 64)
expect_error("NotFound", sns.confirm_subscription, TopicArn=arn + "-missing", Token="0" * 64, status=404)

# ListSubscriptionsByTopic
subs = sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"]
check(subs == [{"SubscriptionArn": confirmed, "Owner": "000000000000", "Protocol": "http",
                "Endpoint": ENDPOINT, "TopicArn": arn}], f"ListSubscriptionsByTopic: {subs}")
ok("ListSubscriptionsByTopic")
expect_error("NotFound", sns.list_subscriptions_by_topic, TopicArn=arn + "-missing")
expect_error("InvalidParameter", sns.list_subscriptions_by_topic, TopicArn="not-an-arn")
expect_error("InvalidParameter", sns.list_subscriptions_by_topic, TopicArn=arn, NextToken="garbage")

# Publish
message_id = sns.publish(TopicArn=arn, Subject="Deploy", Message="version 42 is live")["MessageId"]
headers, note = next_message("Notification")
check(note["MessageId"] == message_id and note["Subject"] == "Deploy"
      and note["Message"] == "version 42 is live" and note["TopicArn"] == arn, f"{note}")
check(headers["x-amz-sns-subscription-arn"] == confirmed, f"{headers}")
check(note["UnsubscribeURL"].endswith("Action=Unsubscribe&SubscriptionArn=" + confirmed), note["UnsubscribeURL"])
ok("Publish")
structured = json.dumps({"default": "plain", "http": "for http endpoints"})
sns.publish(TopicArn=arn, Message=structured, MessageStructure="json")
_, note = next_message("Notification")
check(note["Message"] == "for http endpoints" and "Subject" not in note, f"{note}")
expect_error("InvalidParameter", sns.publish, TopicArn=arn, Message="x" * 262145,
             message="Invalid parameter: Message too long")
expect_error("InvalidParameter", sns.publish, TopicArn=arn, Message="{}", MessageStructure="json",
             message="No default entry in JSON message body")
expect_error("NotFound", sns.publish, TopicArn=arn + "-missing", Message="hi")
# Message attributes reach the endpoint in the envelope, and are checked as SNS checks them.
sns.publish(TopicArn=arn, Message="with attributes", MessageAttributes={
    "team": {"DataType": "String", "StringValue": "security"},
    "severity": {"DataType": "Number", "StringValue": "3"},
    "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
})
_, note = next_message("Notification")
check(note["MessageAttributes"] == {"team": {"Type": "String", "Value": "security"},
                                    "severity": {"Type": "Number", "Value": "3"},
                                    "blob": {"Type": "Binary", "Value": "AAE="}}, f"{note}")
expect_error("ParameterValueInvalid", sns.publish, TopicArn=arn, Message="m",
             MessageAttributes={"a": {"DataType": "String", "StringValue": ""}},
             message="must contain non-empty message attribute value for message attribute type 'String'")
expect_error("ParameterValueInvalid", sns.publish, TopicArn=arn, Message="m",
             MessageAttributes={"a": {"DataType": "Text", "StringValue": "x"}})
expect_error("ParameterValueInvalid", sns.publish, TopicArn=arn, Message="m",
             MessageAttributes={"a": {"DataType": "Number", "StringValue": "many"}})
expect_error("ParameterValueInvalid", sns.publish, TopicArn=arn, Message="m",
             MessageAttributes={"a": {"DataType": "Number", "StringValue": "NaN"}})
expect_error("InvalidParameter", sns.publish, TopicArn=arn, Message="x" * (262144 - 10),
             MessageAttributes={"a": {"DataType": "String", "StringValue": "bbbbbb"}},
             message="Invalid parameter: Message too long")
# SNS sends message attributes with String messages only.
sns.publish(TopicArn=arn, Message=json.dumps({"default": "structured"}), MessageStructure="json",
            MessageAttributes={"team": {"DataType": "String", "StringValue": "security"}})
_, note = next_message("Notification")
check(note["Message"] == "structured" and "MessageAttributes" not in note, f"{note}")
expect_error("ParameterValueInvalid", sns.publish, TopicArn=arn, Message="m",
             MessageAttributes={"AWS.reserved": {"DataType": "String", "StringValue": "x"}})
expect_error("ParameterValueInvalid", sns.publish, TopicArn=arn, Message="m",
             MessageAttributes={f"a{i}": {"DataType": "String", "StringValue": "x"} for i in range(11)})

# GetTopicAttributes / SetTopicAttributes
attributes = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
check(attributes["TopicArn"] == arn and attributes["SubscriptionsConfirmed"] == "1"
      and attributes["SubscriptionsPending"] == "0" and attributes["DisplayName"] == ""
      and "SignatureVersion" not in attributes, f"GetTopicAttributes: {attributes}")
check(json.loads(attributes["Policy"])["Statement"][0]["Resource"] == arn, attributes["Policy"])
ok("GetTopicAttributes")
expect_error("NotFound", sns.get_topic_attributes, TopicArn=arn + "-missing", status=404)
expect_error("InvalidParameter", sns.get_topic_attributes, TopicArn="not-an-arn", status=400)
sns.set_topic_attributes(TopicArn=arn, AttributeName="DisplayName", AttributeValue="Alerts")
sns.set_topic_attributes(TopicArn=arn, AttributeName="SignatureVersion", AttributeValue="2")
attributes = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
check(attributes["DisplayName"] == "Alerts" and attributes["SignatureVersion"] == "2", f"{attributes}")
sns.publish(TopicArn=arn, Message="signed with SHA256withRSA")
_, note = next_message("Notification")
check(note["SignatureVersion"] == "2" and note["Message"] == "signed with SHA256withRSA", f"{note}")
ok("SetTopicAttributes")
expect_error("InvalidParameter", sns.set_topic_attributes, TopicArn=arn, AttributeName="Colour",
             AttributeValue="blue", message="Invalid parameter: AttributeName")
expect_error("InvalidParameter", sns.set_topic_attributes, TopicArn=arn,
             AttributeName="SignatureVersion", AttributeValue="3")
expect_error("NotFound", sns.set_topic_attributes, TopicArn=arn + "-missing", AttributeName="DisplayName",
             AttributeValue="x", status=404)

# ListSubscriptions
all_subs = sns.list_subscriptions()["Subscriptions"]
check([s["SubscriptionArn"] for s in all_subs] == [confirmed], f"ListSubscriptions: {all_subs}")
ok("ListSubscriptions")
expect_error("InvalidParameter", sns.list_subscriptions, NextToken="garbage")

# GetSubscriptionAttributes / SetSubscriptionAttributes
sub_attributes = sns.get_subscription_attributes(SubscriptionArn=confirmed)["Attributes"]
check(sub_attributes["Endpoint"] == ENDPOINT and sub_attributes["PendingConfirmation"] == "false"
      and sub_attributes["RawMessageDelivery"] == "false" and sub_attributes["TopicArn"] == arn,
      f"GetSubscriptionAttributes: {sub_attributes}")
ok("GetSubscriptionAttributes")
expect_error("NotFound", sns.get_subscription_attributes, SubscriptionArn=confirmed + "0")
expect_error("InvalidParameter", sns.get_subscription_attributes, SubscriptionArn="not-an-arn")
sns.set_subscription_attributes(SubscriptionArn=confirmed, AttributeName="RawMessageDelivery",
                                AttributeValue="true")
check(sns.get_subscription_attributes(SubscriptionArn=confirmed)["Attributes"]["RawMessageDelivery"]
      == "true", "RawMessageDelivery stored")
sns.publish(TopicArn=arn, Message="just the message")
headers, raw = next_message("Raw")
check(raw["Message"] == "just the message", f"raw delivery: {raw}")
ok("SetSubscriptionAttributes")
expect_error("InvalidParameter", sns.set_subscription_attributes, SubscriptionArn=confirmed,
             AttributeName="RawMessageDelivery", AttributeValue="maybe",
             message="Invalid parameter: RawMessageDelivery: Invalid value [maybe]. Must be true or false.")
expect_error("InvalidParameter", sns.set_subscription_attributes, SubscriptionArn=confirmed,
             AttributeName="Endpoint", AttributeValue="http://elsewhere")
expect_error("NotFound", sns.set_subscription_attributes, SubscriptionArn=confirmed + "0",
             AttributeName="RawMessageDelivery", AttributeValue="true", status=404)

# Unsubscribe
sns.unsubscribe(SubscriptionArn=confirmed)
_, bye = next_message("UnsubscribeConfirmation")
check(bye["Message"].startswith(f"You have chosen to deactivate subscription {confirmed}."), f"{bye}")
check(sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"] == [], "unsubscribed")
# The confirmation's SubscribeURL restores the subscription (a plain GET), as on AWS.
urllib.request.urlopen(bye["SubscribeURL"]).read()
restored = sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"]
check([s["SubscriptionArn"] for s in restored] == [confirmed], f"restored: {restored}")
sns.unsubscribe(SubscriptionArn=confirmed)
next_message("UnsubscribeConfirmation")
check(sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"] == [], "unsubscribed again")
ok("Unsubscribe")
expect_error("NotFound", sns.unsubscribe, SubscriptionArn=confirmed, message="Subscription does not exist")
expect_error("InvalidParameter", sns.unsubscribe, SubscriptionArn="not-an-arn")
# DeleteTopic: its subscriptions go with it; deleting again succeeds, as on AWS.
sns.subscribe(TopicArn=arn, Protocol="http", Endpoint=ENDPOINT + "/again")
sns.delete_topic(TopicArn=arn)
check(sns.list_topics()["Topics"] == [] and sns.list_subscriptions()["Subscriptions"] == [],
      "topic and subscriptions deleted")
sns.delete_topic(TopicArn=arn)
ok("DeleteTopic")
expect_error("InvalidParameter", sns.delete_topic, TopicArn="not-an-arn")
print("all SNS checks passed")
