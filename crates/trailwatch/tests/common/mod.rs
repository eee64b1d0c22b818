//! What the end-to-end tests share: the real `trailwatch serve` on loopback, a loopback SNS
//! subscriber, and the real AWS clients from the test virtual environment.
//!
//! The AWS CLI and boto3 come from the virtual environment `tools/test.sh` creates
//! (`.venv-test`, or the one `TRAILWATCH_TEST_VENV` names); a test fails with that advice when it
//! is missing rather than passing without its client.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

pub const ACCESS_KEY_ID: &str = "AKIDTRAILWATCHTEST01";
pub const SECRET_ACCESS_KEY: &str = "trailwatch/test/secret/access/key/00000000";
pub const REGION: &str = "us-east-1";
/// The account of the test keys.
pub const ACCOUNT: &str = "000000000000";

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("crates/trailwatch lies two levels below the workspace")
        .to_path_buf()
}

/// The test virtual environment with the AWS CLI and boto3.
pub fn venv() -> PathBuf {
    let dir = std::env::var_os("TRAILWATCH_TEST_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join(".venv-test"));
    assert!(
        dir.join("bin/aws").exists() && dir.join("bin/python").exists(),
        "the end-to-end tests need the AWS CLI and boto3 in {}: run tools/test.sh (it creates them)",
        dir.display()
    );
    dir
}

/// The directory of the Node.js checks, with `sns-validator` installed by `tools/test.sh`.
pub fn node_checks() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/js");
    assert!(
        dir.join("node_modules/sns-validator").exists()
            && dir.join("node_modules/playwright-core").exists(),
        "the JavaScript checks need sns-validator and playwright-core in {}: run tools/test.sh \
         (it installs them)",
        dir.display()
    );
    dir
}

/// The `trailwatch` binary under test: this build's, or the one `TRAILWATCH_TEST_BINARY` names
/// (to run the suite against another build, such as the one before a fix).
pub fn binary() -> PathBuf {
    std::env::var_os("TRAILWATCH_TEST_BINARY")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_trailwatch")))
}

/// Runs a `trailwatch` command (not `serve`) and returns what it did.
pub fn trailwatch(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(binary());
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("trailwatch runs")
}

/// A free loopback port (for a server that must know its URL before it starts).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A running `trailwatch serve`.
pub struct Server {
    child: Option<Child>,
    pub url: String,
    pub data_dir: PathBuf,
    log: PathBuf,
    /// Lines printed to standard output after the first.
    pub stdout_rest: Arc<Mutex<Vec<String>>>,
    stdout_reader: Option<std::thread::JoinHandle<()>>,
    _tmp: Option<tempfile::TempDir>,
}

impl Server {
    /// Starts a server with a fresh data directory and the test credentials.
    pub fn start() -> Server {
        let tmp = tempfile::tempdir().expect("a temporary directory");
        let data_dir = tmp.path().join("data");
        let mut server = Server::start_in(&data_dir, &[]);
        server._tmp = Some(tmp);
        server
    }

