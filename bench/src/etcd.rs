//! The raft-commit benchmark's peer: a 3-member etcd cluster (Debian's
//! `etcd-server`) on loopback, each member with its own data folder, and
//! TLS with client certificates on both the client and the peer ports, as
//! our coordinators have on QUIC. etcd syncs its WAL on every append; there
//! is no flag here to turn that off.
//!
//! The client speaks etcd's own gRPC API (`etcdserverpb.KV/Put`) over one
//! HTTP/2 connection per client with TLS, written out by hand: a Put
//! request is two protobuf fields, and the answer counts once its
//! `grpc-status` is 0. The leader is found with `etcdctl endpoint status`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use mevfleet_tests::{free_ports, wait_until, ChildProcess};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

/// The bench's own CA and what it issued, as PEM files in one folder
/// (`ca.pem`, `server.pem`/`.key`, `client.pem`/`.key`).
#[derive(Clone, Debug)]
pub struct EtcdTls {
    /// The folder.
    pub dir: PathBuf,
}

impl EtcdTls {
    /// A fresh CA, a certificate for 127.0.0.1 written to `dir` (server and
    /// peer), and a client certificate.
    fn issue(dir: &Path) -> anyhow::Result<Self> {
        let ca_key = KeyPair::generate()?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_cert = ca_params.self_signed(&ca_key)?;
        let issuer = Issuer::new(ca_params, ca_key);
        let leaf = |names: Vec<String>| -> anyhow::Result<(String, String)> {
            let key = KeyPair::generate()?;
            let cert = CertificateParams::new(names)?.signed_by(&key, &issuer)?;
            Ok((cert.pem(), key.serialize_pem()))
        };
        let (server_cert, server_key) = leaf(vec!["127.0.0.1".into(), "localhost".into()])?;
        let (client_cert, client_key) = leaf(vec!["bench-client".into()])?;
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join("ca.pem"), ca_cert.pem())?;
        std::fs::write(dir.join("server.pem"), server_cert)?;
        std::fs::write(dir.join("server.key"), server_key)?;
        std::fs::write(dir.join("client.pem"), client_cert)?;
        std::fs::write(dir.join("client.key"), client_key)?;
        Ok(Self {
            dir: dir.to_owned(),
        })
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// A TLS client config that trusts the CA, shows the client
    /// certificate and offers HTTP/2.
    fn client_config(&self) -> anyhow::Result<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(CertificateDer::from_pem_file(self.file("ca.pem"))?)?;
        let chain = vec![CertificateDer::from_pem_file(self.file("client.pem"))?];
        let key = PrivateKeyDer::from_pem_file(self.file("client.key"))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)?;
        config.alpn_protocols = vec![b"h2".to_vec()];
        Ok(config)
    }
}

/// One client's connection to an etcd member.
#[derive(Debug)]
pub struct EtcdKv {
    send: h2::client::SendRequest<Bytes>,
    uri: String,
}

impl EtcdKv {
    /// Connects to the member at `addr`.
    pub async fn connect(tls: &EtcdTls, addr: SocketAddr) -> anyhow::Result<Self> {
        let tcp = tokio::net::TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        let connector = tokio_rustls::TlsConnector::from(Arc::new(tls.client_config()?));
        let stream = connector
            .connect(ServerName::IpAddress(addr.ip().into()), tcp)
            .await?;
        let (send, connection) = h2::client::handshake(stream).await?;
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                eprintln!("etcd connection: {err}");
            }
        });
        Ok(Self {
            send,
            uri: format!("https://{addr}/etcdserverpb.KV/Put"),
        })
    }

    /// `Put(key, value)`, answered once etcd has committed it.
    pub async fn put(&mut self, key: &str, value: &str) -> anyhow::Result<()> {
        let request = http::Request::post(&self.uri)
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .body(())?;
        let mut send = self.send.clone().ready().await?;
        let (response, mut body) = send.send_request(request, false)?;
        body.send_data(grpc_frame(&put_request(key, value)), true)?;
        let response = response.await?;
        anyhow::ensure!(response.status() == 200, "HTTP {}", response.status());
        // A trailers-only answer carries the status in its headers.
        if let Some(status) = response.headers().get("grpc-status") {
            return grpc_ok(status, response.headers());
        }
        let mut body = response.into_body();
        while let Some(chunk) = body.data().await {
            let chunk = chunk?;
            body.flow_control().release_capacity(chunk.len())?;
        }
        let trailers = body
            .trailers()
            .await?
            .ok_or_else(|| anyhow::anyhow!("no gRPC trailers"))?;
        let status = trailers
            .get("grpc-status")
            .ok_or_else(|| anyhow::anyhow!("no grpc-status"))?;
        grpc_ok(status, &trailers)
    }
}

fn grpc_ok(status: &http::HeaderValue, headers: &http::HeaderMap) -> anyhow::Result<()> {
    anyhow::ensure!(
        status.as_bytes() == b"0",
        "grpc-status {status:?}: {:?}",
        headers.get("grpc-message")
    );
    Ok(())
}

