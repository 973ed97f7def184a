//! End-to-end: `ADD http://…` (issue 10). A small HTTP/1.1 server on 127.0.0.1 inside the
//! test serves files with ETag and Last-Modified, answers conditional requests with 304,
//! redirects, 404s, hangs and acts as a proxy; it counts what it was asked.

mod common;

use common::{context, docker, docker_available, Kiln};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// Last-Modified of every file served.
const DATE: &str = "Wed, 21 Oct 2015 07:28:00 GMT";
const DATE_SHOWN: &str = "2015-10-21 07:28:00";

#[derive(Default)]
struct State {
    files: HashMap<String, Vec<u8>>,
    /// Request lines and conditional headers seen, in order.
    log: Vec<String>,
}

struct Server {
    port: u16,
    state: Arc<Mutex<State>>,
}

impl Server {
    fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State::default()));
        let st = state.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let st = st.clone();
                std::thread::spawn(move || serve(conn, &st));
            }
        });
        Server { port, state }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn put(&self, path: &str, data: &[u8]) {
        let mut s = self.state.lock().unwrap();
        s.files.insert(path.to_string(), data.to_vec());
    }

    fn log(&self) -> Vec<String> {
        self.state.lock().unwrap().log.clone()
    }
}

fn etag(data: &[u8]) -> String {
    format!("\"{}\"", &common_sha(data)[..16])
}

fn common_sha(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

fn serve(conn: TcpStream, st: &Mutex<State>) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut conn = conn;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let target = line.split_whitespace().nth(1).unwrap_or("/").to_string();
        let mut if_none_match = None;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                break;
            }
            let lower = h.to_ascii_lowercase();
            if let Some(v) = lower.strip_prefix("if-none-match:") {
                if_none_match = Some(v.trim().to_string());
            }
        }
        // A proxied request names the whole URL; serve its path.
        let path = match target.split_once("://") {
            Some((_, rest)) => format!("/{}", rest.split_once('/').map_or("", |(_, p)| p)),
            None => target.clone(),
        };
        st.lock().unwrap().log.push(format!(
            "{} {}{}",
            line.split_whitespace().next().unwrap_or(""),
            target,
            if_none_match
                .as_ref()
                .map(|e| format!(" if-none-match={e}"))
                .unwrap_or_default()
        ));
        if path == "/hang" {
            std::thread::sleep(std::time::Duration::from_secs(30));
            return;
        }
        if let Some(to) = path.strip_prefix("/redirect") {
            let resp = format!("HTTP/1.1 302 Found\r\nLocation: {to}\r\nContent-Length: 0\r\n\r\n");
            let _ = conn.write_all(resp.as_bytes());
            continue;
        }
        let file = {
            let st = st.lock().unwrap();
            st.files.get(&path).or_else(|| st.files.get("*")).cloned()
        };
        let Some(data) = file else {
            let _ = conn.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found");
            continue;
        };
        let tag = etag(&data);
        if if_none_match.as_deref() == Some(tag.as_str()) {
            let resp = format!("HTTP/1.1 304 Not Modified\r\nETag: {tag}\r\n\r\n");
            let _ = conn.write_all(resp.as_bytes());
            continue;
        }
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nETag: {tag}\r\nLast-Modified: {DATE}\r\nContent-Type: application/octet-stream\r\n\r\n",
            data.len()
        );
        if conn.write_all(head.as_bytes()).is_err() || conn.write_all(&data).is_err() {
            return;
        }
    }
}

fn tar_gz() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(6);
    h.set_mode(0o644);
    h.set_cksum();
    b.append_data(&mut h, "inside.txt", &b"inside"[..]).unwrap();
    let raw = b.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&raw).unwrap();
    gz.finish().unwrap()
}

/// Every step output line of a plain progress, in order, without the step prefix.
fn output(progress: &str) -> Vec<String> {
    progress
        .lines()
        .filter_map(|l| {
            let mut parts = l.splitn(3, ' ');
            let (n, t, rest) = (parts.next()?, parts.next()?, parts.next()?);
            (n.starts_with('#') && t.parse::<f64>().is_ok()).then(|| rest.to_string())
        })
        .filter(|l| !l.starts_with("writing image") && !l.starts_with("naming to"))
        .collect()
}

fn listing_dockerfile(base: &str, s: &Server, chmod: bool) -> String {
    let chmod = if chmod {
        "--chmod=644 --chown=1000:50 "
    } else {
        ""
    };
    format!(
        "FROM {base}
ADD {} /d/
ADD {chmod}{} /d/
ADD {} /d/renamed.txt
ADD {} /d/
RUN cd /d && stat -c '%n %a %u %g %s %y' * && sha256sum a.tar.gz | cut -c1-16
",
        s.url("/files/hello.txt"),
        s.url("/files/a.tar.gz"),
        s.url("/files/hello.txt"),
        s.url("/redirect/files/other.txt"),
    )
}

