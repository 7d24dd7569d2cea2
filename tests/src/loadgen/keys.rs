//! The key pool: endpoint RSA key pairs generated once (on every core) into one file and reused
//! by every run, so a run of 100,000 endpoints is not bounded by key generation; a run that needs
//! more keys than the pool holds is told to grow it (`kaa-loadgen keys`), which appends.
//!
//! The file: a 16-byte header (`KAALGKEY`, the slot size as u32 LE, 4 reserved bytes), then one
//! fixed-size slot per key (u16 LE length, PKCS#8 DER private key, zero padding), so key `i` is
//! read alone at a known offset and the pool costs the generator no memory. A slot cut short by
//! an interrupted generation is dropped when the pool next grows.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Instant;

use anyhow::{Context, bail, ensure};
use kaa_sdk::idl::endpoint::crypto::KEY_BITS;
use kaa_sdk::keys::EndpointKeys;

const MAGIC: &[u8; 8] = b"KAALGKEY";
const HEADER: u64 = 16;
/// Room for a 2048-bit PKCS#8 key (about 1,220 bytes) and its length.
const SLOT: usize = 1280;

/// An open key pool.
pub struct KeyPool {
    file: File,
    path: PathBuf,
    count: usize,
}

impl KeyPool {
    /// Opens the pool at `path`.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        let mut file = File::open(path).with_context(|| {
            format!(
                "opening the key pool {} (create it with kaa-loadgen keys --pool {} --count N)",
                path.display(),
                path.display()
            )
        })?;
        let count = read_header(&mut file, path)?;
        Ok(Self {
            file,
            path: path.to_owned(),
            count,
        })
    }

    /// How many keys the pool holds.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether the pool holds no key.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Fails, saying how to grow the pool, unless it holds keys `first..first + count`.
    pub fn check_range(&self, first: usize, count: usize) -> anyhow::Result<()> {
        let needed = first + count;
        ensure!(
            needed <= self.count,
            "the key pool {} holds {} keys; this run needs {needed} (--first {first} + --endpoints \
             {count}): grow it with kaa-loadgen keys --pool {} --count {needed}",
            self.path.display(),
            self.count,
            self.path.display()
        );
        Ok(())
    }

    /// Key `index`, read from its slot.
    pub fn get(&self, index: usize) -> anyhow::Result<EndpointKeys> {
        ensure!(
            index < self.count,
            "key {index} is beyond the pool's {}",
            self.count
        );
        let mut slot = [0u8; SLOT];
        self.file
            .read_exact_at(&mut slot, HEADER + (index * SLOT) as u64)
            .with_context(|| format!("reading key {index} of {}", self.path.display()))?;
        let length = usize::from(u16::from_le_bytes([slot[0], slot[1]]));
        ensure!(
            length > 0 && length <= SLOT - 2,
            "key {index} of {} is damaged (length {length})",
            self.path.display()
        );
        EndpointKeys::from_private_der(&slot[2..2 + length])
            .with_context(|| format!("key {index} of {}", self.path.display()))
    }
}

/// Reads and checks the header; returns the number of whole slots.
fn read_header(file: &mut File, path: &Path) -> anyhow::Result<usize> {
    let mut header = [0u8; HEADER as usize];
    file.read_exact(&mut header)
        .with_context(|| format!("{} is not a key pool (too short)", path.display()))?;
    ensure!(
        &header[..8] == MAGIC,
        "{} is not a key pool (no {} header)",
        path.display(),
        String::from_utf8_lossy(MAGIC)
    );
    let slot = u32::from_le_bytes(header[8..12].try_into().expect("4 bytes")) as usize;
    ensure!(
        slot == SLOT,
        "{} has {slot}-byte slots, this build reads {SLOT}",
        path.display()
    );
    let length = file.metadata()?.len();
    Ok(((length.saturating_sub(HEADER)) / SLOT as u64) as usize)
}

