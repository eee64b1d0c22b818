// Validates SNS messages with AWS's own Node.js validator (sns-validator): the messages of the
// JSON array in the file named by argv[2], each as received; then each again with its Message
// altered, which must fail.
//
// The validator fetches SigningCertURL with https.get; the tests' server listens on loopback
// without TLS, so only that transport is switched to plain HTTP. Everything the validator
// checks — the https scheme and host of SigningCertURL, the .pem suffix, the string to sign,
// the RSA signature against the certificate — runs as it ships.
"use strict";

const fs = require("fs");
const http = require("http");
const https = require("https");
const MessageValidator = require("sns-validator");

https.get = (url, callback) => http.get(String(url).replace(/^https:/, "http:"), callback);

const messages = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const validator = new MessageValidator(/^127\.0\.0\.1:\d+$/);

const validate = (message) =>
  new Promise((resolve) => validator.validate(message, (err) => resolve(err || null)));

(async () => {
  let failures = 0;
  for (const message of messages) {
    const err = await validate(message);
    if (err) {
      failures++;
      console.log(`INVALID ${message.Type} ${message.MessageId}: ${err.message}`);
    } else {
      console.log(`valid ${message.Type} ${message.MessageId}`);
    }
    const tampered = Object.assign({}, message, { Message: message.Message + " (altered)" });
    const tamperedErr = await validate(tampered);
    if (!tamperedErr) {
      failures++;
      console.log(`ACCEPTED an altered ${message.Type} ${message.MessageId}`);
    } else {
      console.log(`altered ${message.Type} rejected: ${tamperedErr.message}`);
    }
  }
  process.exit(failures === 0 && messages.length > 0 ? 0 : 1);
})();