fn expected_listing(gz: &[u8], archive_mode: &str, archive_owner: &str) -> Vec<String> {
    let when = format!("{DATE_SHOWN}.000000000 +0000");
    vec![
        format!(
            "a.tar.gz {archive_mode} {archive_owner} {} {when}",
            gz.len()
        ),
        format!("hello.txt 600 0 0 6 {when}"),
        // Named from the URL as written, not from where it redirected.
        format!("other.txt 600 0 0 6 {when}"),
        format!("renamed.txt 600 0 0 6 {when}"),
        common_sha(gz)[..16].to_string(),
    ]
}

fn serve_listing_files(s: &Server) -> Vec<u8> {
    s.put("/files/hello.txt", b"hello\n");
    s.put("/files/other.txt", b"other\n");
    let gz = tar_gz();
    s.put("/files/a.tar.gz", &gz);
    gz
}

#[test]
fn add_url_names_dates_and_keeps_the_file_as_served() {
    let k = Kiln::new();
    let s = Server::start();
    let gz = serve_listing_files(&s);
    let ctx = context(&[("Dockerfile", &listing_dockerfile("busybox", &s, true))]);
    let err = k.build_ok(ctx.path(), "http:1", &[]);
    // Not unpacked (docker's rule for URLs), --chmod and --chown applied.
    assert_eq!(
        output(&err),
        expected_listing(&gz, "644", "1000 50"),
        "{err}"
    );
}

/// Was the step named `step` (`[2/3] ADD …`) CACHED in this plain progress?
fn cached(progress: &str, step: &str) -> bool {
    let number = progress.lines().find_map(|l| {
        let (n, rest) = l.split_once(' ')?;
        (n.starts_with('#') && rest.starts_with(step)).then(|| n.to_string())
    });
    let number = number.unwrap_or_else(|| panic!("no step {step:?} in:\n{progress}"));
    progress.lines().any(|l| l == format!("{number} CACHED"))
}

#[test]
fn add_url_is_cached_by_content_and_revalidated_with_the_etag() {
    let k = Kiln::new();
    let s = Server::start();
    s.put("/v.txt", b"one\n");
    let df = format!(
        "FROM busybox\nADD {} /v.txt\nRUN cat /v.txt\n",
        s.url("/v.txt")
    );
    let ctx = context(&[("Dockerfile", &df)]);
    let first = k.build_ok(ctx.path(), "http:c", &[]);
    assert!(common::printed(&first, "one"), "{first}");
    // Same content: one conditional request answered 304, and the steps are cached.
    let second = k.build_ok(ctx.path(), "http:c", &[]);
    assert!(cached(&second, "[3/3] RUN"), "{second}");
    let log = s.log();
    assert_eq!(log.len(), 2, "{log:?}");
    assert_eq!(log[0], "GET /v.txt");
    assert_eq!(
        log[1],
        format!("GET /v.txt if-none-match={}", etag(b"one\n"))
    );
    // New content: downloaded again, and what follows reruns.
    s.put("/v.txt", b"two\n");
    let third = k.build_ok(ctx.path(), "http:c", &[]);
    assert!(common::printed(&third, "two"), "{third}");
    assert!(!cached(&third, "[3/3] RUN"), "{third}");
    // With a --checksum the store already holds, no request at all.
    let sum = common_sha(b"two\n");
    let df = format!(
        "FROM busybox\nADD --checksum=sha256:{sum} {} /v.txt\nRUN cat /v.txt\n",
        s.url("/v.txt")
    );
    let ctx = context(&[("Dockerfile", &df)]);
    let before = s.log().len();
    let fourth = k.build_ok(ctx.path(), "http:c", &[]);
    assert!(common::printed(&fourth, "two"), "{fourth}");
    assert_eq!(s.log().len(), before, "{:?}", s.log());
}