    /// Starts a server on `data_dir` with extra arguments; credentials from `env` if given,
    /// else the test credentials.
    pub fn start_in(data_dir: &Path, extra: &[&str]) -> Server {
        Server::start_with_env(
            data_dir,
            extra,
            &[
                ("TRAILWATCH_ACCESS_KEY_ID", ACCESS_KEY_ID),
                ("TRAILWATCH_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY),
            ],
        )
    }

    pub fn start_with_env(data_dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Server {
        Server::launch(data_dir, extra, env, None)
    }

    /// Starts a server on `data_dir` (test credentials) whose open-file limit, soft and hard,
    /// is `files`.
    pub fn start_with_file_limit(data_dir: &Path, extra: &[&str], files: u64) -> Server {
        Server::launch(
            data_dir,
            extra,
            &[
                ("TRAILWATCH_ACCESS_KEY_ID", ACCESS_KEY_ID),
                ("TRAILWATCH_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY),
            ],
            Some(files),
        )
    }

    fn launch(data_dir: &Path, extra: &[&str], env: &[(&str, &str)], files: Option<u64>) -> Server {
        let log = data_dir.with_extension("log");
        let log_file = std::fs::File::create(&log).expect("a log file");
        let mut cmd = match files {
            None => Command::new(binary()),
            Some(n) => {
                // The shell lowers its limits, then becomes the server.
                let mut c = Command::new("bash");
                c.args([
                    "-c",
                    &format!("ulimit -Sn {n} && ulimit -Hn {n} && exec \"$0\" \"$@\""),
                ])
                .arg(binary());
                c
            }
        };
        cmd.arg("serve");
        if !extra.contains(&"--listen") {
            cmd.args(["--listen", "127.0.0.1:0"]);
        }
        cmd.arg("--data-dir")
            .arg(data_dir)
            .args(extra)
            .env_remove("TRAILWATCH_ACCESS_KEY_ID")
            .env_remove("TRAILWATCH_SECRET_ACCESS_KEY")
            .env_remove("TRAILWATCH_REGION")
            .stdout(Stdio::piped())
            .stderr(log_file);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("trailwatch serve starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let first = lines
            .next()
            .and_then(Result::ok)
            .unwrap_or_else(|| panic!("serve printed nothing; log:\n{}", read(&log)));
        let url = first
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
            .to_owned();
        let rest = Arc::new(Mutex::new(Vec::new()));
        let sink = rest.clone();
        let reader = std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                sink.lock().expect("lock").push(line);
            }
        });
        let server = Server {
            child: Some(child),
            url,
            data_dir: data_dir.to_path_buf(),
            log,
            stdout_rest: rest,
            stdout_reader: Some(reader),
            _tmp: None,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while http_get(&server.url, "/healthz").map(|r| r.status) != Some(200) {
            assert!(Instant::now() < deadline, "/healthz never answered 200");
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        read(&self.log)
    }

    /// Stops the server (SIGTERM) and gives every line it printed after the first.
    pub fn printed_until_exit(&mut self) -> Vec<String> {
        self.stop();
        if let Some(reader) = self.stdout_reader.take() {
            reader.join().expect("the stdout reader");
        }
        self.stdout_rest.lock().expect("lock").clone()
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Kills the server with SIGKILL, as a crash would, and waits for it to be gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Creates a topic and subscribes `subscriber` to it; waits for its SubscriptionConfirmation
    /// (confirmed by then, unless the subscriber leaves that to the test). The topic's ARN.
    pub fn subscribed_topic(&self, name: &str, subscriber: &Subscriber) -> String {
        let topic = self.aws_ok(&["sns", "create-topic", "--name", name]);
        let topic = topic["TopicArn"].as_str().expect("TopicArn").to_owned();
        self.aws_ok(&[
            "sns",
            "subscribe",
            "--topic-arn",
            &topic,
            "--protocol",
            "http",
            "--notification-endpoint",
            &subscriber.url,
        ]);
        subscriber.wait_for("SubscriptionConfirmation", Duration::from_secs(30));
        topic
    }

    /// Runs `trailwatch deliveries ARGS --json` against this server with the test
    /// credentials, and returns its parsed answer.
    pub fn deliveries(&self, args: &[&str]) -> serde_json::Value {
        let mut all = vec!["deliveries"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--json", "--endpoint-url", &self.url]);
        let out = trailwatch(
            &all,
            &[
                ("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID),
                ("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY),
                ("AWS_DEFAULT_REGION", REGION),
            ],
        );
        assert!(
            out.status.success(),
            "trailwatch {all:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("JSON from trailwatch deliveries")
    }

    /// Stops the server with SIGTERM and waits for it to exit cleanly.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let status = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status()
                .expect("kill runs");
            assert!(status.success());
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                if let Some(exit) = child.try_wait().expect("wait") {
                    assert!(
                        exit.success(),
                        "serve exited with {exit}; log:\n{}",
                        read(&self.log)
                    );
                    break;
                }
                assert!(Instant::now() < deadline, "serve did not stop on SIGTERM");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    /// Runs the AWS CLI against this server with the test credentials.
    pub fn aws(&self, args: &[&str]) -> Output {
        self.aws_as(args, ACCESS_KEY_ID, SECRET_ACCESS_KEY)
    }

    /// Runs a `trailwatch` command that talks to an endpoint through the AWS SDK (`apply`,
    /// `config export`) against this server, with the test credentials and nothing of the
    /// user's AWS configuration.
    pub fn trailwatch_sdk(&self, args: &[&str]) -> Output {
        self.trailwatch_sdk_env(args, &[])
    }

    /// [`Server::trailwatch_sdk`] with environment variables set (`Some`) or removed (`None`).
    pub fn trailwatch_sdk_env(&self, args: &[&str], env: &[(&str, Option<&str>)]) -> Output {
        let mut cmd = Command::new(binary());
        cmd.args(args).args(["--endpoint-url", &self.url]);
        clean_aws_env(&mut cmd, ACCESS_KEY_ID, SECRET_ACCESS_KEY);
        cmd.env("AWS_EC2_METADATA_DISABLED", "true");
        for (k, v) in env {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        cmd.output().expect("trailwatch runs")
    }

    /// Runs the AWS CLI with other credentials.
    pub fn aws_as(&self, args: &[&str], key: &str, secret: &str) -> Output {
        let venv = venv();
        let mut cmd = Command::new(venv.join("bin/aws"));
        cmd.args(args)
            .args(["--endpoint-url", &self.url, "--output", "json"]);
        clean_aws_env(&mut cmd, key, secret);
        cmd.output().expect("the AWS CLI runs")
    }

    /// Runs the AWS CLI with the test credentials and no region but the one `config_file`
    /// (an AWS config file) gives.
    pub fn aws_with_profile(&self, args: &[&str], config_file: &Path) -> Output {
        let mut cmd = Command::new(venv().join("bin/aws"));
        cmd.args(args)
            .args(["--endpoint-url", &self.url, "--output", "json"]);
        clean_aws_env(&mut cmd, ACCESS_KEY_ID, SECRET_ACCESS_KEY);
        cmd.env_remove("AWS_DEFAULT_REGION")
            .env_remove("AWS_REGION")
            .env("AWS_CONFIG_FILE", config_file);
        cmd.output().expect("the AWS CLI runs")
    }

    /// Runs the AWS CLI and returns its parsed JSON output, failing on a non-zero exit.
    pub fn aws_ok(&self, args: &[&str]) -> serde_json::Value {
        let out = self.aws(args);
        assert!(
            out.status.success(),
            "aws {args:?} failed: {}\nserver log:\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
        let text = String::from_utf8_lossy(&out.stdout);
        if text.trim().is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{text}: {e}"))
        }
    }

    /// Runs the AWS CLI expecting an error; returns its standard error.
    pub fn aws_err(&self, args: &[&str]) -> String {
        let out = self.aws(args);
        assert!(
            !out.status.success(),
            "aws {args:?} succeeded but should have failed: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// Runs a Python script of `tests/py` with the venv's Python; it reads the endpoint and
    /// credentials from the environment and fails with a non-zero exit on any broken check.
    pub fn python(&self, script: &str, env: &[(&str, &str)]) -> Output {
        let venv = venv();
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/py")
            .join(script);
        let mut cmd = Command::new(venv.join("bin/python"));
        cmd.arg(path).env("TRAILWATCH_ENDPOINT", &self.url);
        clean_aws_env(&mut cmd, ACCESS_KEY_ID, SECRET_ACCESS_KEY);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().expect("python runs")
    }

    /// Runs a Python script and fails the test with its output if it fails.
    pub fn python_ok(&self, script: &str, env: &[(&str, &str)]) -> String {
        let out = self.python(script, env);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{script} failed:\n{stdout}\n{}\nserver log:\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
        stdout
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// An AWS CLI/boto3 environment that reads no user configuration.
fn clean_aws_env(cmd: &mut Command, key: &str, secret: &str) {
    cmd.env("AWS_ACCESS_KEY_ID", key)
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .env("AWS_DEFAULT_REGION", REGION)
        .env("AWS_CONFIG_FILE", "/nonexistent/trailwatch-test-config")
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/trailwatch-test-credentials",
        )
        .env("AWS_PAGER", "")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_DATA_PATH");
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// A plain HTTP answer.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// Sends one HTTP/1.1 request (`Connection: close`) and reads the answer.
pub fn http(
    url: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Option<HttpResponse> {
    let host = url.strip_prefix("http://")?.trim_end_matches('/');
    let mut stream = TcpStream::connect(host).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .ok()?;
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    stream.write_all(body).ok()?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).ok()?;
    parse_response(&raw)
}

pub fn http_get(url: &str, path: &str) -> Option<HttpResponse> {
    http(url, "GET", path, &[], b"")
}

fn parse_response(raw: &[u8]) -> Option<HttpResponse> {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"))
    {
        body = dechunk(&body);
    }
    Some(HttpResponse {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(end) = body.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&body[..end]).trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = end + 2;
        out.extend_from_slice(&body[start..(start + size).min(body.len())]);
        body = &body[(start + size + 2).min(body.len())..];
    }
    out
}

/// One POST an SNS subscriber received.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: serde_json::Value,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// How a test subscriber answers Notifications (confirmations are always answered 200).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// 200 at once.
    Ok,
    /// 500 at once.
    ServerError,
    /// Never: the connection is held until the sender gives up (or a minute passes).
    Hang,
}

/// A loopback HTTP endpoint that records every SNS message POSTed to it (each attempt, whatever
/// the answer) and confirms subscriptions by visiting their `SubscribeURL`, as a real
/// subscriber does.
pub struct Subscriber {
    pub url: String,
    received: Arc<(Mutex<Vec<Received>>, Condvar)>,
    behaviour: Arc<Behaviour>,
}

#[derive(Default)]
struct Behaviour {
    answer: AtomicU8,
    /// Do not visit `SubscribeURL`s.
    no_confirm: AtomicBool,
    /// Held (hung) requests whose sender gave up.
    abandoned: AtomicUsize,
}

impl Subscriber {
    pub fn start() -> Subscriber {
        Subscriber::answering(Answer::Ok)
    }

    pub fn answering(answer: Answer) -> Subscriber {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let received = Arc::new((Mutex::new(Vec::new()), Condvar::new()));
        let behaviour = Arc::new(Behaviour::default());
        behaviour.answer.store(answer as u8, Ordering::SeqCst);
        let sink = received.clone();
        let how = behaviour.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                let sink = sink.clone();
                let how = how.clone();
                std::thread::spawn(move || serve_one(stream, &sink, &how));
            }
        });
        Subscriber {
            url: format!("http://{addr}/hook"),
            received,
            behaviour,
        }
    }

    /// Changes how Notifications are answered from now on.
    pub fn answer(&self, answer: Answer) {
        self.behaviour.answer.store(answer as u8, Ordering::SeqCst);
    }

    /// Leaves confirming to the test (the `Token` is in the SubscriptionConfirmation).
    pub fn without_confirming(self) -> Subscriber {
        self.behaviour.no_confirm.store(true, Ordering::SeqCst);
        self
    }

    /// Held requests whose sender has given up on them so far.
    pub fn abandoned(&self) -> usize {
        self.behaviour.abandoned.load(Ordering::SeqCst)
    }

    /// Waits (generously: speed is the benchmarks' job) for a message of `kind`.
    pub fn wait_for(&self, kind: &str, timeout: Duration) -> Received {
        self.wait_until(timeout, |got| {
            got.iter().find(|r| r.body["Type"] == kind).cloned()
        })
        .unwrap_or_else(|got| panic!("no {kind} arrived within {timeout:?}; got {got:?}"))
    }

    /// Waits until `done` finds what it looks for in the messages received so far; the
    /// messages received when the time runs out, if it does.
    pub fn wait_until<T>(
        &self,
        timeout: Duration,
        mut done: impl FnMut(&[Received]) -> Option<T>,
    ) -> Result<T, Vec<Received>> {
        let (lock, cvar) = &*self.received;
        let deadline = Instant::now() + timeout;
        let mut got = lock.lock().expect("lock");
        loop {
            if let Some(found) = done(&got) {
                return Ok(found);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(got.clone());
            }
            got = cvar.wait_timeout(got, left).expect("wait").0;
        }
    }

    /// Everything received so far.
    pub fn all(&self) -> Vec<Received> {
        self.received.0.lock().expect("lock").clone()
    }
}

fn serve_one(mut stream: TcpStream, sink: &(Mutex<Vec<Received>>, Condvar), how: &Behaviour) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let path = request_line.split(' ').nth(1).unwrap_or("/").to_owned();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).is_err() || line.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
    }
    let length: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    let notification =
        body["Type"] != "SubscriptionConfirmation" && body["Type"] != "UnsubscribeConfirmation";
    let answer = match how.answer.load(Ordering::SeqCst) {
        a if a == Answer::ServerError as u8 && notification => Answer::ServerError,
        a if a == Answer::Hang as u8 && notification => Answer::Hang,
        _ => Answer::Ok,
    };
    let record = |body: serde_json::Value| {
        let (lock, cvar) = sink;
        lock.lock().expect("lock").push(Received {
            path,
            headers,
            body,
        });
        cvar.notify_all();
    };
    match answer {
        Answer::Ok => {
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
        Answer::ServerError => {
            let _ = stream.write_all(
                b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
        }
        Answer::Hang => {
            record(body);
            // Hold the request until the sender closes the connection.
            let _ = stream.set_read_timeout(Some(Duration::from_secs(60)));
            let mut byte = [0u8; 1];
            if let Ok(0) = stream.read(&mut byte) {
                how.abandoned.fetch_add(1, Ordering::SeqCst);
            }
            return;
        }
    }
    if body["Type"] == "SubscriptionConfirmation"
        && !how.no_confirm.load(Ordering::SeqCst)
        && let Some(url) = body["SubscribeURL"].as_str()
    {
        // Confirm as a subscriber does: a plain, unsigned GET of SubscribeURL, before the
        // message counts as received (tests go on once it has).
        let (base, path) = split_url(url);
        let confirmed = http_get(&base, &path);
        assert_eq!(
            confirmed.map(|r| r.status),
            Some(200),
            "SubscribeURL GET failed"
        );
    }
    record(body);
}

/// `http://host:port/path?query` into `http://host:port` and `/path?query`. An `https://` URL
/// is reached over plain HTTP: the tests' server stands in for a TLS proxy in front of it.
pub fn split_url(url: &str) -> (String, String) {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .unwrap_or(url);
    match rest.find('/') {
        Some(i) => (format!("http://{}", &rest[..i]), rest[i..].to_owned()),
        None => (url.to_owned(), "/".to_owned()),
    }
}

/// The first event of the real CloudTrail corpus with this `eventName`.
pub fn cloudtrail_event(event_name: &str) -> String {
    let corpus =
        std::fs::read_to_string(workspace().join("testdata/cloudtrail/all_real_events.jsonl"))
            .expect("the corpus");
    let needle = format!("\"eventName\":\"{event_name}\"");
    corpus
        .lines()
        .find(|l| l.contains(&needle))
        .unwrap_or_else(|| panic!("no {event_name} event in the corpus"))
        .to_owned()
}

/// Milliseconds since the epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A real event of the corpus, made new: its own id, the time `time_ms`, this account and
/// region.
pub fn event(name: &str, id: &str, time_ms: i64) -> serde_json::Value {
    static READ: std::sync::Mutex<Vec<(String, serde_json::Value)>> =
        std::sync::Mutex::new(Vec::new());
    let mut read = READ.lock().expect("lock");
    let mut e = match read.iter().find(|(n, _)| n == name) {
        Some((_, e)) => e.clone(),
        None => {
            let e: serde_json::Value =
                serde_json::from_str(&cloudtrail_event(name)).expect("an event");
            read.push((name.to_owned(), e.clone()));
            e
        }
    };
    e["eventID"] = serde_json::json!(id);
    e["eventTime"] = serde_json::json!(iso(time_ms));
    e["recipientAccountId"] = serde_json::json!(ACCOUNT);
    e["awsRegion"] = serde_json::json!("us-east-1");
    e
}

/// `YYYY-MM-DDTHH:MM:SSZ` of epoch milliseconds (days to civil dates: Howard Hinnant's
/// algorithm).
pub fn iso(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// The key CloudTrail would give a delivery file of `region` at `time_ms`, under `prefix`.
pub fn delivery_key(prefix: &str, region: &str, time_ms: i64, unique: &str) -> String {
    let t = iso(time_ms);
    let (y, m, d) = (&t[0..4], &t[5..7], &t[8..10]);
    let stamp = format!("{y}{m}{d}T{}{}Z", &t[11..13], &t[14..16]);
    let base = format!(
        "AWSLogs/{ACCOUNT}/CloudTrail/{region}/{y}/{m}/{d}/{ACCOUNT}_CloudTrail_{region}_{stamp}_{unique}.json.gz"
    );
    if prefix.is_empty() {
        base
    } else {
        format!("{prefix}/{base}")
    }
}

/// A gzip'd `{"Records": [...]}` document, as CloudTrail writes them.
pub fn delivery_file(events: &[serde_json::Value]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(
        serde_json::json!({ "Records": events })
            .to_string()
            .as_bytes(),
    )
    .expect("gzip");
    gz.finish().expect("gzip")
}

/// Writes an object into a bucket folder, whole: written beside it under a hidden name, then
/// renamed, as a careful copying tool (rsync) does.
pub fn put_file(bucket: &Path, key: &str, bytes: &[u8]) -> PathBuf {
    let path = bucket.join(key);
    let folder = path.parent().expect("a folder");
    std::fs::create_dir_all(folder).expect("folders");
    let name = path.file_name().expect("a name").to_string_lossy();
    let part = folder.join(format!(".{name}.part"));
    std::fs::write(&part, bytes).expect("write");
    std::fs::rename(&part, &path).expect("rename");
    path
}
