//! Multi-rank runs: the ranks from the environment (`RANK`, `WORLD_SIZE`,
//! `LOCAL_RANK`, as torchrun sets them), the rendezvous that shares rank
//! 0's communicator id (`MASTER_ADDR`/`MASTER_PORT` over TCP, or a file
//! named by `VYRE_RENDEZVOUS_FILE`), and the all-reduce between steps:
//! NCCL on CUDA (feature `nccl`), the rendezvous connections themselves on
//! the CPU.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::cli::Backend;
use crate::error::{LauncherError, Result};
use crate::manifest::ReduceOp;
use crate::run::Workspace;

/// The bytes of a communicator id (NCCL's `ncclUniqueId`).
pub const ID_BYTES: usize = 128;

/// This process's place among the ranks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ranks {
    /// `RANK`: 0 to `size - 1`.
    pub rank: u32,
    /// `WORLD_SIZE`.
    pub size: u32,
    /// `LOCAL_RANK`: the GPU this rank uses on its host.
    pub local_rank: u32,
}

impl Ranks {
    /// One rank alone.
    pub const SINGLE: Ranks = Ranks {
        rank: 0,
        size: 1,
        local_rank: 0,
    };

    /// The ranks from the process environment.
    ///
    /// # Errors
    /// See [`Ranks::from_vars`].
    pub fn from_env() -> Result<Self> {
        Self::from_vars(&|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
    }

    /// The ranks from `var`: all of `RANK`, `WORLD_SIZE`, `LOCAL_RANK`
    /// unset is one rank; `WORLD_SIZE` needs `RANK`, and `RANK` needs
    /// `WORLD_SIZE`; `LOCAL_RANK` defaults to `RANK`.
    ///
    /// # Errors
    /// [`LauncherError::Environment`] for a variable that is not a number,
    /// one missing, `WORLD_SIZE` 0, or a rank out of range.
    pub fn from_vars(var: &dyn Fn(&str) -> Option<String>) -> Result<Self> {
        let num = |name: &str| -> Result<Option<u32>> {
            var(name)
                .map(|v| {
                    v.trim().parse::<u32>().map_err(|_| {
                        LauncherError::Environment(format!("{name}=`{v}` is not a number"))
                    })
                })
                .transpose()
        };
        let (rank, size, local) = (num("RANK")?, num("WORLD_SIZE")?, num("LOCAL_RANK")?);
        let (rank, size) = match (rank, size) {
            (None, None) => {
                return match local {
                    None | Some(0) => Ok(Self::SINGLE),
                    Some(l) => Ok(Self {
                        local_rank: l,
                        ..Self::SINGLE
                    }),
                };
            }
            (Some(_), None) => {
                return Err(LauncherError::Environment(
                    "RANK is set but WORLD_SIZE is not".to_string(),
                ));
            }
            (None, Some(_)) => {
                return Err(LauncherError::Environment(
                    "WORLD_SIZE is set but RANK is not".to_string(),
                ));
            }
            (Some(r), Some(s)) => (r, s),
        };
        if size == 0 {
            return Err(LauncherError::Environment("WORLD_SIZE is 0".to_string()));
        }
        if rank >= size {
            return Err(LauncherError::Environment(format!(
                "RANK={rank} is out of range for WORLD_SIZE={size}"
            )));
        }
        let local_rank = local.unwrap_or(rank);
        if local_rank >= size {
            return Err(LauncherError::Environment(format!(
                "LOCAL_RANK={local_rank} is out of range for WORLD_SIZE={size}"
            )));
        }
        Ok(Self {
            rank,
            size,
            local_rank,
        })
    }

    /// The ranks from the environment, for a run of `bundle`.
    ///
    /// # Errors
    /// What [`Ranks::from_env`] reports, or several ranks for a launcher
    /// emitted without collectives.
    pub fn for_bundle(bundle: &crate::bundle::Bundle) -> Result<Self> {
        let ranks = Self::from_env()?;
        if ranks.size > 1 && !bundle.manifest.collectives {
            return Err(LauncherError::Environment(format!(
                "WORLD_SIZE={} but this launcher was emitted without collectives",
                ranks.size
            )));
        }
        Ok(ranks)
    }

    /// `path` with `{rank}` replaced by this rank's number (per-rank
    /// inputs and outputs).
    #[must_use]
    pub fn path(&self, path: &str) -> String {
        path.replace("{rank}", &self.rank.to_string())
    }

    /// This rank's rows of `[from, to)`: consecutive, as even as possible.
    #[must_use]
    pub fn share(&self, from: u64, to: u64) -> (u64, u64) {
        let n = to - from;
        let (size, rank) = (u64::from(self.size), u64::from(self.rank));
        (from + n * rank / size, from + n * (rank + 1) / size)
    }
}

/// Where the ranks meet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rendezvous {
    /// Rank 0 listens on `MASTER_ADDR:MASTER_PORT`; the others connect.
    Tcp {
        /// `host:port`.
        addr: String,
    },
    /// Rank 0 writes the id to this file; the others wait for it.
    File(PathBuf),
}