#[test]
fn bad_urls_get_one_error_naming_the_cause_and_store_nothing() {
    let k = Kiln::new();
    let s = Server::start();
    s.put("/f.txt", b"content\n");
    let wrong = "0".repeat(64);
    let long = "n".repeat(300);
    let cases = vec![
        (
            format!("ADD {} /x", s.url("/missing.txt")),
            format!("{}: invalid response status 404", s.url("/missing.txt")),
        ),
        (
            format!("ADD --checksum=sha256:{wrong} {} /x", s.url("/f.txt")),
            format!(
                "{}: digest mismatch sha256:{}: sha256:{wrong}",
                s.url("/f.txt"),
                common_sha(b"content\n")
            ),
        ),
        (
            format!("ADD --checksum=md5:abc {} /x", s.url("/f.txt")),
            "invalid checksum \"md5:abc\": expected sha256:<64 hex digits>".to_string(),
        ),
        (
            format!("ADD {} /x/", s.url("/a/..")),
            "cannot write the downloaded file \"..\"".to_string(),
        ),
        (
            format!("ADD {} /x/", s.url(&format!("/{long}"))),
            "cannot write the downloaded file".to_string(),
        ),
        (format!("ADD {} /x", s.url("/hang")), s.url("/hang")),
    ];
    let images = k.ok(&["images", "-q"]);
    let snapshots = count(&k.root.path().join("snapshots"));
    for (line, message) in cases {
        let df = format!("FROM busybox\n{line}\n");
        let ctx = context(&[("Dockerfile", &df)]);
        let out = k
            .cmd()
            .args(["build", "--progress=plain", "-t", "bad:1"])
            .arg(ctx.path())
            .env("KILN_HTTP_TIMEOUT", "2")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{line}: {err}");
        let last = err.lines().last().unwrap_or("");
        assert!(last.starts_with("ERROR: "), "{line}: {err}");
        assert!(last.contains(&message), "{line}: {message:?} in {last:?}");
    }
    assert_eq!(k.ok(&["images", "-q"]), images, "no image stored");
    assert_eq!(
        count(&k.root.path().join("snapshots")),
        snapshots,
        "no snapshot left"
    );
    assert!(
        !k.root.path().join("http-cache").exists(),
        "nothing remembered"
    );
}

/// Entries under `dir`, recursively.
fn count(dir: &std::path::Path) -> usize {
    let mut n = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            n += 1;
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                stack.push(e.path());
            }
        }
    }
    n
}

#[test]
fn add_url_goes_through_the_proxy_of_the_environment() {
    let k = Kiln::new();
    let s = Server::start();
    s.put("/via-proxy.txt", b"proxied\n");
    let df = "FROM busybox\nADD http://kiln-proxy-test.invalid/via-proxy.txt /p\nRUN cat /p\n";
    let ctx = context(&[("Dockerfile", df)]);
    let out = k
        .cmd()
        .args(["build", "--progress=plain", "-t", "http:proxy"])
        .arg(ctx.path())
        .env("HTTP_PROXY", s.url(""))
        .env("http_proxy", s.url(""))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(common::printed(&err, "proxied"), "{err}");
    assert_eq!(
        s.log(),
        ["GET http://kiln-proxy-test.invalid/via-proxy.txt"]
    );
}

#[test]
fn docker_adds_the_same_files() {
    if !docker_available() {
        return;
    }
    let k = Kiln::new();
    let s = Server::start();
    let gz = serve_listing_files(&s);
    let base = common::docker_busybox("kiln-http-peer");
    // docker 20.10 ignores --chmod on URLs: compare without it.
    let dctx = context(&[("Dockerfile", &listing_dockerfile(&base, &s, false))]);
    let d = docker(&[
        "build",
        "--network=host",
        "--no-cache",
        "--progress=plain",
        dctx.path().to_str().unwrap(),
    ]);
    let _ = docker(&["rmi", "-f", &base]);
    let derr = String::from_utf8_lossy(&d.stderr);
    assert!(d.status.success(), "{derr}");
    let kctx = context(&[("Dockerfile", &listing_dockerfile("busybox", &s, false))]);
    let kerr = k.build_ok(kctx.path(), "http:peer", &[]);
    assert_eq!(
        output(&kerr),
        output(&derr),
        "kiln:\n{kerr}\ndocker:\n{derr}"
    );
    assert_eq!(output(&kerr), expected_listing(&gz, "600", "0 0"));
}

/// The hostile corpus's URL names: a name that is not one is refused before anything is
/// fetched; the others land as one file inside the image, even where the destination is a
/// symlink to a host directory (the sentinel, which must not change).
#[test]
fn hostile_url_names_stay_one_file_inside_the_image() {
    let k = Kiln::new();
    let s = Server::start();
    s.put("*", b"served\n");
    let sentinel = kiln_hostile::Sentinel::new(&common::test_tmp());
    for case in kiln_hostile::url_names() {
        let df = format!(
            "FROM busybox\nRUN ln -s {} /hostlink\nADD {} /hostlink/\nRUN ls /hostlink/ && cat /hostlink/*\n",
            sentinel.path().display(),
            s.url(&case.path)
        );
        let ctx = context(&[("Dockerfile", &df)]);
        let (ok, err) = k.build(ctx.path(), "hostile:url", &[]);
        match case.add {
            kiln_hostile::Outcome::Refused => {
                assert!(!ok, "{}: should be refused:\n{err}", case.name);
                assert!(
                    err.contains("cannot write the downloaded file"),
                    "{}: {err}",
                    case.name
                );
            }
            kiln_hostile::Outcome::Accepted => {
                assert!(ok, "{}: {err}", case.name);
                let file = case.file.as_deref().unwrap();
                assert!(
                    common::printed(&err, file),
                    "{}: {file} in {err}",
                    case.name
                );
                assert!(common::printed(&err, "served"), "{}: {err}", case.name);
            }
        }
        sentinel
            .check()
            .unwrap_or_else(|e| panic!("{}: {e}", case.name));
    }
}
