//! A sealed meta record written into its file as its bytes are made
//! ([`MetaWriter::sealed_file`]): the bytes on disk are those of
//! [`MetaWriter::put_meta`] (the record, then its seal, FORMAT.md §3.2, kept as the file
//! `f‖name` names, §3), but no whole copy of the record is held in memory.

use std::io::{BufReader, BufWriter, Read, Write};

use crate::keys::seal::{Seal, Sealer, StateKey, SEAL_LEN};
use crate::store::{RecordFile, RecordReader};

use super::{LedgerError, MetaWriter};

/// Bytes gathered before they are hashed and written (or read and hashed): large enough
/// that BLAKE3 hashes them at its wide (SIMD) speed and the system calls are few (44 for
/// an 11 MB snapshot), small beside the megabytes of a record written this way.
const SEALED_FILE_BUFFER_BYTES: usize = 256 * 1024;

/// A record being written ([`MetaWriter::sealed_file`]): write its bytes, then
/// [`SealedFile::finish`]. Dropped unfinished, its file is removed and the record's
/// live version stays what it was.
pub struct SealedFile {
    metas: MetaWriter,
    /// The record's length as announced: its seal begins with it.
    len: u64,
    out: BufWriter<Sealing>,
}

/// Feeds the seal with the bytes the file takes.
struct Sealing {
    sealer: Sealer,
    file: RecordFile,
}

impl Write for Sealing {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let written = self.file.write(buf)?;
        self.sealer.update(&buf[..written]);
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

impl SealedFile {
    pub(super) fn new(metas: MetaWriter, len: u64, sealer: Sealer, file: RecordFile) -> SealedFile {
        SealedFile {
            metas,
            len,
            out: BufWriter::with_capacity(SEALED_FILE_BUFFER_BYTES, Sealing { sealer, file }),
        }
    }

    /// The error `e` met writing this record, naming its file.
    pub fn error(&self, e: std::io::Error) -> LedgerError {
        self.out.get_ref().file.error(e).into()
    }

    /// Appends the seal, makes the file durable under its final name and names it as the
    /// record's live version. Refused, and the file removed, unless exactly the announced
    /// length was written.
    pub fn finish(self) -> Result<(), LedgerError> {
        let SealedFile { metas, len, out } = self;
        let mut sealing = match out.into_inner() {
            Ok(sealing) => sealing,
            Err(e) => {
                let (error, out) = e.into_parts();
                return Err(out.into_parts().0.file.error(error).into());
            }
        };
        let seal = sealing.sealer.finish();
        if let Err(e) = sealing.file.write_all(seal.as_bytes()) {
            return Err(sealing.file.error(e).into());
        }
        let written = sealing.file.finish(len.saturating_add(SEAL_LEN as u64))?;
        metas.name_file(written)
    }
}

impl Write for SealedFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.out.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// A sealed meta record as [`super::LedgerView::meta_reader`] finds it.
pub enum SealedRead {
    Absent,
    /// Kept in sled: its bytes, their seal checked.
    Whole(Vec<u8>),
    /// Kept as a file: a reader of its bytes before the seal (boxed: its hashers are
    /// 4 KB).
    File(Box<SealedReader>),
}

/// What a finished [`SealedReader`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadVerdict {
    /// The bytes read were the record's, under its seal.
    Sealed,
    /// The file was not the bytes its reference names (torn, or edited): the record
    /// reads as absent, a cache recomputed from the log.
    Absent,
}

/// A record file read as its bytes are decoded, before its seal: the file's digest and
/// the seal are computed as the bytes go and checked by [`SealedReader::finish`], so a
/// caller keeps what it decoded only once that says [`ReadVerdict::Sealed`].
pub struct SealedReader {
    name: String,
    inner: BufReader<Unsealing>,
}

/// The record's bytes up to its seal, feeding the seal.
struct Unsealing {
    sealer: Sealer,
    file: Box<RecordReader>,
    /// The record's bytes not read yet.
    left: u64,
}

impl Read for Unsealing {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let most = usize::try_from(self.left)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        let read = self.file.read(&mut buf[..most])?;
        self.sealer.update(&buf[..read]);
        self.left -= read as u64;
        Ok(read)
    }
}

impl SealedReader {
    pub(super) fn new(
        key: &StateKey,
        name: &str,
        file: Box<RecordReader>,
    ) -> Result<SealedReader, LedgerError> {
        let Some(len) = file.file_len().checked_sub(SEAL_LEN as u64) else {
            return Err(LedgerError::Unsealed(format!("meta record {name}")));
        };
        Ok(SealedReader {
            name: name.to_owned(),
            inner: BufReader::with_capacity(
                SEALED_FILE_BUFFER_BYTES,
                Unsealing {
                    sealer: key.sealer(name, len),
                    file,
                    left: len,
                },
            ),
        })
    }