/// What [`grow`] did.
pub struct Grown {
    /// Keys the pool held before.
    pub before: usize,
    /// Keys it holds now.
    pub after: usize,
    /// Seconds spent generating.
    pub seconds: f64,
}

/// Makes the pool at `path` hold at least `count` keys of `bits` bits (only 2048: CONNECT
/// carries 256-byte RSA blocks), generating the missing ones on `threads` threads;
/// `progress(done, missing)` is called after each key.
pub fn grow(
    path: &Path,
    count: usize,
    bits: usize,
    threads: usize,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> anyhow::Result<Grown> {
    if bits != KEY_BITS {
        bail!(
            "--bits {bits}: Kaatcp's CONNECT carries 256-byte RSA blocks, so only {KEY_BITS}-bit keys work"
        );
    }
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    let before = if file.metadata()?.len() == 0 {
        let mut header = [0u8; HEADER as usize];
        header[..8].copy_from_slice(MAGIC);
        header[8..12].copy_from_slice(&(SLOT as u32).to_le_bytes());
        file.write_all(&header)?;
        0
    } else {
        read_header(&mut file, path)?
    };
    // Drop a slot an interrupted run left half written.
    file.set_len(HEADER + (before * SLOT) as u64)?;
    file.seek(SeekFrom::End(0))?;
    let missing = count.saturating_sub(before);
    let started = Instant::now();
    if missing > 0 {
        let claimed = AtomicUsize::new(0);
        let (sender, receiver) = mpsc::sync_channel::<anyhow::Result<Vec<u8>>>(threads * 4);
        std::thread::scope(|scope| -> anyhow::Result<()> {
            for _ in 0..threads.max(1) {
                let sender = sender.clone();
                let claimed = &claimed;
                scope.spawn(move || {
                    while claimed.fetch_add(1, Ordering::Relaxed) < missing {
                        let der = EndpointKeys::generate()
                            .map_err(anyhow::Error::from)
                            .and_then(|keys| {
                                keys.pair().private_key_der().map_err(anyhow::Error::from)
                            });
                        if sender.send(der).is_err() {
                            return;
                        }
                    }
                });
            }
            drop(sender);
            let mut written = 0;
            for der in receiver {
                let der = der.context("generating a key")?;
                file.write_all(&slot(&der)?)?;
                written += 1;
                progress(written, missing);
            }
            ensure!(written == missing, "generated {written} of {missing} keys");
            Ok(())
        })?;
        file.sync_all()?;
    }
    Ok(Grown {
        before,
        after: before.max(count),
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// One slot holding `der`.
fn slot(der: &[u8]) -> anyhow::Result<[u8; SLOT]> {
    ensure!(
        der.len() <= SLOT - 2,
        "a {}-byte key does not fit a slot",
        der.len()
    );
    let mut slot = [0u8; SLOT];
    slot[..2].copy_from_slice(&(der.len() as u16).to_le_bytes());
    slot[2..2 + der.len()].copy_from_slice(der);
    Ok(slot)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pool_grows_by_appending_and_gives_back_the_keys_it_stored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pool");
        let grown = grow(&path, 2, KEY_BITS, 2, &|_, _| {}).unwrap();
        assert_eq!((grown.before, grown.after), (0, 2));
        let first = KeyPool::open(&path).unwrap().get(0).unwrap();
        let grown = grow(&path, 3, KEY_BITS, 1, &|_, _| {}).unwrap();
        assert_eq!((grown.before, grown.after), (2, 3));
        let pool = KeyPool::open(&path).unwrap();
        assert_eq!(pool.len(), 3);
        assert_eq!(pool.get(0).unwrap().key_hash(), first.key_hash());
        assert_ne!(pool.get(2).unwrap().key_hash(), first.key_hash());
        assert!(pool.check_range(1, 2).is_ok());
        let short = pool.check_range(2, 2).unwrap_err().to_string();
        assert!(short.contains("--count 4"), "{short}");
    }
}