/// A protobuf `PutRequest { key = 1, value = 2 }`.
fn put_request(key: &str, value: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(key.len() + value.len() + 6);
    for (tag, field) in [(0x0a, key), (0x12, value)] {
        out.push(tag);
        let mut len = field.len();
        while len >= 0x80 {
            out.push((len as u8 & 0x7f) | 0x80);
            len >>= 7;
        }
        out.push(len as u8);
        out.extend_from_slice(field.as_bytes());
    }
    out
}

/// A gRPC message frame: uncompressed, 4-byte big-endian length.
fn grpc_frame(message: &[u8]) -> Bytes {
    let mut frame = BytesMut::with_capacity(message.len() + 5);
    frame.put_u8(0);
    frame.put_u32(message.len() as u32);
    frame.put_slice(message);
    frame.freeze()
}

/// A running 3-member etcd cluster.
#[derive(Debug)]
pub struct EtcdCluster {
    /// Each member's client address.
    pub clients: Vec<SocketAddr>,
    /// TLS for clients.
    pub tls: EtcdTls,
    /// The processes (stopped when dropped).
    pub processes: Vec<ChildProcess>,
}

impl EtcdCluster {
    /// Starts three `etcd` members under `root` and waits until a leader
    /// answers.
    pub async fn start(etcd: &str, root: &Path) -> anyhow::Result<Self> {
        let tls_dir = root.join("etcd-tls");
        let tls = EtcdTls::issue(&tls_dir)?;
        let ports: Vec<(SocketAddr, SocketAddr)> = (0..3)
            .map(|_| free_ports())
            .collect::<anyhow::Result<_>>()?;
        let cluster: Vec<String> = ports
            .iter()
            .enumerate()
            .map(|(i, (_, peer))| format!("m{i}=https://{peer}"))
            .collect();
        let file = |name: &str| tls.file(name);
        let mut processes = Vec::new();
        for (i, (client, peer)) in ports.iter().enumerate() {
            let mut command = Command::new(etcd);
            command
                .arg(format!("--name=m{i}"))
                .arg(format!(
                    "--data-dir={}",
                    root.join(format!("etcd-{i}")).display()
                ))
                .arg(format!("--listen-client-urls=https://{client}"))
                .arg(format!("--advertise-client-urls=https://{client}"))
                .arg(format!("--listen-peer-urls=https://{peer}"))
                .arg(format!("--initial-advertise-peer-urls=https://{peer}"))
                .arg(format!("--initial-cluster={}", cluster.join(",")))
                .arg("--initial-cluster-state=new")
                .arg("--initial-cluster-token=mevfleet-bench")
                .arg(format!("--cert-file={}", file("server.pem").display()))
                .arg(format!("--key-file={}", file("server.key").display()))
                .arg(format!("--trusted-ca-file={}", file("ca.pem").display()))
                .arg("--client-cert-auth")
                .arg(format!("--peer-cert-file={}", file("server.pem").display()))
                .arg(format!("--peer-key-file={}", file("server.key").display()))
                .arg(format!(
                    "--peer-trusted-ca-file={}",
                    file("ca.pem").display()
                ))
                .arg("--peer-client-cert-auth")
                .arg("--logger=zap")
                .arg("--log-level=warn");
            processes.push(ChildProcess::spawn(command).map_err(|err| {
                anyhow::anyhow!(
                    "cannot start {etcd} (scripts/bench/raft-commit.sh installs it): {err}"
                )
            })?);
        }
        let cluster = Self {
            clients: ports.iter().map(|(client, _)| *client).collect(),
            tls,
            processes,
        };
        cluster.leader().await?;
        Ok(cluster)
    }

    /// The leader's client address, once there is one (`etcdctl`).
    pub async fn leader(&self) -> anyhow::Result<SocketAddr> {
        let endpoints: Vec<String> = self
            .clients
            .iter()
            .map(|a| format!("https://{a}"))
            .collect();
        wait_until("an etcd leader", Duration::from_secs(60), || async {
            let output = tokio::process::Command::new("etcdctl")
                .env("ETCDCTL_API", "3")
                .arg(format!("--endpoints={}", endpoints.join(",")))
                .arg(format!("--cacert={}", self.tls.file("ca.pem").display()))
                .arg(format!("--cert={}", self.tls.file("client.pem").display()))
                .arg(format!("--key={}", self.tls.file("client.key").display()))
                .args(["endpoint", "status", "--write-out=json"])
                .output()
                .await
                .ok()?;
            let status: serde_json::Value = serde_json::from_slice(&output.stdout).ok()?;
            status.as_array()?.iter().find_map(|member| {
                let leader = member["Status"]["leader"].as_u64()?;
                let me = member["Status"]["header"]["member_id"].as_u64()?;
                let endpoint = member["Endpoint"].as_str()?;
                (leader != 0 && leader == me)
                    .then(|| endpoint.strip_prefix("https://")?.parse().ok())
                    .flatten()
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_put_request_is_two_length_delimited_fields_in_a_grpc_frame() {
        assert_eq!(put_request("k", "vv"), b"\x0a\x01k\x12\x02vv");
        // A length of 200 takes two varint bytes.
        let long = "x".repeat(200);
        assert_eq!(&put_request("k", &long)[3..6], b"\x12\xc8\x01");
        assert_eq!(&grpc_frame(b"abc")[..], b"\x00\x00\x00\x00\x03abc");
    }
}
