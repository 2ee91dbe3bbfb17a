//! `--listen-cli` (rtpengine-ctl's text protocol) and `--listen-udp` (the
//! rtpproxy-compatible protocol). Both are bound so that existing configs
//! start, but no command of theirs is implemented yet: each request gets an
//! explicit error rather than silence.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};

pub async fn serve_cli(listener: TcpListener) {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await;
            let n = match read {
                Ok(Ok(n)) => n,
                _ => return,
            };
            let cmd = String::from_utf8_lossy(buf.get(..n).unwrap_or_default());
            let cmd = cmd.trim();
            let reply = format!("Command '{cmd}' is not supported by rtpbolt yet\n");
            let _ = stream.write_all(reply.as_bytes()).await;
            let _ = stream.shutdown().await;
        });
    }
}

pub async fn serve_udp(sock: UdpSocket) {
    let mut buf = vec![0u8; 65536];
    loop {
        let Ok((n, peer)) = sock.recv_from(&mut buf).await else {
            continue;
        };
        let msg = buf.get(..n).unwrap_or_default();
        let Some(cookie) = msg.split(|b| b.is_ascii_whitespace()).next() else {
            continue;
        };
        if cookie.is_empty() {
            continue;
        }
        // rtpproxy's "command not supported" error code.
        let mut reply = cookie.to_vec();
        reply.extend_from_slice(b" E1\n");
        let _ = sock.send_to(&reply, peer).await;
    }
}
