//! Reading our HTTP endpoints from tests: a plain GET on loopback, and
//! `promtool check metrics` on an exposition.

/// Runs `promtool check metrics` on `text`; returns what it complained
/// about (empty when the exposition is clean).
pub fn promtool_check_metrics(text: &str) -> anyhow::Result<String> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|err| anyhow::anyhow!("promtool (from scripts/setup.sh) did not run: {err}"))?;
    child
        .stdin
        .take()
        .ok_or_else(|| anyhow::anyhow!("promtool stdin"))?
        .write_all(text.as_bytes())?;
    let out = child.wait_with_output()?;
    let complaints = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    anyhow::ensure!(
        out.status.success() || !complaints.trim().is_empty(),
        "promtool failed without saying why"
    );
    Ok(complaints.trim().to_owned())
}

/// A plain HTTP/1.0 GET on loopback, returning the body.
pub async fn http_get(addr: std::net::SocketAddr, path: &str) -> anyhow::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .ok_or_else(|| anyhow::anyhow!("no HTTP body"))?;
    anyhow::ensure!(
        head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
        "{head}"
    );
    Ok(body.to_owned())
}

/// The value of an unlabelled metric on the `/metrics` page at `addr`.
pub async fn metric_at(addr: std::net::SocketAddr, name: &str) -> anyhow::Result<f64> {
    let page = http_get(addr, "/metrics").await?;
    metric_in(&page, name).map_err(|err| anyhow::anyhow!("{err} (/metrics at {addr})"))
}

/// The value of the unlabelled sample `name` on a metrics page.
pub fn metric_in(page: &str, name: &str) -> anyhow::Result<f64> {
    page.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .ok_or_else(|| anyhow::anyhow!("no {name} on the page"))?
        .trim()
        .parse()
        .map_err(|err| anyhow::anyhow!("{name}: {err}"))
}

/// A JSON-RPC call over a plain HTTP/1.0 POST on loopback: the whole
/// response object (`result` or `error`).
pub async fn json_rpc(
    addr: std::net::SocketAddr,
    method: &str,
    params: serde_json::Value,
) -> anyhow::Result<serde_json::Value> {
    json_rpc_with_headers(addr, method, params, &[]).await
}

/// Like [`json_rpc`], with extra request headers.
pub async fn json_rpc_with_headers(
    addr: std::net::SocketAddr,
    method: &str,
    params: serde_json::Value,
    headers: &[(&str, &str)],
) -> anyhow::Result<serde_json::Value> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let body = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
        .to_string();
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    stream
        .write_all(
            format!(
                "POST / HTTP/1.0\r\nHost: {addr}\r\nContent-Type: application/json\r\n{}Content-Length: {}\r\n\r\n{body}",
                headers
                    .iter()
                    .map(|(k, v)| format!("{k}: {v}\r\n"))
                    .collect::<String>(),
                body.len()
            )
            .as_bytes(),
        )
        .await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    let (_, body) = response
        .split_once("\r\n\r\n")
        .ok_or_else(|| anyhow::anyhow!("no HTTP body in {response}"))?;
    Ok(serde_json::from_str(body)?)
}

/// A plain HTTP/1.0 POST on loopback: the status code and the body.
pub async fn http_post(
    addr: std::net::SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> anyhow::Result<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    let extra: String = headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    stream
        .write_all(
            format!(
                "POST {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Type: application/json\r\n{extra}Content-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        )
        .await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .ok_or_else(|| anyhow::anyhow!("no HTTP body in {response}"))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no status in {head}"))?;
    Ok((status, body.to_owned()))
}
