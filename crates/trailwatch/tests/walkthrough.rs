//! The README's walkthrough, run as written: its three terminals' blocks, taken from README.md,
//! in a scratch folder, with only the ports changed (so tests can run side by side) and the
//! binary of this build for `cargo run --release --` and `target/release/trailwatch`.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{binary, free_port, venv, workspace};

const WAIT: Duration = Duration::from_secs(60);

/// The first ```sh block after the heading that starts with `heading`.
fn block(readme: &str, heading: &str) -> String {
    let start = readme
        .find(&format!("\n{heading}"))
        .unwrap_or_else(|| panic!("README has no heading {heading:?}"));
    let rest = &readme[start..];
    let open = rest.find("```sh\n").expect("a sh block") + "```sh\n".len();
    let close = rest[open..].find("```").expect("the block ends");
    rest[open..open + close].to_owned()
}

/// bash in `dir` with `args`, as a fresh terminal: the AWS CLI on the PATH, no AWS settings of
/// the user's.
fn shell(dir: &std::path::Path, args: &[&str]) -> Command {
    let mut bash = Command::new("bash");
    bash.args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", format!("{}/bin:/usr/bin:/bin", venv().display()))
        .env("HOME", dir)
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_PAGER", "");
    bash
}

/// A terminal: bash running a block, its output gathered.
struct Terminal {
    child: Child,
    out: Arc<Mutex<String>>,
}

impl Terminal {
    fn open(dir: &std::path::Path, script: &str) -> Terminal {
        let mut child = shell(dir, &["-c", script])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("bash runs");
        let out = Arc::new(Mutex::new(String::new()));
        for pipe in [
            Box::new(child.stdout.take().expect("stdout")) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().expect("stderr")),
        ] {
            let out = out.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    let mut o = out.lock().expect("lock");
                    o.push_str(&line);
                    o.push('\n');
                }
            });
        }
        Terminal { child, out }
    }

    fn text(&self) -> String {
        self.out.lock().expect("lock").clone()
    }

    fn wait_for(&self, what: &str) {
        let deadline = Instant::now() + WAIT;
        while !self.text().contains(what) {
            assert!(
                Instant::now() < deadline,
                "{what:?} never appeared; the terminal shows:\n{}",
                self.text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn signal(&mut self, signal: &str) {
        let _ = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

/// The plain ``` block after `intro` in the README: a console example.
fn readme_example(readme: &str, intro: &str) -> String {
    let start = readme
        .find(intro)
        .unwrap_or_else(|| panic!("README has no {intro:?}"));
    let rest = &readme[start..];
    let open = rest.find("```\n").expect("an example block") + "```\n".len();
    let close = rest[open..].find("```").expect("the block ends");
    rest[open..open + close].to_owned()
}

/// Text with every digit a 9: times and dates differ from run to run, their shape does not.
fn masked(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_ascii_digit() { '9' } else { c })
        .collect()
}

#[test]
fn the_readme_walkthrough_ends_with_a_cis_alarm_printed_by_listen() {
    let readme = std::fs::read_to_string(workspace().join("README.md")).expect("README.md");
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::os::unix::fs::symlink(workspace().join("testdata"), dir.path().join("testdata"))
        .expect("testdata");
    std::fs::create_dir_all(dir.path().join("target/release")).expect("target/release");
    std::os::unix::fs::symlink(binary(), dir.path().join("target/release/trailwatch"))
        .expect("the binary");
    let (server_port, listen_port) = (free_port(), free_port());
    let bin = binary().display().to_string();

    let one = block(&readme, "### Terminal 1")
        .replace("cargo run --release -- serve", &format!("exec {bin} serve"))
        .replace(
            "--s3-dir buckets",
            &format!("--s3-dir buckets --listen 127.0.0.1:{server_port}"),
        );
    assert!(one.contains(&format!("exec {bin} serve --cis")), "{one}");
    let mut server = Terminal::open(dir.path(), &one);
    server.wait_for("Serving.");

    let two = block(&readme, "### Terminal 2").replace(
        "target/release/trailwatch listen",
        &format!("exec target/release/trailwatch listen --listen 127.0.0.1:{listen_port}"),
    );
    assert!(
        two.contains("exec target/release/trailwatch listen"),
        "{two}"
    );
    let mut listen = Terminal::open(dir.path(), &two);
    listen.wait_for("listening on");

    let three = block(&readme, "### Terminal 3")
        .replace("127.0.0.1:9000", &format!("127.0.0.1:{listen_port}"));
    let out = shell(dir.path(), &["-euo", "pipefail", "-c", &three])
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "terminal 3 failed:\n{stdout}\n{}\nserver:\n{}",
        String::from_utf8_lossy(&out.stderr),
        server.text()
    );
    assert!(stdout.contains("15 controls: 15 PASS"), "{stdout}");

    // What the README says terminal 2 shows, line for line but for the times.
    listen.wait_for("subject: ALARM: \"cis-iam_policy_changes\" in US East (N. Virginia)");
    let shown = masked(&listen.text());
    let example = readme_example(&readme, "terminal 2 shows:");
    assert_eq!(example.lines().count(), 4, "{example}");
    for line in masked(&example).lines() {
        assert!(
            shown.lines().any(|l| l == line),
            "the README's line {line:?} is not what listen printed:\n{}",
            listen.text()
        );
    }
    listen.signal("-INT");
    server.signal("-TERM");
}