/// The rendezvous timeout: `VYRE_RENDEZVOUS_TIMEOUT` seconds, else 300.
fn timeout(var: &dyn Fn(&str) -> Option<String>) -> Result<Duration> {
    match var("VYRE_RENDEZVOUS_TIMEOUT") {
        None => Ok(Duration::from_secs(300)),
        Some(v) => v
            .parse::<f64>()
            .ok()
            .filter(|s| s.is_finite() && *s > 0.0)
            .map(Duration::from_secs_f64)
            .ok_or_else(|| {
                LauncherError::Environment(format!(
                    "VYRE_RENDEZVOUS_TIMEOUT=`{v}` is not a number of seconds"
                ))
            }),
    }
}

impl Rendezvous {
    /// The rendezvous from `var`: `VYRE_RENDEZVOUS_FILE`, else
    /// `MASTER_ADDR` and `MASTER_PORT`.
    ///
    /// # Errors
    /// Neither given, or only one of `MASTER_ADDR`/`MASTER_PORT`, or a bad
    /// port.
    pub fn from_vars(var: &dyn Fn(&str) -> Option<String>) -> Result<Self> {
        if let Some(path) = var("VYRE_RENDEZVOUS_FILE") {
            return Ok(Self::File(PathBuf::from(path)));
        }
        match (var("MASTER_ADDR"), var("MASTER_PORT")) {
            (Some(host), Some(port)) => {
                let port: u16 = port.trim().parse().ok().filter(|&p| p > 0).ok_or_else(|| {
                    LauncherError::Environment(format!("MASTER_PORT=`{port}` is not a port"))
                })?;
                Ok(Self::Tcp {
                    addr: format!("{host}:{port}"),
                })
            }
            (Some(_), None) => Err(LauncherError::Environment(
                "MASTER_ADDR is set but MASTER_PORT is not".to_string(),
            )),
            (None, Some(_)) => Err(LauncherError::Environment(
                "MASTER_PORT is set but MASTER_ADDR is not".to_string(),
            )),
            (None, None) => Err(LauncherError::Environment(
                "WORLD_SIZE > 1 needs a rendezvous: MASTER_ADDR and MASTER_PORT, or VYRE_RENDEZVOUS_FILE".to_string(),
            )),
        }
    }
}

/// The TCP star between rank 0 and the others: rank 0 holds one stream
/// per other rank (in rank order), the others one to rank 0.
#[derive(Debug)]
pub struct Hub {
    ranks: Ranks,
    peers: Vec<TcpStream>,
}

const MAGIC: &[u8; 4] = b"VYRE";

fn io_err(what: &str, e: &std::io::Error) -> LauncherError {
    LauncherError::Environment(format!("rendezvous: {what}: {e}"))
}

