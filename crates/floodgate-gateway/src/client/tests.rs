//! The client against real upstreams on 127.0.0.1: hyper's server, and raw sockets that
//! answer with exactly the bytes a test gives.

use super::*;
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// An upstream on 127.0.0.1 (hyper's server) answering with the request's body, or "ok"
/// for an empty one; counts its connections.
async fn upstream() -> (Authority, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let authority = listener.local_addr().unwrap().to_string().parse().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&accepted);
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            count.fetch_add(1, Ordering::SeqCst);
            let service =
                hyper::service::service_fn(|request: Request<hyper::body::Incoming>| async {
                    let body = request.into_body().collect().await.unwrap().to_bytes();
                    let body = if body.is_empty() {
                        Bytes::from_static(b"ok")
                    } else {
                        body
                    };
                    Ok::<_, std::convert::Infallible>(Response::new(http_body_util::Full::new(
                        body,
                    )))
                });
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), service),
            );
        }
    });
    (authority, accepted)
}

/// An upstream that reads one request head (and a body of its Content-Length) per
/// answer and writes the given answers in turn, then closes the connection.
async fn raw_upstream(answers: Vec<&'static [u8]>) -> Authority {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let authority = listener.local_addr().unwrap().to_string().parse().unwrap();
    tokio::spawn(async move {
        let (mut tcp, _) = listener.accept().await.unwrap();
        let mut buf = Vec::new();
        for answer in answers {
            loop {
                if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    buf.drain(..end + 4);
                    break;
                }
                let mut chunk = [0; 4096];
                let n = tcp.read(&mut chunk).await.unwrap();
                if n == 0 {
                    return;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            tcp.write_all(answer).await.unwrap();
        }
    });
    authority
}

async fn send(pool: &Pool, authority: &Authority, body: UpstreamBody) -> Result<Bytes, String> {
    let request = Request::post("/").body(body).unwrap();
    let response = pool
        .send(authority, request, &Rewrite::NONE)
        .await
        .map_err(|e| e.to_string())?;
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?;
    Ok(body.to_bytes())
}

async fn get(pool: &Pool, authority: &Authority) -> Bytes {
    send(pool, authority, UpstreamBody::full(Bytes::new()))
        .await
        .unwrap()
}

#[tokio::test]
async fn requests_one_after_another_share_one_connection() {
    let (authority, accepted) = upstream().await;
    let pool = Pool::default();
    for _ in 0..3 {
        assert_eq!(get(&pool, &authority).await, "ok");
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
    assert_eq!(pool.idle(), 1);
}

#[tokio::test]
async fn bodies_go_whole_and_streamed_of_unknown_length() {
    let (authority, _) = upstream().await;
    let pool = Pool::default();
    let big = Bytes::from(vec![b'x'; 200_000]);
    assert_eq!(
        send(&pool, &authority, UpstreamBody::full(big.clone()))
            .await
            .unwrap(),
        big
    );
    // a client body without a length goes chunked
    let chunks = futures_util::stream::iter(
        [
            Bytes::from_static(b"abc"),
            Bytes::from_static(b""),
            Bytes::from_static(b"defg"),
        ]
        .map(|b| Ok::<_, std::io::Error>(http_body::Frame::data(b))),
    );
    let body = axum::body::Body::new(http_body_util::StreamBody::new(chunks));
    let (body, _) = UpstreamBody::stream(body, None);
    assert_eq!(send(&pool, &authority, body).await.unwrap(), "abcdefg");
}

#[tokio::test]
async fn another_upstream_gets_its_own_connection() {
    let (first, first_accepted) = upstream().await;
    let (second, second_accepted) = upstream().await;
    let pool = Pool::default();
    get(&pool, &first).await;
    get(&pool, &second).await;
    assert_eq!(first_accepted.load(Ordering::SeqCst), 1);
    assert_eq!(second_accepted.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn idle_connections_are_closed_after_enough_rounds() {
    let (authority, _) = upstream().await;
    let pool = Pool::default();
    get(&pool, &authority).await;
    for _ in 1..IDLE_ROUNDS {
        pool.reap();
    }
    assert_eq!(pool.idle(), 1, "still young enough");
    pool.reap();
    assert_eq!(pool.idle(), 0);
}

#[tokio::test]
async fn nothing_listening_is_a_connect_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let authority: Authority = listener.local_addr().unwrap().to_string().parse().unwrap();
    drop(listener);
    let request = Request::get("/").body(UpstreamBody::full(Bytes::new()));
    let sent = Pool::default()
        .send(&authority, request.unwrap(), &Rewrite::NONE)
        .await;
    assert!(matches!(sent, Err(SendError::Connect(_))));
}

#[tokio::test]
async fn chunked_interim_and_close_delimited_answers() {
    let authority = raw_upstream(vec![
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0010\r\n0123456789abcdef\r\n0\r\nX-Trailer: 1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi",
        b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end",
    ])
    .await;
    let pool = Pool::default();
    assert_eq!(get(&pool, &authority).await, "abc0123456789abcdef");
    assert_eq!(
        pool.idle(),
        1,
        "a chunked answer read to its end frees its connection"
    );
    assert_eq!(get(&pool, &authority).await, "hi");
    assert_eq!(get(&pool, &authority).await, "until the end");
    assert_eq!(
        pool.idle(),
        0,
        "a close-delimited answer ends its connection"
    );
}

#[tokio::test]
async fn an_idle_connection_the_upstream_closed_is_not_used() {
    // one answer, then the upstream closes the connection
    let authority = raw_upstream(vec![b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"]).await;
    let pool = Pool::default();
    assert_eq!(get(&pool, &authority).await, "hi");
    assert_eq!(pool.idle(), 1);
    // let the runtime see the close
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    pool.reap();
    assert_eq!(pool.idle(), 0);
}

#[tokio::test]
async fn broken_answers_are_errors_and_close_their_connection() {
    for answer in [
        &b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"[..],
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXY",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n+3\r\nabc\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n 3\r\nabc\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0x3\r\nabc\r\n0\r\n\r\n",
    ] {
        let authority = raw_upstream(vec![answer]).await;
        let pool = Pool::default();
        assert!(send(&pool, &authority, UpstreamBody::full(Bytes::new()))
            .await
            .is_err());
        assert_eq!(pool.idle(), 0);
    }
    let authority = raw_upstream(vec![b"garbage\r\n\r\n"]).await;
    let sent = Pool::default()
        .send(
            &authority,
            Request::get("/")
                .body(UpstreamBody::full(Bytes::new()))
                .unwrap(),
            &Rewrite::NONE,
        )
        .await;
    assert!(matches!(sent, Err(SendError::Request(_))));
}

#[tokio::test]
async fn a_body_dropped_early_closes_its_connection() {
    let (authority, accepted) = upstream().await;
    let pool = Pool::default();
    let big = Bytes::from(vec![b'y'; 1_000_000]);
    let request = Request::post("/").body(UpstreamBody::full(big)).unwrap();
    let response = pool
        .send(&authority, request, &Rewrite::NONE)
        .await
        .unwrap();
    drop(response);
    assert_eq!(pool.idle(), 0);
    assert_eq!(get(&pool, &authority).await, "ok");
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
}

/// Reads from `tcp` until a request head has ended: false if the connection ended (or
/// failed) first.
pub(super) async fn read_head(tcp: &mut tokio::net::TcpStream) -> bool {
    let mut head = Vec::new();
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let mut chunk = [0; 4096];
        match tcp.read(&mut chunk).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => head.extend_from_slice(&chunk[..n]),
        }
    }
    true
}

/// An upstream that reads only the request head, refuses the upload at once and then
/// neither reads the rest nor closes (as a server that has stopped reading does).
async fn refusing_upstream() -> Authority {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let authority = listener.local_addr().unwrap().to_string().parse().unwrap();
    tokio::spawn(async move {
        let (mut tcp, _) = listener.accept().await.unwrap();
        assert!(read_head(&mut tcp).await, "a request head");
        tcp.write_all(b"HTTP/1.1 413 Payload Too Large\r\ncontent-length: 8\r\n\r\ntoo big!")
            .await
            .unwrap();
        tokio::time::sleep(std::time::Duration::from_secs(30)).await;
        drop(tcp);
    });
    authority
}

#[tokio::test]
async fn an_upload_refused_early_gets_its_answer_while_the_body_still_streams() {
    let authority = refusing_upstream().await;
    let pool = Pool::default();
    // 256 MB in 64 KB chunks, far more than the sockets' buffers hold: the sending
    // stops when the upstream's answer comes, instead of waiting for room that never comes.
    let chunk = Bytes::from(vec![b'x'; 64 * 1024]);
    let chunks = futures_util::stream::iter(
        std::iter::repeat_n(chunk, 4096)
            .map(|b| Ok::<_, std::io::Error>(http_body::Frame::data(b))),
    );
    let (body, _) = UpstreamBody::stream(
        axum::body::Body::new(http_body_util::StreamBody::new(chunks)),
        None,
    );
    let request = Request::post("/upload").body(body).unwrap();
    let response = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        pool.send(&authority, request, &Rewrite::NONE),
    )
    .await
    .expect("the early answer arrives before the body is sent")
    .unwrap();
    assert_eq!(response.status(), 413);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "too big!");
    assert_eq!(
        pool.idle(),
        0,
        "a connection whose request was cut off is not reused"
    );
}