    /// The record's length before its seal.
    pub fn record_len(&self) -> u64 {
        self.inner.get_ref().file.file_len() - SEAL_LEN as u64
    }

    /// Reads what is left of the record and its seal: the file's digest must be its
    /// reference's (else the record is absent) and the seal must hold (else
    /// `Unsealed`, as [`super::LedgerView::meta`] says).
    pub fn finish(self) -> Result<ReadVerdict, LedgerError> {
        let mut unsealing = self.inner.into_inner();
        std::io::copy(&mut unsealing, &mut std::io::sink()).map_err(|e| unsealing.file.error(e))?;
        let mut seal = [0; SEAL_LEN];
        let mut file = unsealing.file;
        let seal_read = file.read_exact(&mut seal);
        if let Err(e) = seal_read {
            if e.kind() != std::io::ErrorKind::UnexpectedEof {
                return Err(file.error(e).into());
            }
        }
        if !file.finish()? {
            return Ok(ReadVerdict::Absent);
        }
        if unsealing.sealer.finish() != Seal::from_bytes(seal) {
            return Err(LedgerError::Unsealed(format!("meta record {}", self.name)));
        }
        Ok(ReadVerdict::Sealed)
    }
}

impl Read for SealedReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.inner.read(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::Ledger;
    use crate::store::StoreError;
    use std::path::Path;

    const NAME: &str = "findings";

    /// Bytes too large for sled, which therefore go to a file either way.
    fn record(salt: u8) -> Vec<u8> {
        (0..3 * 1024 * 1024 + 7)
            .map(|i: usize| (i % 251) as u8 ^ salt)
            .collect()
    }

    fn files(ledger: &Path) -> Vec<String> {
        crate::store::record_file_names(ledger)
    }

    fn streamed(metas: &MetaWriter, bytes: &[u8]) -> SealedFile {
        let mut file = metas.sealed_file(NAME, bytes.len() as u64).expect("a file");
        for piece in bytes.chunks(100_003) {
            file.write_all(piece).expect("written");
        }
        file
    }

    /// A new ledger holding the record `record(1)` as a file, and its record files.
    fn holding_a_record() -> (tempfile::TempDir, Ledger, Vec<u8>, Vec<String>) {
        let root = tempfile::tempdir().expect("tempdir");
        let dir = root.path().join("l");
        let ledger = Ledger::init(&dir).expect("init");
        let old = record(1);
        streamed(&ledger.meta_writer(), &old)
            .finish()
            .expect("finished");
        let before = files(&dir);
        (root, ledger, old, before)
    }

    #[test]
    fn a_streamed_record_is_stored_as_put_meta_stores_it() {
        let root = tempfile::tempdir().expect("tempdir");
        let dir = root.path().join("l");
        let ledger = Ledger::init(&dir).expect("init");
        let bytes = record(1);
        streamed(&ledger.meta_writer(), &bytes)
            .finish()
            .expect("finished");
        assert_eq!(ledger.view().meta(NAME).expect("read"), Some(bytes.clone()));
        let streamed_files = files(&dir);
        assert_eq!(streamed_files.len(), 1, "{streamed_files:?}");
        // The same bytes written whole give the same file: the same digest names it.
        ledger.put_meta(NAME, bytes).expect("put");
        assert_eq!(files(&dir), streamed_files);
    }

    #[test]
    fn a_write_dropped_midway_leaves_the_previous_record_and_no_file() {
        let (root, ledger, old, before) = holding_a_record();
        let dir = root.path().join("l");
        let new = record(2);
        let mut file = ledger
            .meta_writer()
            .sealed_file(NAME, new.len() as u64)
            .expect("a file");
        file.write_all(&new[..new.len() / 2]).expect("half written");
        drop(file);
        assert_eq!(files(&dir), before);
        assert_eq!(ledger.view().meta(NAME).expect("read"), Some(old));
    }

    /// The disk fills while a record streams into its file (`/dev/full` takes no byte):
    /// the write fails naming the ledger's disk as full, the record's previous version
    /// stays live, no file of the failed write is left, and the next write succeeds.
    #[test]
    fn a_disk_full_midway_through_a_streamed_record_leaves_the_previous_record() {
        let (root, ledger, old, before) = holding_a_record();
        let dir = root.path().join("l");
        let new = record(2);
        let failed = crate::store::with_record_files_on(Path::new("/dev/full"), || {
            let mut file = ledger
                .meta_writer()
                .sealed_file(NAME, new.len() as u64)
                .expect("a file");
            match file.write_all(&new) {
                Err(e) => Err(file.error(e)),
                Ok(()) => file.finish(),
            }
        });
        let error = failed.expect_err("the disk is full");
        assert!(
            matches!(error, LedgerError::Store(StoreError::DiskFilled { .. })),
            "{error:?}"
        );
        assert_eq!(files(&dir), before);
        assert_eq!(ledger.view().meta(NAME).expect("read"), Some(old));
        streamed(&ledger.meta_writer(), &new)
            .finish()
            .expect("written once the disk has room");
        assert_eq!(ledger.view().meta(NAME).expect("read"), Some(new));
    }

    #[test]
    fn a_record_of_another_length_than_announced_is_refused_and_removed() {
        let (root, ledger, old, before) = holding_a_record();
        let dir = root.path().join("l");
        let new = record(2);
        let mut file = ledger
            .meta_writer()
            .sealed_file(NAME, new.len() as u64 + 1)
            .expect("a file");
        file.write_all(&new).expect("written");
        let refused = file.finish().expect_err("one byte short");
        assert!(refused.to_string().contains("were announced"), "{refused}");
        assert_eq!(files(&dir), before);
        assert_eq!(ledger.view().meta(NAME).expect("read"), Some(old));
    }

    /// The record as a streamed read finds it: its bytes and the verdict.
    fn read_back(ledger: &Ledger) -> (Vec<u8>, ReadVerdict) {
        let Ok(SealedRead::File(mut reader)) = ledger.view().meta_reader(NAME) else {
            panic!("a record kept as a file");
        };
        let mut bytes = Vec::new();
        reader.read_to_end(&mut bytes).expect("read");
        assert_eq!(bytes.len() as u64, reader.record_len());
        (bytes, reader.finish().expect("finished"))
    }

    #[test]
    fn a_streamed_read_gives_the_record_and_its_seal_holds() {
        let root = tempfile::tempdir().expect("tempdir");
        let ledger = Ledger::init(&root.path().join("l")).expect("init");
        let bytes = record(1);
        ledger.put_meta(NAME, bytes.clone()).expect("put");
        assert_eq!(read_back(&ledger), (bytes, ReadVerdict::Sealed));
        ledger.put_meta(NAME, b"small".to_vec()).expect("put");
        match ledger.view().meta_reader(NAME).expect("read") {
            SealedRead::Whole(whole) => assert_eq!(whole, b"small"),
            _ => panic!("a small record is read whole"),
        }
    }

    #[test]
    fn an_edited_file_reads_as_absent_and_a_forged_seal_is_refused() {
        let root = tempfile::tempdir().expect("tempdir");
        let dir = root.path().join("l");
        let ledger = Ledger::init(&dir).expect("init");
        let bytes = record(1);
        ledger.put_meta(NAME, bytes.clone()).expect("put");
        let path = dir.join("records").join(&files(&dir)[0]);
        let mut edited = std::fs::read(&path).expect("file");
        edited[1000] ^= 1;
        std::fs::write(&path, &edited).expect("edit");
        assert_eq!(read_back(&ledger).1, ReadVerdict::Absent);
        assert_eq!(ledger.view().meta(NAME).expect("read"), None);
        // A file named by its own digest in `f‖name`, but sealed without the key.
        let mut forged = bytes;
        forged.extend_from_slice(&[0; SEAL_LEN]);
        let store = &ledger.view().store;
        let mut file = store
            .record_file(NAME, forged.len() as u64)
            .expect("a file");
        file.write_all(&forged).expect("written");
        let mut batch = crate::store::StoreBatch::default();
        batch.put_meta_file(file.finish(forged.len() as u64).expect("finished"));
        store.write_durable(batch).expect("named");
        let Ok(SealedRead::File(reader)) = ledger.view().meta_reader(NAME) else {
            panic!("a record kept as a file");
        };
        assert!(matches!(reader.finish(), Err(LedgerError::Unsealed(_))));
    }

    #[test]
    fn a_file_torn_while_being_written_is_removed_on_open() {
        let (root, ledger, old, before) = holding_a_record();
        let dir = root.path().join("l");
        drop(ledger);
        // What a process that ended while writing the next version leaves.
        let torn = dir.join("records").join("findings.4242-0.writing");
        std::fs::write(&torn, &record(2)[..1000]).expect("torn file");
        let ledger = Ledger::open(&dir).expect("open");
        assert_eq!(files(&dir), before);
        assert_eq!(ledger.view().meta(NAME).expect("read"), Some(old));
    }
}