impl Hub {
    /// Meet at `addr`: rank 0 accepts every other rank, checks that each
    /// comes once with the same world size, and sends them `id`; the
    /// others connect (retrying until `limit`) and receive it.
    ///
    /// # Errors
    /// An unreachable master, a timeout, a duplicate or inconsistent rank.
    pub fn connect(
        ranks: Ranks,
        addr: &str,
        id: [u8; ID_BYTES],
        limit: Duration,
    ) -> Result<(Self, [u8; ID_BYTES])> {
        let deadline = Instant::now() + limit;
        if ranks.rank == 0 {
            let listener = TcpListener::bind(addr)
                .map_err(|e| io_err(&format!("rank 0 cannot listen on {addr}"), &e))?;
            listener
                .set_nonblocking(true)
                .map_err(|e| io_err("listen", &e))?;
            let mut slots: Vec<Option<TcpStream>> = (1..ranks.size).map(|_| None).collect();
            while slots.iter().any(Option::is_none) {
                match listener.accept() {
                    Ok((mut s, _)) => {
                        s.set_nonblocking(false).map_err(|e| io_err("accept", &e))?;
                        // Small messages (the loss each step) go out at once.
                        s.set_nodelay(true).map_err(|e| io_err("accept", &e))?;
                        s.set_read_timeout(Some(
                            deadline
                                .saturating_duration_since(Instant::now())
                                .max(Duration::from_millis(1)),
                        ))
                        .map_err(|e| io_err("accept", &e))?;
                        let mut hello = [0u8; 12];
                        s.read_exact(&mut hello)
                            .map_err(|e| io_err("reading a rank's hello", &e))?;
                        let rank = u32::from_le_bytes([hello[4], hello[5], hello[6], hello[7]]);
                        let size = u32::from_le_bytes([hello[8], hello[9], hello[10], hello[11]]);
                        let verdict = if &hello[..4] != MAGIC {
                            Some("a connection that is not a vyre launcher".to_string())
                        } else if size != ranks.size {
                            Some(format!(
                                "rank {rank} has WORLD_SIZE={size}, rank 0 has {}",
                                ranks.size
                            ))
                        } else if rank == 0 || rank >= size {
                            Some(format!("a rank {rank} out of range"))
                        } else if slots[rank as usize - 1].is_some() {
                            Some(format!("rank {rank} joined twice"))
                        } else {
                            None
                        };
                        if let Some(problem) = verdict {
                            let _ = s.write_all(&[0]);
                            return Err(LauncherError::Environment(format!(
                                "rendezvous at {addr}: {problem}"
                            )));
                        }
                        slots[rank as usize - 1] = Some(s);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        if Instant::now() >= deadline {
                            let missing: Vec<String> = slots
                                .iter()
                                .enumerate()
                                .filter(|(_, s)| s.is_none())
                                .map(|(i, _)| (i + 1).to_string())
                                .collect();
                            return Err(LauncherError::Environment(format!(
                                "rendezvous at {addr} timed out after {:.0} s waiting for rank(s) {}",
                                limit.as_secs_f64(),
                                missing.join(", ")
                            )));
                        }
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    Err(e) => return Err(io_err("accept", &e)),
                }
            }
            let mut peers: Vec<TcpStream> = slots.into_iter().flatten().collect();
            for p in &mut peers {
                p.write_all(&[1])
                    .and_then(|()| p.write_all(&id))
                    .map_err(|e| io_err("sending the id", &e))?;
                p.set_read_timeout(None)
                    .map_err(|e| io_err("configure", &e))?;
            }
            return Ok((Self { ranks, peers }, id));
        }
        let stream = loop {
            let attempt = addr
                .to_socket_addrs()
                .map_err(|e| e.to_string())
                .and_then(|mut a| a.next().ok_or_else(|| "no address".to_string()))
                .and_then(|a| {
                    TcpStream::connect_timeout(&a, Duration::from_secs(1))
                        .map_err(|e| e.to_string())
                });
            let last = match attempt {
                Ok(s) => break s,
                Err(e) => e,
            };
            if Instant::now() >= deadline {
                return Err(LauncherError::Environment(format!(
                    "rendezvous: master {addr} unreachable after {:.0} s ({last})",
                    limit.as_secs_f64()
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let mut s = stream;
        s.set_nodelay(true).map_err(|e| io_err("connect", &e))?;
        let mut hello = MAGIC.to_vec();
        hello.extend_from_slice(&ranks.rank.to_le_bytes());
        hello.extend_from_slice(&ranks.size.to_le_bytes());
        s.write_all(&hello)
            .map_err(|e| io_err("sending the hello", &e))?;
        s.set_read_timeout(Some(
            deadline
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1)),
        ))
        .map_err(|e| io_err("configure", &e))?;
        let mut ok = [0u8; 1];
        s.read_exact(&mut ok)
            .map_err(|e| io_err(&format!("waiting for rank 0 at {addr}"), &e))?;
        if ok[0] != 1 {
            return Err(LauncherError::Environment(format!(
                "rendezvous at {addr}: rank 0 refused rank {} (see rank 0's error)",
                ranks.rank
            )));
        }
        let mut got = [0u8; ID_BYTES];
        s.read_exact(&mut got)
            .map_err(|e| io_err("receiving the id", &e))?;
        s.set_read_timeout(None)
            .map_err(|e| io_err("configure", &e))?;
        Ok((
            Self {
                ranks,
                peers: vec![s],
            },
            got,
        ))
    }

    /// All-reduce `values` (little-endian `f32`s) in place: rank 0 sums the
    /// ranks' values in rank order (the same result on every run) and
    /// sends the result back.
    ///
    /// # Errors
    /// A broken connection, ranks disagreeing on the length.
    pub fn all_reduce_f32(&mut self, values: &mut [f32], op: ReduceOp) -> Result<()> {
        let bytes = values.len() * 4;
        if self.ranks.rank == 0 {
            let mut acc: Vec<f32> = values.to_vec();
            let mut buf = vec![0u8; bytes];
            for p in &mut self.peers {
                let mut len = [0u8; 8];
                p.read_exact(&mut len)
                    .map_err(|e| io_err("all-reduce", &e))?;
                if u64::from_le_bytes(len) != bytes as u64 {
                    return Err(LauncherError::Environment(format!(
                        "all-reduce: a rank sent {} bytes, rank 0 has {bytes}",
                        u64::from_le_bytes(len)
                    )));
                }
                p.read_exact(&mut buf)
                    .map_err(|e| io_err("all-reduce", &e))?;
                for (a, c) in acc.iter_mut().zip(buf.chunks_exact(4)) {
                    *a += f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
                }
            }
            if op == ReduceOp::Avg {
                let n = self.ranks.size as f32;
                for a in &mut acc {
                    *a /= n;
                }
            }
            let out: Vec<u8> = acc.iter().flat_map(|v| v.to_le_bytes()).collect();
            for p in &mut self.peers {
                p.write_all(&out).map_err(|e| io_err("all-reduce", &e))?;
            }
            values.copy_from_slice(&acc);
        } else {
            let p = &mut self.peers[0];
            let out: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            p.write_all(&(bytes as u64).to_le_bytes())
                .and_then(|()| p.write_all(&out))
                .map_err(|e| io_err("all-reduce", &e))?;
            let mut back = vec![0u8; bytes];
            p.read_exact(&mut back)
                .map_err(|e| io_err("all-reduce", &e))?;
            for (v, c) in values.iter_mut().zip(back.chunks_exact(4)) {
                *v = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
            }
        }
        Ok(())
    }
}

/// Share rank 0's `id` through a file: rank 0 writes it (to a temporary
/// name, then renamed, so nobody reads half an id); the others wait for it.
///
/// # Errors
/// The file cannot be written, or does not appear in time.
pub fn share_id_by_file(
    ranks: Ranks,
    path: &std::path::Path,
    id: [u8; ID_BYTES],
    limit: Duration,
) -> Result<[u8; ID_BYTES]> {
    if ranks.rank == 0 {
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, id)
            .and_then(|()| std::fs::rename(&tmp, path))
            .map_err(|e| {
                LauncherError::Environment(format!("rendezvous file {}: {e}", path.display()))
            })?;
        return Ok(id);
    }
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(bytes) = std::fs::read(path)
            && let Ok(got) = <[u8; ID_BYTES]>::try_from(bytes.as_slice())
        {
            return Ok(got);
        }
        if Instant::now() >= deadline {
            return Err(LauncherError::Environment(format!(
                "rendezvous file {} did not appear within {:.0} s (is rank 0 running?)",
                path.display(),
                limit.as_secs_f64()
            )));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// How the ranks reduce.
pub(crate) enum Communicator {
    /// One rank: reductions are the identity.
    Single,
    /// CPU ranks over the rendezvous connections.
    Hub(std::cell::RefCell<Hub>),
    /// CUDA ranks through NCCL.
    #[cfg(feature = "nccl")]
    Nccl(crate::nccl::Nccl),
}

impl Communicator {
    /// Connect `ranks` for a run on `backend` (`device` is the opened
    /// device).
    ///
    /// # Errors
    /// A bad environment, a failed rendezvous, collectives the backend
    /// cannot do.
    pub(crate) fn open(
        ranks: &Ranks,
        backend: Backend,
        collectives: bool,
        device: &vyre::Device,
    ) -> Result<Self> {
        // One rank reduces nothing, except that a CUDA launcher built with
        // collectives still goes through NCCL (a communicator of one), so
        // that a one-GPU run exercises the multi-GPU path.
        let one_rank_nccl = cfg!(feature = "nccl") && backend == Backend::Cuda && collectives;
        if ranks.size == 1 && !one_rank_nccl {
            return Ok(Self::Single);
        }
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let rendezvous = if ranks.size == 1 {
            None
        } else {
            Some(Rendezvous::from_vars(&var)?)
        };
        let limit = timeout(&var)?;
        match backend {
            Backend::Cpu => match rendezvous {
                Some(Rendezvous::Tcp { addr }) => {
                    let (hub, _) = Hub::connect(*ranks, &addr, [0; ID_BYTES], limit)?;
                    Ok(Self::Hub(std::cell::RefCell::new(hub)))
                }
                _ => Err(LauncherError::Environment(
                    "CPU ranks reduce over TCP: set MASTER_ADDR and MASTER_PORT instead of VYRE_RENDEZVOUS_FILE".to_string(),
                )),
            },
            #[cfg(feature = "nccl")]
            Backend::Cuda => Ok(Self::Nccl(crate::nccl::Nccl::open(
                *ranks,
                rendezvous.as_ref(),
                limit,
                device,
            )?)),
            #[allow(unreachable_patterns)]
            other => {
                let _ = device;
                Err(LauncherError::Environment(format!(
                    "this launcher has no collectives for {other:?}"
                )))
            }
        }
    }

    /// All-reduce buffer `name` in place.
    ///
    /// # Errors
    /// A buffer that is not `f32`, a failed reduction.
    pub(crate) fn all_reduce(
        &self,
        ws: &mut Workspace<'_>,
        name: &str,
        op: ReduceOp,
    ) -> Result<()> {
        match self {
            Self::Single => Ok(()),
            Self::Hub(hub) => {
                let mut array = ws.get(name)?;
                let mut values = array.to_f32().ok_or_else(|| {
                    LauncherError::Usage(format!(
                        "all-reduce of `{name}`: CPU ranks reduce `f32` buffers"
                    ))
                })?;
                hub.borrow_mut().all_reduce_f32(&mut values, op)?;
                array.bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
                ws.put(name, &array)
            }
            #[cfg(feature = "nccl")]
            Self::Nccl(nccl) => {
                let buf = ws.buffer_mut(name).ok_or_else(|| {
                    LauncherError::Usage(format!("all-reduce: no buffer `{name}`"))
                })?;
                nccl.all_reduce(buf, op)
            }
        }
    }

    /// The mean of `value` over the ranks (so that every rank stops a
    /// chunk at the same step).
    ///
    /// # Errors
    /// A failed reduction.
    pub(crate) fn mean_across_ranks(&self, value: f64) -> Result<f64> {
        match self {
            Self::Single => Ok(value),
            Self::Hub(hub) => {
                let mut v = [value as f32];
                hub.borrow_mut().all_reduce_f32(&mut v, ReduceOp::Avg)?;
                Ok(f64::from(v[0]))
            }
            #[cfg(feature = "nccl")]
            Self::Nccl(nccl) => nccl.mean(value),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let owned: Vec<(String, String)> = pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        move |name| {
            owned
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    #[test]
    fn ranks_from_the_environment() {
        assert_eq!(Ranks::from_vars(&vars(&[])).unwrap(), Ranks::SINGLE);
        let r = Ranks::from_vars(&vars(&[("RANK", "1"), ("WORLD_SIZE", "2")])).unwrap();
        assert_eq!((r.rank, r.size, r.local_rank), (1, 2, 1));
        for (set, msg) in [
            (vec![("RANK", "0")], "WORLD_SIZE is not"),
            (vec![("WORLD_SIZE", "2")], "RANK is not"),
            (
                vec![("RANK", "2"), ("WORLD_SIZE", "2")],
                "RANK=2 is out of range",
            ),
            (vec![("RANK", "0"), ("WORLD_SIZE", "0")], "WORLD_SIZE is 0"),
            (
                vec![("RANK", "x"), ("WORLD_SIZE", "2")],
                "RANK=`x` is not a number",
            ),
            (
                vec![("RANK", "0"), ("WORLD_SIZE", "2"), ("LOCAL_RANK", "5")],
                "LOCAL_RANK=5",
            ),
        ] {
            let e = Ranks::from_vars(&vars(&set)).unwrap_err().to_string();
            assert!(e.contains(msg), "{set:?}: {e}");
        }
    }

    #[test]
    fn shares_cover_the_rows_once() {
        let size = 3;
        let mut next = 10;
        for rank in 0..size {
            let (a, b) = Ranks {
                rank,
                size,
                local_rank: rank,
            }
            .share(10, 21);
            assert_eq!(a, next);
            next = b;
        }
        assert_eq!(next, 21);
    }

    #[test]
    fn rendezvous_settings() {
        assert_eq!(
            Rendezvous::from_vars(&vars(&[
                ("MASTER_ADDR", "127.0.0.1"),
                ("MASTER_PORT", "29500")
            ]))
            .unwrap(),
            Rendezvous::Tcp {
                addr: "127.0.0.1:29500".into()
            }
        );
        for (set, msg) in [
            (vec![], "needs a rendezvous"),
            (vec![("MASTER_ADDR", "h")], "MASTER_PORT is not"),
            (vec![("MASTER_PORT", "1")], "MASTER_ADDR is not"),
            (
                vec![("MASTER_ADDR", "h"), ("MASTER_PORT", "0")],
                "not a port",
            ),
        ] {
            let e = Rendezvous::from_vars(&vars(&set)).unwrap_err().to_string();
            assert!(e.contains(msg), "{set:?}: {e}");
        }
    }

    #[test]
    fn hub_shares_the_id_and_reduces_in_rank_order() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        drop(listener);
        let size = 3;
        let handles: Vec<_> = (0..size)
            .map(|rank| {
                let addr = addr.clone();
                std::thread::spawn(move || {
                    let ranks = Ranks {
                        rank,
                        size,
                        local_rank: rank,
                    };
                    let (mut hub, id) =
                        Hub::connect(ranks, &addr, [7; ID_BYTES], Duration::from_secs(20)).unwrap();
                    let mut v = [rank as f32 + 1.0, 10.0];
                    hub.all_reduce_f32(&mut v, ReduceOp::Sum).unwrap();
                    let mut m = [rank as f32];
                    hub.all_reduce_f32(&mut m, ReduceOp::Avg).unwrap();
                    (id[0], v, m[0])
                })
            })
            .collect();
        for h in handles {
            let (id0, v, m) = h.join().unwrap();
            assert_eq!(id0, 7);
            assert_eq!(v, [6.0, 30.0]);
            assert_eq!(m, 1.0);
        }
    }

    #[test]
    fn an_absent_master_times_out_with_its_address() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        drop(listener);
        let ranks = Ranks {
            rank: 1,
            size: 2,
            local_rank: 1,
        };
        let e = Hub::connect(ranks, &addr, [0; ID_BYTES], Duration::from_millis(300)).unwrap_err();
        assert!(
            e.to_string()
                .contains(&format!("master {addr} unreachable")),
            "{e}"
        );
        let r0 = Ranks {
            rank: 0,
            size: 2,
            local_rank: 0,
        };
        let e = Hub::connect(r0, &addr, [0; ID_BYTES], Duration::from_millis(300)).unwrap_err();
        assert!(e.to_string().contains("waiting for rank(s) 1"), "{e}");
    }

    #[test]
    fn the_id_file_is_shared_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("id");
        let p2 = path.clone();
        let waiter = std::thread::spawn(move || {
            share_id_by_file(
                Ranks {
                    rank: 1,
                    size: 2,
                    local_rank: 1,
                },
                &p2,
                [0; ID_BYTES],
                Duration::from_secs(20),
            )
        });
        std::thread::sleep(Duration::from_millis(50));
        share_id_by_file(Ranks::SINGLE, &path, [9; ID_BYTES], Duration::from_secs(1)).unwrap();
        assert_eq!(waiter.join().unwrap().unwrap(), [9; ID_BYTES]);
        let e = share_id_by_file(
            Ranks {
                rank: 1,
                size: 2,
                local_rank: 1,
            },
            &dir.path().join("none"),
            [0; ID_BYTES],
            Duration::from_millis(100),
        );
        assert!(e.unwrap_err().to_string().contains("did not appear"));
    }
}
