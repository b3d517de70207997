//! The lab image server over real HTTP: ranges answer 206 with exactly the asked bytes, `If-Range`
//! with a stale validator gets the whole file, traversal and directory listing are refused, a
//! missing file is 404.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;
use steward_wiring::image_server::{serve_images, ImageServerOptions, ServedImages};

/// 1 MiB with a pattern that makes any misplaced range visible.
fn image_bytes() -> Vec<u8> {
    (0..1_048_576u32).map(|i| (i % 251) as u8).collect()
}

async fn start() -> (tempfile::TempDir, tempfile::TempDir, ServedImages) {
    let root = tempfile::tempdir().unwrap();
    let images = root.path().join("images");
    std::fs::create_dir_all(images.join("sub")).unwrap();
    std::fs::write(images.join("install.iso"), image_bytes()).unwrap();
    std::fs::write(images.join("sub").join("nested.iso"), b"nested").unwrap();
    // A secret next to the image directory: traversal must not reach it.
    std::fs::write(root.path().join("secret.txt"), b"do not serve").unwrap();
    let outside = tempfile::tempdir().unwrap();
    let served = serve_images(ImageServerOptions {
        dir: images,
        bind: "127.0.0.1:0".parse().unwrap(),
    })
    .await
    .expect("image server starts");
    (root, outside, served)
}

/// One raw request (reqwest would normalize `..` away before sending), status and body.
fn raw(addr: SocketAddr, path: &str) -> (u16, Vec<u8>) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let text = String::from_utf8_lossy(&out);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = match out.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(i) => out[i + 4..].to_vec(),
        None => Vec::new(),
    };
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn range_requests_return_the_right_bytes() {
    let (_root, _outside, served) = start().await;
    let http = reqwest::Client::new();
    let url = served.url_of("install.iso");
    assert!(url.starts_with("http://127.0.0.1:") && url.ends_with("/images/install.iso"));
    let all = image_bytes();

    let full = http.get(&url).send().await.unwrap();
    assert_eq!(full.status().as_u16(), 200);
    assert_eq!(full.headers()["accept-ranges"].to_str().unwrap(), "bytes");
    let last_modified = full
        .headers()
        .get("last-modified")
        .map(|v| v.to_str().unwrap().to_string())
        .expect("Last-Modified for If-Range");
    assert_eq!(full.bytes().await.unwrap().as_ref(), &all[..]);

    let part = http
        .get(&url)
        .header("Range", "bytes=1000-1999")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status().as_u16(), 206);
    assert_eq!(
        part.headers()["content-range"].to_str().unwrap(),
        format!("bytes 1000-1999/{}", all.len())
    );
    assert_eq!(part.bytes().await.unwrap().as_ref(), &all[1000..2000]);

    // The last 10 bytes (suffix range).
    let tail = http
        .get(&url)
        .header("Range", "bytes=-10")
        .send()
        .await
        .unwrap();
    assert_eq!(tail.status().as_u16(), 206);
    assert_eq!(tail.bytes().await.unwrap().as_ref(), &all[all.len() - 10..]);

    // If-Range with the current validator: the range; with a stale one: the whole file.
    let same = http
        .get(&url)
        .header("Range", "bytes=0-9")
        .header("If-Range", &last_modified)
        .send()
        .await
        .unwrap();
    assert_eq!(same.status().as_u16(), 206);
    let stale = http
        .get(&url)
        .header("Range", "bytes=0-9")
        .header("If-Range", "Mon, 01 Jan 2001 00:00:00 GMT")
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status().as_u16(), 200);
    assert_eq!(stale.bytes().await.unwrap().len(), all.len());

    // Past the end: 416.
    let past = http
        .get(&url)
        .header("Range", format!("bytes={}-", all.len() + 5))
        .send()
        .await
        .unwrap();
    assert_eq!(past.status().as_u16(), 416);

    // HEAD: the size, no body.
    let head = http.head(&url).send().await.unwrap();
    assert_eq!(head.status().as_u16(), 200);
    assert_eq!(
        head.headers()["content-length"].to_str().unwrap(),
        all.len().to_string()
    );
    served.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traversal_listing_and_missing_files_are_refused() {
    let (_root, _outside, served) = start().await;
    let addr = served.addr;
    for path in [
        "/images/../secret.txt",
        "/images/%2e%2e/secret.txt",
        "/images/sub/../../secret.txt",
        "/images/%2e%2e%2fsecret.txt",
        "/images/..%2fsecret.txt",
    ] {
        let (status, body) = raw(addr, path);
        assert!(
            status == 404 || status == 400,
            "{path}: {status} {}",
            String::from_utf8_lossy(&body)
        );
        assert!(
            !String::from_utf8_lossy(&body).contains("do not serve"),
            "{path}"
        );
    }
    // Directories are not listed.
    for path in ["/images/", "/images/sub/", "/images"] {
        let (status, _) = raw(addr, path);
        assert_eq!(status, 404, "{path}");
    }
    assert_eq!(raw(addr, "/images/missing.iso").0, 404);
    assert_eq!(raw(addr, "/secret.txt").0, 404);
    // Below the directory is fine.
    let (status, body) = raw(addr, "/images/sub/nested.iso");
    assert_eq!((status, body.as_slice()), (200, &b"nested"[..]));
    served.stop().await;
}

#[tokio::test]
async fn a_missing_directory_fails_at_start() {
    let err = serve_images(ImageServerOptions {
        dir: "/nonexistent/steward-images".into(),
        bind: "127.0.0.1:0".parse().unwrap(),
    })
    .await
    .err()
    .expect("refused");
    assert!(
        err.to_string().contains("/nonexistent/steward-images"),
        "{err}"
    );
}
